"""Pod, metadata and supporting-kind validation (Namespace, Node, Endpoints, Event, Lease,
Deployment), plus the dispatch in ``validate_create``/``validate_update``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.api.field import ErrorType
from sliceplane.api.validation import validate_create, validate_update
from sliceplane.api.validation.pod import POD_UPDATE_FORBIDDEN


def msgs(resource: str, obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_create(resource, obj)]


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            }
        ],
        "restartPolicy": "Always",
    }
    base.update(spec)
    return {"metadata": {"name": "web-1", "namespace": "default"}, "spec": base}


def ctr(name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "nginx", **extra}


POD_CASES = [
    pytest.param(pod(), [], id="valid"),
    pytest.param(pod(containers=[]), ["spec.containers: Required value"], id="no-containers"),
    pytest.param(
        pod(containers=[{"name": "app"}]), ["spec.containers[0].image: Required value"], id="image"
    ),
    pytest.param(
        pod(containers=[ctr(), ctr()]),
        ['spec.containers[1].name: Duplicate value: "app"'],
        id="duplicate-container",
    ),
    pytest.param(
        pod(initContainers=[ctr()]),
        ['spec.initContainers[0].name: Duplicate value: "app"'],
        id="init-clashes-with-container",
    ),
    pytest.param(
        pod(containers=[ctr("App")]),
        [
            'spec.containers[0].name: Invalid value: "App": a lowercase RFC 1123 label must '
            "consist of lower case alphanumeric characters or '-', and must start and end with an "
            "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ],
        id="bad-container-name",
    ),
    pytest.param(
        pod(containers=[ctr(ports=[{"containerPort": 0, "protocol": "TCP"}])]),
        ["spec.containers[0].ports[0].containerPort: Required value"],
        id="container-port-required",
    ),
    pytest.param(
        pod(containers=[ctr(ports=[{"containerPort": 70000, "protocol": "TCP"}])]),
        [
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 "
            "and 65535, inclusive"
        ],
        id="container-port-range",
    ),
    pytest.param(
        pod(
            containers=[
                ctr(
                    ports=[
                        {"name": "http", "containerPort": 80, "protocol": "TCP"},
                        {"name": "http", "containerPort": 81, "protocol": "TCP"},
                    ]
                )
            ]
        ),
        ['spec.containers[0].ports[1].name: Duplicate value: "http"'],
        id="duplicate-port-name",
    ),
    pytest.param(
        pod(
            containers=[
                ctr(ports=[{"name": "http-port-number-1", "containerPort": 80, "protocol": "TCP"}])
            ]
        ),
        [
            'spec.containers[0].ports[0].name: Invalid value: "http-port-number-1": must be no '
            "more than 15 characters"
        ],
        id="port-name-too-long",
    ),
    pytest.param(
        pod(containers=[ctr(ports=[{"containerPort": 80, "protocol": "ICMP"}])]),
        [
            'spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: '
            '"SCTP", "TCP", "UDP"'
        ],
        id="port-protocol",
    ),
    pytest.param(
        pod(restartPolicy="Sometimes"),
        [
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
            '"OnFailure", "Never"'
        ],
        id="restart-policy",
    ),
    pytest.param(pod(restartPolicy=""), ["spec.restartPolicy: Required value"], id="restart-req"),
    pytest.param(
        pod(nodeName="Node_1"),
        [
            'spec.nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist '
            "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ],
        id="node-name",
    ),
    pytest.param(
        pod(hostname="web.1", subdomain="svc"),
        ['spec.hostname: Invalid value: "web.1": must not contain dots'],
        id="hostname",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), POD_CASES)
def test_pod_create(obj: dict[str, Any], expected: list[str]) -> None:
    assert msgs("pods", obj) == expected


def _rv(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = "3"
    return obj


def test_pod_update_allows_image_change_only() -> None:
    old = _rv(pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    new["metadata"]["labels"] = {"x": "y"}
    assert validate_update("pods", new, old) == []
    new["spec"]["nodeName"] = "node-1"
    errs = validate_update("pods", new, old)
    assert [str(e) for e in errs] == [f"spec: Forbidden: {POD_UPDATE_FORBIDDEN}"]
    assert errs[0].type is ErrorType.FORBIDDEN


def test_pod_update_may_not_add_containers() -> None:
    old = _rv(pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"].append(ctr("sidecar"))
    assert [str(e) for e in validate_update("pods", new, old)] == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"
    ]


META_CASES = [
    pytest.param(
        {
            "metadata": {"generateName": "web-", "namespace": "d"},
            "addressType": "IPv4",
            "endpoints": [],
            "ports": [],
        },
        [],
        id="generate-name-only",
    ),
    pytest.param(
        {
            "metadata": {"name": "x", "namespace": "d", "labels": {"a/b/c": "v"}},
            "addressType": "IPv4",
        },
        [
            'metadata.labels: Invalid value: "a/b/c": a qualified name must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and "
            "'/' (e.g. 'example.com/MyName')"
        ],
        id="bad-label-key",
    ),
    pytest.param(
        {
            "metadata": {"name": "x", "namespace": "d", "annotations": {"k": "v" * 262144}},
            "addressType": "IPv4",
        },
        ["metadata.annotations: Too long: may not be more than 262144 bytes"],
        id="annotations-too-big",
    ),
    pytest.param(
        {
            "metadata": {"name": "x", "namespace": "d", "annotations": {"Example.COM/Key": "v"}},
            "addressType": "IPv4",
        },
        [],
        id="annotation-key-case-insensitive",
    ),
    pytest.param(
        {
            "metadata": {"name": "x", "namespace": "d", "finalizers": ["custom"]},
            "addressType": "IPv4",
        },
        [
            'metadata.finalizers[0]: Invalid value: "custom": name is neither a standard '
            "finalizer name nor is it fully qualified"
        ],
        id="bad-finalizer",
    ),
    pytest.param(
        {
            "metadata": {
                "name": "x",
                "namespace": "d",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Service", "name": "", "uid": "u"}
                ],
            },
            "addressType": "IPv4",
        },
        ['metadata.ownerReferences.name: Invalid value: "": must not be empty'],
        id="owner-ref-name",
    ),
    pytest.param(
        {"metadata": {"name": "x", "namespace": "d", "generation": -1}, "addressType": "IPv4"},
        ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"],
        id="negative-generation",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), META_CASES)
def test_object_meta(obj: dict[str, Any], expected: list[str]) -> None:
    assert msgs("endpointslices", obj) == expected


def test_namespace_is_forbidden_on_cluster_scoped_kinds() -> None:
    assert msgs("nodes", {"metadata": {"name": "n1", "namespace": "d"}}) == [
        "metadata.namespace: Forbidden: not allowed on this type"
    ]


def test_namespace_name_is_a_label() -> None:
    assert msgs("namespaces", {"metadata": {"name": "a.b"}}) == [
        'metadata.name: Invalid value: "a.b": must not contain dots'
    ]


def test_meta_update_immutable_fields() -> None:
    old = {
        "metadata": {"name": "a", "namespace": "d", "uid": "1", "resourceVersion": "1"},
        "addressType": "IPv4",
    }
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "2"
    new["metadata"]["name"] = "b"
    assert [str(e) for e in validate_update("endpointslices", new, old)] == [
        'metadata.name: Invalid value: "b": field is immutable',
        'metadata.uid: Invalid value: "2": field is immutable',
    ]


def test_unknown_resource_gets_meta_validation_only() -> None:
    assert msgs("serviceaccounts", {"metadata": {"name": "Bad"}, "secrets": 5}) == [
        'metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of '
        "lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        "metadata.namespace: Required value",
    ]


def test_non_object_body() -> None:
    errs = validate_create("pods", [])  # type: ignore[arg-type]
    assert len(errs) == 1 and errs[0].type is ErrorType.INVALID


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
        },
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [ctr()], "restartPolicy": "Always"},
        },
    }
    base.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


DEPLOYMENT_CASES = [
    pytest.param(deployment(), [], id="valid"),
    pytest.param(
        deployment(replicas=-1),
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        id="negative-replicas",
    ),
    pytest.param(deployment(selector=None), ["spec.selector: Required value"], id="no-selector"),
    pytest.param(
        deployment(selector={"matchLabels": {"app": "other"}}),
        [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
            "`selector` does not match template `labels`"
        ],
        id="selector-mismatch",
    ),
    pytest.param(
        deployment(
            selector={
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]
            }
        ),
        [],
        id="match-expressions",
    ),
    pytest.param(
        deployment(
            strategy={
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0},
            }
        ),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
            'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0'
        ],
        id="surge-and-unavailable-zero",
    ),
    pytest.param(
        deployment(
            template={
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [], "restartPolicy": "Always"},
            }
        ),
        ["spec.template.spec.containers: Required value"],
        id="template-containers",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), DEPLOYMENT_CASES)
def test_deployment(obj: dict[str, Any], expected: list[str]) -> None:
    assert msgs("deployments", obj) == expected


def test_deployment_selector_is_immutable() -> None:
    old = _rv(deployment())
    new = _rv(deployment(selector={"matchLabels": {"app": "web", "tier": "x"}}))
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    errs = validate_update("deployments", new, old)
    assert [e.field for e in errs] == ["spec.selector"]
    assert errs[0].detail == "field is immutable"


ENDPOINTS_CASES = [
    pytest.param(
        [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}],
        [],
        id="valid",
    ),
    pytest.param(
        [{"ports": [{"port": 80, "protocol": "TCP"}]}],
        ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"],
        id="no-addresses",
    ),
    pytest.param(
        [{"addresses": [{"ip": "169.254.0.1"}]}],
        [
            'subsets[0].addresses[0].ip: Invalid value: "169.254.0.1": may not be in the '
            "link-local range (169.254.0.0/16, fe80::/10)"
        ],
        id="link-local",
    ),
    pytest.param(
        [
            {
                "addresses": [{"ip": "10.0.0.1"}],
                "ports": [
                    {"port": 80, "protocol": "TCP"},
                    {"name": "b", "port": 81, "protocol": "TCP"},
                ],
            }
        ],
        ["subsets[0].ports[0].name: Required value"],
        id="port-name-required",
    ),
]


@pytest.mark.parametrize(("subsets", "expected"), ENDPOINTS_CASES)
def test_endpoints(subsets: list[Any], expected: list[str]) -> None:
    obj = {"metadata": {"name": "web", "namespace": "default"}, "subsets": subsets}
    assert msgs("endpoints", obj) == expected


def test_node_pod_cidrs() -> None:
    ok = {"metadata": {"name": "node-1"}, "spec": {"podCIDRs": ["10.244.1.0/24", "fd00::/64"]}}
    assert msgs("nodes", ok) == []
    bad = {"metadata": {"name": "node-1"}, "spec": {"podCIDRs": ["10.244.1.0/24", "10.1.0.0/24"]}}
    assert msgs("nodes", bad) == [
        'spec.podCIDRs: Invalid value: []string{"10.244.1.0/24", "10.1.0.0/24"}: may specify no '
        "more than one CIDR for each IP family"
    ]


def test_lease() -> None:
    obj = {
        "metadata": {"name": "l", "namespace": "kube-system"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 0},
    }
    assert msgs("leases", obj) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    ]


def test_event_namespace_must_match_involved_object() -> None:
    obj = {
        "metadata": {"name": "e", "namespace": "a"},
        "involvedObject": {"kind": "Pod", "namespace": "b", "name": "p"},
    }
    assert msgs("events", obj) == [
        'involvedObject.namespace: Invalid value: "b": does not match event.namespace'
    ]
    obj["involvedObject"]["namespace"] = "a"
    assert msgs("events", obj) == []
