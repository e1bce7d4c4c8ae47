"""Topology checks: hints asked for but absent, trafficDistribution that cannot work,
nodes without a zone.

Hints are recomputed the way the controller computes them: the topology-mode annotation
through a fresh :class:`~sliceplane.endpointslice.topologycache.TopologyCache` fed the
live nodes (its ``TopologyAwareHintsDisabled`` reason is the explanation), and
``trafficDistribution`` through the same hints pass. kube-proxy ignores every hint of a
Service as soon as one ready endpoint lacks one, so a single endpoint without a zone
makes PreferClose inert; that is what ``TrafficDistributionIneffective`` reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from sliceplane.api.meta import Obj, annotations_of, is_deleting, labels_of, name_of
from sliceplane.api.wellknown import ANNOTATION_TOPOLOGY_MODE, LABEL_ZONE
from sliceplane.doctor.context import Context, node_ready
from sliceplane.doctor.findings import (
    HINTS_DROPPED,
    NODE_WITHOUT_ZONE,
    TRAFFIC_DISTRIBUTION_INEFFECTIVE,
    Finding,
    ref,
)
from sliceplane.endpointslice.hints import make_hints_pass
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.topologycache import REASON_DISABLED, TopologyCache, hints_enabled
from sliceplane.endpointslice.trafficdist import CLOSE_TRAFFIC_DISTRIBUTIONS


def _ready_endpoints(slices: Sequence[Obj]) -> list[Obj]:
    return [
        ep
        for es in slices
        for ep in es.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready") is True
    ]


def _zone_hints(ep: Obj) -> list[Obj]:
    return list((ep.get("hints") or {}).get("forZones") or [])


def _ep_names(endpoints: Sequence[Obj]) -> list[str]:
    return [
        (ep.get("targetRef") or {}).get("name") or ",".join(ep.get("addresses") or [])
        for ep in endpoints
    ][:5]


def _recomputed(ctx: Context) -> tuple[list[Obj], list[str]]:
    """The slices with hints as the controller would write them, and its Disabled reasons."""
    cache = TopologyCache()
    cache.set_nodes(ctx.snap.nodes)
    plan = plan_service(
        ctx.service,
        ctx.selected,
        ctx.nodes,
        [],
        ReconcilerOptions(),
        None,
        make_hints_pass(cache),
    )
    slices = [a.slice for a in plan.actions if a.verb == "create"]
    reasons = [e.message for e in plan.events if e.reason == REASON_DISABLED]
    return slices, reasons


def check_topology(ctx: Context) -> list[Finding]:
    annotations = annotations_of(ctx.service)
    auto = hints_enabled(annotations)
    td = ctx.spec.get("trafficDistribution")
    if not auto and not td:
        return []
    svc = ref("service", ctx.service)
    out: list[Finding] = []

    used_nodes = {(p.get("spec") or {}).get("nodeName") for p in ctx.selected}
    zoneless = sorted(
        name_of(n)
        for n in ctx.snap.nodes
        if not labels_of(n).get(LABEL_ZONE)
        and (name_of(n) in used_nodes or (auto and node_ready(n)[0]))
    )
    if zoneless:
        out.append(
            Finding(
                NODE_WITHOUT_ZONE,
                "warning",
                f"{len(zoneless)} node(s) have no {LABEL_ZONE} label: their endpoints get no "
                "zone, so the Service's zone hints cannot be computed",
                tuple(f"node/{n}" for n in zoneless),
                f"kubectl label node {zoneless[0]} {LABEL_ZONE}=<zone>",
            )
        )

    desired, reasons = _recomputed(ctx)
    live = [es for es in ctx.snap.slices if not is_deleting(es)]
    managed = [es for es in ctx.managed_slices() if not is_deleting(es)]
    resync = (
        "the controller rewrites the slices (zones, hints) only at the next change of the "
        f"Service or its pods: kubectl annotate service {ctx.name} -n {ctx.namespace} "
        'sliceplane.io/resync="$(date +%s)" --overwrite'
    )
    if td:
        problems: list[str] = []
        lagging: list[str] = []
        if td not in CLOSE_TRAFFIC_DISTRIBUTIONS:
            problems.append(f"{td!r} is not a value kube-proxy knows: no hints are set")
        if auto:
            problems.append(
                f"the {ANNOTATION_TOPOLOGY_MODE} annotation is also set and wins over "
                "trafficDistribution"
            )
        unzoned = [ep for ep in _ready_endpoints(desired) if not ep.get("zone")]
        # kube-proxy reads the live slices, which can lag behind (the controller does not
        # rewrite endpoints when a node gets its zone back): judge those too.
        unhinted = [ep for ep in _ready_endpoints(managed) if not _zone_hints(ep)]
        if td in CLOSE_TRAFFIC_DISTRIBUTIONS and not auto and unzoned:
            problems.append(
                f"{len(unzoned)} ready endpoint(s) have no zone; kube-proxy ignores all hints "
                "of a Service when one ready endpoint lacks them"
            )
        elif td in CLOSE_TRAFFIC_DISTRIBUTIONS and not auto and unhinted:
            lagging = [
                f"{len(unhinted)} ready endpoint(s) in the live slices have no zone hint "
                f"({', '.join(_ep_names(unhinted))}); kube-proxy ignores all hints of a "
                "Service when one ready endpoint lacks them"
            ]
            problems += lagging
        if problems:
            out.append(
                Finding(
                    TRAFFIC_DISTRIBUTION_INEFFECTIVE,
                    "warning",
                    f"trafficDistribution={td} has no effect: {problems[0]}",
                    (svc,),
                    resync
                    if problems == lagging
                    else "use PreferClose (or PreferSameZone/PreferSameNode), remove the "
                    "topology-mode annotation, and label every node with its zone",
                    tuple(problems),
                )
            )
    if auto:
        if reasons:
            out.append(
                Finding(
                    HINTS_DROPPED,
                    "warning",
                    f"topology-aware hints are asked for but not set: {reasons[0]}",
                    (svc, *(ref("endpointslice", es) for es in live)),
                    "hints need ready nodes with zones and CPU in at least 2 zones and enough "
                    "endpoints per zone; traffic meanwhile goes cluster-wide",
                    tuple(reasons),
                )
            )
        else:
            missing = [ep for ep in _ready_endpoints(live) if not ep.get("hints")]
            if missing and _ready_endpoints(desired):
                out.append(
                    Finding(
                        HINTS_DROPPED,
                        "warning",
                        f"{len(missing)} ready endpoint(s) in the live slices have no hints, "
                        "although the hints allocator would give them one",
                        (svc, *(ref("endpointslice", es) for es in live)),
                        "if a node got its zone (or became ready) after the hints were "
                        "dropped, upstream's topology cache re-queues only Services that still "
                        f"have hints, so {resync}; otherwise the controller runs without "
                        "hints support or is behind",
                    )
                )
    return out
