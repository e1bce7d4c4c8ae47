"""Types of the EndpointSlice planner and its hints pass.

The generic plan types live in :mod:`sliceplane.endpointbase.plan` and the well-known keys in
:mod:`sliceplane.api.wellknown`; they are re-exported here for the planner's modules.
Objects are the JSON dicts informers hand out; planners never mutate them (they copy what
they change), so the same dicts can stay in the informer caches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sliceplane.api.meta import Obj
from sliceplane.api.wellknown import (
    ANNOTATION_TRIGGER_TIME,
    CONTROLLER_NAME,
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    LABEL_ZONE,
    MIRRORING_CONTROLLER_NAME,
)
from sliceplane.endpointbase.plan import Action, EventSpec, Plan

__all__ = [
    "ANNOTATION_TRIGGER_TIME",
    "CONTROLLER_NAME",
    "LABEL_HEADLESS",
    "LABEL_MANAGED_BY",
    "LABEL_SERVICE_NAME",
    "LABEL_SKIP_MIRROR",
    "LABEL_ZONE",
    "MIRRORING_CONTROLLER_NAME",
    "Action",
    "EventSpec",
    "HintsPass",
    "HintsResult",
    "Obj",
    "Plan",
]


@dataclass(slots=True)
class HintsResult:
    to_create: list[Obj]
    to_update: list[Obj]
    unchanged: list[Obj]
    events: list[EventSpec] = field(default_factory=list)


HintsPass = Callable[[Obj, str, list[Obj], list[Obj], list[Obj]], HintsResult]
"""``(service, address_type, to_create, to_update, unchanged) -> HintsResult``: the
topology-hints step (§2.12) run per address type between packing and finalize. It may
edit hints on slices in ``to_create``/``to_update`` (they are the planner's own copies) and
move slices from ``unchanged`` to ``to_update`` (after copying them)."""
