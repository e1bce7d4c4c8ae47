"""The topology-hints step of the EndpointSlice planner (§2.12), as one ``HintsPass``.

Why this exists: two mechanisms can put hints on endpoints, the ``topology-mode: Auto``
annotation (CPU-proportional, :mod:`topologycache`) and ``spec.trafficDistribution``
(own zone/node, :mod:`trafficdist`), and upstream picks between them per Service and
address type with a few rules that are easy to get subtly wrong. Keeping that decision
here lets the planner stay ignorant of both and just call the pass between packing and
finalize.

The decision, as upstream ``reconcileByAddressType`` makes it:

1. a topology cache exists and the annotation enables hints: the annotation algorithm;
2. otherwise, if the cache had hints for the Service, a ``TopologyAwareHintsDisabled``
   Warning, and the cache entry is cleared; then, unless ``trafficDistribution`` can be
   used, every hint is removed;
3. when ``trafficDistribution`` can be used (a valid value and no enabling annotation):
   the trafficdist heuristic. So the annotation wins over the field, and an enabling
   annotation without a cache removes hints and ignores the field.

The pass edits slices in ``to_create``/``to_update`` in place (the planner's copies),
deep-copies any slice it takes from ``unchanged``, and touches nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from sliceplane.api.meta import annotations_of, meta_of
from sliceplane.endpointslice.topologycache import (
    MSG_HINTS_DISABLED,
    REASON_DISABLED,
    TopologyCache,
    format_with_address_type,
    hints_enabled,
    remove_hints_from_slices,
)
from sliceplane.endpointslice.trafficdist import (
    PREFER_CLOSE,
    PREFER_SAME_NODE,
    PREFER_SAME_ZONE,
    reconcile_hints,
)
from sliceplane.endpointslice.types import EventSpec, HintsPass, HintsResult, Obj

__all__ = ["make_hints_pass", "service_key", "valid_traffic_distribution"]


def valid_traffic_distribution(value: object, *, prefer_same: bool) -> bool:
    """``PreferClose`` always; ``PreferSameZone``/``PreferSameNode`` only when the
    PreferSameTrafficDistribution option is on; anything else (unset, unknown) never."""
    if value == PREFER_CLOSE:
        return True
    return prefer_same and value in (PREFER_SAME_ZONE, PREFER_SAME_NODE)


def service_key(service: Obj) -> str:
    """``namespace/name``, the key the topology cache files a Service under."""
    meta = meta_of(service)
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def make_hints_pass(
    topology: TopologyCache | None, *, prefer_same_traffic_distribution: bool = True
) -> HintsPass:
    """Build the hints pass for a controller.

    ``topology`` is the shared cache when the TopologyAwareHints feature is on (None
    disables the annotation algorithm); ``prefer_same_traffic_distribution`` mirrors the
    PreferSameTrafficDistribution gate (on by default since 1.34).
    """

    def hints_pass(
        service: Obj,
        address_type: str,
        to_create: list[Obj],
        to_update: list[Obj],
        unchanged: list[Obj],
    ) -> HintsResult:
        key = service_key(service)
        annotations = annotations_of(service)
        traffic_distribution = (service.get("spec") or {}).get("trafficDistribution")
        annotation_on = hints_enabled(annotations)
        use_traffic_distribution = (
            valid_traffic_distribution(
                traffic_distribution, prefer_same=prefer_same_traffic_distribution
            )
            and not annotation_on
        )

        creates: Sequence[Obj] = to_create
        updates: Sequence[Obj] = to_update
        kept: Sequence[Obj] = unchanged
        events: list[EventSpec] = []

        if topology is not None and annotation_on:
            creates, updates, kept, events = topology.plan_hints(
                key, address_type, creates, updates, kept
            )
        else:
            if topology is not None:
                if topology.has_populated_hints(key):
                    events.append(
                        EventSpec(
                            "Warning",
                            REASON_DISABLED,
                            format_with_address_type(MSG_HINTS_DISABLED, address_type),
                        )
                    )
                topology.remove_hints(key, address_type)
            if not use_traffic_distribution:
                creates, updates, kept = remove_hints_from_slices(creates, updates, kept)

        if use_traffic_distribution and isinstance(traffic_distribution, str):
            creates, updates, kept = reconcile_hints(traffic_distribution, creates, updates, kept)

        return HintsResult(
            to_create=list(creates), to_update=list(updates), unchanged=list(kept), events=events
        )

    return hints_pass
