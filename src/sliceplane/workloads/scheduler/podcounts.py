"""Pods per node and spread group, as the scheduler sees them: bound pods from the informer
plus *assumed* ones it has placed but whose binding the watch has not echoed yet
(upstream's scheduler cache), so the next pod's placement already counts them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sliceplane.api.meta import is_deleting
from sliceplane.workloads.scheduler.filters import is_terminal
from sliceplane.workloads.scheduler.placement import spread_group


@dataclass(slots=True)
class _Counted:
    node: str
    group: str
    in_group: bool


class PodCounts:
    """Pods per node, in total and per spread group, kept current from pod events.

    Placements the scheduler has decided but the watch has not echoed yet are *assumed*
    and counted too; an observation of the pod bound (or deleted) replaces the assumption,
    an observation of it still unbound leaves the assumption alone (the watch is behind).

    ``on_total(node, pods)`` is called whenever a node's total changes (the scheduler
    keeps its :class:`~sliceplane.workloads.scheduler.spreadindex.SpreadIndex` current with it).
    """

    def __init__(self, on_total: Callable[[str, int], None] | None = None) -> None:
        self.total: Counter[str] = Counter()
        self._groups: dict[str, Counter[str]] = {}
        self._counted: dict[str, _Counted] = {}
        self._assumed: set[str] = set()
        self._on_total = on_total

    def group(self, group: str) -> Mapping[str, int]:
        return self._groups.get(group) or {}

    def node_of(self, key: str) -> str | None:
        c = self._counted.get(key)
        return None if c is None else c.node

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def _add(self, key: str, counted: _Counted) -> None:
        if self._counted.get(key) == counted:
            return  # most pod updates (status writes) change nothing counted here
        self._remove(key)
        self._counted[key] = counted
        self.total[counted.node] += 1
        if counted.in_group:
            self._groups.setdefault(counted.group, Counter())[counted.node] += 1
        if self._on_total is not None:
            self._on_total(counted.node, self.total[counted.node])

    def _remove(self, key: str) -> None:
        old = self._counted.pop(key, None)
        if old is None:
            return
        self.total[old.node] -= 1
        if self.total[old.node] <= 0:
            del self.total[old.node]
        if old.in_group:
            g = self._groups[old.group]
            g[old.node] -= 1
            if g[old.node] <= 0:
                del g[old.node]
            if not g:
                del self._groups[old.group]
        if self._on_total is not None:
            self._on_total(old.node, self.total.get(old.node, 0))

    def assume(self, key: str, node: str, group: str) -> None:
        self._add(key, _Counted(node, group, True))
        self._assumed.add(key)

    def forget(self, key: str) -> None:
        """Drop an assumption (the binding failed)."""
        if key in self._assumed:
            self._assumed.discard(key)
            self._remove(key)

    def observe(self, key: str, pod: Mapping[str, Any]) -> None:
        """Account for a pod as the informer shows it."""
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            if key not in self._assumed:
                self._remove(key)
            return
        self._assumed.discard(key)
        if is_terminal(pod):
            self._remove(key)
            return
        terminating = is_deleting(pod)
        self._add(key, _Counted(str(node), spread_group(pod), not terminating))

    def delete(self, key: str) -> None:
        self._assumed.discard(key)
        self._remove(key)


# ============================================================================ the loop
