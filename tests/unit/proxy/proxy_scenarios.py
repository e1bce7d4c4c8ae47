"""Shared inputs for the renderer tests: upstream's reference scenario, builders, and
normalisers that compare rulesets structurally (object sets, rule order per chain)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from sliceplane.proxy.config import RenderConfig

Obj = dict[str, Any]
GOLDEN = Path(__file__).parent / "golden"
NODE = "test-node"


def service(ns: str, name: str, ip: str, **kw: Any) -> Obj:
    family = "IPv6" if ":" in ip else "IPv4"
    spec: Obj = {
        "clusterIP": ip,
        "clusterIPs": [ip],
        "ipFamilies": [family],
        "type": kw.pop("type", "ClusterIP"),
        "ports": kw.pop("ports", [{"name": "p80", "port": 80, "protocol": "TCP"}]),
    }
    spec.update(kw.pop("spec", {}))
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": spec,
        "status": kw.pop("status", {}),
    }


def endpoint_slice(
    ns: str,
    name: str,
    eps: list[Obj],
    *,
    port: int = 80,
    port_name: str = "p80",
    suffix: str = "1",
    family: str = "IPv4",
) -> Obj:
    return {
        "metadata": {
            "namespace": ns,
            "name": f"{name}-{suffix}",
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": family,
        "endpoints": eps,
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }


def upstream_overall() -> tuple[list[Obj], list[Obj]]:
    """The Services and slices of upstream's TestOverallNFTablesRules/IPTablesRules."""
    p80 = {"name": "p80", "port": 80, "protocol": "TCP"}
    services = [
        service("ns1", "svc1", "172.30.0.41"),
        service(
            "ns2", "svc2", "172.30.0.42",
            type="LoadBalancer",
            ports=[{**p80, "nodePort": 3001}],
            spec={
                "externalTrafficPolicy": "Local",
                "externalIPs": ["192.168.99.22"],
                "healthCheckNodePort": 30000,
            },
            status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
        ),
        service("ns3", "svc3", "172.30.0.43", type="NodePort", ports=[{**p80, "nodePort": 3003}]),
        service("ns4", "svc4", "172.30.0.44", type="NodePort",
                spec={"externalIPs": ["192.168.99.33"]}),
        service(
            "ns5", "svc5", "172.30.0.45",
            type="LoadBalancer",
            ports=[{**p80, "nodePort": 3002}],
            spec={
                "externalTrafficPolicy": "Cluster",
                "healthCheckNodePort": 30000,
                "loadBalancerSourceRanges": [" 203.0.113.0/25"],
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            },
            status={"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}},
        ),
        service("ns6", "svc6", "172.30.0.46"),
    ]  # fmt: skip
    slices = [
        endpoint_slice("ns1", "svc1", [{"addresses": ["10.180.0.1"], "nodeName": NODE}]),
        endpoint_slice("ns2", "svc2", [{"addresses": ["10.180.0.2"], "nodeName": "other-node"}]),
        endpoint_slice("ns3", "svc3", [{"addresses": ["10.180.0.3"], "nodeName": NODE}]),
        endpoint_slice(
            "ns4",
            "svc4",
            [
                {"addresses": ["10.180.0.4"], "nodeName": "other-node"},
                {"addresses": ["10.180.0.5"], "nodeName": NODE},
            ],
        ),
        endpoint_slice("ns5", "svc5", [{"addresses": ["10.180.0.3"], "nodeName": NODE}]),
    ]
    return services, slices


UPSTREAM_CFG = RenderConfig(
    family=4,
    cluster_cidr="10.0.0.0/8",
    node_ip="192.168.0.2",
    nodeport_ips=("192.168.0.2",),
    service_cidrs=("172.30.0.0/16",),
)


def norm_nft(text: str) -> tuple[frozenset[str], dict[str, list[str]]]:
    """Objects and elements as a set, rules as an ordered list per chain."""
    objs: set[str] = set()
    rules: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("add table "):
            objs.add(" ".join(line.split(" ")[:4]))
        elif line.startswith("add rule "):
            parts = line.split(" ", 5)
            rules[parts[4]].append(parts[5])
        else:
            objs.add(line)
    return frozenset(objs), dict(rules)


def norm_ipt(text: str) -> dict[str, tuple[frozenset[str], dict[str, list[str]]]]:
    """Per table: declared chains, and rules as an ordered list per chain."""
    out: dict[str, tuple[set[str], dict[str, list[str]]]] = {}
    table = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:]
            out.setdefault(table, (set(), defaultdict(list)))
        elif line.startswith(":"):
            out[table][0].add(line.split(" ")[0][1:])
        elif line.startswith("-A "):
            _, chain, rest = line.split(" ", 2)
            out[table][1][chain].append(rest)
    return {t: (frozenset(c), dict(r)) for t, (c, r) in out.items()}
