"""Tables for what simulated nodes write: pod status, readiness rules, MarkPodsNotReady,
node conditions, the Node and its Lease."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sliceplane.api.meta import format_micro_time
from sliceplane.workloads.kubelet.kubeletstatus import (
    mark_pod_not_ready,
    node_ready_conditions,
    node_unknown_conditions,
    readiness_override,
    ready_delay,
    running_status,
    same_ignoring_nulls,
)
from sliceplane.workloads.kubelet.nodes import NodesOptions, lease_object, node_object

Obj = dict[str, Any]

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(seconds=7)
NODE: Obj = {
    "metadata": {"name": "node-1"},
    "status": {
        "addresses": [
            {"type": "InternalIP", "address": "172.18.0.2"},
            {"type": "Hostname", "address": "node-1"},
        ]
    },
}


def pod(
    *,
    annotations: dict[str, str] | None = None,
    containers: list[Obj] | None = None,
    status: Obj | None = None,
    **spec: Any,
) -> Obj:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "uid": "uid-1",
            "annotations": annotations or {},
        },
        "spec": {
            "nodeName": "node-1",
            "containers": containers or [{"name": "app", "image": "nginx:1.27"}],
            **spec,
        },
        "status": status if status is not None else {"phase": "Pending", "qosClass": "BestEffort"},
    }


def conds(status: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in status["conditions"]}


def test_running_status_ready() -> None:
    p = pod()
    before = copy.deepcopy(p)
    s = running_status(p, NODE, "10.244.0.2", T0, True)
    assert p == before
    assert s["phase"] == "Running"
    assert s["qosClass"] == "BestEffort"  # kept
    assert s["podIP"] == "10.244.0.2" and s["podIPs"] == [{"ip": "10.244.0.2"}]
    assert s["hostIP"] == "172.18.0.2" and s["hostIPs"] == [{"ip": "172.18.0.2"}]
    assert s["startTime"] == "2026-01-02T03:04:05Z"
    assert [c["type"] for c in s["conditions"]] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert all(c["status"] == "True" for c in s["conditions"])
    assert all(c["lastTransitionTime"] == "2026-01-02T03:04:05Z" for c in s["conditions"])
    (cs,) = s["containerStatuses"]
    assert cs["name"] == "app" and cs["image"] == "nginx:1.27"
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["state"] == {"running": {"startedAt": "2026-01-02T03:04:05Z"}}
    assert cs["containerID"].startswith("sliceplane://")


def test_running_status_not_ready_has_upstream_reason() -> None:
    p = pod(containers=[{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])
    c = conds(running_status(p, NODE, "10.244.0.2", T0, False))
    for t in ("Ready", "ContainersReady"):
        assert c[t]["status"] == "False"
        assert c[t]["reason"] == "ContainersNotReady"
        assert c[t]["message"] == "containers with unready status: [a b]"
    assert c["Initialized"]["status"] == "True"


def test_running_status_transition_times() -> None:
    first = running_status(pod(), NODE, "10.244.0.2", T0, False)
    again = running_status(pod(status=first), NODE, "10.244.0.2", T1, False)
    assert again == first  # nothing changed: same status, no write needed
    ready = running_status(pod(status=first), NODE, "10.244.0.2", T1, True)
    c = conds(ready)
    assert c["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:12Z"
    assert c["ContainersReady"]["lastTransitionTime"] == "2026-01-02T03:04:12Z"
    assert c["Initialized"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert "reason" not in c["Ready"]
    assert ready["startTime"] == first["startTime"]


def test_running_status_keeps_binding_condition_time_and_foreign_conditions() -> None:
    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            },
            {"type": "example.com/gate", "status": "True", "lastTransitionTime": "x"},
        ],
    }
    p = pod(status=status, readinessGates=[{"conditionType": "example.com/gate"}])
    s = running_status(p, NODE, "10.244.0.2", T0, True)
    c = conds(s)
    assert c["PodScheduled"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert s["conditions"][-1]["type"] == "example.com/gate"
    assert c["Ready"]["status"] == "True"


@pytest.mark.parametrize(
    ("gate_status", "message"),
    [
        pytest.param(
            None, 'corresponding condition of pod readiness gate "g" does not exist.', id="missing"
        ),
        pytest.param(
            "False", 'the status of pod readiness gate "g" is not "True", but False', id="false"
        ),
    ],
)
def test_readiness_gates(gate_status: str | None, message: str) -> None:
    status: Obj = {"conditions": []}
    if gate_status:
        status["conditions"].append({"type": "g", "status": gate_status})
    p = pod(status=status, readinessGates=[{"conditionType": "g"}])
    c = conds(running_status(p, NODE, "10.244.0.2", T0, True))
    assert c["ContainersReady"]["status"] == "True"
    assert c["Ready"]["status"] == "False"
    assert c["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert c["Ready"]["message"] == message


def test_running_status_dual_stack_and_host_network() -> None:
    dual = running_status(pod(), NODE, ["10.244.0.2", "fd00:10:244::2"], T0, True)
    assert dual["podIP"] == "10.244.0.2"
    assert dual["podIPs"] == [{"ip": "10.244.0.2"}, {"ip": "fd00:10:244::2"}]
    host = running_status(pod(hostNetwork=True), NODE, "10.244.0.2", T0, True)
    assert host["podIPs"] == [{"ip": "172.18.0.2"}]


def test_running_status_init_containers_completed() -> None:
    p = pod(initContainers=[{"name": "init", "image": "busybox"}])
    s = running_status(p, NODE, "10.244.0.2", T0, True)
    (init,) = s["initContainerStatuses"]
    assert init["state"]["terminated"]["reason"] == "Completed"
    assert init["state"]["terminated"]["exitCode"] == 0


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"sliceplane.io/ready": "false"}, False, id="false"),
        pytest.param({"sliceplane.io/ready": "False"}, False, id="case-insensitive"),
        pytest.param({"sliceplane.io/ready": "true"}, True, id="true"),
        pytest.param({"sliceplane.io/ready": "maybe"}, None, id="unrecognised"),
        pytest.param({"other": "false"}, None, id="other-annotation"),
    ],
)
def test_readiness_override(annotations: dict[str, str], expected: bool | None) -> None:
    assert readiness_override(pod(annotations=annotations)) is expected


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        pytest.param([{"name": "a", "image": "x"}], 0.5, id="no-probe"),
        pytest.param(
            [{"name": "a", "image": "x", "readinessProbe": {"initialDelaySeconds": 5}}],
            5.0,
            id="probe-delay",
        ),
        pytest.param(
            [{"name": "a", "image": "x", "readinessProbe": {"httpGet": {"port": 80}}}],
            0.5,
            id="probe-without-delay",
        ),
        pytest.param(
            [
                {"name": "a", "image": "x", "readinessProbe": {"initialDelaySeconds": 3}},
                {"name": "b", "image": "x", "readinessProbe": {"initialDelaySeconds": 9}},
            ],
            9.0,
            id="slowest-container",
        ),
    ],
)
def test_ready_delay(containers: list[Obj], expected: float) -> None:
    assert ready_delay(pod(containers=containers), 0.5) == expected


def test_mark_pod_not_ready_like_upstream() -> None:
    running = running_status(pod(), NODE, "10.244.0.2", T0, True)
    p = pod(status=running)
    before = copy.deepcopy(p)
    cond = mark_pod_not_ready(p, T1)
    assert p == before
    assert cond == {
        "type": "Ready",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": "2026-01-02T03:04:12Z",
    }
    # Already not ready, or no Ready condition at all: nothing to write.
    assert mark_pod_not_ready(pod(status={**running, "conditions": [cond]}), T1) is None
    assert mark_pod_not_ready(pod(), T1) is None


def test_mark_pod_not_ready_keeps_reason_and_message() -> None:
    status = {
        "conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "R", "message": "M"},
        ]
    }
    cond = mark_pod_not_ready(pod(status=status), T1)
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "R", "M")


def test_node_conditions_ready_then_unknown_then_ready() -> None:
    ready = node_ready_conditions([], T0)
    by = {c["type"]: c for c in ready}
    assert by["Ready"] == {
        "type": "Ready",
        "status": "True",
        "lastHeartbeatTime": "2026-01-02T03:04:05Z",
        "lastTransitionTime": "2026-01-02T03:04:05Z",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
    }
    assert by["MemoryPressure"]["status"] == "False"
    assert by["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"

    later = node_ready_conditions(ready, T1)
    by = {c["type"]: c for c in later}
    assert by["Ready"]["lastHeartbeatTime"] == "2026-01-02T03:04:12Z"
    assert by["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"

    unknown = node_unknown_conditions(later, T1 + timedelta(seconds=1))
    assert {c["status"] for c in unknown} == {"Unknown"}
    by = {c["type"]: c for c in unknown}
    assert by["Ready"]["reason"] == "NodeStatusUnknown"
    assert by["Ready"]["message"] == "Kubelet stopped posting node status."
    assert by["Ready"]["lastHeartbeatTime"] == "2026-01-02T03:04:12Z"  # kept
    assert by["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:13Z"

    back = {c["type"]: c for c in node_ready_conditions(unknown, T1 + timedelta(seconds=5))}
    assert back["Ready"]["status"] == "True"
    assert back["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:17Z"


def test_node_unknown_for_never_posted_condition() -> None:
    (cond, *_) = node_unknown_conditions([], T0)
    assert cond["message"] == "Kubelet never posted node status."


def test_node_object() -> None:
    opts = NodesOptions(zones=("a", "b"), labels={"team": "x"}, ip_families=("IPv4", "IPv6"))
    n = node_object("node-3", 2, opts, [])
    labels = n["metadata"]["labels"]
    assert labels["topology.kubernetes.io/zone"] == "a"  # round-robin: index 2 of 2 zones
    assert labels["kubernetes.io/hostname"] == "node-3"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["team"] == "x"
    assert n["spec"]["podCIDR"] == "10.244.2.0/24"
    assert n["spec"]["podCIDRs"] == ["10.244.2.0/24", "fd00:10:244:2::/64"]
    assert n["status"]["allocatable"] == {
        "cpu": "4",
        "memory": "8Gi",
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }
    assert n["status"]["addresses"] == [
        {"type": "InternalIP", "address": "172.18.0.4"},
        {"type": "InternalIP", "address": "fc00:f853:ccd:e793::4"},
        {"type": "Hostname", "address": "node-3"},
    ]
    assert n["status"]["nodeInfo"]["operatingSystem"] == "linux"
    assert node_object("node-3", 2, opts, []) == n  # deterministic


def test_node_without_zones() -> None:
    n = node_object("n", 0, NodesOptions(zones=()), [])
    assert "topology.kubernetes.io/zone" not in n["metadata"]["labels"]


def test_lease_object() -> None:
    lease = lease_object("node-1", "uid-9", format_micro_time(T0), NodesOptions())
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-9"
    assert lease["spec"] == {
        "holderIdentity": "node-1",
        "leaseDurationSeconds": 40,
        "renewTime": "2026-01-02T03:04:05.000000Z",
    }


def test_options_node_names() -> None:
    assert NodesOptions(count=2).node_names() == ["node-1", "node-2"]
    assert NodesOptions(names=("x", "y", "z")).node_names() == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param({"x": 1, "y": None}, {"x": 1}, True, id="null-equals-absent"),
        pytest.param({"x": 1}, {"x": 1, "y": None}, True, id="absent-equals-null"),
        pytest.param({"x": 1}, {"x": 1, "y": 0}, False, id="extra-key"),
        pytest.param({"x": {"y": None}}, {"x": {}}, True, id="nested"),
        pytest.param([{"a": None}], [{}], True, id="in-lists"),
        pytest.param([1, 2], [2, 1], False, id="order-matters"),
        pytest.param([None], [None], True, id="null-list-items-stay"),
        pytest.param([None], [], False, id="null-list-items-count"),
        pytest.param({"x": []}, {"x": {}}, False, id="list-is-not-object"),
        pytest.param({"x": "1"}, {"x": 1}, False, id="types-matter"),
        pytest.param(None, None, True, id="both-null"),
    ],
)
def test_same_ignoring_nulls(a: Any, b: Any, same: bool) -> None:
    assert same_ignoring_nulls(a, b) is same
    assert same_ignoring_nulls(b, a) is same


def _normalized(value: Any) -> Any:
    """The reference: drop null-valued keys recursively, then compare with ==."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def test_same_ignoring_nulls_agrees_with_normalising() -> None:
    rng = random.Random(7)

    def value(depth: int) -> Any:
        kind = rng.randrange(5 if depth < 3 else 3)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([0, 1, "a", "b", True])
        if kind == 2:
            return rng.choice(["a", 1])
        if kind == 3:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {k: value(depth + 1) for k in rng.sample("xyz", rng.randrange(4))}

    for _ in range(3000):
        a, b = value(0), value(0)
        if rng.random() < 0.5:  # a near miss: b is a with some nulls added or dropped
            b = copy.deepcopy(a)
            if isinstance(b, dict):
                b[rng.choice("xyz")] = None
        want = _normalized(a) == _normalized(b)
        assert same_ignoring_nulls(a, b) is want, (a, b)


def test_running_status_shares_nothing_it_changes() -> None:
    """The result is a new status (the pod's own is untouched) even though kept fields
    are not copied."""
    p = pod(status={"phase": "Pending", "qosClass": "BestEffort", "message": "m"})
    before = copy.deepcopy(p)
    s = running_status(p, NODE, "10.244.0.2", T0, True)
    s["phase"] = "changed"
    s["conditions"].append({"type": "x"})
    s["containerStatuses"][0]["ready"] = False
    assert p == before
    assert s["message"] == "m" and s["qosClass"] == "BestEffort"
