"""The representations a read answers in, chosen by the Accept header.

kubectl asks for ``as=Table`` (server-side printing), garbage collectors and ``kubectl
get -o name`` for ``as=PartialObjectMetadata[List]``, everything else for the object or
list itself. The plain answers are the stored JSON bytes: a list is a byte concatenation
of its items, never a re-encoding. Pure functions from a stored object or a list page to
the encoded body.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining is not None:
        meta["remainingItemCount"] = result.remaining
    if wants(accept, "PartialObjectMetadataList"):
        return _encode(
            {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [partial(s.obj) for s in result.items],
            }
        )
    head = _encode({"kind": info.list_kind, "apiVersion": info.api_version, "metadata": meta})
    return b"".join((head[:-1], b',"items":[', b",".join(s.raw for s in result.items), b"]}"))
