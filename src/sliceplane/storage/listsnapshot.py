"""A paginated list's view of one resource at one revision, kept copy-on-write.

Why: every page of a ``limit``/``continue`` list must show the first page's revision, as
etcd's MVCC read does. Copying the collection when the first page is asked for makes that
page cost O(collection) (at 100,000 pods it was the one list row slower than
kube-apiserver's, which reads a key range). Instead a snapshot starts empty and the store
tells it, before each committed change of a key in its range, what that key held
(:meth:`ListSnapshot.record`). A page then walks the live key index and reads each key's
value from the snapshot's overlay if the key changed since, else from the live objects:
O(page) per page, O(keys changed since) memory.

A key deleted since the snapshot is gone from the live index, so the snapshot keeps those
keys (sorted) and a page merges them in; a key created since is in the overlay as absent.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping

from sliceplane.storage.keyindex import KeyIndex, namespace_end
from sliceplane.storage.objects import Key, Stored

_FIRST: Key = ("", "")


class ListSnapshot:
    """The keys and values of ``resource`` (in ``namespace``, if given) at revision ``rv``.

    Made by :meth:`Store.snapshot`, which keeps it current until :meth:`close`.
    """

    __slots__ = (
        "_close",
        "_deleted",
        "_index",
        "_objects",
        "_overlay",
        "closed",
        "count",
        "namespace",
        "resource",
        "rv",
    )

    def __init__(
        self,
        resource: str,
        namespace: str | None,
        rv: int,
        index: KeyIndex,
        objects: Mapping[Key, Stored],
        close: Callable[[ListSnapshot], None],
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.rv = rv
        self._index = index
        self._objects = objects
        self._close = close
        self._overlay: dict[Key, Stored | None] = {}
        self._deleted: list[Key] = []
        self.closed = False
        self.count = (
            len(index)
            if namespace is None
            else index.count_between((namespace, ""), namespace_end(namespace))
        )
        """How many objects the snapshot holds."""

    def covers(self, key: Key) -> bool:
        return self.namespace is None or key[0] == self.namespace

    def record(self, key: Key, old: Stored | None, deleting: bool) -> None:
        """Called by the store before a change of ``key`` is applied: what it held."""
        overlay = self._overlay
        if key not in overlay:
            overlay[key] = old
        if overlay[key] is None:
            return  # not in the snapshot: whatever happens to it later is invisible
        deleted = self._deleted
        i = bisect_left(deleted, key)
        remembered = i < len(deleted) and deleted[i] == key
        if deleting and not remembered:
            deleted.insert(i, key)  # gone from the live index: the snapshot keeps it
        elif old is None and remembered:
            del deleted[i]  # created again: the live index has it again

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close(self)
            self._overlay.clear()
            self._deleted.clear()

    def page(
        self, after: Key | None, limit: int, keep: Callable[[Stored], bool] | None = None
    ) -> tuple[list[Stored], Key | None]:
        """Up to ``limit`` kept items after key ``after`` (None: from the start), and the
        last returned key if another kept item follows (else None)."""
        items: list[Stored] = []
        overlay, objects = self._overlay, self._objects
        last: Key | None = None
        for key in self._keys(after):
            item = overlay[key] if key in overlay else objects.get(key)
            if item is None or (keep is not None and not keep(item)):
                continue
            if len(items) == limit:
                return items, last
            items.append(item)
            last = key
        return items, None

    def _keys(self, after: Key | None) -> Iterator[Key]:
        ns = self.namespace
        start = _FIRST if after is None else after
        if ns is not None and start < (ns, ""):
            start = (ns, "")
        exclusive = after is not None and start == after
        live = self._index.walk(start, after=exclusive)
        deleted = self._deleted
        if deleted:
            find = bisect_right if exclusive else bisect_left
            gone = deleted[find(deleted, start) :]
            merged: Iterator[Key] = heapq.merge(live, gone)
        else:
            merged = live
        previous: Key | None = None
        for key in merged:
            if ns is not None and key[0] != ns:
                return
            if key != previous:  # a key both re-created live and remembered deleted
                previous = key
                yield key
