"""API objects -> the small records the page shows (pure).

Each function reads one kind of object the way a consumer must (nil endpoint conditions
follow the EndpointSlice API's rules: ``ready`` unset means ready, ``serving`` unset means
``ready``, ``terminating`` unset means not terminating) and keeps only what a person needs
to see. Nothing here mutates its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sliceplane.api.meta import (
    annotations_of,
    is_deleting,
    labels_of,
    meta_of,
    name_of,
    namespace_of,
)
from sliceplane.api.selectors import format_label_set
from sliceplane.api.wellknown import (
    ANNOTATION_OVER_CAPACITY,
    ANNOTATION_TOPOLOGY_AWARE_HINTS,
    ANNOTATION_TOPOLOGY_MODE,
    LABEL_MANAGED_BY,
    LABEL_ZONE,
)

EndpointState = Literal["ready", "serving-terminating", "terminating", "not-ready"]
STATES: tuple[EndpointState, ...] = ("ready", "serving-terminating", "terminating", "not-ready")
STATE_LABELS: dict[EndpointState, str] = {
    "ready": "ready",
    "serving-terminating": "terminating, still serving",
    "terminating": "terminating",
    "not-ready": "not ready",
}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def format_port(port: Mapping[str, Any], *, target: bool = True) -> str:
    """``http 80/TCP→8080`` (name, port, protocol, target port, node port when set)."""
    proto = port.get("protocol") or "TCP"
    text = f"{port.get('port')}/{proto}"
    if port.get("name"):
        text = f"{port['name']} {text}"
    tp = port.get("targetPort")
    if target and tp is not None and str(tp) != str(port.get("port")):
        text += f"→{tp}"
    if port.get("nodePort"):
        text += f" node:{port['nodePort']}"
    return text


def traffic_distribution(service: Mapping[str, Any]) -> str:
    """``spec.trafficDistribution``, or the topology annotation that would give hints."""
    td = _spec(service).get("trafficDistribution")
    if td:
        return str(td)
    annotations = annotations_of(service)
    for key in (ANNOTATION_TOPOLOGY_MODE, ANNOTATION_TOPOLOGY_AWARE_HINTS):
        if annotations.get(key):
            return f"{key.rsplit('/', 1)[1]}={annotations[key]}"
    return ""


@dataclass(frozen=True, slots=True)
class ServiceRow:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]
    ports: tuple[str, ...]
    selector: str
    traffic_distribution: str
    ready_endpoints: int
    endpoints: int
    slices: int


def service_row(service: Mapping[str, Any], slices: Iterable[Mapping[str, Any]]) -> ServiceRow:
    spec = _spec(service)
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    if spec.get("type") == "ExternalName":
        ips = [f"→ {spec.get('externalName', '')}"]
    count = 0
    seen_ready: set[tuple[str, tuple[str, ...]]] = set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for es in slices:
        count += 1
        for ep in es.get("endpoints") or []:
            key = (str(es.get("addressType")), tuple(ep.get("addresses") or ()))
            seen.add(key)
            if endpoint_state(ep) == "ready":
                seen_ready.add(key)
    return ServiceRow(
        namespace=namespace_of(service),
        name=name_of(service),
        type=str(spec.get("type") or "ClusterIP"),
        cluster_ips=tuple(str(ip) for ip in ips),
        ports=tuple(format_port(p) for p in spec.get("ports") or ()),
        selector=format_label_set(spec.get("selector")),
        traffic_distribution=traffic_distribution(service),
        ready_endpoints=len(seen_ready),
        endpoints=len(seen),
        slices=count,
    )


def endpoint_state(ep: Mapping[str, Any]) -> EndpointState:
    cond = ep.get("conditions") or {}
    ready = cond.get("ready")
    ready = True if ready is None else bool(ready)
    serving = cond.get("serving")
    serving = ready if serving is None else bool(serving)
    if cond.get("terminating"):
        return "serving-terminating" if serving else "terminating"
    return "ready" if ready else "not-ready"


@dataclass(frozen=True, slots=True)
class EndpointRow:
    addresses: tuple[str, ...]
    state: EndpointState
    zone: str
    node: str
    pod: str
    """``targetRef`` as ``Kind/name`` (just ``name`` for a Pod), or empty."""
    hostname: str = ""
    hint_zones: tuple[str, ...] = ()
    hint_nodes: tuple[str, ...] = ()


def endpoint_row(ep: Mapping[str, Any]) -> EndpointRow:
    ref = ep.get("targetRef") or {}
    pod = str(ref.get("name") or "")
    if pod and ref.get("kind") not in (None, "Pod"):
        pod = f"{ref['kind']}/{pod}"
    hints = ep.get("hints") or {}
    return EndpointRow(
        addresses=tuple(str(a) for a in ep.get("addresses") or ()),
        state=endpoint_state(ep),
        zone=str(ep.get("zone") or ""),
        node=str(ep.get("nodeName") or ""),
        pod=pod,
        hostname=str(ep.get("hostname") or ""),
        hint_zones=tuple(str(z.get("name")) for z in hints.get("forZones") or ()),
        hint_nodes=tuple(str(n.get("name")) for n in hints.get("forNodes") or ()),
    )


@dataclass(frozen=True, slots=True)
class SliceCard:
    name: str
    address_type: str
    ports: tuple[str, ...]
    managed_by: str
    generation: int
    endpoints: tuple[EndpointRow, ...]
    terminating: bool = False
    """The slice itself is being deleted."""

    def counts(self) -> dict[EndpointState, int]:
        out: dict[EndpointState, int] = dict.fromkeys(STATES, 0)
        for ep in self.endpoints:
            out[ep.state] += 1
        return out


def _endpoint_sort_key(ep: EndpointRow) -> tuple[str, str, tuple[str, ...]]:
    return (ep.zone, ep.node, ep.addresses)


def slice_card(es: Mapping[str, Any]) -> SliceCard:
    meta = meta_of(es)
    ports = tuple(format_port(p, target=False) for p in es.get("ports") or ())
    rows = sorted((endpoint_row(ep) for ep in es.get("endpoints") or ()), key=_endpoint_sort_key)
    return SliceCard(
        name=name_of(es),
        address_type=str(es.get("addressType") or ""),
        ports=ports,
        managed_by=str(labels_of(es).get(LABEL_MANAGED_BY) or ""),
        generation=int(meta.get("generation") or 0),
        endpoints=tuple(rows),
        terminating=is_deleting(es),
    )


def zones_and_nodes(cards: Iterable[SliceCard]) -> tuple[list[str], list[str]]:
    """The zones and nodes present among the cards' endpoints (for the filters)."""
    zones: set[str] = set()
    nodes: set[str] = set()
    for card in cards:
        for ep in card.endpoints:
            if ep.zone:
                zones.add(ep.zone)
            if ep.node:
                nodes.add(ep.node)
    return sorted(zones), sorted(nodes)


@dataclass(frozen=True, slots=True)
class ExcludedPod:
    """A pod the Service selects (or nearly does) that receives no traffic, and why."""

    name: str
    published: bool
    reasons: tuple[tuple[str, str], ...]
    """``(code, message)`` pairs, from :mod:`sliceplane.endpointslice.explain`."""
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class LegacyEndpoints:
    exists: bool
    ports: tuple[str, ...] = ()
    ready: tuple[tuple[str, str], ...] = ()
    """``(ip, pod or node)`` of ready addresses."""
    not_ready: tuple[tuple[str, str], ...] = ()
    over_capacity: str = ""


def legacy_endpoints(ep: Mapping[str, Any] | None) -> LegacyEndpoints:
    if ep is None:
        return LegacyEndpoints(exists=False)

    def addrs(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
        out = []
        for a in items:
            who = (a.get("targetRef") or {}).get("name") or a.get("nodeName") or ""
            out.append((str(a.get("ip") or ""), str(who)))
        return out

    ports: list[str] = []
    ready: list[tuple[str, str]] = []
    not_ready: list[tuple[str, str]] = []
    for subset in ep.get("subsets") or ():
        for p in subset.get("ports") or ():
            text = format_port(p, target=False)
            if text not in ports:
                ports.append(text)
        ready += addrs(subset.get("addresses") or ())
        not_ready += addrs(subset.get("notReadyAddresses") or ())
    annotations = annotations_of(ep)
    return LegacyEndpoints(
        exists=True,
        ports=tuple(ports),
        ready=tuple(sorted(ready)),
        not_ready=tuple(sorted(not_ready)),
        over_capacity=str(annotations.get(ANNOTATION_OVER_CAPACITY) or ""),
    )


@dataclass(frozen=True, slots=True)
class EventRow:
    time: str
    type: str
    reason: str
    object: str
    message: str
    count: int


def event_time(ev: Mapping[str, Any]) -> str:
    series = ev.get("series") or {}
    return str(
        ev.get("lastTimestamp")
        or series.get("lastObservedTime")
        or ev.get("eventTime")
        or ev.get("firstTimestamp")
        or meta_of(ev).get("creationTimestamp")
        or ""
    )


def event_rows(events: Iterable[Mapping[str, Any]], limit: int = 20) -> list[EventRow]:
    """The ``limit`` most recent events, newest first."""
    rows = []
    for ev in events:
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        rows.append(
            EventRow(
                time=event_time(ev),
                type=str(ev.get("type") or "Normal"),
                reason=str(ev.get("reason") or ""),
                object=f"{obj.get('kind', '')}/{obj.get('name', '')}",
                message=str(ev.get("message") or ev.get("note") or ""),
                count=int(ev.get("count") or (ev.get("series") or {}).get("count") or 1),
            )
        )
    rows.sort(key=lambda r: (r.time, r.object, r.reason), reverse=True)
    return rows[:limit]


def zone_of_node(node: Mapping[str, Any]) -> str:
    return str(labels_of(node).get(LABEL_ZONE) or "")
