"""Facts about a Service that several checks need, derived once from a snapshot.

Kept apart so each check module stays a plain function ``(Context) -> list[Finding]``
and the selector, node map and event index are computed one time per Service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sliceplane.api.meta import Obj, labels_of, meta_of, name_of, namespace_of
from sliceplane.api.podstatus import READY, condition, is_ready
from sliceplane.api.selectors import selector_from_set
from sliceplane.api.wellknown import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    MIRRORING_CONTROLLER_NAME,
)
from sliceplane.doctor.snapshot import Snapshot

DEFAULT_CLUSTER_DOMAIN = "cluster.local"
"""kubelet's ``--cluster-domain`` everywhere but in clusters that changed it."""


def node_ready(node: Obj) -> tuple[bool, str]:
    """Whether a node is Ready, and its Ready condition's reason/message when it is not."""
    c = condition(node, READY)
    if c is None:
        return False, "no Ready condition"
    if c.get("status") == "True":
        return True, ""
    detail = ": ".join(str(x) for x in (c.get("reason"), c.get("message")) if x)
    return False, f"Ready={c.get('status')}" + (f" ({detail})" if detail else "")


@dataclass(slots=True)
class Context:
    snap: Snapshot
    service: Obj
    selector: dict[str, str] | None
    selected: list[Obj]
    """Pods of the Service's namespace its selector matches, by name."""
    nodes: dict[str, Obj]
    events_by_object: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)
    """Events by (involvedObject kind, name), oldest first."""
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN

    @property
    def namespace(self) -> str:
        return self.snap.namespace

    @property
    def name(self) -> str:
        return self.snap.name

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.service.get("spec") or {}

    @property
    def headless(self) -> bool:
        return self.spec.get("clusterIP") == "None"

    @property
    def publish_not_ready(self) -> bool:
        return bool(self.spec.get("publishNotReadyAddresses"))

    def events_for(self, kind: str, name: str) -> list[Obj]:
        return self.events_by_object.get((kind, name), [])

    def managed_slices(self, controller: str = CONTROLLER_NAME) -> list[Obj]:
        return [es for es in self.snap.slices if labels_of(es).get(LABEL_MANAGED_BY) == controller]

    def foreign_slices(self) -> list[Obj]:
        """Slices labelled with the Service's name that neither endpoint controller manages."""
        ours = (CONTROLLER_NAME, MIRRORING_CONTROLLER_NAME)
        return [es for es in self.snap.slices if labels_of(es).get(LABEL_MANAGED_BY) not in ours]

    def ready_selected(self) -> list[Obj]:
        return [p for p in self.selected if is_ready(p)]


def _event_time(ev: Obj) -> str:
    return str(
        ev.get("lastTimestamp") or ev.get("eventTime") or meta_of(ev).get("creationTimestamp") or ""
    )


def build_context(snap: Snapshot, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN) -> Context:
    """The context of a snapshot whose Service exists."""
    assert snap.service is not None
    spec = snap.service.get("spec") or {}
    selector = dict(spec.get("selector") or {}) or None
    selected = []
    if selector:
        sel = selector_from_set(selector)
        selected = sorted(
            (
                p
                for p in snap.pods
                if namespace_of(p) == snap.namespace and sel.matches(labels_of(p))
            ),
            key=name_of,
        )
    nodes = {name_of(n): n for n in snap.nodes}
    events: dict[tuple[str, str], list[Obj]] = {}
    for ev in sorted(snap.events, key=_event_time):
        involved = ev.get("involvedObject") or ev.get("regarding") or {}
        key = (str(involved.get("kind") or ""), str(involved.get("name") or ""))
        events.setdefault(key, []).append(ev)
    return Context(snap, snap.service, selector, selected, nodes, events, cluster_domain)
