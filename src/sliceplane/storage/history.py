"""The watch history window: bounded by event count, by bytes and by age, stored compactly.

A watch that starts from an old resourceVersion is served from here. The window has three
bounds, whichever bites first (etcd compacts by time every five minutes from kube-apiserver,
`--etcd-compaction-interval`, and has a byte quota; the watch cache counts events):

* ``max_events`` events across all resources;
* ``max_bytes`` of object JSON, so a few huge objects patched many times cannot take the
  server's memory (each version of an object costs its encoded size here, not a decoded
  dict: the dict of a version is rebuilt only when a replay needs it);
* ``max_age`` seconds since the event was committed.

Entries hold only the encoded bytes of a version (shared with the object map and with the
next entry's "previous version", never copied, and charged once whichever holds them); a
replay hands out lazily decoded
:class:`~sliceplane.storage.store.Stored` values.

Compaction is global and in revision order, so "every event after revision R is here"
stays a single number, :attr:`History.compacted`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Key = tuple[str, str]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]

ENTRY_OVERHEAD = 216
"""Bytes charged per entry on top of its JSON: the entry object, its deque slots and its
place among the newest entries (213 measured with tracemalloc over 100,000 entries)."""


@dataclass(slots=True)
class Entry:
    rv: int
    type: EventType
    resource: str
    key: Key
    raw: bytes
    prev_raw: bytes | None
    prev_rv: int
    at: float
    cost: int = 0
    """Bytes charged for this entry (set by :meth:`History.append`): its JSON and
    overhead, plus its previous version's JSON while no entry in the window holds it."""
    successor: Entry | None = None
    """The next entry of the same object while this one is in the window: its previous
    version is this entry's ``raw`` (the same bytes object)."""


class History:
    """Entries in revision order, per resource for replay and globally for compaction.

    Every byte the window keeps alive is charged once: an entry's own JSON, and its
    previous version's JSON unless that version is the ``raw`` of an entry still in the
    window (an update of an object last written before the window, or whose last entry
    was compacted, keeps the older bytes alive for the replay's "previous object").
    """

    def __init__(self, max_events: int, max_bytes: int, max_age: float) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._order: deque[Entry] = deque()
        self._by_resource: dict[str, deque[Entry]] = {}
        self._last: dict[str, dict[Key, Entry]] = {}
        """Per resource, each object's newest entry in the window (to link the next)."""
        self.bytes = 0
        self.compacted = 0
        """Every event with a revision above this is in the window."""

    def __len__(self) -> int:
        return len(self._order)

    def append(self, entry: Entry) -> None:
        self._order.append(entry)
        per = self._by_resource.get(entry.resource)
        if per is None:
            per = self._by_resource[entry.resource] = deque()
        per.append(entry)
        entry.cost = len(entry.raw) + ENTRY_OVERHEAD
        newest = self._last.get(entry.resource)
        if newest is None:
            newest = self._last[entry.resource] = {}
        prev = entry.prev_raw
        if prev is not None and prev is not entry.raw:
            last = newest.get(entry.key)
            if last is not None and last.raw is prev:
                last.successor = entry  # charged with ``last`` while it is kept
            else:
                entry.cost += len(prev)
        newest[entry.key] = entry
        self.bytes += entry.cost

    def trim(self, now: float) -> int:
        """Drop entries beyond the bounds; returns :attr:`compacted` afterwards."""
        order = self._order
        oldest_kept = now - self.max_age
        while order and (
            len(order) > self.max_events or self.bytes > self.max_bytes or order[0].at < oldest_kept
        ):
            e = order.popleft()
            per = self._by_resource[e.resource]
            per.popleft()  # the globally oldest is also its resource's oldest
            if not per:
                del self._by_resource[e.resource]
            self.bytes -= e.cost
            nxt = e.successor
            if nxt is not None:  # its previous version now lives on through it alone
                nxt.cost += len(e.raw)
                self.bytes += len(e.raw)
                e.successor = None
            newest = self._last[e.resource]
            if newest.get(e.key) is e:
                del newest[e.key]
            self.compacted = e.rv
        return self.compacted

    def since(self, resource: str, rv: int) -> Iterator[Entry]:
        """Entries of ``resource`` with a revision above ``rv``, oldest first."""
        per = self._by_resource.get(resource)
        if not per or per[-1].rv <= rv:
            return iter(())
        newer: list[Entry] = []
        for e in reversed(per):
            if e.rv <= rv:
                break
            newer.append(e)
        newer.reverse()
        return iter(newer)
