"""What a controller decided to write, before writing it.

Planners are pure functions returning a :class:`Plan`; the controller applies its actions
in order. Shared by every controller so that appliers and tests read plans the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sliceplane.api.meta import Obj


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
