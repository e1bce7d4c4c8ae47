"""Nodes ordered for the scheduler's spreading, so placing a pod does not score every node.

Why: the scheduler's reference placement (:func:`sliceplane.workloads.scheduler.place`)
filters and scores every node for every pod, which at 1,000 nodes was a quarter of the
local cluster's controller process. Most pods (no ``nodeSelector``, no required node
affinity) can go to any node that is schedulable for every pod — Ready, not cordoned, no
``NoSchedule``/``NoExecute`` taint, below its pod capacity — and among those the choice
depends only on zones and pod counts. This index keeps those *eligible* nodes ordered by
pod count per zone and answers the spreading question for them.

It is pure bookkeeping over names: the scheduler tells it each node's zone, whether the
node is *clean* (schedulable for every pod, capacity aside), its pod capacity and its pod
count; it never reads a Node object. Which pods may use it, and the fall-back to the full
scan for the others, is the scheduler's business (``place_indexed``).

Promise: :meth:`SpreadIndex.best` returns exactly the node that ``place`` would pick among
the eligible nodes, i.e. the minimum of (pods of the spread group in the node's zone, pods
of the group on the node, pods in the zone, pods on the node, name), zone sums taken over
eligible nodes only.

Cost of :meth:`~SpreadIndex.best`: O(nodes holding pods of the group + zones), plus
O(log n) per node skipped while looking for the least-loaded node without the group's
pods (at most the group's nodes in that zone). Count and node updates are O(log n).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Set
from dataclasses import dataclass

_Entry = tuple[int, str, int]
"""A heap entry: (pods on the node, node name, node version when pushed). Versions come
from one counter, so an entry left behind by a removed node never matches a new one."""


@dataclass(slots=True)
class _Node:
    zone: str
    clean: bool
    limit: int | None
    total: int
    version: int
    eligible: bool = False


class SpreadIndex:
    """Eligible nodes per zone, by pod count (one lazily cleaned heap per zone)."""

    COMPACT_SLACK = 64
    """A zone's heap is rebuilt once it holds this many entries more than twice its
    eligible nodes (outdated entries are otherwise dropped only when they surface)."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self._eligible: dict[str, set[str]] = {}  # zone -> eligible node names
        self._zone_total: dict[str, int] = {}  # zone -> pods on its eligible nodes
        self._heaps: dict[str, list[_Entry]] = {}
        self._dirty: set[str] = set()
        self._versions = itertools.count()

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def dirty(self) -> Set[str]:
        """Known nodes that are not clean: some pods (with tolerations) may still fit
        there, which the caller must check itself. Read-only."""
        return self._dirty

    def eligible(self, name: str) -> bool:
        node = self._nodes.get(name)
        return node is not None and node.eligible

    # ------------------------------------------------------------------ updates

    def set_node(self, name: str, zone: str, clean: bool, limit: int | None, total: int) -> None:
        """Add or update a node: its zone, whether it is clean, its pod capacity (None:
        unlimited) and the pods bound to it."""
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _Node(zone, clean, limit, total, next(self._versions))
        elif (node.zone, node.clean, node.limit, node.total) == (zone, clean, limit, total):
            return
        else:
            self._leave(name, node)
            node.zone, node.clean, node.limit, node.total = zone, clean, limit, total
        if clean:
            self._dirty.discard(name)
        else:
            self._dirty.add(name)
        self._enter(name, node)

    def set_total(self, name: str, total: int) -> None:
        """The pods bound to ``name`` changed (unknown nodes are ignored)."""
        node = self._nodes.get(name)
        if node is None or node.total == total:
            return
        self._leave(name, node)
        node.total = total
        self._enter(name, node)

    def remove_node(self, name: str) -> None:
        node = self._nodes.pop(name, None)
        if node is not None:
            self._leave(name, node)
            self._dirty.discard(name)

    def _leave(self, name: str, node: _Node) -> None:
        """Withdraw the node's contribution (its heap entry goes stale)."""
        node.version = next(self._versions)
        if node.eligible:
            node.eligible = False
            self._eligible[node.zone].discard(name)
            self._zone_total[node.zone] -= node.total

    def _enter(self, name: str, node: _Node) -> None:
        node.eligible = node.clean and (node.limit is None or node.total + 1 <= node.limit)
        if not node.eligible:
            return
        zone = node.zone
        members = self._eligible.setdefault(zone, set())
        members.add(name)
        self._zone_total[zone] = self._zone_total.get(zone, 0) + node.total
        heap = self._heaps.setdefault(zone, [])
        heapq.heappush(heap, (node.total, name, node.version))
        if len(heap) > 2 * len(members) + self.COMPACT_SLACK:
            heap[:] = [(self._nodes[n].total, n, self._nodes[n].version) for n in members]
            heapq.heapify(heap)

    # ------------------------------------------------------------------ queries

    def best(self, group: Mapping[str, int]) -> str | None:
        """The eligible node for a pod whose spread group has ``group[node]`` pods on each
        node (see the module docstring for the order), or None if no node is eligible."""
        zone_group: dict[str, int] = {}
        members: dict[str, int] = {}  # zone -> eligible nodes holding the group's pods
        for name, count in group.items():
            node = self._nodes.get(name)
            if node is None or not node.eligible or count <= 0:
                continue
            zone_group[node.zone] = zone_group.get(node.zone, 0) + count
            members[node.zone] = members.get(node.zone, 0) + 1
        zones = [z for z, names in self._eligible.items() if names]
        if not zones:
            return None
        low = min(zone_group.get(z, 0) for z in zones)
        chosen: tuple[int, int, int, str] | None = None
        for zone in zones:
            if zone_group.get(zone, 0) != low:
                continue
            zone_total = self._zone_total[zone]
            if members.get(zone, 0) < len(self._eligible[zone]):
                # Some eligible node of the zone has none of the group's pods: the least
                # loaded of those beats every node that has some.
                total, name = self._least_loaded_without(zone, group)
                candidate = (0, zone_total, total, name)
            else:
                candidate = min(
                    (count, zone_total, self._nodes[name].total, name)
                    for name, count in group.items()
                    if count > 0 and name in self._eligible[zone]
                )
            if chosen is None or candidate < chosen:
                chosen = candidate
        assert chosen is not None
        return chosen[3]

    def _least_loaded_without(self, zone: str, group: Mapping[str, int]) -> tuple[int, str]:
        """(pods, name) of the zone's least loaded eligible node without the group's pods;
        the caller guarantees there is one."""
        heap = self._heaps[zone]
        skipped: list[_Entry] = []
        try:
            while True:
                total, name, version = heap[0]
                node = self._nodes.get(name)
                if node is None or node.version != version or not node.eligible:
                    heapq.heappop(heap)  # outdated
                    continue
                if group.get(name, 0) <= 0:
                    return total, name
                skipped.append(heapq.heappop(heap))
        finally:
            for entry in skipped:
                heapq.heappush(heap, entry)
