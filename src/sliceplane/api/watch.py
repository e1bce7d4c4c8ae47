"""List pages and watch events as clients see them (shared by the client and informers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sliceplane.api.meta import Obj

EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]


@dataclass(frozen=True)
class ListPage:
    """One page of a list response."""

    items: list[Obj]
    resource_version: str
    """The collection's resourceVersion (the snapshot this page belongs to)."""
    continue_: str | None = None
    """Token for the next page; ``None`` or empty on the last page."""
    remaining_item_count: int | None = None


@dataclass(frozen=True)
class WatchEvent:
    """One watch event. For ``ERROR`` the object is a ``meta/v1`` Status; for ``BOOKMARK``
    only ``metadata.resourceVersion`` is meaningful."""

    type: EventType
    object: Obj
