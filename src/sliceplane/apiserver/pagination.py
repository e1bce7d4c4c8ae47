"""Paginated lists: ``limit``/``continue`` over a consistent snapshot.

A paginated list must show one revision across all its pages, as etcd's does (upstream
answers every page at the first page's revision). The first page opens a store snapshot
(``storage.listsnapshot``: copy-on-write, so the first page costs what the page holds, not
what the collection holds); the ``continue`` token names that snapshot, how many items
were served and the last key served, in the shape upstream encodes (base64 JSON with
``v``, ``rv`` and ``start``). Snapshots expire after five minutes or when too many are
open; a token for an expired one is ``410 Expired``, as upstream answers a compacted
revision.

A token is bound to what it lists (resource, namespace, selectors): used on any other list
it is a 400, as kube-apiserver refuses a continue key outside the list's key prefix —
never another resource's objects inside this list.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from sliceplane.api import errors
from sliceplane.storage.store import Key, ListSnapshot, Stored

_CONTINUE_TTL = 300.0
_CONTINUE_MAX = 64


@dataclass(slots=True)
class ListResult:
    items: list[Stored]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


@dataclass(slots=True)
class _Open:
    snap: ListSnapshot
    created: float
    scope: str


@dataclass(frozen=True, slots=True)
class Resumed:
    """Where a ``continue`` token resumes: its snapshot, items served so far, last key."""

    snap_id: str
    snap: ListSnapshot
    offset: int
    after: Key


def _invalid_for_this_list() -> errors.BadRequest:
    return errors.BadRequest(
        "invalid continue token: continue key is not valid: it was issued for "
        "another list (resource, namespace or selectors differ)"
    )


class Snapshots:
    """The open paginated lists of one server."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, _Open] = OrderedDict()

    def resume(self, token: str, scope: str) -> Resumed:
        """The snapshot and position of a ``continue`` token for the list named by
        ``scope``."""
        snap_id, offset, after, rv = _decode_continue(token)
        self._expire()
        entry = self._open.get(snap_id)
        if entry is None or entry.snap.closed:
            raise errors.Expired(
                "The provided continue parameter is too old to display a consistent "
                "list result. You can start a new list without the continue parameter."
            )
        snap = entry.snap
        if (
            entry.scope != scope
            or snap.rv != rv
            or not 0 <= offset <= snap.count
            or not snap.covers(after)
        ):
            raise _invalid_for_this_list()
        return Resumed(snap_id, snap, offset, after)

    def page(
        self,
        snap: ListSnapshot,
        *,
        resumed: Resumed | None,
        limit: int,
        keep: Callable[[Stored], bool] | None,
        count_remaining: bool,
        scope: str,
    ) -> ListResult:
        """The next page of ``snap`` (the first unless ``resumed``); a page with more after
        it keeps the snapshot open under a token, a last page of a new snapshot closes it.

        ``count_remaining`` is False when selectors were used: upstream leaves
        ``remainingItemCount`` out then, since it cannot know it cheaply.
        """
        offset = 0 if resumed is None else resumed.offset
        items, last = snap.page(None if resumed is None else resumed.after, limit, keep)
        if last is None:
            if resumed is None:
                snap.close()
            return ListResult(items, snap.rv)
        if resumed is None:
            snap_id = secrets.token_hex(8)
            self._open[snap_id] = _Open(snap, time.monotonic(), scope)
            self._expire()
        else:
            snap_id = resumed.snap_id
        served = offset + len(items)
        token = _encode_continue(snap_id, served, last, snap.rv)
        remaining = max(0, snap.count - served)
        return ListResult(items, snap.rv, token, remaining if count_remaining else None)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._open:
            first = next(iter(self._open.values()))
            if now - first.created > _CONTINUE_TTL or len(self._open) > _CONTINUE_MAX:
                self._open.popitem(last=False)
                first.snap.close()  # it stops following the store's writes
            else:
                break


def _encode_continue(snap_id: str, offset: int, last: Key, rv: int) -> str:
    # Namespaces and names never hold "/" (path segments), snapshot ids never ":".
    start = f"{snap_id}:{offset}:{last[0]}/{last[1]}"
    raw = msgspec.json.encode({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, int, Key, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = msgspec.json.decode(raw)
        snap_id, offset, key = str(data["start"]).split(":", 2)
        namespace, name = key.split("/", 1)
        return snap_id, int(offset), (namespace, name), int(data["rv"])
    except Exception:
        raise errors.BadRequest("invalid continue token: continue key is not valid") from None
