"""Service validation: paths and messages from upstream core validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.api.field import ErrorType
from sliceplane.api.validation import validate_create, validate_update


def svc(**spec: Any) -> dict[str, Any]:
    """A valid, defaulted ClusterIP Service; keyword arguments override spec fields."""
    base: dict[str, Any] = {
        "type": "ClusterIP",
        "clusterIP": "10.0.0.10",
        "clusterIPs": ["10.0.0.10"],
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": "web"},
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
    }
    base.update(spec)
    for k in [k for k, v in base.items() if v is None]:
        del base[k]
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


def msgs(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_create("services", obj)]


def test_valid_service() -> None:
    assert msgs(svc()) == []


CASES = [
    pytest.param(svc(ports=[]), ["spec.ports: Required value"], id="ports-required"),
    pytest.param(
        svc(clusterIP="None", clusterIPs=["None"], ports=[], ipFamilies=None),
        [],
        id="headless-without-ports",
    ),
    pytest.param(
        svc(
            ports=[
                {"port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "b", "port": 81, "protocol": "TCP", "targetPort": 81},
            ]
        ),
        ["spec.ports[0].name: Required value"],
        id="name-required-with-two-ports",
    ),
    pytest.param(
        svc(
            ports=[
                {"name": "a", "port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "a", "port": 81, "protocol": "TCP", "targetPort": 81},
            ]
        ),
        ['spec.ports[1].name: Duplicate value: "a"'],
        id="duplicate-port-name",
    ),
    pytest.param(
        svc(
            ports=[
                {"name": "a", "port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "b", "port": 80, "protocol": "TCP", "targetPort": 81},
            ]
        ),
        [
            'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
            "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, "
            'IntVal:0, StrVal:""}, NodePort:0}'
        ],
        id="duplicate-port-protocol",
    ),
    pytest.param(
        svc(
            ports=[
                {"name": "a", "port": 80, "protocol": "UDP", "targetPort": 80},
                {"name": "b", "port": 80, "protocol": "TCP", "targetPort": 80},
            ]
        ),
        [],
        id="same-port-different-protocol",
    ),
    pytest.param(
        svc(ports=[{"name": "a", "port": 0, "protocol": "TCP", "targetPort": 80}]),
        ["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"],
        id="port-zero",
    ),
    pytest.param(
        svc(ports=[{"name": "a", "port": 80, "protocol": "HTTP", "targetPort": 80}]),
        [
            'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", '
            '"TCP", "UDP"'
        ],
        id="bad-protocol",
    ),
    pytest.param(
        svc(ports=[{"name": "a", "port": 80, "protocol": "TCP", "targetPort": "Web"}]),
        [
            'spec.ports[0].targetPort: Invalid value: "Web": must contain only alpha-numeric '
            "characters (a-z, 0-9), and hyphens (-)"
        ],
        id="bad-target-port-name",
    ),
    pytest.param(
        svc(ports=[{"name": "a", "port": 80, "protocol": "TCP", "targetPort": 70000}]),
        ["spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"],
        id="bad-target-port-number",
    ),
    pytest.param(
        svc(
            ports=[
                {"name": "a", "port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 30080}
            ]
        ),
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
        id="node-port-on-cluster-ip",
    ),
    pytest.param(
        svc(type="Bogus"),
        [
            'spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", '
            '"ExternalName", "LoadBalancer", "NodePort"'
        ],
        id="bad-type",
    ),
    pytest.param(
        svc(sessionAffinity="Sticky"),
        ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'],
        id="bad-session-affinity",
    ),
    pytest.param(
        svc(sessionAffinity="ClientIP"),
        ["spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP"],
        id="client-ip-needs-config",
    ),
    pytest.param(
        svc(selector={"app": "-bad-"}),
        [
            'spec.selector: Invalid value: "-bad-": a valid label must be an empty string or '
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ],
        id="bad-selector-value",
    ),
    pytest.param(
        svc(
            type="ExternalName",
            externalName="my.database.example.com",
            clusterIP=None,
            clusterIPs=None,
            ipFamilies=None,
            ipFamilyPolicy=None,
            ports=[],
            internalTrafficPolicy=None,
        ),
        [],
        id="external-name-ok",
    ),
    pytest.param(
        svc(
            type="ExternalName",
            clusterIP=None,
            clusterIPs=None,
            ipFamilies=None,
            ipFamilyPolicy=None,
            internalTrafficPolicy=None,
        ),
        ["spec.externalName: Required value"],
        id="external-name-required",
    ),
    pytest.param(
        svc(
            type="ExternalName",
            externalName="Bad_Name",
            ipFamilies=None,
            ipFamilyPolicy=None,
            clusterIP=None,
            internalTrafficPolicy=None,
        ),
        [
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
            'spec.externalName: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must '
            "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ],
        id="external-name-bad",
    ),
    pytest.param(
        svc(clusterIPs=["10.0.0.11"]),
        [
            'spec.clusterIPs: Invalid value: []string{"10.0.0.11"}: '
            "first value must match `clusterIP`"
        ],
        id="cluster-ips-mismatch",
    ),
    pytest.param(
        svc(clusterIP="10.0.0.010", clusterIPs=["10.0.0.010"]),
        ['spec.clusterIPs[0]: Invalid value: "10.0.0.010": must not have leading 0s'],
        id="cluster-ip-leading-zero",
    ),
    pytest.param(
        svc(
            clusterIP="10.0.0.10",
            clusterIPs=["10.0.0.10", "10.0.0.11"],
            ipFamilies=["IPv4"],
            ipFamilyPolicy="RequireDualStack",
        ),
        [
            'spec.clusterIPs: Invalid value: []string{"10.0.0.10", "10.0.0.11"}: may specify no '
            "more than one IP for each IP family"
        ],
        id="two-ipv4-cluster-ips",
    ),
    pytest.param(
        svc(ipFamilies=["IPv6"]),
        [
            'spec.clusterIPs[0]: Invalid value: "10.0.0.10": expected an IPv6 value as indicated '
            "by `ipFamilies[0]`"
        ],
        id="family-mismatch",
    ),
    pytest.param(
        svc(ipFamilies=["IPv4", "IPv4"]),
        ['spec.ipFamilies[1]: Duplicate value: "IPv4"'],
        id="duplicate-family",
    ),
    pytest.param(
        svc(ipFamilies=["IPv5"]),
        ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'],
        id="bad-family",
    ),
    pytest.param(
        svc(ipFamilyPolicy="DualStack"),
        [
            'spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: '
            '"PreferDualStack", "RequireDualStack", "SingleStack"'
        ],
        id="bad-family-policy",
    ),
    pytest.param(
        svc(
            clusterIP="2001:db8::1",
            clusterIPs=["2001:db8::1", "10.0.0.1"],
            ipFamilies=["IPv6", "IPv4"],
            ipFamilyPolicy="PreferDualStack",
        ),
        [],
        id="dual-stack-ok",
    ),
    pytest.param(svc(trafficDistribution="PreferSameNode"), [], id="prefer-same-node"),
    pytest.param(
        svc(trafficDistribution="Nearest"),
        [
            'spec.trafficDistribution: Unsupported value: "Nearest": supported values: '
            '"PreferClose", "PreferSameZone", "PreferSameNode"'
        ],
        id="bad-traffic-distribution",
    ),
    pytest.param(
        svc(internalTrafficPolicy=None), ["spec.internalTrafficPolicy: Required value"], id="itp"
    ),
    pytest.param(
        svc(internalTrafficPolicy="Node"),
        [
            'spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", '
            '"Local"'
        ],
        id="bad-itp",
    ),
    pytest.param(
        svc(externalTrafficPolicy="Local"),
        [
            'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for '
            "externally-accessible services"
        ],
        id="etp-on-cluster-ip",
    ),
    pytest.param(
        svc(type="NodePort"), ["spec.externalTrafficPolicy: Required value"], id="etp-required"
    ),
    pytest.param(
        svc(type="LoadBalancer", externalTrafficPolicy="Cluster"),
        ["allocateLoadBalancerNodePorts: Required value"],
        id="lb-needs-allocate",
    ),
    pytest.param(
        svc(externalIPs=["127.0.0.1"]),
        [
            'spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range '
            "(127.0.0.0/8, ::1/128)",
            "spec.externalTrafficPolicy: Required value",
        ],
        id="loopback-external-ip",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), CASES)
def test_service_create(obj: dict[str, Any], expected: list[str]) -> None:
    assert msgs(obj) == expected


def test_service_name_is_a_dns1123_label() -> None:
    """RelaxedServiceNameValidation is GA (locked on) in 1.37: a leading digit is fine,
    other DNS-1123 label violations are not (checked against kube-apiserver by
    tests/integration/differential)."""
    obj = svc()
    obj["metadata"]["name"] = "1web"
    assert msgs(obj) == []
    obj["metadata"]["name"] = "Web_Service"
    out = msgs(obj)
    assert len(out) == 1
    assert out[0].startswith('metadata.name: Invalid value: "Web_Service": a lowercase RFC 1123')


UPDATE_META = {"name": "web", "namespace": "default", "resourceVersion": "5"}


def _with_rv(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"] = dict(UPDATE_META)
    return obj


UPDATE_CASES = [
    pytest.param(svc(), svc(), [], id="unchanged"),
    pytest.param(
        svc(),
        svc(clusterIP="10.0.0.11", clusterIPs=["10.0.0.11"]),
        ['spec.clusterIPs[0]: Invalid value: []string{"10.0.0.11"}: may not change once set'],
        id="cluster-ip-change",
    ),
    pytest.param(
        svc(
            type="ExternalName",
            externalName="a.example.com",
            clusterIP=None,
            clusterIPs=None,
            ipFamilies=None,
            ipFamilyPolicy=None,
            internalTrafficPolicy=None,
        ),
        svc(),
        [],
        id="from-external-name",
    ),
    pytest.param(
        svc(
            clusterIP="10.0.0.10",
            clusterIPs=["10.0.0.10", "2001:db8::1"],
            ipFamilies=["IPv4", "IPv6"],
            ipFamilyPolicy="PreferDualStack",
        ),
        svc(ipFamilyPolicy="PreferDualStack"),
        [
            'spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be set to '
            "'SingleStack' when releasing the secondary clusterIP",
            'spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be set to '
            "'SingleStack' when releasing the secondary ipFamily",
        ],
        id="downgrade-needs-single-stack",
    ),
    pytest.param(
        svc(),
        svc(
            clusterIP="10.0.0.10",
            clusterIPs=["10.0.0.10", "2001:db8::1"],
            ipFamilies=["IPv4", "IPv6"],
            ipFamilyPolicy="PreferDualStack",
        ),
        [],
        id="upgrade-to-dual-stack",
    ),
    pytest.param(
        svc(),
        svc(ipFamilies=["IPv6"]),
        [
            'spec.ipFamilies[0]: Invalid value: []core.IPFamily{"IPv6"}: may not change once set',
            'spec.clusterIPs[0]: Invalid value: "10.0.0.10": expected an IPv6 value as '
            "indicated by `ipFamilies[0]`",
        ],
        id="primary-family-change",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), UPDATE_CASES)
def test_service_update(old: dict[str, Any], new: dict[str, Any], expected: list[str]) -> None:
    errs = validate_update("services", _with_rv(new), _with_rv(old))
    assert [str(e) for e in errs] == expected


def test_garbage_service_does_not_raise() -> None:
    obj = {
        "metadata": {"name": "web", "namespace": "d"},
        "spec": {
            "ports": [{"port": "80", "targetPort": 1.5, "protocol": None}, 7],
            "selector": [],
            "clusterIPs": "x",
            "sessionAffinityConfig": 3,
            "type": 1,
        },
    }
    errs = validate_create("services", obj)
    assert errs
    assert all(e.type is not ErrorType.INTERNAL for e in errs)
