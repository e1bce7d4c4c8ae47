"""What a container's process sees (argv, env) and how its state reads back as a pod
status: the pure rules of :mod:`sliceplane.workloads.kubelet.processspec`, as tables."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sliceplane.workloads.kubelet.processspec import (
    CONFIG_ERROR,
    NO_COMMAND_MESSAGE,
    RUN_CONTAINER_ERROR,
    ContainerView,
    NotRunnable,
    Terminated,
    container_env,
    expand,
    host_env,
    loopback_alias,
    pod_dir_name,
    pod_phase,
    port_env,
    port_env_name,
    process_pod_status,
    resolve_command,
    resolve_port,
    unalias,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        pytest.param("$(A)", {"A": "1"}, "1", id="simple"),
        pytest.param("x$(A)y$(B)z", {"A": "1", "B": "2"}, "x1y2z", id="two"),
        pytest.param("$(MISSING)", {}, "$(MISSING)", id="undefined-kept"),
        pytest.param("$$(A)", {"A": "1"}, "$(A)", id="escaped"),
        pytest.param("$$", {}, "$", id="double-dollar"),
        pytest.param("$A", {"A": "1"}, "$A", id="shell-syntax-untouched"),
        pytest.param("$(A", {"A": "1"}, "$(A", id="unclosed"),
        pytest.param("end$", {}, "end$", id="trailing-dollar"),
        pytest.param("$()", {"": "e"}, "e", id="empty-name"),
        pytest.param("$(A)$(A)", {"A": "$(B)", "B": "no"}, "$(B)$(B)", id="not-recursive"),
    ],
)
def test_expand(text: str, env: dict[str, str], expected: str) -> None:
    assert expand(text, env) == expected


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param({"command": ["/bin/app"]}, ["/bin/app"], id="command-only"),
        pytest.param(
            {"command": ["python", "-m"], "args": ["http.server", "$(PORT)"]},
            ["python", "-m", "http.server", "8080"],
            id="command-and-args-expanded",
        ),
        pytest.param(
            {"command": ["sh", "-c", "echo $PORT $$HOME"]},
            ["sh", "-c", "echo $PORT $HOME"],
            id="shell-vars-left-to-the-shell",
        ),
    ],
)
def test_resolve_command(container: Obj, expected: list[str]) -> None:
    assert resolve_command(container, {"PORT": "8080"}) == expected


@pytest.mark.parametrize(
    "container",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"args": ["--port", "80"]}, id="args-only-needs-image-entrypoint"),
        pytest.param({"command": []}, id="empty-command"),
    ],
)
def test_no_command_is_not_runnable(container: Obj) -> None:
    with pytest.raises(NotRunnable) as exc:
        resolve_command(container, {})
    assert exc.value.reason == RUN_CONTAINER_ERROR
    assert exc.value.message == NO_COMMAND_MESSAGE


def pod(**spec: Any) -> Obj:
    return {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "u-1",
            "labels": {"app": "web"},
            "annotations": {"team": "a"},
        },
        "spec": {"nodeName": "node-1", "serviceAccountName": "default", **spec},
        "status": {"hostIP": "172.18.0.2"},
    }


def test_container_env_order_and_injected() -> None:
    container = {
        "name": "c",
        "ports": [
            {"containerPort": 8080, "name": "http"},
            {"containerPort": 9090, "name": "metrics-port"},
            {"containerPort": 7000},
        ],
        "env": [
            {"name": "GREETING", "value": "hi $(POD_NAME) on $(PORT)"},
            {"name": "URL", "value": "http://$(POD_IP):$(PORT_HTTP)/$(GREETING)"},
            {"name": "PORT", "value": "1234"},
            {"name": "LATER", "value": "$(PORT)"},
            {"name": "EMPTY"},
        ],
    }
    env = container_env(pod(), container, ["127.244.0.2"], {"PATH": "/usr/bin"})
    assert env == {
        "PATH": "/usr/bin",
        "HOSTNAME": "web-1",
        "POD_IP": "127.244.0.2",
        "POD_NAME": "web-1",
        "POD_NAMESPACE": "shop",
        "PORT": "1234",
        "PORT_HTTP": "8080",
        "PORT_METRICS_PORT": "9090",
        "GREETING": "hi web-1 on 8080",
        "URL": "http://127.244.0.2:8080/hi web-1 on 8080",
        "LATER": "1234",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web-1"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "u-1"),
        ("metadata.labels['app']", "web"),
        ("metadata.annotations['team']", "a"),
        ("metadata.labels['missing']", ""),
        ("spec.nodeName", "node-1"),
        ("spec.serviceAccountName", "default"),
        ("status.podIP", "10.244.1.5"),
        ("status.podIPs", "10.244.1.5"),
        ("status.hostIP", "172.18.0.2"),
    ],
)
def test_field_ref(path: str, expected: str) -> None:
    container = {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}]}
    assert container_env(pod(), container, ["10.244.1.5"], {})["X"] == expected


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        pytest.param(
            {"secretKeyRef": {"name": "s", "key": "k"}}, "valueFrom.secretKeyRef", id="secret"
        ),
        pytest.param(
            {"configMapKeyRef": {"name": "c", "key": "k"}},
            "valueFrom.configMapKeyRef",
            id="configmap",
        ),
        pytest.param(
            {"fieldRef": {"fieldPath": "spec.hostname"}}, "fieldRef 'spec.hostname'", id="field"
        ),
    ],
)
def test_unsupported_value_from(source: Obj, fragment: str) -> None:
    container = {"env": [{"name": "X", "valueFrom": source}]}
    with pytest.raises(NotRunnable) as exc:
        container_env(pod(), container, ["10.0.0.1"], {})
    assert exc.value.reason == CONFIG_ERROR
    assert fragment in exc.value.message


def test_env_without_ip_or_ports() -> None:
    env = container_env(pod(), {"name": "c"}, [], {})
    assert env["POD_IP"] == ""
    assert "PORT" not in env


def test_host_env_filter() -> None:
    host = {"PATH": "/bin", "LC_ALL": "C", "HOME": "/root", "KUBECONFIG": "x", "AWS_SECRET": "y"}
    assert host_env(host) == {"PATH": "/bin", "LC_ALL": "C", "HOME": "/root"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("http", "PORT_HTTP"), ("metrics-port", "PORT_METRICS_PORT"), ("a.b", "PORT_A_B")],
)
def test_port_env_name(name: str, expected: str) -> None:
    assert port_env_name(name) == expected


def test_port_env_skips_bad_entries() -> None:
    assert port_env({"ports": [{"name": "x"}, "junk", {"containerPort": 81}]}) == {"PORT": "81"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(8080, 8080), ("8080", 8080), ("http", 80), ("nope", None), (True, None), (None, None)],
)
def test_resolve_port(value: Any, expected: int | None) -> None:
    assert resolve_port(value, {"ports": [{"name": "http", "containerPort": 80}]}) == expected


@pytest.mark.parametrize(
    ("address", "alias"),
    [("10.244.1.5", "127.244.1.5"), ("10.244.0.2", "127.244.0.2"), ("10.0.0.1", "127.0.0.1")],
)
def test_loopback_alias_round_trip(address: str, alias: str) -> None:
    assert loopback_alias(address) == alias
    assert unalias(alias, "10.0.0.0/8" if address == "10.0.0.1" else "10.244.0.0/16") == address


@pytest.mark.parametrize("address", ["10.244.1.5", "127.1.1.5", "fd00::1", "not-an-ip"], ids=str)
def test_unalias_rejects_foreign(address: str) -> None:
    assert unalias(address, "10.244.0.0/16") is None


def test_pod_dir_name() -> None:
    assert pod_dir_name("ns", "web", "u-1") == "ns_web_u-1"


# ---------------------------------------------------------------------------- status

RUNNING = ContainerView("a", state="running", started_at="t", ready=True, started=True)
WAITING = ContainerView("a")
CRASHED = Terminated(1, "Error", "t0", "t1")
DONE = Terminated(0, "Completed", "t0", "t1")


@pytest.mark.parametrize(
    ("policy", "views", "phase"),
    [
        pytest.param("Always", [WAITING], "Pending", id="never-started"),
        pytest.param("Always", [RUNNING], "Running", id="running"),
        pytest.param("Always", [RUNNING, WAITING], "Pending", id="one-still-creating"),
        pytest.param(
            "Always",
            [ContainerView("a", reason="CrashLoopBackOff", last_terminated=CRASHED)],
            "Running",
            id="crash-loop-is-running",
        ),
        pytest.param(
            "Never",
            [ContainerView("a", state="terminated", terminated=DONE)],
            "Succeeded",
            id="never-succeeded",
        ),
        pytest.param(
            "Never",
            [ContainerView("a", state="terminated", terminated=CRASHED)],
            "Failed",
            id="never-failed",
        ),
        pytest.param(
            "OnFailure",
            [ContainerView("a", state="terminated", terminated=DONE)],
            "Succeeded",
            id="onfailure-succeeded",
        ),
        pytest.param(
            "Never",
            [RUNNING, ContainerView("b", state="terminated", terminated=CRASHED)],
            "Running",
            id="one-still-running",
        ),
        pytest.param("Always", [], "Pending", id="no-containers"),
    ],
)
def test_pod_phase(policy: str, views: list[ContainerView], phase: str) -> None:
    assert pod_phase(policy, views) == phase


NODE = {"status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}


def conditions(status: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in status["conditions"]}


def test_status_ready() -> None:
    p = pod(containers=[{"name": "a", "image": "img"}])
    before = copy.deepcopy(p)
    status = process_pod_status(p, NODE, ["127.244.0.2"], NOW, [RUNNING])
    assert p == before
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.244.0.2"
    assert status["podIPs"] == [{"ip": "127.244.0.2"}]
    assert status["hostIP"] == "172.18.0.2"
    assert conditions(status)["Ready"]["status"] == "True"
    assert status["containerStatuses"] == [
        {
            "name": "a",
            "image": "",
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": "t"}},
            "lastState": {},
        }
    ]


def test_status_names_only_unready_containers() -> None:
    p = pod(containers=[{"name": "a"}, {"name": "b"}])
    crash = ContainerView(
        "b",
        reason="CrashLoopBackOff",
        message="back-off 10s",
        last_terminated=CRASHED,
        restart_count=2,
        container_id="process://42",
    )
    status = process_pod_status(p, NODE, ["10.244.0.2"], NOW, [RUNNING, crash])
    assert status["phase"] == "Running"
    ready = conditions(status)["Ready"]
    assert ready["status"] == "False"
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [b]"
    assert conditions(status)["ContainersReady"]["message"] == ready["message"]
    cs = status["containerStatuses"][1]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert cs["lastState"] == {
        "terminated": {"exitCode": 1, "reason": "Error", "startedAt": "t0", "finishedAt": "t1"}
    }
    assert cs["restartCount"] == 2 and cs["containerID"] == "process://42"


def test_status_succeeded_pod_completed() -> None:
    p = pod(restartPolicy="Never", containers=[{"name": "a"}])
    view = ContainerView("a", state="terminated", terminated=DONE)
    status = process_pod_status(p, NODE, ["10.244.0.2"], NOW, [view])
    assert status["phase"] == "Succeeded"
    assert conditions(status)["Ready"]["reason"] == "PodCompleted"
    assert "message" not in conditions(status)["Ready"]


def test_status_is_stable() -> None:
    """Computing again from the written status changes nothing (no write loops)."""
    p = pod(containers=[{"name": "a"}])
    first = process_pod_status(p, NODE, ["10.244.0.2"], NOW, [WAITING])
    p["status"] = first
    later = datetime(2024, 5, 1, 12, 5, 0, tzinfo=UTC)
    assert process_pod_status(p, NODE, ["10.244.0.2"], later, [WAITING]) == first


def test_ready_transition_moves_only_ready_times() -> None:
    p = pod(containers=[{"name": "a"}])
    p["status"] = process_pod_status(p, NODE, ["10.244.0.2"], NOW, [WAITING])
    later = datetime(2024, 5, 1, 12, 5, 0, tzinfo=UTC)
    after = process_pod_status(p, NODE, ["10.244.0.2"], later, [RUNNING])
    conds = conditions(after)
    assert conds["Ready"]["lastTransitionTime"] == "2024-05-01T12:05:00Z"
    assert conds["PodScheduled"]["lastTransitionTime"] == "2024-05-01T12:00:00Z"
