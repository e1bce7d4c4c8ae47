"""Desired endpoints, ports and identity: upstream utils_test.go / controller_utils_test.go."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fixtures import NS, new_node, new_pod, new_service

from sliceplane.endpointslice.podendpoints import (
    address_types_for_service,
    endpoint_key,
    endpoint_ports,
    endpoints_equal_beyond_hash,
    find_port,
    pod_to_endpoint,
    port_set_key,
    should_pod_be_in_endpoints,
    should_set_hostname,
)


def _svc_spec(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "s", "namespace": NS}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        pytest.param({"clusterIP": "10.0.0.10"}, ["IPv4"], id="v4-no-families"),
        pytest.param({"clusterIP": "2000::1"}, ["IPv6"], id="v6-no-families"),
        pytest.param({"ipFamilies": ["IPv4"]}, ["IPv4"], id="v4"),
        pytest.param({"ipFamilies": ["IPv6"]}, ["IPv6"], id="v6"),
        pytest.param({"ipFamilies": ["IPv4", "IPv6"]}, ["IPv4", "IPv6"], id="v4-v6"),
        pytest.param({"ipFamilies": ["IPv6", "IPv4"]}, ["IPv6", "IPv4"], id="v6-v4"),
        pytest.param({"clusterIP": "None"}, ["IPv4", "IPv6"], id="headless-no-families"),
        pytest.param({"clusterIP": ""}, ["IPv4", "IPv6"], id="empty-clusterip-no-families"),
        pytest.param(
            {"clusterIP": "None", "selector": {"foo": "bar"}, "ipFamilies": ["IPv4", "IPv6"]},
            ["IPv4", "IPv6"],
            id="headless-with-families",
        ),
    ],
)
def test_address_types_for_service(spec: dict[str, Any], want: list[str]) -> None:
    assert address_types_for_service(_svc_spec(**spec)) == want


def _pod_with(phase: str | None = None, ips: bool = True, terminating: bool = False) -> Any:
    pod = new_pod(1, terminating=terminating)
    if phase:
        pod["status"]["phase"] = phase
    if not ips:
        pod["status"].pop("podIP")
        pod["status"].pop("podIPs")
    return pod


@pytest.mark.parametrize(
    ("pod", "include_terminating", "want"),
    [
        pytest.param(_pod_with("Failed"), True, False, id="failed"),
        pytest.param(_pod_with("Succeeded"), True, False, id="succeeded"),
        pytest.param(_pod_with("Running", ips=False), True, False, id="no-ips"),
        pytest.param(_pod_with("Running", terminating=True), False, False, id="terminating-excl"),
        pytest.param(_pod_with("Running", terminating=True), True, True, id="terminating-incl"),
        pytest.param(_pod_with("Pending"), True, True, id="pending"),
        pytest.param(_pod_with("Unknown"), True, True, id="unknown"),
        pytest.param(_pod_with("Running"), True, True, id="running"),
        pytest.param(
            {**_pod_with("Running"), "status": {"phase": "Running", "podIP": "1.2.3.4"}},
            True,
            True,
            id="podip-only",
        ),
        pytest.param(
            {**_pod_with("Running"), "status": {"phase": "Running", "podIPs": [{"ip": "::1"}]}},
            True,
            True,
            id="podips-only",
        ),
    ],
)
def test_should_pod_be_in_endpoints(pod: Any, include_terminating: bool, want: bool) -> None:
    assert should_pod_be_in_endpoints(pod, include_terminating) is want


@pytest.mark.parametrize(
    ("hostname", "subdomain", "pod_ns", "want"),
    [
        pytest.param("h", "foo", NS, True, id="match"),
        pytest.param("", "foo", NS, False, id="no-hostname"),
        pytest.param("h", "other", NS, False, id="other-subdomain"),
        pytest.param("h", "foo", "elsewhere", False, id="other-namespace"),
    ],
)
def test_should_set_hostname(hostname: str, subdomain: str, pod_ns: str, want: bool) -> None:
    pod = new_pod(1, namespace=pod_ns)
    pod["spec"].update(hostname=hostname, subdomain=subdomain)
    assert should_set_hostname(pod, new_service("foo")) is want


def _ep(ready: bool, serving: bool, terminating: bool, **extra: Any) -> dict[str, Any]:
    ep: dict[str, Any] = {
        "addresses": [extra.pop("address", "1.2.3.5")],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    if "hostname" in extra:
        ep["hostname"] = extra.pop("hostname")
    ep["targetRef"] = {"kind": "Pod", "namespace": NS, "name": "pod1"}
    ep["nodeName"] = "node-1"
    ep.update(extra)
    return ep


def _hostname_pod() -> Any:
    pod = new_pod(1)
    pod["spec"].update(subdomain="foo", hostname="example-hostname")
    return pod


def _multi_ip_pod() -> Any:
    pod = new_pod(1)
    pod["status"]["podIPs"] = [{"ip": "1.2.3.4"}, {"ip": "1234::5678:0000:0000:9abc:def0"}]
    return pod


_ZONED = new_node("node-1", zone="us-central1-a")


@pytest.mark.parametrize(
    ("pod", "node", "publish", "want"),
    [
        pytest.param(new_pod(1), None, False, _ep(True, True, False), id="ready"),
        pytest.param(new_pod(1), None, True, _ep(True, True, False), id="ready-publish"),
        pytest.param(new_pod(1, ready=False), None, False, _ep(False, False, False), id="unready"),
        pytest.param(
            new_pod(1, ready=False), None, True, _ep(True, False, False), id="unready-publish"
        ),
        pytest.param(
            new_pod(1), _ZONED, False, _ep(True, True, False, zone="us-central1-a"), id="zone"
        ),
        pytest.param(
            _multi_ip_pod(),
            _ZONED,
            False,
            _ep(True, True, False, address="1.2.3.4", zone="us-central1-a"),
            id="multi-ip",
        ),
        pytest.param(
            _hostname_pod(),
            _ZONED,
            False,
            _ep(True, True, False, hostname="example-hostname", zone="us-central1-a"),
            id="hostname",
        ),
        pytest.param(
            new_pod(1, terminating=True), None, False, _ep(False, True, True), id="ready-term"
        ),
        pytest.param(
            new_pod(1, ready=False, terminating=True),
            None,
            False,
            _ep(False, False, True),
            id="unready-term",
        ),
        pytest.param(
            new_pod(1, terminating=True), None, True, _ep(True, True, True), id="term-publish"
        ),
        pytest.param(new_pod(1), new_node("node-1"), False, _ep(True, True, False), id="no-zone"),
    ],
)
def test_pod_to_endpoint(pod: Any, node: Any, publish: bool, want: Any) -> None:
    svc = new_service("foo", publishNotReadyAddresses=publish)
    assert pod_to_endpoint(pod, node, svc, "IPv4") == want


def test_pod_to_endpoint_ipv6_canonical_and_uid() -> None:
    pod = _multi_ip_pod()
    pod["metadata"]["uid"] = "u-1"
    ep = pod_to_endpoint(pod, None, new_service(), "IPv6")
    assert ep["addresses"] == ["1234::5678:0:0:9abc:def0"]
    assert ep["targetRef"] == {"kind": "Pod", "namespace": NS, "name": "pod1", "uid": "u-1"}


def test_pod_to_endpoint_sloppy_and_mapped_ipv4() -> None:
    pod = new_pod(1)
    pod["status"]["podIPs"] = [{"ip": "010.001.002.003"}, {"ip": "::ffff:10.0.0.9"}]
    assert pod_to_endpoint(pod, None, new_service(), "IPv4")["addresses"] == [
        "10.1.2.3",
        "10.0.0.9",
    ]
    assert pod_to_endpoint(pod, None, new_service(), "IPv6")["addresses"] == []


def _port_pod(
    containers: list[list[dict[str, Any]]], init: list[tuple[str | None, list[Any]]] = ()
) -> Any:
    pod = new_pod(1)
    pod["spec"]["containers"] = [{"name": f"c{i}", "ports": p} for i, p in enumerate(containers)]
    pod["spec"]["initContainers"] = [
        {"name": f"i{i}", "ports": p, **({"restartPolicy": rp} if rp else {})}
        for i, (rp, p) in enumerate(init)
    ]
    return pod


def _cp(name: str, port: int, protocol: str = "TCP", host: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "containerPort": port, "protocol": protocol}
    if host is not None:
        out["hostPort"] = host
    return out


@pytest.mark.parametrize(
    ("containers", "init", "target", "protocol", "want"),
    [
        pytest.param([[]], [], 93, "TCP", 93, id="int-no-ports"),
        pytest.param([[_cp("p", 11)]], [], 93, "TCP", 93, id="int-ignores-containers"),
        pytest.param([[_cp("p", 11)]], [], "p", "TCP", 11, id="named"),
        pytest.param([[_cp("p", 11)]], [], "q", "TCP", None, id="named-missing"),
        pytest.param([[]], [], "p", "TCP", None, id="named-no-ports"),
        pytest.param([[_cp("snmp", 161, "UDP")]], [], "snmp", "TCP", None, id="protocol-mismatch"),
        pytest.param([[_cp("snmp", 161, "UDP")]], [], "snmp", "UDP", 161, id="protocol-udp"),
        pytest.param([[_cp("p", 11, host=9090)]], [], "p", "TCP", 11, id="hostport-irrelevant"),
        pytest.param([[_cp("p", -1)]], [], "p", "TCP", -1, id="negative-passes"),
        pytest.param([[_cp("a", 1)], [_cp("p", 22)]], [], "p", "TCP", 22, id="second-container"),
        pytest.param(
            [[_cp("p", 11)], [_cp("p", 22)]], [], "p", "TCP", 11, id="first-container-wins"
        ),
        pytest.param([[]], [("Always", [_cp("p", 80)])], "p", "TCP", 80, id="sidecar"),
        pytest.param([[]], [(None, [_cp("p", 80)])], "p", "TCP", None, id="plain-init-ignored"),
        pytest.param([[]], [("Never", [_cp("p", 80)])], "p", "TCP", None, id="init-never"),
        pytest.param(
            [[_cp("p", 81)]], [("Always", [_cp("p", 80)])], "p", "TCP", 81, id="app-beats-sidecar"
        ),
    ],
)
def test_find_port(
    containers: Any, init: Any, target: Any, protocol: str, want: int | None
) -> None:
    pod = _port_pod(containers, init)
    assert find_port(pod, {"targetPort": target, "protocol": protocol}) == want


def test_find_port_defaults_target_to_port() -> None:
    assert find_port(new_pod(1), {"port": 8443, "protocol": "TCP"}) == 8443


@pytest.mark.parametrize(
    ("service_ports", "pod", "want"),
    [
        pytest.param(
            [
                {
                    "name": "http",
                    "port": 80,
                    "targetPort": 80,
                    "protocol": "TCP",
                    "appProtocol": "example.com/custom-protocol",
                }
            ],
            _port_pod([[]]),
            [
                {
                    "name": "http",
                    "port": 80,
                    "protocol": "TCP",
                    "appProtocol": "example.com/custom-protocol",
                }
            ],
            id="app-protocol",
        ),
        pytest.param(
            [
                {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
                {"name": "https", "targetPort": "https", "protocol": "TCP", "appProtocol": "https"},
            ],
            _port_pod([[_cp("https", 443)]]),
            [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "https", "port": 443, "protocol": "TCP", "appProtocol": "https"},
            ],
            id="named-and-numeric",
        ),
        pytest.param(
            [{"name": "http", "targetPort": "http", "protocol": "TCP"}],
            _port_pod([[]], [("Always", [_cp("http", 8080)])]),
            [{"name": "http", "port": 8080, "protocol": "TCP"}],
            id="sidecar-port",
        ),
        pytest.param(
            [{"name": "http", "targetPort": "http", "protocol": "TCP"}],
            _port_pod([[_cp("http", 8090)]], [("Always", [_cp("http", 8080)])]),
            [{"name": "http", "port": 8090, "protocol": "TCP"}],
            id="app-container-over-sidecar",
        ),
        pytest.param(
            [{"targetPort": "missing", "protocol": "TCP"}, {"targetPort": 9, "protocol": "UDP"}],
            _port_pod([[]]),
            [{"name": "", "port": 9, "protocol": "UDP"}],
            id="unresolvable-skipped-unnamed-empty-name",
        ),
    ],
)
def test_endpoint_ports(service_ports: Any, pod: Any, want: Any) -> None:
    svc = new_service()
    svc["spec"]["ports"] = service_ports
    assert endpoint_ports(svc, pod) == want


def test_endpoint_ports_headless_without_ports() -> None:
    svc = new_service(clusterIP="None")
    svc["spec"]["ports"] = []
    assert endpoint_ports(svc, new_pod(1)) == []


_P1 = {"name": "a", "port": 1, "protocol": "TCP"}
_P2 = {"name": "b", "port": 2, "protocol": "UDP", "appProtocol": "x"}


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        pytest.param(None, [], True, id="nil-vs-empty"),
        pytest.param([_P1, _P2], [_P2, _P1], True, id="order-insensitive"),
        pytest.param([_P1], [{**_P1, "port": 2}], False, id="port-differs"),
        pytest.param([_P1], [{"port": 1, "protocol": "TCP"}], False, id="nil-name-vs-empty"),
        pytest.param(
            [_P2],
            [{k: v for k, v in _P2.items() if k != "appProtocol"}],
            False,
            id="app-protocol-counts",
        ),
    ],
)
def test_port_set_key(a: Any, b: Any, equal: bool) -> None:
    assert (port_set_key(a) == port_set_key(b)) is equal


_BASE = {
    "addresses": ["10.1.2.3"],
    "conditions": {"ready": True, "serving": True, "terminating": False},
    "nodeName": "node-1",
    "zone": "zone-a",
    "targetRef": {"kind": "Pod", "namespace": "ns", "name": "pod0", "resourceVersion": "1"},
}


def _change(path: tuple[str, ...], value: Any) -> Any:
    ep = copy.deepcopy(_BASE)
    target = ep
    for p in path[:-1]:
        target = target[p]
    if value is None:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return ep


@pytest.mark.parametrize(
    ("other", "equal"),
    [
        pytest.param(copy.deepcopy(_BASE), True, id="identical"),
        pytest.param(_change(("nodeName",), "node-2"), False, id="node-name"),
        pytest.param(_change(("zone",), "zone-b"), False, id="zone"),
        pytest.param(_change(("conditions", "ready"), False), False, id="ready"),
        pytest.param(_change(("conditions", "serving"), None), False, id="serving-nil-vs-true"),
        pytest.param(_change(("conditions", "terminating"), None), False, id="term-nil-vs-false"),
        pytest.param(_change(("targetRef", "name"), "pod1"), False, id="pod-name"),
        pytest.param(_change(("targetRef", "uid"), "other"), False, id="uid"),
        pytest.param(_change(("targetRef", "resourceVersion"), "2"), True, id="rv-changed"),
        pytest.param(_change(("targetRef", "resourceVersion"), None), True, id="rv-removed"),
        pytest.param(_change(("hints",), {"forZones": [{"name": "a"}]}), True, id="hints-ignored"),
        pytest.param(_change(("targetRef",), None), False, id="targetref-removed"),
    ],
)
def test_endpoints_equal_beyond_hash(other: Any, equal: bool) -> None:
    assert endpoints_equal_beyond_hash(_BASE, other) is equal
    assert endpoints_equal_beyond_hash(other, _BASE) is equal


def test_endpoint_key_identity() -> None:
    a = {"addresses": ["b", "a"], "targetRef": {"namespace": "ns", "name": "p", "uid": "1"}}
    b = {
        "addresses": ["a", "b"],
        "conditions": {"ready": False},
        "targetRef": {"namespace": "ns", "name": "p", "uid": "2"},
    }
    assert endpoint_key(a) == endpoint_key(b)
    assert endpoint_key(a) != endpoint_key({**a, "hostname": "h"})
    assert a["addresses"] == ["b", "a"], "identity must not sort the caller's list"
