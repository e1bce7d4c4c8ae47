"""Types shared by the EndpointSlice planner, the hints pass and the controller.

Objects are the JSON dicts informers hand out; planners never mutate them (they copy what
they change), so the same dicts can stay in the informer caches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Obj = dict[str, Any]

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MIRRORING_CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
ANNOTATION_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
LABEL_ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An Event the controller should record on the Service."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Action:
    """One API call, in the order upstream would make it.

    ``create``: a complete new slice (``metadata.generateName`` set, no name);
    ``update``: the complete new version of an existing slice (name, resourceVersion kept);
    ``delete``: the existing slice as it was listed.
    """

    verb: Literal["create", "update", "delete"]
    slice: Obj


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


@dataclass(slots=True)
class Plan:
    """Everything one ``syncService`` decided, before any write."""

    actions: list[Action] = field(default_factory=list)
    endpoints_added: int = 0
    endpoints_removed: int = 0
    desired_endpoints: int = 0
    desired_slices: int = 0
    errors: list[str] = field(default_factory=list)
    """Problems that did not stop planning (e.g. a pod's node is missing): the controller
    applies the plan, then reports these and retries the Service."""
    events: list[EventSpec] = field(default_factory=list)

    def count(self, verb: str) -> int:
        return sum(1 for a in self.actions if a.verb == verb)
