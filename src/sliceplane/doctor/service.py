"""Checks on the Service object itself: missing, ExternalName, no selector, no ports.

A missing Service is the one case without a :class:`~sliceplane.doctor.context.Context`:
the doctor then points at names that are close (a typo) and at namespaces where a
Service of that exact name lives (the wrong ``-n``).
"""

from __future__ import annotations

import difflib

from sliceplane.api.meta import labels_of, name_of
from sliceplane.api.wellknown import LABEL_SKIP_MIRROR
from sliceplane.doctor.context import Context
from sliceplane.doctor.findings import (
    EXTERNAL_NAME_SERVICE,
    NO_PORTS,
    NO_SELECTOR_NO_ENDPOINTS,
    SERVICE_NOT_FOUND,
    Finding,
    ref,
)
from sliceplane.doctor.snapshot import Snapshot


def near_names(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """Names that look like a typo of ``name``: same name in another case first."""
    same_case = [c for c in candidates if c.lower() == name.lower() and c != name]
    lowered = {c.lower(): c for c in candidates if c != name}
    close = [
        lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    ]
    out = same_case + [c for c in close if c not in same_case]
    return out[:n]


def check_missing(snap: Snapshot) -> list[Finding]:
    ns, name = snap.namespace, snap.name
    names = sorted(name_of(s) for s in snap.services)
    near = near_names(name, names)
    evidence = []
    objects = [f"service/{ns}/{name}"]
    fixes = []
    if near:
        evidence.append(f"similar names in namespace {ns}: {', '.join(near)}")
        objects += [f"service/{ns}/{n}" for n in near]
        fixes.append(f"did you mean {near[0]!r}? sliceplane doctor service {near[0]} -n {ns}")
    elsewhere = sorted(snap.same_name_elsewhere)
    if elsewhere:
        evidence.append(f"a Service named {name!r} exists in: {', '.join(elsewhere)}")
        objects += [f"service/{other}/{name}" for other in elsewhere]
        fixes.append(
            f"look in the right namespace: sliceplane doctor service {name} -n {elsewhere[0]}"
        )
    if not fixes:
        fixes.append(
            f"list what exists (kubectl get services -n {ns}) or create it "
            f"(kubectl expose deployment ... --name {name} -n {ns})"
        )
    return [
        Finding(
            SERVICE_NOT_FOUND,
            "error",
            f"Service {ns}/{name} does not exist",
            tuple(objects),
            "; or ".join(fixes),
            tuple(evidence),
        )
    ]


def check_external_name(ctx: Context) -> list[Finding]:
    target = ctx.spec.get("externalName") or ""
    evidence = []
    if ctx.selector:
        evidence.append("spec.selector is set but ignored: ExternalName Services select no pods")
    return [
        Finding(
            EXTERNAL_NAME_SERVICE,
            "info",
            f"ExternalName Service: DNS answers {ctx.name}.{ctx.namespace}.svc with a CNAME to "
            f"{target!r}; there are no endpoints and kube-proxy does not forward it",
            (ref("service", ctx.service),),
            f"if {target!r} does not resolve, the problem is outside the cluster: dig {target}",
            tuple(evidence),
        )
    ]


def check_no_selector(ctx: Context) -> list[Finding]:
    """A selector-less Service gets endpoints only from an Endpoints object (mirrored into
    slices) or from EndpointSlices someone else writes; with neither it is empty."""
    if ctx.selector:
        return []
    svc = ref("service", ctx.service)
    endpoints = ctx.snap.endpoints
    addresses = 0
    if endpoints is not None:
        for subset in endpoints.get("subsets") or []:
            addresses += len(subset.get("addresses") or [])
    slice_endpoints = sum(len(es.get("endpoints") or []) for es in ctx.snap.slices)
    if slice_endpoints:
        return []
    fix = (
        f"add a selector (kubectl set selector service {ctx.name} -n {ctx.namespace} app=...) "
        f"or write an Endpoints object named {ctx.name} listing the backends"
    )
    if _is_apiserver_service(ctx):
        # kube-apiserver publishes its own endpoints for default/kubernetes; sliceplane's
        # embedded API server does not (docs/upstream-differences.md): not the user's bug.
        message = (
            "the API server's own Service has no endpoints: kube-apiserver publishes them "
            "itself (unless --endpoint-reconciler-type=none); sliceplane's embedded API "
            "server does not"
        )
        objects = (svc,) if endpoints is None else (svc, ref("endpoints", endpoints))
        fix = "none needed for sliceplane up; on a real cluster check kube-apiserver's flags"
        return [Finding(NO_SELECTOR_NO_ENDPOINTS, "warning", message, objects, fix)]
    if endpoints is None:
        message = (
            "the Service has no selector and there is no Endpoints object or EndpointSlice "
            "for it: nothing can receive its traffic"
        )
        return [Finding(NO_SELECTOR_NO_ENDPOINTS, "error", message, (svc,), fix)]
    ep = ref("endpoints", endpoints)
    labels = labels_of(endpoints)
    if labels.get(LABEL_SKIP_MIRROR) == "true":
        message = (
            f"the Endpoints object is labelled {LABEL_SKIP_MIRROR}=true, so it is not mirrored "
            "into EndpointSlices: kube-proxy and DNS, which read slices, see no endpoints"
        )
        fix = f"kubectl label endpoints {ctx.name} -n {ctx.namespace} {LABEL_SKIP_MIRROR}-"
        return [Finding(NO_SELECTOR_NO_ENDPOINTS, "error", message, (svc, ep), fix)]
    if addresses == 0:
        message = "the Service has no selector and its Endpoints object lists no ready address"
        return [Finding(NO_SELECTOR_NO_ENDPOINTS, "error", message, (svc, ep), fix)]
    return []  # mirrored slices are checked against the mirroring planner (slices.py)


def _is_apiserver_service(ctx: Context) -> bool:
    labels = labels_of(ctx.service)
    return (
        ctx.namespace == "default"
        and ctx.name == "kubernetes"
        and labels.get("component") == "apiserver"
        and labels.get("provider") == "kubernetes"
    )


def check_no_ports(ctx: Context) -> list[Finding]:
    if ctx.spec.get("ports"):
        return []
    message = (
        "the Service has no ports: its endpoints carry none, kube-proxy forwards nothing "
        "and DNS has no SRV records; only A/AAAA lookups of a headless Service work"
    )
    return [
        Finding(
            NO_PORTS,
            "warning",
            message,
            (ref("service", ctx.service),),
            f"add a port: kubectl edit service {ctx.name} -n {ctx.namespace} "
            "(spec.ports: [{port: 80, targetPort: 8080}])",
        )
    ]
