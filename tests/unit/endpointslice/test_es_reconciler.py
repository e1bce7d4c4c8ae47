"""The planner against upstream reconciler_test.go scenarios (reference §2.9, §6.1).

Each scenario states its inputs and the API calls upstream makes, in order, plus the
resulting slice sizes; ``FakeCluster`` applies plans so later syncs see earlier writes.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from fixtures import (
    NS,
    TRIGGER,
    FakeCluster,
    lengths,
    meta_ports,
    new_empty_slice,
    new_node,
    new_pod,
    new_pods,
    new_service,
    nodes,
    owner_ref,
    run_plan,
    verbs,
)

from sliceplane.endpointslice.podendpoints import pod_to_endpoint
from sliceplane.endpointslice.reconciler import ReconcilerOptions, get_slice_to_fill
from sliceplane.endpointslice.slices import placeholder_slice
from sliceplane.endpointslice.types import (
    ANNOTATION_TRIGGER_TIME,
    CONTROLLER_NAME,
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    EventSpec,
    HintsResult,
    Obj,
)

BASE_LABELS = {LABEL_MANAGED_BY: CONTROLLER_NAME, LABEL_SERVICE_NAME: "foo"}
HEADLESS = {**BASE_LABELS, LABEL_HEADLESS: ""}


def _filled(n: int, svc: Obj, pods: list[Obj], node: Obj | None = None) -> Obj:
    """An existing owned slice holding the given pods (upstream's podToEndpoint loop)."""
    es = new_empty_slice(n, svc)
    es["endpoints"] = [pod_to_endpoint(p, node or {}, svc, "IPv4") for p in pods]
    return es


def test_reconcile_empty() -> None:
    plan = run_plan(new_service(), [])
    assert verbs(plan) == ["create"]
    es = plan.actions[0].slice
    assert es["metadata"]["generateName"].startswith("foo")
    assert es["metadata"]["labels"][LABEL_SERVICE_NAME] == "foo"
    assert (es["ports"], es["endpoints"]) == ([], [])
    assert (plan.desired_slices, plan.desired_endpoints, plan.endpoints_added) == (1, 0, 0)


# --- TestReconcile1Pod ----------------------------------------------------------------------

_V4_EP = {
    "addresses": ["1.2.3.4"],
    "conditions": {"ready": True, "serving": True, "terminating": False},
    "targetRef": {"kind": "Pod", "namespace": NS, "name": "pod1"},
    "nodeName": "node-1",
    "zone": "us-central1-a",
}
_V6_EP = {**_V4_EP, "addresses": ["1234::5678:0:0:9abc:def0"]}


def _one_pod_service(**changes: Any) -> Obj:
    svc = new_service("foo")
    labels = changes.pop("labels", None)
    if labels is not None:
        svc["metadata"]["labels"] = labels
    for key, value in changes.items():
        if value is None:
            svc["spec"].pop(key, None)
        else:
            svc["spec"][key] = value
    return svc


@pytest.mark.parametrize(
    ("svc", "want", "labels"),
    [
        pytest.param(
            _one_pod_service(clusterIP="10.0.0.10", ipFamilies=None),
            {"IPv4": _V4_EP},
            BASE_LABELS,
            id="no-family-service",
        ),
        pytest.param(_one_pod_service(), {"IPv4": _V4_EP}, HEADLESS, id="ipv4"),
        pytest.param(
            _one_pod_service(clusterIP="1.1.1.1"), {"IPv4": _V4_EP}, BASE_LABELS, id="ipv4-ip"
        ),
        pytest.param(
            _one_pod_service(labels={"foo": "bar"}),
            {"IPv4": _V4_EP},
            {**HEADLESS, "foo": "bar"},
            id="ipv4-labels",
        ),
        pytest.param(
            _one_pod_service(
                labels={LABEL_SERVICE_NAME: "bad", LABEL_MANAGED_BY: "actor", LABEL_HEADLESS: "x"}
            ),
            {"IPv4": _V4_EP},
            HEADLESS,
            id="ipv4-bad-labels",
        ),
        pytest.param(_one_pod_service(ipFamilies=["IPv6"]), {"IPv6": _V6_EP}, HEADLESS, id="ipv6"),
        pytest.param(
            _one_pod_service(ipFamilies=["IPv6"], clusterIP="1234::5678:0000:0000:9abc:def1"),
            {"IPv6": _V6_EP},
            BASE_LABELS,
            id="ipv6-clusterip",
        ),
        pytest.param(
            _one_pod_service(
                ipFamilies=["IPv4", "IPv6"],
                clusterIP="10.0.0.10",
                clusterIPs=["10.0.0.10", "2000::1"],
            ),
            {"IPv4": _V4_EP, "IPv6": _V6_EP},
            BASE_LABELS,
            id="dualstack-service",
        ),
    ],
)
def test_reconcile_1_pod(svc: Obj, want: dict[str, Obj], labels: dict[str, str]) -> None:
    pod = new_pod(1)
    pod["status"]["podIPs"] = [{"ip": "1.2.3.4"}, {"ip": "1234::5678:0000:0000:9abc:def0"}]
    pod["spec"]["hostname"] = "example-hostname"  # no subdomain: not published
    plan = run_plan(svc, [pod], node_map={"node-1": new_node("node-1", "us-central1-a")})
    assert verbs(plan) == ["create"] * len(want)
    got = {a.slice["addressType"]: a.slice for a in plan.actions}
    assert list(got) == list(want)
    for address_type, es in got.items():
        assert es["endpoints"] == [want[address_type]]
        assert es["metadata"]["labels"] == labels
        assert es["metadata"]["generateName"] == "foo-"
        assert es["metadata"]["annotations"] == {
            ANNOTATION_TRIGGER_TIME: "2026-01-02T03:04:05.123Z"
        }
    assert (plan.desired_slices, plan.desired_endpoints) == (len(want), len(want))
    assert plan.endpoints_added == len(want)


# --- TestReconcile1EndpointSlice (placeholder) ---------------------------------------------


def _differently_labelled_empty_slice() -> Obj:
    es = new_empty_slice(1, new_service())
    es["metadata"]["labels"] = {"bar": "baz"}
    return es


@pytest.mark.parametrize(
    ("existing", "want_verbs"),
    [
        pytest.param(None, ["create"], id="no-existing-placeholder"),
        pytest.param(placeholder_slice(new_service(), "IPv4"), [], id="existing-placeholder-same"),
        pytest.param(_differently_labelled_empty_slice(), ["update"], id="existing-different"),
    ],
)
def test_reconcile_1_endpoint_slice(existing: Obj | None, want_verbs: list[str]) -> None:
    if existing is not None and "name" not in existing["metadata"]:
        existing = copy.deepcopy(existing)
        existing["metadata"]["name"] = "foo-abcde"
    cluster = FakeCluster([] if existing is None else [existing])
    plan = cluster.sync(new_service(), [])
    assert verbs(plan) == want_verbs
    (es,) = cluster.list()
    assert (es["ports"], es["endpoints"]) == ([], [])
    assert es["metadata"]["labels"] == HEADLESS
    assert plan.desired_slices == 1


def test_placeholder_of_other_owner_is_kept() -> None:
    # placeholderSliceCompare ignores ownerReferences: an unowned slice equal to the
    # placeholder is neither deleted nor replaced (the garbage collector will remove it).
    es = placeholder_slice(new_service(), "IPv4")
    es["metadata"].update(
        name="foo-old", ownerReferences=[{**owner_ref(new_service()), "uid": "x"}]
    )
    assert verbs(run_plan(new_service(), [], [es])) == []


def test_publish_not_ready_addresses() -> None:
    svc = new_service(publishNotReadyAddresses=True)
    plan = run_plan(svc, new_pods(50))
    assert verbs(plan) == ["create"]
    eps = plan.actions[0].slice["endpoints"]
    assert len(eps) == 50
    assert all(ep["conditions"]["ready"] for ep in eps)
    assert sum(not ep["conditions"]["serving"] for ep in eps) == 17


def test_reconcile_many_pods() -> None:
    plan = run_plan(new_service(), new_pods(250))
    assert verbs(plan) == ["create"] * 3
    assert lengths([a.slice for a in plan.actions]) == [50, 100, 100]
    assert (plan.desired_slices, plan.desired_endpoints, plan.endpoints_added) == (3, 250, 250)


def test_some_preexisting() -> None:
    svc = new_service()
    pods = new_pods(250)
    slice1 = _filled(1, svc, pods[1:246:4])
    slice2 = _filled(2, svc, pods[3:246:4])
    assert (len(slice1["endpoints"]), len(slice2["endpoints"])) == (62, 61)
    cluster = FakeCluster([slice1, slice2])
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["create", "update"]
    assert plan.actions[1].slice["metadata"]["name"] == "foo-1"
    assert lengths(cluster.list()) == [61, 89, 100]
    assert (plan.endpoints_added, plan.desired_slices, plan.desired_endpoints) == (127, 3, 250)


def test_some_preexisting_worse_allocation() -> None:
    svc = new_service()
    pods = new_pods(300)
    cluster = FakeCluster([_filled(1, svc, pods[1:296:4]), _filled(2, svc, pods[3:296:4])])
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["create", "create"]
    assert lengths(cluster.list()) == [52, 74, 74, 100]
    assert (plan.endpoints_added, plan.desired_slices) == (152, 3)


def _three_slices() -> tuple[Obj, list[Obj], FakeCluster]:
    svc = new_service()
    pods = new_pods(250)
    cluster = FakeCluster()
    assert verbs(cluster.sync(svc, pods)) == ["create"] * 3
    return svc, pods, cluster


def test_updating_target_port_recycles() -> None:
    svc, pods, cluster = _three_slices()
    names = {es["metadata"]["name"] for es in cluster.list()}
    svc["spec"]["ports"][0]["targetPort"] = 81
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["update"] * 3
    assert {a.slice["metadata"]["name"] for a in plan.actions} == names
    assert lengths(cluster.list()) == [50, 100, 100]
    assert all(es["ports"] == meta_ports("foo", 81) for es in cluster.list())


def test_service_labels_updating() -> None:
    svc, pods, cluster = _three_slices()
    svc["metadata"]["labels"] = {"foo": "bar"}
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["update"] * 3
    assert lengths(cluster.list()) == [50, 100, 100]
    assert all(es["metadata"]["labels"]["foo"] == "bar" for es in cluster.list())


def test_service_reserved_labels_only() -> None:
    svc, pods, cluster = _three_slices()
    svc["metadata"]["labels"] = {
        LABEL_SERVICE_NAME: "bad",
        LABEL_MANAGED_BY: "actor",
        LABEL_HEADLESS: "invalid",
    }
    assert verbs(cluster.sync(svc, pods)) == []


def test_recycling() -> None:
    svc = new_service()
    pods = new_pods(300)
    existing = [_filled(i, svc, pods[i * 30 : (i + 1) * 30]) for i in range(10)]
    cluster = FakeCluster(existing)
    assert verbs(run_plan(svc, pods, existing)) == []
    svc["spec"]["ports"][0]["targetPort"] = 81
    plan = run_plan(svc, pods, existing)
    assert verbs(plan) == ["update"] * 3 + ["delete"] * 7
    cluster.apply(plan)
    assert lengths(cluster.list()) == [100, 100, 100]
    assert (plan.endpoints_added, plan.endpoints_removed, plan.desired_slices) == (300, 0, 3)


def test_update_packing() -> None:
    svc = new_service()
    pods = [new_pod(i) for i in range(80)] + [new_pod(i) for i in range(100, 120)]
    existing = [_filled(1, svc, pods[:80]), _filled(2, svc, pods[80:])]
    for i, pod in enumerate(pods):
        if i % 10 == 0:
            pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    pods += [new_pod(i) for i in range(200, 215)]
    cluster = FakeCluster(existing)
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["update", "update"]
    assert {es["metadata"]["name"]: len(es["endpoints"]) for es in cluster.list()} == {
        "foo-1": 95,
        "foo-2": 20,
    }
    assert (plan.endpoints_added, plan.endpoints_removed, plan.desired_endpoints) == (15, 0, 115)


def test_replace_deprecated_ip_address_type() -> None:
    svc = new_service()
    bare = {"spec": {}}
    pods = [new_pod(i) for i in range(80)] + [new_pod(i) for i in range(100, 150)]
    slices = []
    for n, group in ((1, pods[:80]), (2, pods[80:])):
        es = new_empty_slice(n, svc, address_type="IP")
        es["endpoints"] = [pod_to_endpoint(p, {}, bare, "IPv4") for p in group]
        slices.append(es)
    cluster = FakeCluster(slices)
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["create", "create", "delete", "delete"]
    assert lengths(cluster.list()) == [30, 100]
    assert {es["addressType"] for es in cluster.list()} == {"IPv4"}


@pytest.mark.parametrize(
    ("owner_uid", "want"),
    [
        pytest.param("test-foo", [], id="slice-owned-by-service"),
        pytest.param("different", ["create", "delete"], id="slice-owned-by-other-uid"),
    ],
)
def test_recreation(owner_uid: str, want: list[str]) -> None:
    svc = new_service()
    pod = new_pod(1)
    es = new_empty_slice(1, svc)
    es["endpoints"] = [pod_to_endpoint(pod, {}, {"spec": {}}, "IPv4")]
    es["metadata"]["ownerReferences"][0]["uid"] = owner_uid
    cluster = FakeCluster([es])
    assert verbs(cluster.sync(svc, [pod])) == want
    assert len(cluster.list()) == 1


def test_named_ports() -> None:
    svc = new_service("named-port-example")
    svc["spec"]["ports"] = [{"targetPort": "http", "protocol": "TCP"}]
    pods = new_pods(300)
    for i, pod in enumerate(pods):
        pod["spec"]["containers"][0]["ports"] = [
            {"name": "http", "containerPort": 8080 + i % 5, "protocol": "TCP"}
        ]
    plan = run_plan(svc, pods)
    assert verbs(plan) == ["create"] * 5
    slices = [a.slice for a in plan.actions]
    assert lengths(slices) == [60] * 5
    assert sorted(es["ports"][0]["port"] for es in slices) == [8080, 8081, 8082, 8083, 8084]
    assert all(
        es["ports"] == [{"name": "", "port": es["ports"][0]["port"], "protocol": "TCP"}]
        and es["addressType"] == "IPv4"
        for es in slices
    )
    assert (plan.desired_slices, plan.desired_endpoints) == (5, 300)


@pytest.mark.parametrize(
    ("max_endpoints", "want"),
    [
        pytest.param(50, [50, 50, 50, 50, 50], id="max-50"),
        pytest.param(80, [10, 80, 80, 80], id="max-80"),
        pytest.param(150, [100, 150], id="max-150"),
        pytest.param(250, [250], id="max-250"),
        pytest.param(500, [250], id="max-500"),
    ],
)
def test_max_endpoints_per_slice(max_endpoints: int, want: list[int]) -> None:
    plan = run_plan(new_service(), new_pods(250), max_endpoints=max_endpoints)
    assert verbs(plan) == ["create"] * len(want)
    assert lengths([a.slice for a in plan.actions]) == want
    assert (plan.desired_slices, plan.desired_endpoints) == (len(want), 250)


def test_metrics_added_then_removed() -> None:
    svc = new_service()
    pods = new_pods(20, unready_every=0)
    cluster = FakeCluster()
    first = cluster.sync(svc, pods)
    assert verbs(first) == ["create"]
    assert (first.endpoints_added, first.endpoints_removed, first.desired_endpoints) == (20, 0, 20)
    second = cluster.sync(svc, pods[:10])
    assert verbs(second) == ["update"]
    assert (second.endpoints_added, second.endpoints_removed) == (0, 10)
    assert (second.desired_endpoints, second.desired_slices) == (10, 1)


@pytest.mark.parametrize(
    ("in_slice", "pods", "added", "removed"),
    [
        pytest.param([1], [1, 2], 1, 0, id="added-per-sync"),
        pytest.param([0, 1], [1], 0, 1, id="removed-per-sync"),
    ],
)
def test_added_removed_per_sync(
    in_slice: list[int], pods: list[int], added: int, removed: int
) -> None:
    svc = new_service()
    existing = _filled(1, svc, [new_pod(i) for i in in_slice], new_node())
    plan = run_plan(svc, [new_pod(i) for i in pods], [existing])
    assert verbs(plan) == ["update"]
    assert (plan.endpoints_added, plan.endpoints_removed) == (added, removed)


# --- terminating Service (TestReconcilerFinalizeSvcDeletionTimestamp, ...PendingDeletion) ---


def _terminating(svc: Obj) -> Obj:
    svc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return svc


def test_terminating_service_without_slices_writes_nothing() -> None:
    assert verbs(run_plan(_terminating(new_service()), new_pods(5))) == []


def test_terminating_service_drops_creates_keeps_updates() -> None:
    svc = _terminating(new_service())
    pods = new_pods(150, unready_every=0)
    existing = _filled(1, svc, pods[:50], new_node())
    existing["endpoints"][0]["conditions"]["ready"] = False  # forces an update
    plan = run_plan(svc, pods, [existing])
    # Live: 1 create (100) + 1 update; terminating: the create is silently dropped.
    assert verbs(run_plan(new_service(), pods, [existing])) == ["create", "update"]
    assert verbs(plan) == ["update"]


def test_terminating_service_still_recycles_and_deletes() -> None:
    svc = _terminating(new_service())
    pods = new_pods(60, unready_every=0)
    existing = [_filled(i, svc, pods[i * 30 : (i + 1) * 30], new_node()) for i in range(2)]
    svc["spec"]["ports"][0]["targetPort"] = 81
    plan = run_plan(svc, pods, existing)
    assert verbs(plan) == ["update", "delete"]
    assert plan.actions[0].slice["metadata"]["name"] == "foo-0"


def test_recycled_update_keeps_only_the_name() -> None:
    svc = new_service()
    pods = new_pods(10, unready_every=0)
    old = _filled(7, svc, pods, new_node())
    old["metadata"]["annotations"] = {"user": "note"}
    svc["spec"]["ports"][0]["targetPort"] = 81
    plan = run_plan(svc, pods, [old])
    assert verbs(plan) == ["update"]
    meta = plan.actions[0].slice["metadata"]
    assert meta["name"] == "foo-7"
    assert "uid" not in meta and "resourceVersion" not in meta
    assert meta["annotations"] == {ANNOTATION_TRIGGER_TIME: "2026-01-02T03:04:05.123Z"}


def test_unchanged_recycling_needs_same_address_type_and_owner() -> None:
    svc = new_service()
    other = new_empty_slice(1, svc, address_type="IPv6")  # unsupported: deleted last
    unowned = new_empty_slice(2, svc)
    unowned["metadata"]["ownerReferences"][0]["uid"] = "old"
    unowned["endpoints"] = [pod_to_endpoint(new_pod(9), {}, svc, "IPv4")]
    plan = run_plan(svc, [new_pod(1)], [other, unowned])
    assert [(a.verb, a.slice["metadata"].get("name")) for a in plan.actions] == [
        ("create", None),
        ("delete", "foo-2"),
        ("delete", "foo-1"),
    ]


# --- TestReconcilerPodMissingNode ----------------------------------------------------------


def _missing_node_slice() -> Obj:
    svc = new_service()
    pods = _missing_node_pods()
    es = new_empty_slice(1, svc)
    es["endpoints"] = [
        pod_to_endpoint(p, new_node(p["spec"]["nodeName"]), svc, "IPv4") for p in pods
    ]
    return es


def _missing_node_pods() -> list[Obj]:
    return [new_pod(0, node="node-0"), new_pod(1, node="node-1")]


@pytest.mark.parametrize(
    ("publish", "node_names", "existing", "want_verbs", "want_eps", "removed", "error"),
    [
        pytest.param(False, ["node-0"], False, ["create"], 1, 0, True, id="create-publish-false"),
        pytest.param(True, ["node-0"], False, ["create"], 2, 0, False, id="create-publish-true"),
        pytest.param(False, ["node-0"], True, ["update"], 1, 1, True, id="update-publish-false"),
        pytest.param(True, [], True, [], 2, 0, False, id="update-publish-true-all-missing"),
        pytest.param(True, ["node-0"], True, [], 2, 0, False, id="update-publish-true"),
        pytest.param(False, [], True, ["update"], 0, 2, True, id="update-publish-false-no-nodes"),
    ],
)
def test_pod_missing_node(
    publish: bool,
    node_names: list[str],
    existing: bool,
    want_verbs: list[str],
    want_eps: int,
    removed: int,
    error: bool,
) -> None:
    svc = new_service(publishNotReadyAddresses=publish)
    cluster = FakeCluster([_missing_node_slice()] if existing else [])
    plan = cluster.sync(svc, _missing_node_pods(), node_map=nodes(*node_names))
    assert verbs(plan) == want_verbs
    (es,) = cluster.list()
    assert len(es["endpoints"]) == want_eps
    assert plan.endpoints_removed == removed
    if error:
        missing = [p for p in _missing_node_pods() if p["spec"]["nodeName"] not in node_names]
        assert plan.errors == [
            f"skipping Pod {p['metadata']['name']} for Service test/foo: "
            f"Node {p['spec']['nodeName']} Not Found"
            for p in missing
        ]
    else:
        assert plan.errors == []


def test_missing_node_errors_name_each_pod() -> None:
    plan = run_plan(new_service(), _missing_node_pods(), node_map={})
    assert plan.errors == [
        "skipping Pod pod0 for Service test/foo: Node node-0 Not Found",
        "skipping Pod pod1 for Service test/foo: Node node-1 Not Found",
    ]
    # The port group still exists with no endpoints: the placeholder is created.
    assert verbs(plan) == ["create"]
    assert plan.actions[0].slice["ports"] == []


def test_headless_service_no_ports() -> None:
    svc = new_service(clusterIP="None")
    svc["spec"]["ports"] = []
    cluster = FakeCluster()
    first = cluster.sync(svc, [new_pod(1)])
    assert verbs(first) == ["create"]
    assert first.actions[0].slice["ports"] == []
    (es,) = cluster.list()
    es["ports"] = None
    assert verbs(run_plan(svc, [new_pod(1)], [es])) == []


def test_dual_stack_single_stack_pods_get_ipv6_placeholder() -> None:
    svc = new_service(ipFamilies=["IPv4", "IPv6"], clusterIP="10.0.0.1")
    plan = run_plan(svc, new_pods(3))
    assert [(a.verb, a.slice["addressType"], len(a.slice["endpoints"])) for a in plan.actions] == [
        ("create", "IPv4", 3),
        ("create", "IPv6", 0),
    ]
    assert plan.actions[1].slice["ports"] == []
    assert (plan.desired_slices, plan.desired_endpoints) == (1, 3)


def test_readiness_change_is_in_place_update() -> None:
    svc = new_service()
    pods = new_pods(5, unready_every=0)
    cluster = FakeCluster()
    cluster.sync(svc, pods)
    pods[2]["status"]["conditions"][0]["status"] = "False"
    plan = cluster.sync(svc, pods)
    assert verbs(plan) == ["update"]
    assert (plan.endpoints_added, plan.endpoints_removed) == (0, 0)
    eps = {ep["targetRef"]["name"]: ep for ep in cluster.list()[0]["endpoints"]}
    assert eps["pod2"]["conditions"] == {"ready": False, "serving": False, "terminating": False}


def test_hostname_change_is_remove_and_add() -> None:
    svc = new_service()
    pods = new_pods(2, unready_every=0)
    cluster = FakeCluster()
    cluster.sync(svc, pods)
    pods[0]["spec"].update(hostname="h", subdomain="foo")
    plan = cluster.sync(svc, pods)
    assert (plan.endpoints_added, plan.endpoints_removed) == (1, 1)


def test_trigger_time_none_removes_annotation_on_update() -> None:
    svc = new_service()
    pods = new_pods(3, unready_every=0)
    cluster = FakeCluster()
    cluster.sync(svc, pods)
    assert ANNOTATION_TRIGGER_TIME in cluster.list()[0]["metadata"]["annotations"]
    plan = cluster.sync(svc, pods[:2], trigger=None)
    assert verbs(plan) == ["update"]
    assert ANNOTATION_TRIGGER_TIME not in plan.actions[0].slice["metadata"]["annotations"]


def test_get_slice_to_fill() -> None:
    slices = [{"endpoints": [{}] * n} for n in (70, 90, 50)]
    assert get_slice_to_fill(slices, 10, 100) is slices[1]
    assert get_slice_to_fill(slices, 20, 100) is slices[0]
    assert get_slice_to_fill(slices, 60, 100) is None
    assert get_slice_to_fill(slices, 50, 100) is slices[2]


# --- hints pass ---------------------------------------------------------------------------


def test_hints_pass_called_per_address_type_with_copies() -> None:
    svc = new_service(ipFamilies=["IPv4", "IPv6"], clusterIP="10.0.0.1")
    pods = new_pods(3, unready_every=0)
    steady = _filled(1, svc, pods, new_node())
    calls: list[tuple[str, int, int, list[str]]] = []

    def hints(
        service: Obj,
        address_type: str,
        to_create: list[Obj],
        to_update: list[Obj],
        unchanged: list[Obj],
    ) -> HintsResult:
        calls.append(
            (
                address_type,
                len(to_create),
                len(to_update),
                [s["metadata"]["name"] for s in unchanged],
            )
        )
        moved = [copy.deepcopy(s) for s in unchanged]
        for es in moved:
            for ep in es["endpoints"]:
                ep["hints"] = {"forZones": [{"name": "zone-a"}]}
        events = [EventSpec("Normal", "TopologyAwareHintsEnabled", address_type)]
        return HintsResult(to_create, to_update + moved, [], events)

    plan = run_plan(svc, pods, [steady], hints=hints)
    assert calls == [("IPv4", 0, 0, ["foo-1"]), ("IPv6", 1, 0, [])]
    assert [(a.verb, a.slice["addressType"]) for a in plan.actions] == [
        ("update", "IPv4"),
        ("create", "IPv6"),
    ]
    assert plan.actions[0].slice["endpoints"][0]["hints"] == {"forZones": [{"name": "zone-a"}]}
    assert ANNOTATION_TRIGGER_TIME in plan.actions[0].slice["metadata"]["annotations"]
    assert [e.message for e in plan.events] == ["IPv4", "IPv6"]
    assert "hints" not in steady["endpoints"][0]


# --- cacheMutationCheck -------------------------------------------------------------------


def test_inputs_are_never_mutated() -> None:
    svc = new_service(ipFamilies=["IPv4", "IPv6"], clusterIP="10.0.0.1")
    svc["metadata"]["labels"] = {"team": "a"}
    pods = new_pods(260)
    pods[5]["status"]["podIPs"].append({"ip": "fd00::5"})
    existing = [
        _filled(1, svc, pods[0:40], new_node()),
        _filled(2, svc, pods[40:70], new_node()),
        new_empty_slice(3, svc, address_type="IP"),
        new_empty_slice(4, svc, address_type="IPv6"),
    ]
    existing[0]["endpoints"][3]["conditions"]["ready"] = not existing[0]["endpoints"][3][
        "conditions"
    ]["ready"]
    existing[1]["endpoints"][0]["addresses"] = ["9.9.9.9", "1.1.1.1"]
    existing[1]["metadata"]["annotations"] = {ANNOTATION_TRIGGER_TIME: "old"}
    node_map = {"node-1": new_node("node-1", "zone-a")}
    inputs = (svc, pods, node_map, existing)
    snapshot = copy.deepcopy(inputs)

    def hints(
        service: Obj,
        address_type: str,
        to_create: list[Obj],
        to_update: list[Obj],
        unchanged: list[Obj],
    ) -> HintsResult:
        for es in to_create + to_update:
            for ep in es["endpoints"]:
                ep["hints"] = {"forZones": [{"name": "zone-a"}]}
        return HintsResult(to_create, to_update, unchanged)

    plan = run_plan(svc, pods, existing, node_map=node_map, hints=hints)
    assert plan.count("create") + plan.count("update") > 0
    assert plan.count("delete") >= 1
    for action in plan.actions:
        if action.verb != "delete":
            action.slice["metadata"]["labels"]["mutated"] = "yes"
            for ep in action.slice["endpoints"]:
                ep["conditions"]["ready"] = None
    assert inputs == snapshot


def test_rolling_replacement_stays_packed() -> None:
    svc = new_service()
    cluster = FakeCluster()
    pods = new_pods(500, unready_every=0)
    cluster.sync(svc, pods)
    for step in range(0, 500, 50):
        replacement = [new_pod(1000 + i) for i in range(step, step + 50)]
        pods = pods[50:] + replacement
        plan = cluster.sync(svc, pods)
        assert plan.count("create") <= 1
    assert sum(len(es["endpoints"]) for es in cluster.list()) == 500
    names = {ep["targetRef"]["name"] for es in cluster.list() for ep in es["endpoints"]}
    assert names == {p["metadata"]["name"] for p in pods}
    assert all(len(es["endpoints"]) <= 100 for es in cluster.list())


def test_options_defaults() -> None:
    opts = ReconcilerOptions()
    assert (opts.max_endpoints_per_slice, opts.controller_name) == (100, CONTROLLER_NAME)
    custom = run_plan(new_service(), [], trigger=datetime(2026, 1, 1, tzinfo=UTC))
    assert custom.actions[0].slice["metadata"]["annotations"] == {
        ANNOTATION_TRIGGER_TIME: "2026-01-01T00:00:00Z"
    }
    assert TRIGGER.microsecond == 123000
