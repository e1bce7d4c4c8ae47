"""Which endpoints a node uses for a Service port (kube-proxy's ``topology.go``).

``categorize`` returns the Cluster-policy endpoints (topology applied, with the fallback to
serving-terminating endpoints), the Local-policy endpoints (local ready, else local
serving-terminating; no topology), their union, and whether the Service has any usable
endpoint anywhere. ``plan_port`` then decides, as the kernel renderers and the userspace
backend all need it, where ClusterIP and external traffic go and which destinations are
rejected (no endpoints anywhere) or dropped (a Local policy with no local endpoint).

Topology mode comes from the hints alone (the Service's annotation is not consulted):
PreferSameNode when every ready endpoint has node hints and one names this node (the
PreferSameTrafficDistribution gate is GA and locked on in the pinned version), else
PreferSameZone when every ready endpoint has zone hints and one names this node's zone,
else none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sliceplane.proxy.model import Endpoint, ServicePort, ServicePortName

TopologyMode = Literal["", "PreferSameZone", "PreferSameNode"]


def topology_mode(endpoints: Sequence[Endpoint], node_name: str, zone: str) -> TopologyMode:
    has_ready = False
    all_node_hints = all_zone_hints = True
    for_node = for_zone = False
    for ep in endpoints:
        if not ep.ready:
            continue
        has_ready = True
        if not ep.node_hints:
            all_node_hints = False
        elif node_name in ep.node_hints:
            for_node = True
        if not ep.zone_hints:
            all_zone_hints = False
        elif zone in ep.zone_hints:
            for_zone = True
    if not has_ready:
        return ""
    if all_node_hints and for_node:
        return "PreferSameNode"
    if all_zone_hints and for_zone:
        return "PreferSameZone"
    return ""


def _available(ep: Endpoint, mode: TopologyMode, node_name: str, zone: str) -> bool:
    if mode == "PreferSameNode":
        return ep.node_hints is not None and node_name in ep.node_hints
    if mode == "PreferSameZone":
        return ep.zone_hints is not None and zone in ep.zone_hints
    return True


@dataclass(frozen=True, slots=True)
class Categorized:
    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    reachable: tuple[Endpoint, ...]
    """Union of ``cluster`` and ``local`` (sorted by ``IP:port``)."""
    has_any: bool
    mode: TopologyMode = ""


def categorize(
    endpoints: Sequence[Endpoint], svc: ServicePort, node_name: str, zone: str
) -> Categorized:
    if not endpoints:
        return Categorized((), (), (), False)
    mode: TopologyMode = ""
    cluster: tuple[Endpoint, ...] = ()
    has_any = False
    if svc.uses_cluster_endpoints:
        mode = topology_mode(endpoints, node_name, zone)
        if mode == "":  # the common case, without a call per endpoint
            cluster = tuple([ep for ep in endpoints if ep.ready])
            if len(cluster) == len(endpoints):
                cluster = tuple(endpoints)  # all ready: the same tuple, not a copy
        else:
            cluster = tuple(
                ep for ep in endpoints if ep.ready and _available(ep, mode, node_name, zone)
            )
        if not cluster:
            cluster = tuple(ep for ep in endpoints if ep.serving and ep.terminating)
        has_any = bool(cluster)
    if not svc.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any, mode)
    local_ready = local_st = False
    for ep in endpoints:
        if ep.ready:
            has_any = True
            local_ready = local_ready or ep.is_local
        elif ep.serving and ep.terminating:
            has_any = True
            local_st = local_st or ep.is_local
    local: tuple[Endpoint, ...] = ()
    if local_ready:
        local = tuple(ep for ep in endpoints if ep.is_local and ep.ready)
    elif local_st:
        local = tuple(ep for ep in endpoints if ep.is_local and ep.serving and ep.terminating)
    if not svc.uses_cluster_endpoints:
        return Categorized((), local, local, has_any, mode)
    if mode == "" and not (local_st and not local_ready):
        return Categorized(cluster, local, cluster, has_any, mode)
    merged = {ep.key: ep for ep in cluster}
    merged.update({ep.key: ep for ep in local})
    reachable = tuple(sorted(merged.values(), key=lambda ep: ep.key))
    return Categorized(cluster, local, reachable, has_any, mode)


Verdict = Literal["", "reject", "drop"]


@dataclass(frozen=True, slots=True)
class PortPlan:
    """The routing decisions for one Service port on this node."""

    svc: ServicePort
    cat: Categorized
    has_internal: bool
    """ClusterIP traffic has endpoints (else ``internal_verdict`` applies)."""
    has_external: bool
    """External traffic from outside has endpoints (else ``external_verdict`` applies)."""
    internal_verdict: Verdict
    external_verdict: Verdict
    uses_cluster_chain: bool
    uses_local_chain: bool
    uses_external_chain: bool

    @property
    def internal_endpoints(self) -> tuple[Endpoint, ...]:
        """Where ClusterIP traffic goes."""
        if not self.has_internal:
            return ()
        return self.cat.local if self.svc.internal_policy_local else self.cat.cluster

    @property
    def external_endpoints(self) -> tuple[Endpoint, ...]:
        """Where NodePort/externalIP/LB traffic from outside goes (host- and pod-originated
        traffic short-circuits to the cluster endpoints when the policy is Local)."""
        if not self.has_external:
            return ()
        return self.cat.local if self.svc.external_policy_local else self.cat.cluster


def plan_port(
    svc: ServicePort, endpoints: Sequence[Endpoint], node_name: str, zone: str
) -> PortPlan:
    cat = categorize(endpoints, svc, node_name, zone)
    has_internal = cat.has_any and not (svc.internal_policy_local and not cat.local)
    has_external = cat.has_any and not (svc.external_policy_local and not cat.local)
    if not cat.has_any:
        internal_verdict: Verdict = "reject"
        external_verdict: Verdict = "reject"
    else:
        internal_verdict = "" if has_internal else "drop"
        external_verdict = "" if has_external else "drop"
    return PortPlan(
        svc=svc,
        cat=cat,
        has_internal=has_internal,
        has_external=has_external,
        internal_verdict=internal_verdict,
        external_verdict=external_verdict,
        uses_cluster_chain=bool(cat.cluster) and svc.uses_cluster_endpoints,
        uses_local_chain=bool(cat.local) and svc.uses_local_endpoints,
        uses_external_chain=cat.has_any and svc.externally_accessible,
    )


def merge_plans(
    kept: Mapping[ServicePortName, PortPlan],
    plans: Mapping[ServicePortName, PortPlan],
    changed: set[ServicePortName] | None,
) -> dict[ServicePortName, PortPlan]:
    """The whole set of plans after a sync: ``plans`` alone on a full sync (``changed``
    None), else ``kept`` with the changed ports replaced by their new plans or dropped.
    For the modes whose state is declarative (IPVS, userspace) and so applied whole."""
    if changed is None:
        return dict(plans)
    merged = {spn: p for spn, p in kept.items() if spn not in changed}
    merged.update(plans)
    return merged
