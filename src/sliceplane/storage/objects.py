"""What the store hands out: keys, object versions, change events, and its errors.

Kept apart from the store itself so that the state-file loader and every consumer can
name them without the store's machinery. ``Stored`` is read-only once made; a version
replayed from the watch history decodes its JSON only when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

_encode = msgspec.json.encode
_decode = msgspec.json.decode

Key = tuple[str, str]
"""(namespace, name); the namespace is "" for cluster-scoped objects."""

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


class StorageError(Exception):
    """Base for store failures the API layer maps to Status errors."""


class KeyExists(StorageError):
    pass


class KeyNotFound(StorageError):
    pass


class RevisionConflict(StorageError):
    """The caller's expected revision is not the stored one (optimistic concurrency)."""


class ObjectTooLarge(StorageError):
    """The encoded object is over the size limit (etcd: ``request is too large``)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__("etcdserver: request is too large")
        self.size = size
        self.limit = limit


class TooOld(StorageError):
    """The requested revision has been compacted out of the history window."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Stored:
    """One committed object version: the dict, its JSON bytes and its revision.

    Read-only once made. A version replayed from the watch history is built from its bytes
    and decodes its dict only when something asks for it (:meth:`lazy`).
    """

    __slots__ = ("_obj", "raw", "rv")

    def __init__(self, obj: dict[str, Any] | None, raw: bytes, rv: int) -> None:
        self._obj = obj
        self.raw = raw
        self.rv = rv

    @classmethod
    def lazy(cls, raw: bytes, rv: int) -> Stored:
        return cls(None, raw, rv)

    @property
    def obj(self) -> dict[str, Any]:
        obj = self._obj
        if obj is None:
            obj = self._obj = _decode(self.raw)
        return obj

    @property
    def labels(self) -> dict[str, str]:
        # On every item of a label-selector list: one property call, not two.
        obj = self._obj
        if obj is None:
            obj = self.obj
        meta = obj.get("metadata")
        labels: dict[str, str] | None = meta.get("labels") if meta else None
        return labels or {}

    def __repr__(self) -> str:
        return f"Stored(rv={self.rv}, {len(self.raw)} bytes)"


@dataclass(frozen=True, slots=True)
class Event:
    """A committed change. ``prev`` is the version it replaced (None for ADDED)."""

    type: EventType
    resource: str
    key: Key
    item: Stored
    prev: Stored | None


def decode_json(data: bytes) -> Any:
    return _decode(data)


def encode_json(obj: Any) -> bytes:
    return _encode(obj)


WatchFilter = Callable[[Event], bool]
