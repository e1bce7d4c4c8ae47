"""Services as the proxy sees them: one ``ServicePort`` per port of the proxy's family.

Follows kube-proxy's ``servicechangetracker.go`` / ``serviceport.go``: headless, ExternalName
and services without a ClusterIP of this family are skipped; externalIPs, LoadBalancer VIPs
(``ipMode`` VIP or unset) and source ranges are filtered to the family; a ``0.0.0.0/0``-style
source range means "allow all". The tracker remembers the last port map per Service so a
sync can tell which Services changed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from sliceplane.api.meta import Obj, meta_of
from sliceplane.proxy.model import Family, ServiceName, ServicePort, ServicePortName, canonical_ip

ServicePortMap = dict[ServicePortName, ServicePort]


def cluster_ip_for_family(service: Obj, family: Family) -> str:
    spec = service.get("spec") or {}
    fam = "IPv6" if family == 6 else "IPv4"
    families = spec.get("ipFamilies") or []
    if not families:
        ip = spec.get("clusterIP") or ""
        if not ip or ip == "None":
            return ""
        return ip if (":" in ip) == (family == 6) else ""
    ips = spec.get("clusterIPs") or []
    for idx, f in enumerate(families):
        if f == fam and idx < len(ips):
            return str(ips[idx])
    return ""


def should_skip(service: Obj) -> bool:
    spec = service.get("spec") or {}
    ip = spec.get("clusterIP") or ""
    if not ip or ip == "None":
        return True
    return spec.get("type") == "ExternalName"


def _externally_accessible(spec: Mapping[str, Any]) -> bool:
    t = spec.get("type") or "ClusterIP"
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP" and bool(spec.get("externalIPs")))


def _ips_of_family(values: Any, family: Family) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        ip = canonical_ip(str(v))
        if ip is not None and (":" in ip) == (family == 6):
            out.append(ip)
    return tuple(out)


def _source_ranges(values: Any, family: Family) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        try:
            net = ipaddress.ip_network(str(v).strip(), strict=False)
        except ValueError:
            continue
        if net.version != family:
            continue
        if net.prefixlen == 0:
            return ()  # a zero-masked range allows everyone: same as no ranges
        out.append(str(net))
    return tuple(out)


def service_ports(service: Obj, family: Family) -> ServicePortMap:
    """The proxy's view of one Service in one family (empty when it is not proxied)."""
    if should_skip(service):
        return {}
    cluster_ip = cluster_ip_for_family(service, family)
    if not cluster_ip:
        return {}
    cluster_ip = canonical_ip(cluster_ip) or cluster_ip
    meta = meta_of(service)
    spec = service.get("spec") or {}
    name = ServiceName(meta.get("namespace") or "", meta.get("name") or "")
    accessible = _externally_accessible(spec)
    external_local = accessible and spec.get("externalTrafficPolicy") == "Local"
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    sticky = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        sticky = int(cfg.get("timeoutSeconds") or 10800)
    vips: list[str] = []
    for ing in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ():
        ip = ing.get("ip") or ""
        if not ip or ing.get("ipMode") not in (None, "VIP"):
            continue
        vips.extend(_ips_of_family([ip], family))
    health = 0
    if spec.get("type") == "LoadBalancer" and external_local:
        health = int(spec.get("healthCheckNodePort") or 0)
    external_ips = _ips_of_family(spec.get("externalIPs"), family)
    ranges = _source_ranges(spec.get("loadBalancerSourceRanges"), family)
    out: ServicePortMap = {}
    for port in spec.get("ports") or ():
        protocol = port.get("protocol") or "TCP"
        spn = ServicePortName(name, port.get("name") or "", protocol)
        out[spn] = ServicePort(
            name=spn,
            cluster_ip=cluster_ip,
            port=int(port.get("port") or 0),
            protocol=protocol,
            node_port=int(port.get("nodePort") or 0),
            external_ips=external_ips,
            load_balancer_vips=tuple(vips),
            load_balancer_source_ranges=ranges,
            session_affinity_seconds=sticky,
            external_policy_local=external_local,
            internal_policy_local=internal_local,
            health_check_node_port=health,
        )
    return out


class ServiceChangeTracker:
    """The current port map of every proxied Service plus the names changed since the
    last :meth:`checkout` (kube-proxy's ServiceChangeTracker + ServicePortMap.Update)."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.by_service: dict[ServiceName, ServicePortMap] = {}
        self._changed: set[ServiceName] = set()

    def update(self, service: Obj) -> bool:
        meta = meta_of(service)
        key = ServiceName(meta.get("namespace") or "", meta.get("name") or "")
        ports = service_ports(service, self.family)
        if self.by_service.get(key, {}) == ports:
            return False
        if ports:
            self.by_service[key] = ports
        else:
            self.by_service.pop(key, None)
        self._changed.add(key)
        return True

    def delete(self, service: Obj) -> bool:
        meta = meta_of(service)
        key = ServiceName(meta.get("namespace") or "", meta.get("name") or "")
        if self.by_service.pop(key, None) is None:
            return False
        self._changed.add(key)
        return True

    def checkout(self) -> set[ServiceName]:
        changed, self._changed = self._changed, set()
        return changed

    def port_map(self) -> ServicePortMap:
        out: ServicePortMap = {}
        for ports in self.by_service.values():
            out.update(ports)
        return out
