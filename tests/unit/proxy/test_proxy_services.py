"""Services as the proxy sees them (``servicechangetracker.go``/``serviceport.go``), and
chain names as kube-proxy hashes them (checked against names in upstream's own tests)."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.proxy.model import ServiceName, ServicePortName
from sliceplane.proxy.naming import (
    ipt_endpoint_chain,
    ipt_endpoint_chains,
    ipt_hash,
    ipt_service_chains,
    nft_endpoint_base,
    nft_port_base,
)
from sliceplane.proxy.services import ServiceChangeTracker, service_ports


def svc(**spec: Any) -> dict[str, Any]:
    status = spec.pop("status", {})
    base: dict[str, Any] = {
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ipFamilies": ["IPv4"],
        "type": "ClusterIP",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    base.update(spec)
    return {"metadata": {"namespace": "ns", "name": "web"}, "spec": base, "status": status}


@pytest.mark.parametrize(
    ("service", "family", "expect_ports"),
    [
        pytest.param(svc(), 4, 1, id="ClusterIP"),
        pytest.param(svc(clusterIP="None", clusterIPs=["None"]), 4, 0, id="headless skipped"),
        pytest.param(svc(clusterIP="", clusterIPs=[]), 4, 0, id="no ClusterIP skipped"),
        pytest.param(svc(type="ExternalName"), 4, 0, id="ExternalName skipped"),
        pytest.param(svc(), 6, 0, id="no IPv6 ClusterIP"),
        pytest.param(
            svc(clusterIPs=["10.96.0.10", "fd00::a"], ipFamilies=["IPv4", "IPv6"]), 6, 1,
            id="dual-stack: second family",
        ),
        pytest.param(svc(ipFamilies=[], clusterIPs=[]), 4, 1, id="skew: clusterIP only"),
    ],
)  # fmt: skip
def test_which_services(service: dict[str, Any], family: int, expect_ports: int) -> None:
    assert len(service_ports(service, family)) == expect_ports  # type: ignore[arg-type]


def test_fields_filtered_by_family() -> None:
    s = svc(
        type="LoadBalancer",
        externalTrafficPolicy="Local",
        internalTrafficPolicy="Local",
        healthCheckNodePort=30000,
        externalIPs=["192.168.99.1", "fd00::99"],
        loadBalancerSourceRanges=[" 203.0.113.0/25", "2001:db8::/32"],
        sessionAffinity="ClientIP",
        sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
        ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
        status={
            "loadBalancer": {
                "ingress": [
                    {"ip": "1.2.3.4"},
                    {"ip": "5.6.7.8", "ipMode": "Proxy"},
                    {"hostname": "lb.example"},
                ]
            }
        },
    )
    (sp,) = service_ports(s, 4).values()
    assert sp.external_ips == ("192.168.99.1",)
    assert sp.load_balancer_vips == ("1.2.3.4",)  # ipMode Proxy is not a VIP
    assert sp.load_balancer_source_ranges == ("203.0.113.0/25",)
    assert (sp.node_port, sp.health_check_node_port, sp.session_affinity_seconds) == (
        30080,
        30000,
        60,
    )
    assert sp.external_policy_local and sp.internal_policy_local
    assert sp.uses_cluster_endpoints and sp.uses_local_endpoints


def test_zero_source_range_means_all_and_etp_needs_external_access() -> None:
    s = svc(loadBalancerSourceRanges=["0.0.0.0/0", "10.0.0.0/8"], externalTrafficPolicy="Local")
    (sp,) = service_ports(s, 4).values()
    assert sp.load_balancer_source_ranges == ()
    assert not sp.external_policy_local  # a plain ClusterIP service is not external
    assert not sp.uses_local_endpoints


def test_tracker_reports_only_real_changes() -> None:
    t = ServiceChangeTracker(4)
    s = svc()
    assert t.update(s)
    assert t.checkout() == {ServiceName("ns", "web")}
    s2 = svc()
    s2["metadata"]["labels"] = {"x": "y"}
    assert not t.update(s2)
    assert t.checkout() == set()
    assert t.update(svc(ports=[{"name": "http", "port": 8080, "protocol": "TCP"}]))
    assert t.delete(s) and not t.delete(s)
    assert t.checkout() == {ServiceName("ns", "web")} and t.port_map() == {}


def _spn(ns: str, name: str, port: str, proto: str = "TCP") -> ServicePortName:
    return ServicePortName(ServiceName(ns, name), port, proto)


@pytest.mark.parametrize(
    ("spn", "chain"),
    [
        (_spn("ns1", "svc1", "p80"), "KUBE-SVC-XPGD46QRK7WJZT7O"),
        (_spn("ns2", "svc2", "p80"), "KUBE-SVC-GNZBNJ2PO5MGZ6GT"),
        (_spn("ns5", "svc5", "p80"), "KUBE-SVC-NUKIZ6OKUXPJNT4C"),
    ],
)
def test_iptables_chain_names_match_upstream(spn: ServicePortName, chain: str) -> None:
    assert ipt_service_chains(spn)["svc"] == chain


def test_other_names_match_upstream() -> None:
    assert ipt_hash("kube-system/kube-dns:dns", "udp") == "TCOU7JCQXEZGVUNU"
    assert ipt_endpoint_chain(_spn("ns1", "svc1", "p80"), "10.180.0.1:80") == (
        "KUBE-SEP-SXIVWICOYRO3J4NJ"
    )
    # the many-at-once form used by the renderer (upstream's TestOverallIPTablesRules names)
    assert ipt_endpoint_chains(_spn("ns1", "svc1", "p80"), ["10.180.0.1:80"]) == [
        "KUBE-SEP-SXIVWICOYRO3J4NJ"
    ]
    keys = ["10.180.0.1:80", "[fd00::1]:8080", "10.0.0.10:53"]
    spn = _spn("kube-system", "kube-dns", "dns", "UDP")
    assert ipt_endpoint_chains(spn, keys) == [ipt_endpoint_chain(spn, k) for k in keys]
    assert nft_port_base(_spn("ns1", "svc1", "p80")) == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert nft_endpoint_base(_spn("ns5", "svc5", "p80"), "10.180.0.3", 80) == (
        "GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
    )
    assert str(_spn("ns", "svc", "")) == "ns/svc"
    assert "." in nft_endpoint_base(_spn("ns", "s", "p"), "fd00::1", 80).split("__")[1]
