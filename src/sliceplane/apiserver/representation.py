"""The representations a read answers in, chosen by the Accept header.

kubectl asks for ``as=Table`` (server-side printing), garbage collectors and ``kubectl
get -o name`` for ``as=PartialObjectMetadata[List]``, everything else for the object or
list itself. The plain answers are the stored JSON bytes: a list is a byte concatenation
of its items, never a re-encoding. Pure functions from a stored object or a list page to
the encoded body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import msgspec

from sliceplane.api.resources import ResourceInfo
from sliceplane.apiserver.pagination import ListResult
from sliceplane.apiserver.printers import build_table
from sliceplane.apiserver.routes import wants
from sliceplane.storage.store import Stored

_encode = msgspec.json.encode


def include_object(query: Mapping[str, str]) -> str:
    """``includeObject`` of a Table request (None, Metadata or Object; Metadata if other)."""
    v = query.get("includeObject", "Metadata")
    return v if v in ("None", "Metadata", "Object") else "Metadata"


def partial(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object as ``PartialObjectMetadata``: its metadata only."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def object_body(
    info: ResourceInfo, item: Stored, accept: str, include: str, now: datetime
) -> bytes:
    """A GET's answer."""
    if wants(accept, "Table"):
        return _encode(build_table(info.plural, [item.obj], now, include_object=include))
    if wants(accept, "PartialObjectMetadata"):
        return _encode(partial(item.obj))
    return item.raw


def list_body(
    info: ResourceInfo, result: ListResult, accept: str, include: str, now: datetime
) -> bytes:
    """A LIST's answer, with the page's resourceVersion, continue token and remaining count."""
    if wants(accept, "Table"):
        table = build_table(
            info.plural,
            [s.obj for s in result.items],
            now,
            include_object=include,
            resource_version=str(result.resource_version),
            continue_token=result.continue_token,
            remaining_item_count=result.remaining,
        )
        return _encode(table)
    meta = _list_meta(result)
    if wants(accept, "PartialObjectMetadataList"):
        return _encode(
            {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [partial(s.obj) for s in result.items],
            }
        )
    return b"".join(_plain_pieces(info, result, meta))


_PIECE_ITEMS = 256


def plain_list_pieces(
    info: ResourceInfo, result: ListResult, accept: str
) -> tuple[int, Iterator[bytes]] | None:
    """A plain LIST answer as its length and its bytes in pieces, for streaming it; None
    when the answer is a Table or metadata (those are built whole by :func:`list_body`).

    Why: a list of 100,000 pods is 170 MB; joined whole, then copied into TLS records and
    the transport's buffer, it cost several times that in peak memory and sent nothing
    until the whole body was built. The pieces join the same bytes :func:`list_body` does.
    """
    if wants(accept, "Table") or wants(accept, "PartialObjectMetadataList"):
        return None
    meta = _list_meta(result)
    head = _list_head(info, meta)
    items = result.items
    length = len(head) + sum(len(s.raw) for s in items) + max(0, len(items) - 1) + 2
    return length, _plain_pieces(info, result, meta, head)


def _list_meta(result: ListResult) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining is not None:
        meta["remainingItemCount"] = result.remaining
    return meta


def _list_head(info: ResourceInfo, meta: dict[str, Any]) -> bytes:
    head = _encode({"kind": info.list_kind, "apiVersion": info.api_version, "metadata": meta})
    return head[:-1] + b',"items":['


def _plain_pieces(
    info: ResourceInfo, result: ListResult, meta: dict[str, Any], head: bytes | None = None
) -> Iterator[bytes]:
    yield _list_head(info, meta) if head is None else head
    items = result.items
    for start in range(0, len(items), _PIECE_ITEMS):
        if start:
            yield b","
        yield b",".join([s.raw for s in items[start : start + _PIECE_ITEMS]])
    yield b"]}"
