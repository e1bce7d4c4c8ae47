"""Hints for ``spec.trafficDistribution``: the simple, per-endpoint heuristic.

Why this exists: a Service that asks for ``PreferClose``/``PreferSameZone`` wants every
ready endpoint hinted for its own zone, and ``PreferSameNode`` additionally for its own
node; anything else (unset or an unknown value) means cluster-wide routing, so hints must
be removed. Unlike the annotation-driven algorithm (``topologycache``) there is no
balancing, no overload check and no events: the hint follows the endpoint.

What it promises (as upstream ``k8s.io/endpointslice/trafficdist``):

* slices in ``to_create``/``to_update`` are edited in place (they are the planner's copies);
* a slice from ``unchanged`` is never edited: when its hints are wrong it is deep-copied
  into the updates, otherwise it stays unchanged (so correct slices cost no write);
* not-ready endpoints are neither hinted nor cleared by the close heuristics, and never
  cause an unchanged slice to be rewritten.

Whether ``PreferSameZone``/``PreferSameNode`` are *allowed* for a cluster is decided by the
caller (``hints.make_hints_pass``); here every known close value is honoured.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sliceplane.endpointslice.types import Obj

PREFER_CLOSE = "PreferClose"
PREFER_SAME_ZONE = "PreferSameZone"
PREFER_SAME_NODE = "PreferSameNode"
CLOSE_TRAFFIC_DISTRIBUTIONS = frozenset({PREFER_CLOSE, PREFER_SAME_ZONE, PREFER_SAME_NODE})

__all__ = [
    "CLOSE_TRAFFIC_DISTRIBUTIONS",
    "PREFER_CLOSE",
    "PREFER_SAME_NODE",
    "PREFER_SAME_ZONE",
    "endpoint_ready",
    "reconcile_hints",
]


def endpoint_ready(endpoint: Obj) -> bool:
    """True only for an explicit ``conditions.ready: true`` (nil means not ready here)."""
    conditions = endpoint.get("conditions") or {}
    return conditions.get("ready") is True


def _names(hints: Any, key: str) -> list[Any]:
    if not isinstance(hints, dict):
        return []
    entries = hints.get(key) or []
    return [e.get("name") if isinstance(e, dict) else None for e in entries]


class _Heuristic:
    """Strategy interface: does an unchanged slice need a rewrite, and how to rewrite."""

    def needs_update(self, slice_: Obj) -> bool:
        raise NotImplementedError

    def update(self, slice_: Obj) -> None:
        raise NotImplementedError


class _ClusterWide(_Heuristic):
    """Unset/unknown trafficDistribution: no endpoint may carry hints."""

    def needs_update(self, slice_: Obj) -> bool:
        return any(ep.get("hints") is not None for ep in slice_.get("endpoints") or [])

    def update(self, slice_: Obj) -> None:
        for ep in slice_.get("endpoints") or []:
            ep.pop("hints", None)


class _PreferClose(_Heuristic):
    """Own-zone hint for each ready endpoint; own-node hint too when ``with_nodes``."""

    def __init__(self, *, with_nodes: bool) -> None:
        self.with_nodes = with_nodes

    def _wanted(self, endpoint: Obj) -> tuple[str | None, str | None]:
        # A zone of "" is still a zone (upstream checks the pointer, not the value).
        zone = endpoint.get("zone")
        node = endpoint.get("nodeName") if self.with_nodes else None
        return zone, node

    def needs_update(self, slice_: Obj) -> bool:
        for ep in slice_.get("endpoints") or []:
            if not endpoint_ready(ep):
                continue
            zone, node = self._wanted(ep)
            hints = ep.get("hints")
            zones = _names(hints, "forZones")
            nodes = _names(hints, "forNodes")
            if zone is not None:
                if hints is None or zones != [zone]:
                    return True
            elif zones:
                return True
            if node is not None:
                if hints is None or nodes != [node]:
                    return True
            elif nodes:
                return True
        return False

    def update(self, slice_: Obj) -> None:
        for ep in slice_.get("endpoints") or []:
            if not endpoint_ready(ep):
                continue
            zone, node = self._wanted(ep)
            hints: Obj = {}
            if zone is not None:
                hints["forZones"] = [{"name": zone}]
            if node is not None:
                hints["forNodes"] = [{"name": node}]
            if hints:
                ep["hints"] = hints
            else:
                ep.pop("hints", None)


def _heuristic_for(traffic_distribution: str | None) -> _Heuristic:
    if traffic_distribution in CLOSE_TRAFFIC_DISTRIBUTIONS:
        return _PreferClose(with_nodes=traffic_distribution == PREFER_SAME_NODE)
    return _ClusterWide()


def reconcile_hints(
    traffic_distribution: str | None,
    to_create: Sequence[Obj],
    to_update: Sequence[Obj],
    unchanged: Sequence[Obj],
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Return ``(to_create, to_update, unchanged)`` with hints set for ``traffic_distribution``.

    The returned lists are new; slices in ``to_create``/``to_update`` are edited in place;
    an unchanged slice whose hints are wrong is deep-copied, appended to the updates and
    dropped from the unchanged list.
    """
    heuristic = _heuristic_for(traffic_distribution)
    creates = list(to_create)
    updates = list(to_update)
    still_unchanged: list[Obj] = []
    for slice_ in unchanged:
        if heuristic.needs_update(slice_):
            updates.append(copy.deepcopy(slice_))
        else:
            still_unchanged.append(slice_)
    for slice_ in creates:
        heuristic.update(slice_)
    for slice_ in updates:
        heuristic.update(slice_)
    return creates, updates, still_unchanged
