"""Why is a pod (or a hint) missing from a Service's EndpointSlices?

Upstream's controller leaves pods out silently; users then guess. This module answers,
per Service, for every pod that could plausibly have been an endpoint: included or not,
and every reason, in plain words — the pod's phase, IP, node, readiness, termination, the
port names that did not resolve, a selector that almost matches, a pod in another
namespace with matching labels — plus why topology hints are not there.

It is a pure function of the same cached objects the planner uses, so the controller can
keep an explanation per Service at no extra API cost (served on its debug endpoint), and
a diagnosis command can call it with objects it listed itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sliceplane.api.meta import Obj, annotations_of, is_deleting, labels_of, meta_of
from sliceplane.api.podstatus import READY, condition, is_ready
from sliceplane.api.wellknown import LABEL_ZONE
from sliceplane.endpointslice.podendpoints import (
    address_types_for_service,
    endpoint_addresses,
    find_port,
)
from sliceplane.endpointslice.topologycache import hints_enabled

# Reason codes (stable, for programs) with their sentence (for people).
INCLUDED = "Included"
NOT_SELECTED = "SelectorMismatch"
OTHER_NAMESPACE = "OtherNamespace"
TERMINAL = "TerminalPhase"
NO_IP = "NoPodIP"
NO_IP_OF_FAMILY = "NoAddressOfFamily"
MISSING_NODE = "NodeNotFound"
NOT_READY = "NotReady"
TERMINATING = "Terminating"
PORT_UNRESOLVED = "PortNotResolved"


@dataclass(slots=True)
class PodVerdict:
    """One pod: whether it is published, whether traffic reaches it, and why."""

    namespace: str
    name: str
    published: bool
    """Present in the Service's slices (possibly not ready)."""
    receives_traffic: bool
    """Published and ready: kube-proxy sends it new connections."""
    reasons: list[dict[str, str]] = field(default_factory=list)
    """``{"code": ..., "message": ...}`` for every problem found, in the order checked."""


@dataclass(slots=True)
class ServiceExplanation:
    namespace: str
    service: str
    selector: dict[str, str] | None
    address_types: list[str]
    pods: list[PodVerdict]
    hints: list[str] = field(default_factory=list)
    """Why topology hints are absent or dropped (empty when hints are not asked for)."""
    notes: list[str] = field(default_factory=list)
    """Service-level observations (no selector, ExternalName, no pods selected…)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reason(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _selector_gap(selector: Mapping[str, str], labels: Mapping[str, str]) -> list[str]:
    """The selector terms a pod's labels fail, e.g. ``app=payments (pod has app=payment)``."""
    gaps = []
    for key, want in sorted(selector.items()):
        have = labels.get(key)
        if have is None:
            gaps.append(f"{key}={want} (pod has no {key} label)")
        elif have != want:
            gaps.append(f"{key}={want} (pod has {key}={have})")
    return gaps


def explain_service(
    service: Obj,
    pods: Iterable[Obj],
    nodes: Mapping[str, Obj],
    *,
    hint_events: Sequence[str] = (),
    near_miss: int = 1,
) -> ServiceExplanation:
    """Explain which of ``pods`` are (not) endpoints of ``service``, and why.

    ``pods`` may span namespaces; pods in other namespaces are reported only when their
    labels match the selector (a common mistake), and pods in the Service's namespace
    only when they are selected or miss the selector by at most ``near_miss`` terms.
    ``hint_events`` are the hint-related event messages of the last sync, if known.
    """
    meta = meta_of(service)
    ns = str(meta.get("namespace") or "")
    name = str(meta.get("name") or "")
    spec = service.get("spec") or {}
    selector = spec.get("selector") or None
    out = ServiceExplanation(ns, name, dict(selector) if selector else None, [], [])
    if spec.get("type") == "ExternalName":
        out.notes.append("ExternalName Services have no endpoints: DNS answers with a CNAME.")
        return out
    if not selector:
        out.notes.append(
            "The Service has no selector: its endpoints come from a manually managed "
            "Endpoints object (mirrored into slices) or EndpointSlices, not from pods."
        )
        return out
    families = address_types_for_service(service)
    out.address_types = families
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    for pod in pods:
        pmeta = meta_of(pod)
        pns = str(pmeta.get("namespace") or "")
        labels = labels_of(pod)
        gaps = _selector_gap(selector, labels)
        if pns != ns:
            if not gaps:
                msg = (
                    f"labels match, but the pod is in namespace {pns!r} and the Service in "
                    f"{ns!r}; Services only select pods of their own namespace"
                )
                verdict = PodVerdict(pns, str(pmeta.get("name")), False, False)
                verdict.reasons.append(_reason(OTHER_NAMESPACE, msg))
                out.pods.append(verdict)
            continue
        if gaps and len(gaps) > near_miss:
            continue
        verdict = PodVerdict(pns, str(pmeta.get("name")), False, False)
        if gaps:
            verdict.reasons.append(
                _reason(NOT_SELECTED, "selector does not match: " + "; ".join(gaps))
            )
            out.pods.append(verdict)
            continue
        _explain_selected(verdict, pod, service, nodes, families, publish_not_ready)
        out.pods.append(verdict)
    if not any(v.published for v in out.pods):
        out.notes.append(
            "No pod is published: the Service keeps an empty placeholder EndpointSlice."
        )
    out.hints = _explain_hints(service, out.pods, nodes, hint_events)
    out.pods.sort(key=lambda v: (v.receives_traffic, v.published, v.namespace, v.name))
    return out


def _explain_selected(
    verdict: PodVerdict,
    pod: Obj,
    service: Obj,
    nodes: Mapping[str, Obj],
    families: list[str],
    publish_not_ready: bool,
) -> None:
    status = pod.get("status") or {}
    phase = status.get("phase")
    reasons = verdict.reasons
    if phase in ("Succeeded", "Failed"):
        reasons.append(
            _reason(TERMINAL, f"pod phase is {phase}: finished pods are never endpoints")
        )
        return
    if not status.get("podIP") and not status.get("podIPs"):
        reasons.append(_reason(NO_IP, "pod has no IP yet (not scheduled or not started)"))
        return
    addresses = {f: endpoint_addresses(pod, f) for f in families}
    if not any(addresses.values()):
        reasons.append(
            _reason(
                NO_IP_OF_FAMILY,
                f"pod has no {' or '.join(families)} address in status.podIPs",
            )
        )
        return
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name and node_name not in nodes and not publish_not_ready:
        reasons.append(
            _reason(
                MISSING_NODE,
                f"node {node_name!r} does not exist; pods on unknown nodes are skipped",
            )
        )
        return
    verdict.published = True
    for port in (service.get("spec") or {}).get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and find_port(pod, port) is None:
            reasons.append(
                _reason(
                    PORT_UNRESOLVED,
                    f"Service port {port.get('name') or port.get('port')!r} targets the named port "
                    f"{target!r}/{port.get('protocol', 'TCP')}, which no container of this pod "
                    "declares: that port is left out of its endpoint",
                )
            )
    terminating = is_deleting(pod)
    ready = is_ready(pod)
    if terminating:
        reasons.append(
            _reason(
                TERMINATING,
                "pod is terminating: published with terminating=true, ready=false "
                f"(serving={str(ready).lower()}); no new connections",
            )
        )
    if not ready:
        reasons.append(_reason(NOT_READY, _not_ready_message(pod)))
    verdict.receives_traffic = publish_not_ready or (ready and not terminating)
    if publish_not_ready and not (ready and not terminating):
        reasons.append(
            _reason(
                INCLUDED, "publishNotReadyAddresses is set: the endpoint is marked ready anyway"
            )
        )


def _not_ready_message(pod: Obj) -> str:
    c = condition(pod, READY)
    if c is None:
        return "pod has no Ready condition yet"
    detail = " ".join(x for x in (c.get("reason"), c.get("message")) if x)
    return "Ready condition is " + str(c.get("status")) + (f" ({detail})" if detail else "")


def _explain_hints(
    service: Obj, pods: list[PodVerdict], nodes: Mapping[str, Obj], hint_events: Sequence[str]
) -> list[str]:
    annotations = annotations_of(service)
    td = (service.get("spec") or {}).get("trafficDistribution")
    auto = hints_enabled(annotations)
    if not auto and not td:
        return []
    notes = list(hint_events)
    if auto and td:
        notes.append(
            f"both the topology-mode annotation and trafficDistribution={td} are set: the "
            "annotation wins"
        )
    if auto:
        zones = {labels_of(n).get(LABEL_ZONE) for n in nodes.values()}
        zones.discard(None)
        if len(zones) < 2:
            notes.append("hints need ready nodes in at least 2 zones")
        ready_endpoints = sum(1 for v in pods if v.receives_traffic)
        if zones and ready_endpoints < len(zones):
            notes.append(
                f"{ready_endpoints} ready endpoints for {len(zones)} zones: too few to give "
                "every zone a share"
            )
    elif td not in ("PreferClose", "PreferSameZone", "PreferSameNode"):
        notes.append(f"trafficDistribution {td!r} is not a known value: no hints")
    return notes
