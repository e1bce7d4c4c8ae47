"""Endpoints planner: the pure parts of upstream ``endpoints_controller_test.go`` and
``pkg/api/v1/endpoints`` ``TestPackSubsets``."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sliceplane.api.meta import format_rfc3339_nano
from sliceplane.api.subsets import repack_subsets, sort_subsets
from sliceplane.api.wellknown import ANNOTATION_OVER_CAPACITY
from sliceplane.endpoints.planner import (
    ENDPOINTS_CONTROLLER_NAME,
    LABEL_ENDPOINTS_MANAGED_BY,
    EndpointsPlan,
    find_port,
    plan_endpoints,
    truncate_subsets,
)
from sliceplane.endpointslice.types import ANNOTATION_TRIGGER_TIME, LABEL_HEADLESS

Obj = dict[str, Any]
NS = "ns"


def service(
    ports: list[Obj] | None = None,
    *,
    cluster_ip: str = "10.96.0.10",
    selector: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    publish_not_ready: bool = False,
    families: list[str] | None = None,
    type_: str = "ClusterIP",
) -> Obj:
    spec: Obj = {
        "type": type_,
        "clusterIP": cluster_ip,
        "selector": {"app": "web"} if selector is None else selector,
        "ports": [{"name": "", "port": 80, "protocol": "TCP", "targetPort": 8080}]
        if ports is None
        else ports,
    }
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    if families is not None:
        spec["ipFamilies"] = families
    meta: Obj = {"name": "foo", "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def pod(
    n: int,
    *,
    ready: bool = True,
    ips: list[str] | None = None,
    phase: str = "Running",
    terminating: bool = False,
    container_ports: list[Obj] | None = None,
    hostname: str = "",
    subdomain: str = "",
    labels: dict[str, str] | None = None,
) -> Obj:
    meta: Obj = {
        "name": f"pod{n}",
        "namespace": NS,
        "uid": f"uid{n}",
        "labels": {"app": "web"} if labels is None else labels,
    }
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: Obj = {
        "nodeName": "node-1",
        "containers": [{"name": "c", "ports": container_ports or []}],
    }
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    addrs = [f"1.2.3.{4 + n}"] if ips is None else ips
    status: Obj = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "podIPs": [{"ip": ip} for ip in addrs],
    }
    if addrs:
        status["podIP"] = addrs[0]
    return {"metadata": meta, "spec": spec, "status": status}


def address(n: int, ip: str | None = None, **extra: Any) -> Obj:
    return {
        "ip": ip or f"1.2.3.{4 + n}",
        **extra,
        "nodeName": "node-1",
        "targetRef": {"kind": "Pod", "namespace": NS, "name": f"pod{n}", "uid": f"uid{n}"},
    }


def plan(svc: Obj | None, pods: list[Obj], existing: Obj | None = None) -> EndpointsPlan:
    return plan_endpoints(svc, pods, existing, trigger_time=None)


def subsets_of(result: EndpointsPlan) -> list[Obj]:
    assert result.obj is not None
    return list(result.obj.get("subsets", []))


P8080 = {"port": 8080, "protocol": "TCP"}


@pytest.mark.parametrize(
    ("svc", "pods", "expected"),
    [
        pytest.param(
            service(), [pod(0)], [{"addresses": [address(0)], "ports": [P8080]}], id="basic"
        ),
        pytest.param(
            service(),
            [pod(0, ready=False)],
            [{"notReadyAddresses": [address(0)], "ports": [P8080]}],
            id="not-ready",
        ),
        pytest.param(
            service(publish_not_ready=True),
            [pod(0, ready=False)],
            [{"addresses": [address(0)], "ports": [P8080]}],
            id="publish-not-ready-addresses",
        ),
        pytest.param(service(), [pod(0, terminating=True)], [], id="terminating-pod-excluded"),
        pytest.param(
            service(publish_not_ready=True),
            [pod(0, terminating=True, ready=False)],
            [{"addresses": [address(0)], "ports": [P8080]}],
            id="terminating-pod-kept-when-publishing-not-ready",
        ),
        pytest.param(service(), [pod(0, phase="Succeeded")], [], id="succeeded-pod-excluded"),
        pytest.param(service(), [pod(0, phase="Failed")], [], id="failed-pod-excluded"),
        pytest.param(service(), [pod(0, ips=[])], [], id="pod-without-ip-excluded"),
        pytest.param(service(), [pod(0, labels={"app": "other"})], [], id="pod-not-selected"),
        pytest.param(
            service(),
            [pod(0), pod(1, ready=False), pod(2)],
            [
                {
                    "addresses": [address(0), address(2)],
                    "notReadyAddresses": [address(1)],
                    "ports": [P8080],
                }
            ],
            id="ready-and-not-ready-share-a-subset",
        ),
        pytest.param(
            service(
                [
                    {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443},
                ]
            ),
            [pod(0)],
            [
                {
                    "addresses": [address(0)],
                    "ports": [
                        {"name": "http", "port": 8080, "protocol": "TCP"},
                        {"name": "https", "port": 8443, "protocol": "TCP"},
                    ],
                }
            ],
            id="multiple-ports",
        ),
        pytest.param(
            service([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]),
            [
                pod(0, container_ports=[{"name": "http", "containerPort": 8080}]),
                pod(1, container_ports=[{"name": "http", "containerPort": 8090}]),
                pod(2, container_ports=[{"name": "other", "containerPort": 8080}]),
            ],
            [
                {
                    "addresses": [address(0)],
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                },
                {
                    "addresses": [address(1)],
                    "ports": [{"name": "http", "port": 8090, "protocol": "TCP"}],
                },
            ],
            id="named-ports-resolve-per-pod",
        ),
        pytest.param(
            service(ports=[], cluster_ip="None"),
            [pod(0), pod(1, ready=False)],
            [{"addresses": [address(0)], "notReadyAddresses": [address(1)]}],
            id="headless-without-ports",
        ),
        pytest.param(service(ports=[]), [pod(0)], [], id="cluster-ip-without-ports"),
        pytest.param(
            service(families=["IPv6"]),
            [pod(0, ips=["1.2.3.4", "fd00::4"])],
            [{"addresses": [address(0, "fd00::4")], "ports": [P8080]}],
            id="ipv6-primary-family",
        ),
        pytest.param(
            service(cluster_ip="fd00::a"),
            [pod(0, ips=["1.2.3.4", "fd00::4"])],
            [{"addresses": [address(0, "fd00::4")], "ports": [P8080]}],
            id="family-from-cluster-ip",
        ),
        pytest.param(service(families=["IPv6"]), [pod(0)], [], id="no-ip-of-the-family"),
        pytest.param(
            service(),
            [pod(0, hostname="h0", subdomain="foo"), pod(1, hostname="h1", subdomain="bar")],
            [{"addresses": [address(0, hostname="h0"), address(1)], "ports": [P8080]}],
            id="hostname-only-when-subdomain-is-the-service",
        ),
    ],
)
def test_subsets_from_pods(svc: Obj, pods: list[Obj], expected: list[Obj]) -> None:
    result = plan(svc, pods)
    assert result.verb == "create"
    assert subsets_of(result) == sort_subsets(expected)


def test_pod_with_only_pod_ip_is_not_published() -> None:
    p = pod(0)
    del p["status"]["podIPs"]
    assert subsets_of(plan(service(), [p])) == []


def test_create_object_shape() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC)
    result = plan_endpoints(service(labels={"a": "b"}), [pod(0)], None, trigger_time=when)
    assert result == EndpointsPlan(
        "create",
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": "foo",
                "namespace": NS,
                "labels": {"a": "b", LABEL_ENDPOINTS_MANAGED_BY: "endpoint-controller"},
                "annotations": {ANNOTATION_TRIGGER_TIME: "2024-05-06T07:08:09.12Z"},
            },
            "subsets": [{"addresses": [address(0)], "ports": [P8080]}],
        },
    )


def test_empty_endpoints_are_still_created() -> None:
    result = plan(service(), [])
    assert result.verb == "create"
    assert result.obj is not None and "subsets" not in result.obj


@pytest.mark.parametrize(
    ("svc", "verb"),
    [
        pytest.param(service(selector={}), "none", id="no-selector"),
        pytest.param(service(type_="ExternalName"), "none", id="external-name"),
    ],
)
def test_services_that_get_nothing(svc: Obj, verb: str) -> None:
    assert plan(svc, [pod(0)]).verb == verb


def test_selectorless_service_leaves_user_endpoints_alone() -> None:
    svc = service()
    del svc["spec"]["selector"]
    assert plan(svc, [pod(0)], {"metadata": {"name": "foo", "resourceVersion": "1"}}).verb == "none"


def test_deleted_service_deletes_endpoints() -> None:
    current = {"metadata": {"name": "foo", "namespace": NS, "resourceVersion": "3"}}
    assert plan(None, [], current) == EndpointsPlan("delete", current)
    assert plan(None, [], None).verb == "none"


def existing_from(result: EndpointsPlan, rv: str = "5") -> Obj:
    assert result.obj is not None
    obj = copy.deepcopy(result.obj)
    obj["metadata"]["resourceVersion"] = rv
    obj["metadata"]["uid"] = "ep-uid"
    return obj


@pytest.mark.parametrize(
    "svc",
    [
        pytest.param(service(), id="cluster-ip"),
        pytest.param(service(cluster_ip="None"), id="headless"),
        pytest.param(service(cluster_ip=""), id="empty-cluster-ip-counts-as-headless"),
    ],
)
def test_headless_label(svc: Obj) -> None:
    result = plan(svc, [pod(0)])
    assert result.obj is not None
    labels = result.obj["metadata"].get("labels") or {}
    assert (LABEL_HEADLESS in labels) == (svc["spec"]["clusterIP"] in ("", "None"))
    # The headless label alone never triggers an update.
    assert plan(svc, [pod(0)], existing_from(result)).verb == "none"


def test_managed_by_label_is_required() -> None:
    """Upstream's labelsCorrectForEndpoints: Endpoints without
    ``endpoints.kubernetes.io/managed-by: endpoint-controller`` (e.g. written by an older
    controller) are updated to carry it; the label never counts as a Service label."""
    current = existing_from(plan(service(labels={"a": "b"}), [pod(0)]))
    assert current["metadata"]["labels"][LABEL_ENDPOINTS_MANAGED_BY] == ENDPOINTS_CONTROLLER_NAME
    assert plan(service(labels={"a": "b"}), [pod(0)], current).verb == "none"
    del current["metadata"]["labels"][LABEL_ENDPOINTS_MANAGED_BY]
    result = plan(service(labels={"a": "b"}), [pod(0)], current)
    assert result.verb == "update" and result.obj is not None
    assert result.obj["metadata"]["labels"] == {
        "a": "b",
        LABEL_ENDPOINTS_MANAGED_BY: ENDPOINTS_CONTROLLER_NAME,
    }


def test_no_op_when_semantically_equal() -> None:
    current = existing_from(plan(service(), [pod(0), pod(1, ready=False)]))
    current["subsets"][0]["addresses"][0]["targetRef"]["resourceVersion"] = "99"
    current["metadata"]["annotations"] = {ANNOTATION_TRIGGER_TIME: "2020-01-01T00:00:00Z"}
    # A new trigger time alone is not a reason to write.
    result = plan_endpoints(
        service(), [pod(1, ready=False), pod(0)], current, trigger_time=datetime.now(UTC)
    )
    assert result == EndpointsPlan("none")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param(lambda s, p: p.append(pod(2)), "new pod", id="pod-added"),
        pytest.param(
            lambda s, p: p[0]["status"]["conditions"][0].update(status="False"),
            "readiness",
            id="pod-not-ready",
        ),
        pytest.param(
            lambda s, p: s["metadata"].update(labels={"x": "y"}), "labels", id="labels-changed"
        ),
    ],
)
def test_update_when_something_changed(change: Any, why: str) -> None:
    svc, pods = service(), [pod(0), pod(1)]
    current = existing_from(plan(svc, pods))
    current["metadata"]["annotations"] = {"keep": "me"}
    change(svc, pods)
    result = plan(svc, pods, current)
    assert result.verb == "update", why
    assert result.obj is not None
    assert result.obj["metadata"]["resourceVersion"] == "5"
    assert result.obj["metadata"]["uid"] == "ep-uid"
    assert result.obj["metadata"]["annotations"] == {"keep": "me"}


def many_ready_pods(count: int, ready: bool = True, start: int = 0) -> list[Obj]:
    return [
        pod(i, ready=ready, ips=[f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"])
        for i in range(start, start + count)
    ]


def count(subsets: list[Obj]) -> tuple[int, int]:
    return (
        sum(len(s.get("addresses", [])) for s in subsets),
        sum(len(s.get("notReadyAddresses", [])) for s in subsets),
    )


def test_over_capacity_truncates_ready_and_annotates() -> None:
    pods = many_ready_pods(1001) + many_ready_pods(5, ready=False, start=2000)
    result = plan(service(), pods)
    assert result.obj is not None
    assert result.obj["metadata"]["annotations"] == {ANNOTATION_OVER_CAPACITY: "truncated"}
    subsets = subsets_of(result)
    assert count(subsets) == (1000, 0)
    # The survivors are the first 1000 in canonical (bytewise IP) order.
    all_ips = sorted(f"10.0.{i // 256}.{i % 256}" for i in range(1001))
    assert [a["ip"] for a in subsets[0]["addresses"]] == all_ips[:1000]


def test_over_capacity_keeps_all_ready_then_fills_with_not_ready() -> None:
    pods = many_ready_pods(600) + many_ready_pods(600, ready=False, start=600)
    result = plan(service(), pods)
    assert count(subsets_of(result)) == (600, 400)
    current = existing_from(result)
    # Over capacity the upstream comparison never holds, but an identical result is
    # not written again.
    assert plan(service(), pods, current).verb == "none"


def test_back_under_capacity_removes_the_annotation() -> None:
    current = existing_from(plan(service(), many_ready_pods(1001)))
    result = plan(service(), many_ready_pods(10), current)
    assert result.verb == "update"
    assert result.obj is not None
    assert "annotations" not in result.obj["metadata"]


def test_stale_annotation_under_capacity_is_rewritten() -> None:
    current = existing_from(plan(service(), [pod(0)]))
    current["metadata"]["annotations"] = {ANNOTATION_OVER_CAPACITY: "truncated"}
    result = plan(service(), [pod(0)], current)
    assert result.verb == "update"
    assert result.obj is not None and "annotations" not in result.obj["metadata"]


def _ips(prefix: str, n: int) -> list[Obj]:
    return [{"ip": f"{prefix}.{i // 256}.{i % 256}"} for i in range(n)]


@pytest.mark.parametrize(
    ("subsets", "expected"),
    [
        pytest.param(
            [{"addresses": _ips("10.0", 800)}, {"addresses": _ips("10.1", 400)}],
            [(667, 0), (333, 0)],
            id="ready-over-capacity-proportional-last-capped",
        ),
        pytest.param(
            [
                {"addresses": _ips("10.0", 500), "notReadyAddresses": _ips("10.2", 100)},
                {"addresses": _ips("10.1", 300), "notReadyAddresses": _ips("10.3", 300)},
            ],
            [(500, 50), (300, 150)],
            id="not-ready-share-the-rest",
        ),
        pytest.param(
            [
                {"addresses": _ips("10.0", 600), "notReadyAddresses": _ips("10.2", 100)},
                {"addresses": _ips("10.1", 600)},
            ],
            [(500, 0), (500, 0)],
            id="ready-over-capacity-drops-all-not-ready",
        ),
    ],
)
def test_truncate_subsets(subsets: list[Obj], expected: list[tuple[int, int]]) -> None:
    out = truncate_subsets(subsets)
    assert out is not None
    assert [count([s]) for s in out] == expected
    assert truncate_subsets(out) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05Z", id="whole"),
        pytest.param(
            datetime(2024, 1, 2, 3, 4, 5, 500, tzinfo=UTC), "2024-01-02T03:04:05.0005Z", id="frac"
        ),
        pytest.param(
            datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2024-01-02T03:04:05Z",
            id="converted-to-utc",
        ),
    ],
)
def test_format_trigger_time(value: datetime, text: str) -> None:
    assert format_rfc3339_nano(value) == text


def test_trigger_time_removed_when_unknown() -> None:
    current = existing_from(plan(service(), [pod(0)]))
    current["metadata"]["annotations"] = {ANNOTATION_TRIGGER_TIME: "2020-01-01T00:00:00Z"}
    result = plan(service(), [pod(0), pod(1)], current)
    assert result.obj is not None and "annotations" not in result.obj["metadata"]


@pytest.mark.parametrize(
    ("svc_port", "pod_spec", "expected"),
    [
        pytest.param({"port": 80, "targetPort": 8080}, {}, 8080, id="number"),
        pytest.param({"port": 80}, {}, 80, id="defaulted-to-port"),
        pytest.param(
            {"port": 80, "targetPort": "http"},
            {"containers": [{"ports": [{"name": "http", "containerPort": 81}]}]},
            81,
            id="named",
        ),
        pytest.param(
            {"port": 80, "targetPort": "http", "protocol": "UDP"},
            {"containers": [{"ports": [{"name": "http", "containerPort": 81}]}]},
            None,
            id="named-protocol-mismatch",
        ),
        pytest.param(
            {"port": 80, "targetPort": "http"},
            {
                "initContainers": [
                    {"restartPolicy": "Always", "ports": [{"name": "http", "containerPort": 82}]}
                ],
                "containers": [{"ports": [{"name": "http", "containerPort": 81}]}],
            },
            81,
            id="app-container-beats-sidecar",
        ),
        pytest.param(
            {"port": 80, "targetPort": "http"},
            {
                "initContainers": [
                    {"ports": [{"name": "http", "containerPort": 83}]},
                    {"restartPolicy": "Always", "ports": [{"name": "http", "containerPort": 82}]},
                ],
                "containers": [{"ports": []}],
            },
            82,
            id="sidecar-only-with-restart-always",
        ),
        pytest.param({"port": 80, "targetPort": "http"}, {}, None, id="named-missing"),
    ],
)
def test_find_port(svc_port: Obj, pod_spec: Obj, expected: int | None) -> None:
    assert find_port({"spec": pod_spec}, svc_port) == expected


def _a(ip: str, uid: str | None = None, name: str | None = None) -> Obj:
    out: Obj = {"ip": ip}
    if uid is not None or name is not None:
        ref: Obj = {}
        if uid is not None:
            ref["uid"] = uid
        if name is not None:
            ref["name"] = name
        out["targetRef"] = ref
    return out


def _p(n: int) -> Obj:
    return {"port": n}


REPACK_CASES = [
    ("empty-everything", [{"addresses": [], "ports": []}], []),
    ("empty-addresses", [{"addresses": [], "ports": [_p(111)]}], []),
    (
        "empty-ports",
        [{"addresses": [_a("1.2.3.4")], "ports": []}],
        [{"addresses": [_a("1.2.3.4")]}],
    ),
    (
        "empty-ports-not-ready",
        [{"notReadyAddresses": [_a("1.2.3.4")], "ports": []}],
        [{"notReadyAddresses": [_a("1.2.3.4")]}],
    ),
    (
        "one-set-one-ip-one-port",
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
    ),
    (
        "one-set-one-ipv6-one-port",
        [{"addresses": [_a("beef::1:2:3:4")], "ports": [_p(111)]}],
        [{"addresses": [_a("beef::1:2:3:4")], "ports": [_p(111)]}],
    ),
    (
        "one-set-one-ip-one-uid",
        [{"addresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]}],
        [{"addresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]}],
    ),
    (
        "one-set-two-mixed-ips",
        [{"addresses": [_a("1.2.3.4")], "notReadyAddresses": [_a("5.6.7.8")], "ports": [_p(111)]}],
        [{"addresses": [_a("1.2.3.4")], "notReadyAddresses": [_a("5.6.7.8")], "ports": [_p(111)]}],
    ),
    (
        "not-ready-covers-ready",
        [{"addresses": [_a("1.2.3.4")], "notReadyAddresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
        [{"notReadyAddresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
    ),
    (
        "one-set-one-ip-two-ports",
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111), _p(222)]}],
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111), _p(222)]}],
    ),
    (
        "dup-ips",
        [{"addresses": [_a("1.2.3.4"), _a("1.2.3.4")], "ports": [_p(111)]}],
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
    ),
    (
        "dup-ips-with-target-refs-without-uid-keep-first",
        [
            {
                "addresses": [_a("1.2.3.4", name="foo"), _a("1.2.3.4", name="bar")],
                "ports": [_p(111)],
            }
        ],
        [{"addresses": [_a("1.2.3.4", name="foo")], "ports": [_p(111)]}],
    ),
    (
        "dup-mixed-ips-with-target-refs",
        [
            {
                "addresses": [_a("1.2.3.4", name="foo")],
                "notReadyAddresses": [_a("1.2.3.4", name="bar")],
                "ports": [_p(111)],
            }
        ],
        [{"notReadyAddresses": [_a("1.2.3.4", name="foo")], "ports": [_p(111)]}],
    ),
    (
        "dup-ports",
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111), _p(111)]}],
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
    ),
    (
        "two-sets-dup-ip-dup-port",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
        ],
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
    ),
    (
        "two-sets-dup-mixed-ip-dup-port",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.4")], "ports": [_p(111)]},
        ],
        [{"notReadyAddresses": [_a("1.2.3.4")], "ports": [_p(111)]}],
    ),
    (
        "two-sets-dup-ip-two-ports",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.4")], "ports": [_p(222)]},
        ],
        [{"addresses": [_a("1.2.3.4")], "ports": [_p(111), _p(222)]}],
    ),
    (
        "two-sets-dup-mixed-ip-dup-uids-two-ports",
        [
            {"addresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(222)]},
        ],
        [
            {"addresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(222)]},
        ],
    ),
    (
        "two-sets-two-ips-dup-port",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"addresses": [_a("5.6.7.8")], "ports": [_p(111)]},
        ],
        [{"addresses": [_a("1.2.3.4"), _a("5.6.7.8")], "ports": [_p(111)]}],
    ),
    (
        "two-sets-dup-ip-two-uids",
        [
            {"addresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.4", "uid-2")], "ports": [_p(111)]},
        ],
        [{"addresses": [_a("1.2.3.4", "uid-1"), _a("1.2.3.4", "uid-2")], "ports": [_p(111)]}],
    ),
    (
        "wrong-order-with-and-without-uid",
        [
            {"addresses": [_a("5.6.7.8")], "ports": [_p(111)]},
            {"addresses": [_a("5.6.7.8", "uid-1")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
        ],
        [
            {
                "addresses": [
                    _a("1.2.3.4"),
                    _a("1.2.3.4", "uid-1"),
                    _a("5.6.7.8"),
                    _a("5.6.7.8", "uid-1"),
                ],
                "ports": [_p(111)],
            }
        ],
    ),
    (
        "wrong-order-mixed-ends-with-split-addresses",
        [
            {"addresses": [_a("5.6.7.8")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("5.6.7.8", "uid-1")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.4", "uid-1")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.4")], "ports": [_p(111)]},
        ],
        [
            {
                "addresses": [_a("5.6.7.8")],
                "notReadyAddresses": [
                    _a("1.2.3.4"),
                    _a("1.2.3.4", "uid-1"),
                    _a("5.6.7.8", "uid-1"),
                ],
                "ports": [_p(111)],
            }
        ],
    ),
    (
        "two-sets-two-ips-two-ports",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"addresses": [_a("5.6.7.8")], "ports": [_p(222)]},
        ],
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"addresses": [_a("5.6.7.8")], "ports": [_p(222)]},
        ],
    ),
    (
        "four-sets-three-ips-three-ports-jumbled",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.5")], "ports": [_p(222)]},
            {"addresses": [_a("1.2.3.6")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.5")], "ports": [_p(333)]},
        ],
        [
            {"addresses": [_a("1.2.3.4"), _a("1.2.3.6")], "ports": [_p(111)]},
            {"addresses": [_a("1.2.3.5")], "ports": [_p(222), _p(333)]},
        ],
    ),
    (
        "four-sets-three-mixed-ips-three-ports-jumbled",
        [
            {"addresses": [_a("1.2.3.4")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.5")], "ports": [_p(222)]},
            {"addresses": [_a("1.2.3.6")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.5")], "ports": [_p(333)]},
        ],
        [
            {"addresses": [_a("1.2.3.4"), _a("1.2.3.6")], "ports": [_p(111)]},
            {"notReadyAddresses": [_a("1.2.3.5")], "ports": [_p(222), _p(333)]},
        ],
    ),
]


@pytest.mark.parametrize(
    ("given", "expected"), [pytest.param(g, e, id=i) for i, g, e in REPACK_CASES]
)
def test_repack_subsets(given: list[Obj], expected: list[Obj]) -> None:
    before = copy.deepcopy(given)
    assert repack_subsets(given) == sort_subsets(expected)
    assert given == before
    # Canonical form is a fixed point.
    assert repack_subsets(repack_subsets(given)) == repack_subsets(given)


def test_inputs_are_never_mutated() -> None:
    svc = service(
        [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
            {"name": "x", "port": 81, "protocol": "TCP", "targetPort": 9000},
        ],
        labels={LABEL_HEADLESS: "", "a": "b"},
    )
    pods = [
        pod(i, ready=i % 3 != 0, container_ports=[{"name": "http", "containerPort": 8000 + i % 2}])
        for i in range(30)
    ]
    current = existing_from(plan(service(), many_ready_pods(1100)))
    current["metadata"]["annotations"]["other"] = "x"
    before = copy.deepcopy((svc, pods, current))
    result = plan_endpoints(svc, pods, current, trigger_time=datetime.now(UTC))
    assert (svc, pods, current) == before
    assert result.obj is not None
    result.obj["metadata"]["annotations"]["more"] = "y"
    result.obj["subsets"][0]["ports"].append({"port": 1})
    result.obj["subsets"][0]["addresses"][0]["targetRef"]["name"] = "changed"
    assert (svc, pods, current) == before
