"""Paginated lists: ``limit``/``continue`` over a consistent snapshot.

A paginated list must show one revision across all its pages, as etcd's does (upstream
answers every page at the first page's revision). The first page keeps the filtered item
list it was cut from; the ``continue`` token names that snapshot and an offset, in the
shape upstream encodes (base64 JSON with ``v``, ``rv`` and ``start``). Snapshots expire
after five minutes or when too many are open; a token for an expired one is
``410 Expired``, as upstream answers a compacted revision.

A token is bound to what it lists (resource, namespace, selectors): used on any other list
it is a 400, as kube-apiserver refuses a continue key outside the list's key prefix —
never another resource's objects inside this list.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import msgspec

from sliceplane.api import errors
from sliceplane.storage.store import Stored

_CONTINUE_TTL = 300.0
_CONTINUE_MAX = 64


@dataclass(slots=True)
class ListResult:
    items: list[Stored]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


@dataclass(slots=True)
class _Snapshot:
    items: list[Stored]
    rv: int
    created: float
    scope: str


class Snapshots:
    """The open paginated lists of one server."""

    def __init__(self) -> None:
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()

    def resume(self, token: str, scope: str) -> tuple[str, list[Stored], int, int]:
        """(snapshot id, its items, offset, revision) of a ``continue`` token for the list
        named by ``scope``."""
        snap_id, offset, rv = _decode_continue(token)
        snap = self._snapshots.get(snap_id)
        if snap is None:
            raise errors.Expired(
                "The provided continue parameter is too old to display a consistent "
                "list result. You can start a new list without the continue parameter."
            )
        if snap.scope != scope or snap.rv != rv or not 0 <= offset <= len(snap.items):
            raise errors.BadRequest(
                "invalid continue token: continue key is not valid: it was issued for "
                "another list (resource, namespace or selectors differ)"
            )
        return snap_id, snap.items, offset, rv

    def page(
        self,
        items: list[Stored],
        rv: int,
        *,
        snap_id: str,
        offset: int,
        limit: int | None,
        count_remaining: bool,
        scope: str = "",
    ) -> ListResult:
        """The page at ``offset``; a first page that is not the whole list opens a snapshot.

        ``count_remaining`` is False when selectors were used: upstream leaves
        ``remainingItemCount`` out then, since it cannot know it cheaply.
        """
        if not limit or limit <= 0 or offset + limit >= len(items):
            return ListResult(items[offset:], rv)
        page = items[offset : offset + limit]
        if not snap_id:
            snap_id = secrets.token_hex(8)
            self._snapshots[snap_id] = _Snapshot(items, rv, time.monotonic(), scope)
            self._expire()
        token = _encode_continue(snap_id, offset + limit, rv)
        remaining = len(items) - offset - limit
        return ListResult(page, rv, token, remaining if count_remaining else None)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._snapshots:
            first = next(iter(self._snapshots.values()))
            if now - first.created > _CONTINUE_TTL or len(self._snapshots) > _CONTINUE_MAX:
                self._snapshots.popitem(last=False)
            else:
                break


def _encode_continue(snap_id: str, offset: int, rv: int) -> str:
    raw = msgspec.json.encode({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{snap_id}:{offset}"})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, int, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = msgspec.json.decode(raw)
        snap_id, offset = str(data["start"]).split(":")
        return snap_id, int(offset), int(data["rv"])
    except Exception:
        raise errors.BadRequest("invalid continue token: continue key is not valid") from None
