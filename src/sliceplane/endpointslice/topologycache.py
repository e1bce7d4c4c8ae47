"""Topology Aware Hints for Services annotated ``topology-mode: Auto``.

Why this exists: with the annotation, upstream does not simply hint each endpoint for its
own zone (that is ``trafficdist``); it spreads the ready endpoints over zones in
proportion to each zone's allocatable CPU, so that no zone's endpoints take much more
than their share of that zone's traffic. When that cannot be done within the overload
threshold the hints are removed altogether and a Warning event explains why.

The module keeps upstream's (``k8s.io/endpointslice/topologycache``) arithmetic exactly,
including its float expressions, because the thresholds decide whether hints exist at all.
It differs where upstream is arbitrary: ties between zones and the choice of receiving
zone follow zone-name order instead of Go's random map order, so results are repeatable.

State lives in :class:`TopologyCache` (CPU ratios per zone from the Nodes, and the hint
counts last published per Service and address type); everything else here is a pure
function over slice dicts. Slices passed as ``to_create``/``to_update`` are edited in
place; slices passed as ``unchanged`` are never edited: one that needs new hints is
deep-copied into the updates.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from sliceplane.api.meta import labels_of
from sliceplane.api.podstatus import is_ready
from sliceplane.api.quantity import milli_cpu, parse_quantity
from sliceplane.api.wellknown import (
    ANNOTATION_TOPOLOGY_AWARE_HINTS,
    ANNOTATION_TOPOLOGY_MODE,
    LABEL_NODE_ROLE_CONTROL_PLANE,
    LABEL_NODE_ROLE_MASTER,
)
from sliceplane.endpointslice.trafficdist import endpoint_ready
from sliceplane.endpointslice.types import LABEL_ZONE, EventSpec, Obj

__all__ = [
    "ANNOTATION_TOPOLOGY_AWARE_HINTS",
    "ANNOTATION_TOPOLOGY_MODE",
    "OVERLOAD_THRESHOLD",
    "Allocation",
    "TopologyCache",
    "format_with_address_type",
    "get_allocations",
    "get_giving_and_receiving_zones",
    "get_hints_by_zone",
    "hints_enabled",
    "redistribute_hints",
    "remove_hints_from_slices",
    "service_overloaded",
    "total_ready_endpoints",
]

OVERLOAD_THRESHOLD: Final = 0.2
"""The most extra load (relative to its CPU share) any zone's endpoints should take."""

# Kept as one factor, as upstream computes it, so ``ceil`` sees the same float.
_UNDERLOAD_FACTOR: Final = 1 / (1 + OVERLOAD_THRESHOLD)

"""Deprecated spelling; when present it wins over ``topology-mode``."""

REASON_DISABLED: Final = "TopologyAwareHintsDisabled"
REASON_ENABLED: Final = "TopologyAwareHintsEnabled"

MSG_NO_ZONE_SPECIFIED: Final = "One or more endpoints do not have a zone specified"
MSG_NO_ALLOCATED_HINTS: Final = "No hints allocated for zones"
MSG_HINTS_ENABLED: Final = "Topology Aware Hints has been enabled"
MSG_HINTS_DISABLED: Final = "Topology Aware Hints has been disabled"
MSG_INSUFFICIENT_NODE_INFO: Final = (
    "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes"
)
MSG_ONE_ZONE_ONLY: Final = "Nodes only ready in one zone"
MSG_INSUFFICIENT_ENDPOINTS: Final = "Insufficient number of endpoints"
MSG_MIN_EXCEEDS_THRESHOLD: Final = (
    "Unable to allocate minimum required endpoints to each zone without exceeding overload "
    "threshold"
)

_EXCLUDED_NODE_LABELS: Final = (
    LABEL_NODE_ROLE_CONTROL_PLANE,
    LABEL_NODE_ROLE_MASTER,
)

ZoneCounts = dict[str, int]


# ---------------------------------------------------------------------------------------------
# Small helpers over slice dicts
# ---------------------------------------------------------------------------------------------


def format_with_address_type(message: str, address_type: str) -> str:
    return f"{message}, addressType: {address_type}"


def _disabled(message: str, address_type: str) -> EventSpec:
    return EventSpec("Warning", REASON_DISABLED, format_with_address_type(message, address_type))


def hints_enabled(annotations: Mapping[str, str] | None) -> bool:
    """Whether a Service's annotations ask for Topology Aware Hints.

    The deprecated key, when present (whatever its value), decides alone; only the exact
    values ``Auto`` and ``auto`` enable.
    """
    if not annotations:
        return False
    if ANNOTATION_TOPOLOGY_AWARE_HINTS in annotations:
        value = annotations[ANNOTATION_TOPOLOGY_AWARE_HINTS]
    elif ANNOTATION_TOPOLOGY_MODE in annotations:
        value = annotations[ANNOTATION_TOPOLOGY_MODE]
    else:
        return False
    return value in ("Auto", "auto")


def _endpoints(slice_: Obj) -> list[Obj]:
    endpoints: list[Obj] = slice_.get("endpoints") or []
    return endpoints


def _has_zone(endpoint: Obj) -> bool:
    zone = endpoint.get("zone")
    return isinstance(zone, str) and zone != ""


def total_ready_endpoints(*slice_lists: Iterable[Obj]) -> int:
    """Ready endpoints over all given lists of slices."""
    return sum(
        1 for slices in slice_lists for s in slices for ep in _endpoints(s) if endpoint_ready(ep)
    )


def remove_hints_from_slices(
    to_create: Sequence[Obj], to_update: Sequence[Obj], unchanged: Sequence[Obj]
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Strip every hint: in place on creates/updates; unchanged slices carrying any hint
    are deep-copied, stripped and moved to the updates. Returns new lists."""
    creates = list(to_create)
    updates = list(to_update)
    for slice_ in (*creates, *updates):
        for ep in _endpoints(slice_):
            ep.pop("hints", None)
    still_unchanged: list[Obj] = []
    for slice_ in unchanged:
        if any(ep.get("hints") is not None for ep in _endpoints(slice_)):
            stripped = copy.deepcopy(slice_)
            for ep in _endpoints(stripped):
                ep.pop("hints", None)
            updates.append(stripped)
        else:
            still_unchanged.append(slice_)
    return creates, updates, still_unchanged


# ---------------------------------------------------------------------------------------------
# The allocation arithmetic
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allocation:
    """How many endpoints a zone should hold: at least ``minimum`` (so none is overloaded
    beyond the threshold), at most ``maximum``; ``desired`` is its exact CPU share."""

    minimum: int = 0
    maximum: int = 0
    desired: float = 0.0


def get_allocations(
    ratios: Mapping[str, float] | None, num_endpoints: int
) -> tuple[dict[str, Allocation] | None, str | None]:
    """Per-zone allocations for ``num_endpoints`` ready endpoints, or ``(None, message)``
    naming why hints cannot be used (the message lacks the address-type suffix)."""
    if ratios is None:
        return None, MSG_INSUFFICIENT_NODE_INFO
    zones = len(ratios)
    if zones < 2:
        return None, MSG_ONE_ZONE_ONLY
    if zones > num_endpoints:
        return None, f"{MSG_INSUFFICIENT_ENDPOINTS} ({num_endpoints} endpoints, {zones} zones)"

    minimums: dict[str, tuple[int, float]] = {}
    min_total = 0
    for zone, ratio in ratios.items():
        desired = ratio * float(num_endpoints)
        minimum = math.ceil(desired * _UNDERLOAD_FACTOR)
        minimums[zone] = (minimum, max(desired, float(minimum)))
        min_total += minimum
        if min_total > num_endpoints:
            return None, f"{MSG_MIN_EXCEEDS_THRESHOLD} ({num_endpoints} endpoints, {zones} zones)"

    spare = num_endpoints - min_total
    return {
        zone: Allocation(minimum=minimum, maximum=minimum + spare, desired=desired)
        for zone, (minimum, desired) in minimums.items()
    }, None


def _most(values: Mapping[str, float]) -> tuple[str, float]:
    """The zone with the largest strictly positive value (ties: first by zone name)."""
    best_zone, best = "", 0.0
    for zone in sorted(values):
        if values[zone] > best:
            best_zone, best = zone, values[zone]
    return best_zone, best


def get_giving_and_receiving_zones(
    allocations: Mapping[str, Allocation], allocated: Mapping[str, int]
) -> tuple[ZoneCounts, ZoneCounts]:
    """How many endpoints each zone should give away and receive, given the hints
    ``allocated`` so far. Whole endpoints move from the zone with the largest surplus to
    the one with the largest deficit; moving stops once a move would overshoot (both
    remainders below one, or either below a half) so that own-zone hints are preferred."""
    surplus: dict[str, float] = {}
    deficit: dict[str, float] = {}
    for zone, allocation in allocations.items():
        have = float(allocated.get(zone, 0))
        if have > allocation.desired:
            surplus[zone] = have - allocation.desired
        elif have < allocation.desired:
            deficit[zone] = allocation.desired - have

    giving: ZoneCounts = {}
    receiving: ZoneCounts = {}
    while True:
        giver, to_give = _most(surplus)
        receiver, to_receive = _most(deficit)
        if (
            not giver
            or not receiver
            or (to_give < 1.0 and to_receive < 1.0)
            or to_give < 0.5
            or to_receive < 0.5
        ):
            break
        giving[giver] = giving.get(giver, 0) + 1
        surplus[giver] -= 1
        receiving[receiver] = receiving.get(receiver, 0) + 1
        deficit[receiver] -= 1
    return giving, receiving


def redistribute_hints(
    slices: Iterable[Obj], giving: Mapping[str, int], receiving: Mapping[str, int]
) -> ZoneCounts:
    """Re-hint ready endpoints of giving zones (in slice and endpoint order) to receiving
    zones until either side's quota is spent. Edits ``slices`` in place; returns the net
    change of hint count per zone. ``giving``/``receiving`` are not modified."""
    to_give = {z: n for z, n in giving.items() if n > 0}
    to_receive = {z: n for z, n in receiving.items() if n > 0}
    changes: ZoneCounts = {}
    for slice_ in slices:
        for ep in _endpoints(slice_):
            if not endpoint_ready(ep):
                continue
            if not to_give or not to_receive:
                return changes
            if not _has_zone(ep):
                continue  # add_hints refuses such endpoints before getting here
            giver = ep["zone"]
            if to_give.get(giver, 0) <= 0:
                continue
            receiver = min(to_receive)
            ep["hints"] = {"forZones": [{"name": receiver}]}
            for quota, zone in ((to_give, giver), (to_receive, receiver)):
                quota[zone] -= 1
                if quota[zone] == 0:
                    del quota[zone]
            changes[receiver] = changes.get(receiver, 0) + 1
            changes[giver] = changes.get(giver, 0) - 1
    return changes


def get_hints_by_zone(
    slice_: Obj, allocated: Mapping[str, int], allocations: Mapping[str, Allocation]
) -> ZoneCounts | None:
    """Hint counts per zone of an unchanged slice, or None when the slice must be
    rewritten: a ready endpoint without zone hints, a hint for a zone not in
    ``allocations``, or counts that would push a zone past its maximum given ``allocated``."""
    counts: ZoneCounts = {}
    for ep in _endpoints(slice_):
        if not endpoint_ready(ep):
            continue
        hints = ep.get("hints")
        for_zones = (hints.get("forZones") if isinstance(hints, dict) else None) or []
        if not for_zones:
            return None
        for entry in for_zones:
            zone = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(zone, str) or zone not in allocations:
                return None
            counts[zone] = counts.get(zone, 0) + 1
    for zone, n in counts.items():
        if n + allocated.get(zone, 0) > allocations[zone].maximum:
            return None
    return counts


def service_overloaded(counts: Mapping[str, int], ratios: Mapping[str, float] | None) -> bool:
    """Whether published hint ``counts`` leave some zone below its minimum share."""
    if not counts:
        return False
    if not ratios:
        return True
    total = float(sum(counts.values()))
    for zone, ratio in ratios.items():
        if zone not in counts:
            return True
        if counts[zone] < math.ceil(total * ratio * _UNDERLOAD_FACTOR):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


def _node_excluded(node: Obj) -> bool:
    labels = labels_of(node)
    return any(key in labels for key in _EXCLUDED_NODE_LABELS)


def _node_cpu(node: Obj) -> Fraction:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    if "cpu" not in allocatable:
        return Fraction(0)
    parsed = parse_quantity(allocatable["cpu"])
    # The API server rejects malformed quantities; treat one as "no CPU reported".
    return parsed if parsed is not None else Fraction(0)


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


class TopologyCache:
    """Zone CPU ratios from the Nodes and the hints last published per Service.

    Shared by the node-topology worker (``set_nodes``) and the Service workers
    (``add_hints`` and friends), so every method takes the lock; allocations are computed
    from one consistent snapshot of the ratios.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sufficient_node_info = False
        # Empty (not None) until the first set_nodes, as upstream: that reads as "nodes
        # in fewer than two zones" rather than "insufficient node information".
        self._cpu_by_zone: dict[str, Fraction] | None = {}
        self._ratios: dict[str, float] | None = {}
        self._endpoints_by_service: dict[str, dict[str, ZoneCounts]] = {}
        self._hints_populated: set[str] = set()

    # -- read-only views (copies) -------------------------------------------------------------

    @property
    def sufficient_node_info(self) -> bool:
        with self._lock:
            return self._sufficient_node_info

    @property
    def cpu_ratios_by_zone(self) -> dict[str, float] | None:
        with self._lock:
            return None if self._ratios is None else dict(self._ratios)

    @property
    def milli_cpu_by_zone(self) -> dict[str, int] | None:
        with self._lock:
            if self._cpu_by_zone is None:
                return None
            return {zone: milli_cpu(cpu) for zone, cpu in self._cpu_by_zone.items()}

    def hints_by_address_type(self, service_key: str) -> dict[str, ZoneCounts] | None:
        """The published hint counts for a Service, or None when it has none."""
        with self._lock:
            by_type = self._endpoints_by_service.get(service_key)
            if by_type is None:
                return None
            return {addr: dict(counts) for addr, counts in by_type.items()}

    # -- nodes ------------------------------------------------------------------------------

    def set_nodes(self, nodes: Iterable[Obj]) -> None:
        """Recompute CPU per zone from ready, non-control-plane Nodes.

        One counted Node without a zone label or with zero allocatable CPU makes the
        information insufficient; so do zero total CPU or fewer than two zones. In all
        those cases the ratios become None and every hinted Service loses its hints.
        """
        cpu_by_zone: dict[str, Fraction] = {}
        total = Fraction(0)
        sufficient = True
        for node in nodes:
            if _node_excluded(node) or not is_ready(node):
                continue
            labels = labels_of(node)
            zone = labels.get(LABEL_ZONE)
            cpu = _node_cpu(node)
            if not isinstance(zone, str) or zone == "" or cpu == 0:
                cpu_by_zone = {}
                sufficient = False
                break
            total += cpu
            cpu_by_zone[zone] = cpu_by_zone.get(zone, Fraction(0)) + cpu

        with self._lock:
            if total == 0 or not sufficient or len(cpu_by_zone) < 2:
                self._sufficient_node_info = False
                self._cpu_by_zone = None
                self._ratios = None
                return
            self._sufficient_node_info = True
            self._cpu_by_zone = cpu_by_zone
            total_milli = float(milli_cpu(total))
            self._ratios = {
                zone: float(milli_cpu(cpu)) / total_milli for zone, cpu in cpu_by_zone.items()
            }

    # -- per-Service hint bookkeeping --------------------------------------------------------

    def set_hints(self, service_key: str, address_type: str, counts: Mapping[str, int]) -> None:
        with self._lock:
            self._set_hints_locked(service_key, address_type, counts)

    def _set_hints_locked(
        self, service_key: str, address_type: str, counts: Mapping[str, int]
    ) -> None:
        self._endpoints_by_service.setdefault(service_key, {})[address_type] = dict(counts)
        self._hints_populated.add(service_key)

    def remove_hints(self, service_key: str, address_type: str) -> None:
        """Forget one address type's hints; the Service no longer counts as hinted."""
        with self._lock:
            by_type = self._endpoints_by_service.get(service_key)
            if by_type is not None:
                by_type.pop(address_type, None)
                if not by_type:
                    del self._endpoints_by_service[service_key]
            self._hints_populated.discard(service_key)

    def has_populated_hints(self, service_key: str) -> bool:
        with self._lock:
            return service_key in self._hints_populated

    def get_overloaded_services(self) -> list[str]:
        """Keys (sorted) of hinted Services that some zone now leaves overloaded."""
        with self._lock:
            return sorted(
                key
                for key, by_type in self._endpoints_by_service.items()
                if any(service_overloaded(c, self._ratios) for c in by_type.values())
            )

    # -- the algorithm ----------------------------------------------------------------------

    def add_hints(
        self,
        service_key: str,
        address_type: str,
        to_create: Sequence[Obj],
        to_update: Sequence[Obj],
        unchanged: Sequence[Obj],
    ) -> tuple[list[Obj], list[Obj], list[EventSpec]]:
        """Hint every ready endpoint of one Service and address type for one zone.

        Returns new ``(to_create, to_update, events)`` lists; see :meth:`plan_hints`, which
        also says which of ``unchanged`` stayed unchanged.
        """
        creates, updates, _, events = self.plan_hints(
            service_key, address_type, to_create, to_update, unchanged
        )
        return creates, updates, events

    def plan_hints(
        self,
        service_key: str,
        address_type: str,
        to_create: Sequence[Obj],
        to_update: Sequence[Obj],
        unchanged: Sequence[Obj],
    ) -> tuple[list[Obj], list[Obj], list[Obj], list[EventSpec]]:
        """``add_hints`` returning ``(to_create, to_update, unchanged, events)``.

        Unchanged slices whose hints still fit (every ready endpoint hinted, only known
        zones, no zone pushed past its maximum) stay unchanged; the rest are deep-copied
        into the updates and re-hinted with the others. On any failure all hints are
        removed, the cache entry is cleared and a ``TopologyAwareHintsDisabled`` Warning is
        returned; a failure found after unchanged slices were copied into the updates keeps
        them there (stripped), as upstream does, even when stripping changed nothing.
        """
        with self._lock:
            ratios = None if self._ratios is None else dict(self._ratios)

        def give_up(
            message: str, creates: Sequence[Obj], updates: Sequence[Obj], kept: Sequence[Obj]
        ) -> tuple[list[Obj], list[Obj], list[Obj], list[EventSpec]]:
            self.remove_hints(service_key, address_type)
            new_creates, new_updates, new_kept = remove_hints_from_slices(creates, updates, kept)
            return new_creates, new_updates, new_kept, [_disabled(message, address_type)]

        total = total_ready_endpoints(to_create, to_update, unchanged)
        allocations, problem = get_allocations(ratios, total)
        if allocations is None:
            return give_up(problem or MSG_INSUFFICIENT_NODE_INFO, to_create, to_update, unchanged)

        creates = list(to_create)
        updates = list(to_update)
        kept: list[Obj] = []
        allocated: ZoneCounts = {}
        for slice_ in unchanged:
            counts = get_hints_by_zone(slice_, allocated, allocations)
            if counts is None:
                updates.append(copy.deepcopy(slice_))
                continue
            kept.append(slice_)
            for zone, n in counts.items():
                allocated[zone] = allocated.get(zone, 0) + n

        editable = [*creates, *updates]
        # Start from own-zone hints. Not-ready endpoints are skipped, not cleared: upstream
        # means to clear them but writes to a loop copy, and we keep its observable result.
        for slice_ in editable:
            for ep in _endpoints(slice_):
                if not endpoint_ready(ep):
                    continue
                if not _has_zone(ep):
                    return give_up(MSG_NO_ZONE_SPECIFIED, creates, updates, kept)
                zone = ep["zone"]
                allocated[zone] = allocated.get(zone, 0) + 1
                ep["hints"] = {"forZones": [{"name": zone}]}

        giving, receiving = get_giving_and_receiving_zones(allocations, allocated)
        for zone, change in redistribute_hints(editable, giving, receiving).items():
            allocated[zone] = allocated.get(zone, 0) + change

        if not allocated:
            return give_up(MSG_NO_ALLOCATED_HINTS, creates, updates, kept)

        events: list[EventSpec] = []
        with self._lock:
            was_hinted = service_key in self._hints_populated
            self._set_hints_locked(service_key, address_type, allocated)
        if not was_hinted:
            events.append(
                EventSpec(
                    "Normal",
                    REASON_ENABLED,
                    format_with_address_type(MSG_HINTS_ENABLED, address_type),
                )
            )
        return creates, updates, kept, events
