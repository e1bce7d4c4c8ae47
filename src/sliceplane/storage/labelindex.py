"""The keys of one resource by the value of one label, each value's keys kept sorted.

Why: an unpaged list with ``labelSelector=app=web`` had to walk and match every object of
the namespace (at 100,000 pods that was most of the server's part of the answer, for 10 %
of the pods selected). With the keys of each ``app`` value at hand, the list walks only
those, in (namespace, name) order, and the selector's full matcher still decides each
candidate, so the answer (items, their order, the revision) is the scan's.

An index exists per (resource, label key) only once a list has asked for that key, and the
store keeps it current on every commit after that (:meth:`LabelIndex.change`), so the
write path pays only for the label keys clients select on. Used on the store's event loop
only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from sliceplane.storage.keyindex import KeyIndex, namespace_end
from sliceplane.storage.objects import Key, Stored

MAX_INDEXED_LABELS = 32
"""Label keys indexed per resource at most: selecting on more keys than this falls back
to the scan, so a client listing with arbitrary keys cannot grow the write path without
bound."""


class LabelIndex:
    """For one label key: each value's keys, sorted (a :class:`KeyIndex` per value)."""

    __slots__ = ("_by_value", "label")

    def __init__(self, label: str, objects: Mapping[Key, Stored]) -> None:
        self.label = label
        grouped: dict[str, list[Key]] = {}
        for key, item in objects.items():
            value = item.labels.get(label)
            if value is not None:
                grouped.setdefault(value, []).append(key)
        self._by_value = {value: KeyIndex(keys) for value, keys in grouped.items()}

    def change(self, key: Key, old: Stored | None, new: Stored | None) -> None:
        """``key`` went from ``old`` to ``new`` (None: absent before / deleted now)."""
        label = self.label
        before = None if old is None else old.labels.get(label)
        after = None if new is None else new.labels.get(label)
        if before == after:
            return
        by_value = self._by_value
        if before is not None:
            keys = by_value[before]
            keys.remove(key)
            if not len(keys):
                del by_value[before]
        if after is not None:
            grown = by_value.get(after)
            if grown is None:
                grown = by_value[after] = KeyIndex()
            grown.add(key)

    def count(self, value: str, namespace: str | None) -> int:
        """How many keys (of ``namespace``, if given) have the label at ``value``."""
        keys = self._by_value.get(value)
        if keys is None:
            return 0
        if namespace is None:
            return len(keys)
        return keys.count_between((namespace, ""), namespace_end(namespace))

    def keys(self, value: str, namespace: str | None) -> Iterator[Key]:
        """The keys (of ``namespace``, if given) with the label at ``value``, in order."""
        keys = self._by_value.get(value)
        if keys is None:
            return
        if namespace is None:
            yield from keys.walk(("", ""))
            return
        for key in keys.walk((namespace, "")):
            if key[0] != namespace:
                return
            yield key
