"""Health check node ports without sockets: which Services get a server, the local ready
endpoint count, the SyncServices/SyncEndpoints bookkeeping and the answer. The cases are
upstream's (``pkg/proxy/healthcheck/healthcheck_test.go`` TestServer,
``servicechangetracker_test.go``, ``iptables/proxier_test.go``
TestHealthCheckNodePortWhenTerminating), replayed as tables."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sliceplane.proxy.healthcheck import (
    HealthTable,
    answer,
    bind_hosts,
    health_check_ports,
    local_ready_endpoints,
)
from sliceplane.proxy.model import Endpoint, ServiceName, ServicePortName
from sliceplane.proxy.services import service_ports
from sliceplane.proxy.slicecache import EndpointSliceCache


def nsn(ns: str, name: str) -> ServiceName:
    return ServiceName(ns, name)


def service(kind: str, *, etp: str = "", hc: int = 0, ports: int = 2) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": kind,
        "clusterIP": "172.16.55.12",
        "ports": [
            {"name": f"p{i}", "port": 8677 + i, "protocol": "UDP", "nodePort": 30063 + i}
            for i in range(ports)
        ],
    }
    if etp:
        spec["externalTrafficPolicy"] = etp
    if hc:
        spec["healthCheckNodePort"] = hc
    return {
        "metadata": {"namespace": "ns1", "name": "svc"},
        "spec": spec,
        "status": {"loadBalancer": {"ingress": [{"ip": "10.1.2.3"}]}},
    }


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        pytest.param(
            service("LoadBalancer", etp="Local", hc=345),
            {nsn("ns1", "svc"): 345},
            id="only-local load balancer: one port for the Service, not one per port",
        ),
        pytest.param(service("LoadBalancer", etp="Cluster", hc=345), {}, id="LB Cluster"),
        pytest.param(service("LoadBalancer", etp="Local"), {}, id="LB Local, no port set"),
        pytest.param(
            service("NodePort", etp="Local", hc=345), {}, id="NodePort Local: never (upstream)"
        ),
        pytest.param(service("ClusterIP", hc=345), {}, id="ClusterIP"),
        pytest.param(
            {**service("LoadBalancer", etp="Local", hc=345), "spec": {"clusterIP": "None"}},
            {},
            id="headless: not proxied, no health check",
        ),
        pytest.param(
            {
                **service("LoadBalancer", etp="Local", hc=345),
                "spec": {"type": "ExternalName", "clusterIP": "172.16.55.4"},
            },
            {},
            id="ExternalName",
        ),
    ],
)
def test_which_services_get_a_health_check_port(
    svc: dict[str, Any], expected: dict[ServiceName, int]
) -> None:
    assert health_check_ports(service_ports(svc, 4).values()) == expected


def slice_of(*endpoints: dict[str, Any], ports: tuple[int, ...] = (80,)) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns1",
            "name": "svc1-1",
            "labels": {"kubernetes.io/service-name": "svc1"},
        },
        "addressType": "IPv4",
        "ports": [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in ports],
        "endpoints": list(endpoints),
    }


def ep(ip: str, node: str = "test-node", **conditions: bool) -> dict[str, Any]:
    return {"addresses": [ip], "nodeName": node, "conditions": conditions}


@pytest.mark.parametrize(
    ("es", "expected"),
    [
        pytest.param(
            slice_of(
                ep("10.0.1.1", ready=True),
                ep("10.0.1.2", ready=True),
                ep("10.0.1.3", ready=True),
                ep("10.0.1.4", ready=False),
            ),
            {nsn("ns1", "svc1"): 3},
            id="three ready, one not ready (TestHealthCheckNodePortWhenTerminating, before)",
        ),
        pytest.param(
            slice_of(
                ep("10.0.1.1", ready=False, serving=True, terminating=False),
                ep("10.0.1.2", ready=False, serving=True, terminating=True),
                ep("10.0.1.3", ready=False, serving=True, terminating=True),
                ep("10.0.1.4", ready=False, serving=False, terminating=True),
            ),
            {},
            id="all terminating: no local ready endpoint (after)",
        ),
        pytest.param(
            slice_of(ep("10.0.1.1"), ep("10.0.1.2", node="other-node")),
            {nsn("ns1", "svc1"): 1},
            id="another node's endpoint is not local",
        ),
        pytest.param(
            slice_of(ep("10.0.1.1"), ep("10.0.1.2"), ports=(80, 443)),
            {nsn("ns1", "svc1"): 2},
            id="counted by IP: two ports of one pod count once",
        ),
        pytest.param(slice_of(ep("10.0.1.1")), {nsn("ns1", "svc1"): 1}, id="nil ready is ready"),
    ],
)
def test_local_ready_endpoints(es: dict[str, Any], expected: dict[ServiceName, int]) -> None:
    cache = EndpointSliceCache("test-node", 4)
    cache.update(es)
    assert local_ready_endpoints(cache.endpoints_map()) == expected


def test_local_ready_endpoints_limited_to_the_given_services() -> None:
    spn = ServicePortName(nsn("a", "b"), "")
    eps = {spn: (Endpoint("10.0.0.1", 80, is_local=True),)}
    assert local_ready_endpoints(eps, [nsn("a", "b")]) == {nsn("a", "b"): 1}
    assert local_ready_endpoints(eps, [nsn("c", "d")]) == {}


N1, N2, N3, N4 = nsn("a", "b"), nsn("c", "d"), nsn("e", "f"), nsn("g", "h")

# Upstream's TestServer, step by step: (operation, argument, expected ports, expected counts).
Counts = dict[ServiceName, int]
SERVER_STEPS: list[tuple[str, Counts, Counts, Counts]] = [
    ("services", {}, {}, {}),
    ("endpoints", {}, {}, {}),
    ("endpoints", {N1: 93}, {}, {}),  # unknown endpoints are dropped
    ("services", {N1: 9376}, {N1: 9376}, {N1: 0}),
    ("endpoints", {N1: 18}, {N1: 9376}, {N1: 18}),
    ("endpoints", {N1: 0}, {N1: 9376}, {N1: 0}),
    ("endpoints", {N1: 11}, {N1: 9376}, {N1: 11}),
    ("endpoints", {}, {N1: 9376}, {N1: 0}),  # nil endpoints: back to 0
    ("endpoints", {N1: 18}, {N1: 9376}, {N1: 18}),
    ("services", {}, {}, {}),  # delete the service
    (
        "services",
        {N1: 9376, N2: 12909, N3: 11113},
        {N1: 9376, N2: 12909, N3: 11113},
        {N1: 0, N2: 0, N3: 0},
    ),
    ("endpoints", {N1: 9, N2: 3, N3: 7}, {N1: 9376, N2: 12909, N3: 11113}, {N1: 9, N2: 3, N3: 7}),
    # remove N1, keep N2 (its count too), move N3 to another port (count reset), add N4
    (
        "services",
        {N2: 12909, N3: 11114, N4: 11878},
        {N2: 12909, N3: 11114, N4: 11878},
        {N2: 3, N3: 0, N4: 0},
    ),
    (
        "endpoints",
        {N1: 9, N2: 3, N3: 7, N4: 6},
        {N2: 12909, N3: 11114, N4: 11878},
        {N2: 3, N3: 7, N4: 6},
    ),
    ("endpoints", {N3: 7, N4: 6}, {N2: 12909, N3: 11114, N4: 11878}, {N2: 0, N3: 7, N4: 6}),
]


def test_sync_services_and_endpoints_as_upstream_server() -> None:
    table = HealthTable()
    for step, (op, arg, ports, counts) in enumerate(SERVER_STEPS):
        if op == "services":
            table.sync_services(arg)
        else:
            table.sync_endpoints(arg)
        assert (table.ports, table.endpoints) == (ports, counts), f"step {step}"
        for svc, count in counts.items():
            got = table.answer(svc, True)
            assert got.status == (200 if count else 503), f"step {step} {svc}"
            assert json.loads(got.body)["localEndpoints"] == count


def test_sync_services_reports_what_to_close_and_open() -> None:
    table = HealthTable()
    assert table.sync_services({N1: 9376, N3: 11113}) == ({}, {N1: 9376, N3: 11113})
    assert table.sync_services({N1: 9376, N3: 11113}) == ({}, {})  # nothing to do
    assert table.sync_services({N3: 11114, N4: 11878}) == (
        {N1: 9376, N3: 11113},
        {N3: 11114, N4: 11878},
    )


def test_a_listener_that_failed_is_offered_again() -> None:
    table = HealthTable()
    table.sync_services({N1: 9376})
    table.forget(N1, 9000)  # an old port: ignored
    assert table.ports == {N1: 9376}
    table.forget(N1, 9376)
    assert table.ports == {}
    assert table.sync_services({N1: 9376}) == ({}, {N1: 9376})


@pytest.mark.parametrize(
    ("count", "healthy", "status"),
    [
        pytest.param(0, True, 503, id="no local endpoints"),
        pytest.param(7, True, 200, id="local endpoints"),
        pytest.param(7, False, 503, id="local endpoints, proxy unhealthy"),
        pytest.param(0, False, 503, id="neither"),
    ],
)
def test_answer(count: int, healthy: bool, status: int) -> None:
    got = answer(nsn("ns", "svc"), count, healthy)
    assert got.status == status
    assert dict(got.headers) == {
        "Content-Type": "application/json",
        "X-Content-Type-Options": "nosniff",
        "X-Load-Balancing-Endpoint-Weight": str(count),
    }
    assert json.loads(got.body) == {
        "service": {"namespace": "ns", "name": "svc"},
        "localEndpoints": count,
        "serviceProxyHealthy": healthy,
    }


def test_answer_body_is_upstreams_text() -> None:
    """Upstream prints a dedented template: tab indentation, no trailing newline."""
    assert answer(nsn("ns", "svc"), 2, True).body == (
        '{\n\t"service": {\n\t\t"namespace": "ns",\n\t\t"name": "svc"\n\t},\n'
        '\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}'
    )


@pytest.mark.parametrize(
    ("mode", "family", "nodeport_ips", "node_ip", "hosts"),
    [
        pytest.param("nftables", 4, ("10.0.0.1",), "10.0.0.1", ("10.0.0.1",), id="nft primary"),
        pytest.param("nftables", 4, (), "", ("0.0.0.0",), id="nft without a Node IP: all"),
        pytest.param("nftables", 6, (), "", ("::",), id="nft IPv6 all"),
        pytest.param("iptables", 4, ("10.0.0.1",), "10.0.0.1", ("0.0.0.0",), id="iptables all"),
        pytest.param("ipvs", 6, ("fd00::1",), "fd00::1", ("::",), id="ipvs all"),
        pytest.param("userspace", 4, (), "", ("127.0.0.1",), id="userspace loopback"),
        pytest.param("userspace", 4, (), "10.0.0.1", ("10.0.0.1",), id="userspace node IP"),
    ],
)
def test_bind_hosts(
    mode: str, family: int, nodeport_ips: tuple[str, ...], node_ip: str, hosts: tuple[str, ...]
) -> None:
    assert bind_hosts(mode, family, nodeport_ips, node_ip) == hosts  # type: ignore[arg-type]
