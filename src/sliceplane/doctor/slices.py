"""The live EndpointSlices and Endpoints against what the controllers would write now.

The desired state is recomputed with sliceplane's own pure planners — the EndpointSlice
reconciler (``plan_service`` from an empty start, so packing does not matter), the
mirroring planner for selector-less Services and the legacy Endpoints planner — from the
live Service, pods and nodes. The EndpointSlice comparison is by endpoint identity
(addresses, hostname, target), as the controller itself compares, so slices packed
differently (another ``--max-endpoints-per-slice``) are not reported; readiness,
serving, terminating, node, zone and ports are compared per endpoint.

Slices can lag for a moment after a change; a difference that persists means the
controller is behind, stopped, or fighting someone else's writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sliceplane.api.meta import Obj, is_deleting, labels_of, meta_of, name_of
from sliceplane.api.wellknown import LABEL_MANAGED_BY, MIRRORING_CONTROLLER_NAME
from sliceplane.doctor.context import Context
from sliceplane.doctor.findings import (
    ENDPOINTS_STALE,
    SLICE_NOT_MANAGED,
    SLICES_MISSING,
    SLICES_STALE,
    Finding,
    Severity,
    ref,
)
from sliceplane.endpoints.planner import plan_endpoints
from sliceplane.endpointslice.podendpoints import EndpointKey, endpoint_key, port_set_key
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.slices import owned_by
from sliceplane.endpointslice.types import CONTROLLER_NAME
from sliceplane.mirroring.planner import is_mirrored_slice, plan_mirroring, should_mirror

MAX_EVIDENCE = 10

Key = tuple[str, EndpointKey]
"""(address type, endpoint identity)."""


def _live(es: Obj) -> bool:
    return not is_deleting(es)


def _ep_text(ep: Mapping[str, Any]) -> str:
    target = (ep.get("targetRef") or {}).get("name")
    addr = ",".join(ep.get("addresses") or [])
    return f"{addr} (pod {target})" if target else addr


def _cond(ep: Mapping[str, Any], name: str) -> Any:
    return (ep.get("conditions") or {}).get(name)


def _ready(ep: Mapping[str, Any]) -> bool:
    return _cond(ep, "ready") is True


def _ports_text(key: Any) -> str:
    return ",".join(f"{p[0] or '-'}:{p[1]}/{p[2]}" for p in key) or "none"


def endpoints_by_key(slices: Sequence[Obj]) -> dict[Key, list[tuple[Obj, Any, str]]]:
    """Every endpoint of ``slices`` by identity: ``(endpoint, port-set key, slice name)``."""
    out: dict[Key, list[tuple[Obj, Any, str]]] = {}
    for es in slices:
        ports = port_set_key(es.get("ports"))
        for ep in es.get("endpoints") or []:
            key = (str(es.get("addressType") or ""), endpoint_key(ep))
            out.setdefault(key, []).append((ep, ports, name_of(es)))
    return out


def desired_slices(ctx: Context) -> list[Obj]:
    """The slices the EndpointSlice controller would create for the Service from scratch."""
    plan = plan_service(ctx.service, ctx.selected, ctx.nodes, [], ReconcilerOptions(), None)
    return [a.slice for a in plan.actions if a.verb == "create"]


class EndpointDiff(NamedTuple):
    lines: list[str]
    """The differences, as evidence lines."""
    traffic: bool
    """Whether any of them changes where traffic goes (a ready endpoint missing, extra or
    flipped, ports)."""
    placement_only: bool
    """Whether every difference is an endpoint's ``nodeName`` or ``zone``: what a node
    relabelled after the slices were written leaves behind, since the controller does not
    rewrite endpoints on node changes (upstream neither), so "the controller is behind"
    would be the wrong advice."""


def diff_endpoints(desired: Sequence[Obj], live: Sequence[Obj]) -> EndpointDiff:
    """Differences between desired and live slices, endpoint by endpoint."""
    want = endpoints_by_key(desired)
    have = endpoints_by_key(live)
    lines: list[str] = []
    traffic = False
    placement = 0
    for key, entries in want.items():
        ep, ports, _ = entries[0]
        if key not in have:
            lines.append(f"missing: {_ep_text(ep)}, should be ready={str(_ready(ep)).lower()}")
            traffic = traffic or _ready(ep)
            continue
        found = have[key]
        if len(found) > 1:
            lines.append(
                f"duplicated: {_ep_text(ep)} is in {len(found)} slices "
                f"({', '.join(s for _, _, s in found)})"
            )
        old, old_ports, slice_name = found[0]
        for cond in ("ready", "serving", "terminating"):
            if _cond(old, cond) != _cond(ep, cond):
                lines.append(
                    f"stale: {_ep_text(ep)} in {slice_name} has {cond}={_cond(old, cond)}, "
                    f"should be {_cond(ep, cond)}"
                )
                traffic = traffic or cond == "ready"
        for field in ("nodeName", "zone"):
            if old.get(field) != ep.get(field):
                lines.append(
                    f"stale: {_ep_text(ep)} in {slice_name} has {field}={old.get(field)}, "
                    f"should be {ep.get(field)}"
                )
                placement += 1
        if old_ports != ports:
            lines.append(
                f"stale: {_ep_text(ep)} in {slice_name} has ports {_ports_text(old_ports)}, "
                f"should be {_ports_text(ports)}"
            )
            traffic = traffic or _ready(ep)
    for key, entries in have.items():
        if key not in want:
            ep, _, slice_name = entries[0]
            lines.append(f"extra: {_ep_text(ep)} in {slice_name}, ready={_cond(ep, 'ready')}")
            traffic = traffic or _ready(ep)
    return EndpointDiff(lines, traffic, bool(lines) and placement == len(lines))


WRITE_FAILURES = (
    "FailedToUpdateEndpointSlices",  # the EndpointSlice controller (upstream's reason too)
    "FailedToUpdateEndpoint",  # upstream's Endpoints controller
    "FailedToCreateEndpoint",
)


def write_failures(ctx: Context) -> list[str]:
    """The controllers' own complaints about writing this Service's slices or Endpoints,
    from the Service's Events, latest last."""
    return [
        f"event {ev.get('reason')} (x{ev.get('count') or 1}): {ev.get('message')}"
        for ev in ctx.events_for("Service", ctx.name)
        if ev.get("reason") in WRITE_FAILURES
    ][-3:]


def check_slices(ctx: Context) -> list[Finding]:
    if ctx.selector:
        return _check_selected(ctx)
    return _check_mirrored(ctx)


def _controller_hint() -> str:
    return (
        "check that an EndpointSlice controller runs and can write: kube-controller-manager "
        "(its endpointslice-controller) or `sliceplane controller --kubeconfig FILE`, and "
        "read its log"
    )


def _check_selected(ctx: Context) -> list[Finding]:
    svc = ref("service", ctx.service)
    managed = [es for es in ctx.managed_slices() if _live(es)]
    out: list[Finding] = []
    foreign = ctx.foreign_slices()
    desired = desired_slices(ctx)
    if not managed:
        evidence = [
            f"no EndpointSlice labelled kubernetes.io/service-name={ctx.name} and managed by "
            f"{CONTROLLER_NAME}"
        ]
        if ctx.snap.endpoints is not None:
            evidence.append(
                "the legacy Endpoints object exists: the Endpoints controller runs, the "
                "EndpointSlice controller does not"
            )
        evidence += write_failures(ctx)
        want = sum(len(es.get("endpoints") or []) for es in desired)
        out.append(
            Finding(
                SLICES_MISSING,
                "error",
                f"no controller has written EndpointSlices for the Service ({want} endpoint(s) "
                "expected): kube-proxy and DNS have nothing to route to",
                (svc,),
                _controller_hint(),
                tuple(evidence),
            )
        )
    else:
        lines, traffic, placement_only = diff_endpoints(desired, managed)
        not_owned = [es for es in managed if not owned_by(es, ctx.service)]
        lines += [
            f"{name_of(es)} is not owned by this Service (uid "
            f"{meta_of(ctx.service).get('uid')}): the controller will delete it"
            for es in not_owned
        ]
        if not lines:
            # Same endpoints: anything else the planner would still write (labels)?
            plan = plan_service(
                ctx.service, ctx.selected, ctx.nodes, managed, ReconcilerOptions(), None
            )
            lines += [
                f"the controller would {a.verb} {name_of(a.slice) or 'a new slice'}"
                for a in plan.actions
            ]
        fix = (
            "if this persists for more than a few seconds, the controller is behind or "
            "stopped: " + _controller_hint()
        )
        if placement_only and not not_owned:
            fix = (
                "a node's zone label changed after the slices were written: "
                "the EndpointSlice controller does not rewrite endpoints on node changes (nor "
                "does upstream's); it catches up at the next change of the Service or its "
                f"pods, e.g. kubectl annotate service {ctx.name} -n {ctx.namespace} "
                'sliceplane.io/resync="$(date +%s)" --overwrite'
            )
        if lines:
            lines += write_failures(ctx)
            severity: Severity = "error" if traffic else "warning"
            out.append(
                Finding(
                    SLICES_STALE,
                    severity,
                    f"the live EndpointSlices differ from what the controller computes now "
                    f"({len(lines)} difference(s))",
                    (svc, *(ref("endpointslice", es) for es in managed)),
                    fix,
                    tuple(lines[:MAX_EVIDENCE]),
                )
            )
    if foreign:
        want_keys = endpoints_by_key(desired)
        wrong = [
            (key, entries)
            for key, entries in endpoints_by_key(foreign).items()
            if key not in want_keys and any(_ready(e) for e, _, _ in entries)
        ]
        evidence = [
            f"{name_of(es)}: managed-by="
            f"{labels_of(es).get(LABEL_MANAGED_BY) or '(none)'}, "
            f"{len(es.get('endpoints') or [])} endpoint(s)"
            for es in foreign
        ]
        evidence += [
            f"ready endpoint {_ep_text(entries[0][0])} is not a pod of the Service"
            for _, entries in wrong[:MAX_EVIDENCE]
        ]
        out.append(
            Finding(
                SLICE_NOT_MANAGED,
                "error" if wrong else "warning",
                f"{len(foreign)} EndpointSlice(s) carry the Service's name but are not managed "
                f"by {CONTROLLER_NAME}: kube-proxy routes to their endpoints too, and no "
                "controller keeps them current",
                tuple(ref("endpointslice", es) for es in foreign),
                "delete slices made or edited by hand (kubectl delete endpointslice "
                f"{name_of(foreign[0])} -n {ctx.namespace}); the controller writes its own",
                tuple(evidence),
            )
        )
    out += _check_endpoints(ctx)
    return out


def _check_endpoints(ctx: Context) -> list[Finding]:
    """The legacy Endpoints object against the Endpoints controller's planner."""
    live = ctx.snap.endpoints
    plan = plan_endpoints(ctx.service, ctx.selected, live, trigger_time=None)
    if plan.verb == "none":
        return []
    objects = [ref("service", ctx.service)]
    if live is not None:
        objects.append(ref("endpoints", live))
    evidence = []
    if live is None:
        message = (
            "there is no legacy Endpoints object for the Service: clients that still read "
            "Endpoints (old ingress controllers, scripts) see no backends"
        )
    else:
        message = "the legacy Endpoints object differs from what the Endpoints controller computes"
        want = _addresses(plan.obj)
        have = _addresses(live)
        evidence += [f"missing: {a}" for a in sorted(want - have)]
        evidence += [f"extra: {a}" for a in sorted(have - want)]
    return [
        Finding(
            ENDPOINTS_STALE,
            "warning",
            message,
            tuple(objects),
            "check that the Endpoints controller runs (kube-controller-manager's "
            "endpoint-controller, or `sliceplane controller`); EndpointSlices are what "
            "kube-proxy uses",
            tuple(evidence[:MAX_EVIDENCE]),
        )
    ]


def _addresses(endpoints: Obj | None) -> set[str]:
    out = set()
    for subset in (endpoints or {}).get("subsets") or []:
        ports = ",".join(str(p.get("port")) for p in subset.get("ports") or [])
        for field, state in (("addresses", "ready"), ("notReadyAddresses", "not ready")):
            for a in subset.get(field) or []:
                out.add(f"{a.get('ip')} ({state}, ports {ports or 'none'})")
    return out


def _check_mirrored(ctx: Context) -> list[Finding]:
    """Selector-less Service with an Endpoints object: are its mirrored slices current?"""
    endpoints = ctx.snap.endpoints
    if endpoints is None or not should_mirror(endpoints, ctx.service):
        return []
    slices = [es for es in ctx.snap.slices if _live(es)]
    plan = plan_mirroring(endpoints, ctx.service, slices)
    if not plan.actions:
        return []
    svc = ref("service", ctx.service)
    mirrored = [es for es in slices if is_mirrored_slice(es, ctx.name)]
    hint = (
        "check that the EndpointSlice mirroring controller runs (kube-controller-manager's "
        "endpointslice-mirroring-controller, or `sliceplane controller`)"
    )
    if not mirrored and any(a.verb == "create" for a in plan.actions):
        return [
            Finding(
                SLICES_MISSING,
                "error",
                f"the Endpoints object {ctx.name} has not been mirrored into EndpointSlices: "
                "kube-proxy and DNS see no endpoints",
                (svc, ref("endpoints", endpoints)),
                hint,
                (f"no EndpointSlice managed by {MIRRORING_CONTROLLER_NAME}",),
            )
        ]
    # Endpoint by endpoint, as for selected Services: an address still in the slice but
    # gone from the Endpoints is traffic to the wrong place (an error), not a detail.
    fresh = plan_mirroring(endpoints, ctx.service, [])
    desired = [a.slice for a in fresh.actions if a.verb == "create"]
    lines, traffic, _ = diff_endpoints(desired, mirrored)
    lines += [
        f"the mirroring controller would {a.verb} {name_of(a.slice) or 'a new slice'}"
        for a in plan.actions
    ]
    return [
        Finding(
            SLICES_STALE,
            "error" if traffic else "warning",
            "the mirrored EndpointSlices differ from the Endpoints object "
            f"({len(lines)} difference(s))",
            (svc, ref("endpoints", endpoints), *(ref("endpointslice", es) for es in mirrored)),
            hint,
            tuple(lines[:MAX_EVIDENCE]),
        )
    ]
