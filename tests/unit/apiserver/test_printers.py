"""Server-side Table printing: cells and columns must match upstream's printers.

Expected cells come from upstream ``pkg/printers/internalversion/printers_test.go`` and
apimachinery ``duration_test.go`` where such a case exists; the rest follow the upstream
printer logic for states kubectl users see every day.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sliceplane.apiserver.printers import (
    build_table,
    column_definitions,
    human_duration,
    row_cells,
    row_conditions,
    short_human_duration,
    translate_timestamp_since,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    """RFC 3339 timestamp ``delta`` before NOW (negative values lie in the future)."""
    return (NOW - timedelta(**delta)).isoformat().replace("+00:00", "Z")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", **extra}


# --------------------------------------------------------------------------- durations

S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)
MIN = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
Y = 365 * D


@pytest.mark.parametrize(
    ("d", "want"),
    [
        # TestHumanDuration
        pytest.param(S, "1s", id="1s"),
        pytest.param(70 * S, "70s", id="70s"),
        pytest.param(190 * S, "3m10s", id="190s"),
        pytest.param(70 * MIN, "70m", id="70m"),
        pytest.param(47 * H, "47h", id="47h"),
        pytest.param(49 * H, "2d1h", id="49h"),
        pytest.param((8 * 24 + 2) * H, "8d", id="8d2h"),
        pytest.param(367 * D, "367d", id="367d"),
        pytest.param((365 * 2 * 24 + 25) * H, "2y1d", id="2y1d1h"),
        pytest.param((365 * 8 * 24 + 2) * H, "8y", id="8y2h"),
        # TestHumanDurationBoundaries (1ns steps become 1us: timedelta's resolution)
        pytest.param(-2 * S, "<invalid>", id="minus-2s"),
        pytest.param(-2 * S + timedelta(microseconds=1), "0s", id="just-above-minus-2s"),
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(S - MS, "0s", id="under-1s"),
        pytest.param(2 * MIN - MS, "119s", id="under-2m"),
        pytest.param(2 * MIN, "2m", id="2m"),
        pytest.param(2 * MIN + S, "2m1s", id="2m1s"),
        pytest.param(10 * MIN - MS, "9m59s", id="under-10m"),
        pytest.param(10 * MIN, "10m", id="10m"),
        pytest.param(10 * MIN + S, "10m", id="10m1s"),
        pytest.param(3 * H - MS, "179m", id="under-3h"),
        pytest.param(3 * H, "3h", id="3h"),
        pytest.param(3 * H + MIN, "3h1m", id="3h1m"),
        pytest.param(3 * H + 10 * MIN, "3h10m", id="3h10m"),
        pytest.param(8 * H - MS, "7h59m", id="under-8h"),
        pytest.param(8 * H, "8h", id="8h"),
        pytest.param(8 * H + 59 * MIN, "8h", id="8h59m"),
        pytest.param(2 * D - MS, "47h", id="under-2d"),
        pytest.param(2 * D, "2d", id="2d"),
        pytest.param(2 * D + H, "2d1h", id="2d1h"),
        pytest.param(2 * D + 5 * H, "2d5h", id="2d5h"),
        pytest.param(8 * D - MS, "7d23h", id="under-8d"),
        pytest.param(8 * D, "8d", id="8d"),
        pytest.param(8 * D + 23 * H, "8d", id="8d23h"),
        pytest.param(2 * Y - MS, "729d", id="under-2y"),
        pytest.param(2 * Y, "2y", id="2y"),
        pytest.param(2 * Y + 23 * H, "2y", id="2y23h"),
        pytest.param(2 * Y + 23 * H + 59 * MIN, "2y", id="2y23h59m"),
        pytest.param(2 * Y + 24 * H - MS, "2y", id="under-2y1d"),
        pytest.param(2 * Y + 24 * H, "2y1d", id="2y1d"),
        pytest.param(3 * Y + 45 * D, "3y45d", id="3y45d"),
        pytest.param(3 * Y, "3y", id="3y"),
        pytest.param(7 * Y, "7y", id="7y"),
        pytest.param(8 * Y - MS, "7y364d", id="under-8y"),
        pytest.param(8 * Y, "8y", id="8y"),
        pytest.param(8 * Y + 364 * D, "8y", id="8y364d"),
        pytest.param(9 * Y, "9y", id="9y"),
    ],
)
def test_human_duration(d: timedelta, want: str) -> None:
    assert human_duration(d) == want


@pytest.mark.parametrize(
    ("d", "want"),
    [
        pytest.param(-2 * S, "<invalid>", id="minus-2s"),
        pytest.param(-2 * S + timedelta(microseconds=1), "0s", id="just-above-minus-2s"),
        pytest.param(S - MS, "0s", id="under-1s"),
        pytest.param(2 * S - MS, "1s", id="under-2s"),
        pytest.param(MIN - MS, "59s", id="under-1m"),
        pytest.param(MIN, "1m", id="1m"),
        pytest.param(H - MS, "59m", id="under-1h"),
        pytest.param(2 * H - MS, "1h", id="under-2h"),
        pytest.param(24 * H - MS, "23h", id="under-1d"),
        pytest.param(D, "1d", id="1d"),
        pytest.param(Y - MS, "364d", id="under-1y"),
        pytest.param(Y, "1y", id="1y"),
        pytest.param(2 * Y - MS, "1y", id="under-2y"),
        pytest.param(2 * Y, "2y", id="2y"),
    ],
)
def test_short_human_duration(d: timedelta, want: str) -> None:
    assert short_human_duration(d) == want


@pytest.mark.parametrize(
    ("ts", "now", "want"),
    [
        pytest.param(None, NOW, "<unknown>", id="missing"),
        pytest.param("", NOW, "<unknown>", id="empty"),
        pytest.param("not-a-time", NOW, "<unknown>", id="garbage"),
        pytest.param(ago(seconds=-1.9), NOW, "0s", id="skewed-into-future"),
        pytest.param(ago(minutes=5), NOW, "5m", id="five-minutes"),
        pytest.param("2024-05-01T11:55:00.123456Z", NOW, "4m59s", id="micro-time"),
        pytest.param(ago(hours=3), NOW.replace(tzinfo=None), "3h", id="naive-now-is-utc"),
    ],
)
def test_translate_timestamp_since(ts: str | None, now: datetime, want: str) -> None:
    assert translate_timestamp_since(ts, now) == want


# --------------------------------------------------------------------------- endpointslices


def _slice(name: str, created: str, ports: list[Any], endpoints: list[Any]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta(name, creationTimestamp=created),
        "addressType": "IP",
        "ports": ports,
        "endpoints": endpoints,
    }


def _port(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "port": port, "protocol": "TCP"}


FOUR_PORTS = [
    _port("http", 80),
    _port("https", 443),
    _port("extra1", 3000),
    _port("extra2", 3001),
]
V4V6_A = {"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}
V4V6_B = {"addresses": ["10.2.3.4", "2001:db8::2345:6789"]}


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        # The three rows of upstream TestPrintEndpointSlice (reference §5.1).
        pytest.param(
            _slice("abcslice.123", ago(seconds=-1.9), [_port("http", 80)], [V4V6_A]),
            ["abcslice.123", "IP", "80", "10.1.2.3,2001:db8::1234:5678", "0s"],
            id="upstream-abcslice",
        ),
        pytest.param(
            _slice(
                "longerslicename.123",
                ago(seconds=300),
                [_port("http", 80), _port("https", 443)],
                [V4V6_A, V4V6_B],
            ),
            [
                "longerslicename.123",
                "IP",
                "80,443",
                "10.1.2.3,2001:db8::1234:5678,10.2.3.4 + 1 more...",
                "5m",
            ],
            id="upstream-longerslicename",
        ),
        pytest.param(
            _slice(
                "multiportslice.123",
                ago(seconds=300),
                FOUR_PORTS,
                [V4V6_A, V4V6_B],
            ),
            [
                "multiportslice.123",
                "IP",
                "80,443,3000 + 1 more...",
                "10.1.2.3,2001:db8::1234:5678,10.2.3.4 + 1 more...",
                "5m",
            ],
            id="upstream-multiportslice",
        ),
        pytest.param(
            _slice("empty", ago(hours=1), [], []),
            ["empty", "IP", "<unset>", "<unset>", "60m"],
            id="no-ports-no-endpoints",
        ),
        pytest.param(
            _slice("fallbacks", ago(days=3), [{"name": "dns"}, {"protocol": "UDP"}], [{}]),
            ["fallbacks", "IP", "dns,*", "<unset>", "3d"],
            id="port-name-then-star",
        ),
        pytest.param(
            {"metadata": {"name": "bare"}, "addressType": "IPv4"},
            ["bare", "IPv4", "<unset>", "<unset>", "<unknown>"],
            id="no-creation-timestamp",
        ),
    ],
)
def test_endpointslice_cells(obj: dict[str, Any], want: list[Any]) -> None:
    assert row_cells("endpointslices", obj, NOW) == want


# --------------------------------------------------------------------------- pods


def _pod(
    name: str = "web",
    *,
    containers: int = 1,
    init: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
    deleted: bool = False,
    created: str | None = None,
) -> dict[str, Any]:
    metadata = meta(name)
    if created is not None:
        metadata["creationTimestamp"] = created
    if deleted:
        metadata["deletionTimestamp"] = ago(seconds=10)
    status: dict[str, Any] = {"phase": phase}
    if reason is not None:
        status["reason"] = reason
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]
    }
    if init is not None:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


RUNNING = {"running": {"startedAt": ago(hours=1)}}


def _cs(
    *,
    ready: bool = False,
    restarts: int = 0,
    state: dict[str, Any] | None = None,
    finished: str | None = None,
    name: str = "",
    started: bool | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "ready": ready, "restartCount": restarts}
    out["state"] = state if state is not None else {}
    if finished is not None:
        out["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": finished}}
    if started is not None:
        out["started"] = started
    return out


READY_TRUE = [{"type": "Ready", "status": "True"}]
SIDECARS = [
    {"name": "sidecar-1", "restartPolicy": "Always"},
    {"name": "sidecar-2", "restartPolicy": "Always"},
]


@pytest.mark.parametrize(
    ("pod", "want"),
    [
        pytest.param(
            _pod(statuses=[_cs(ready=True, state=RUNNING)], conditions=READY_TRUE),
            ["web", "1/1", "Running", "0"],
            id="running-1-of-1",
        ),
        pytest.param(
            _pod(phase="Pending", containers=2),
            ["web", "0/2", "Pending", "0"],
            id="pending-no-statuses",
        ),
        pytest.param(
            _pod(
                phase="Pending",
                statuses=[_cs(state={"waiting": {"reason": "ContainerCreating"}})],
            ),
            ["web", "0/1", "ContainerCreating", "0"],
            id="pending-container-creating",
        ),
        pytest.param(
            _pod(statuses=[_cs(ready=True, state=RUNNING)], deleted=True),
            ["web", "1/1", "Terminating", "0"],
            id="terminating",
        ),
        pytest.param(
            _pod(phase="Pending", deleted=True),
            ["web", "0/1", "Terminating", "0"],
            id="terminating-pending",
        ),
        pytest.param(
            _pod(
                statuses=[_cs(ready=True, state=RUNNING)],
                deleted=True,
                reason="NodeLost",
            ),
            ["web", "1/1", "Unknown", "0"],
            id="node-lost-unknown",
        ),
        pytest.param(
            _pod(
                statuses=[
                    _cs(
                        restarts=5,
                        state={"waiting": {"reason": "CrashLoopBackOff"}},
                        finished=ago(minutes=5),
                    )
                ]
            ),
            ["web", "0/1", "CrashLoopBackOff", "5 (5m ago)"],
            id="crashloop-with-last-restart",
        ),
        pytest.param(
            _pod(
                phase="Succeeded",
                statuses=[_cs(state={"terminated": {"reason": "Completed", "exitCode": 0}})],
            ),
            ["web", "0/1", "Completed", "0"],
            id="completed",
        ),
        pytest.param(
            _pod(
                phase="Succeeded",
                statuses=[_cs(state={"terminated": {"reason": "Completed", "exitCode": 0}})],
                deleted=True,
            ),
            ["web", "0/1", "Completed", "0"],
            id="completed-and-deleted-is-not-terminating",
        ),
        pytest.param(
            _pod(phase="Failed", statuses=[_cs(state={"terminated": {"exitCode": 2}})]),
            ["web", "0/1", "ExitCode:2", "0"],
            id="terminated-without-reason-exit-code",
        ),
        pytest.param(
            _pod(phase="Failed", statuses=[_cs(state={"terminated": {"signal": 9}})]),
            ["web", "0/1", "Signal:9", "0"],
            id="terminated-by-signal",
        ),
        pytest.param(
            _pod(
                phase="Pending",
                init=[{"name": "init"}],
                init_statuses=[_cs(name="init", state=RUNNING)],
                statuses=[_cs(state={"waiting": {"reason": "PodInitializing"}})],
            ),
            ["web", "0/1", "Init:0/1", "0"],
            id="init-0-of-1",
        ),
        pytest.param(
            _pod(
                phase="Pending",
                init=[{"name": "init"}],
                init_statuses=[
                    _cs(
                        name="init",
                        restarts=3,
                        state={"waiting": {"reason": "CrashLoopBackOff"}},
                        finished=ago(seconds=10),
                    )
                ],
                statuses=[_cs(state={"waiting": {"reason": "PodInitializing"}})],
            ),
            ["web", "0/1", "Init:CrashLoopBackOff", "3 (10s ago)"],
            id="init-crashloop",
        ),
        pytest.param(
            _pod(
                phase="Pending",
                init=[{"name": "a"}, {"name": "b"}],
                init_statuses=[
                    _cs(name="a", state={"terminated": {"exitCode": 0}}),
                    _cs(name="b", state={"terminated": {"exitCode": 3}}),
                ],
            ),
            ["web", "0/1", "Init:ExitCode:3", "0"],
            id="init-second-failed",
        ),
        pytest.param(
            _pod(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            ),
            ["web", "0/1", "SchedulingGated", "0"],
            id="scheduling-gated",
        ),
        # Upstream TestPrintPod rows.
        pytest.param(
            _pod(
                "test1",
                containers=2,
                phase="podPhase",
                statuses=[_cs(ready=True, restarts=3, state=RUNNING), _cs(restarts=3)],
            ),
            ["test1", "1/2", "podPhase", "6"],
            id="upstream-test1",
        ),
        pytest.param(
            _pod(
                "test3",
                containers=2,
                phase="podPhase",
                statuses=[
                    _cs(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}}),
                    _cs(
                        restarts=3,
                        state={"terminated": {"reason": "ContainerTerminatedReason"}},
                    ),
                ],
            ),
            ["test3", "0/2", "ContainerWaitingReason", "6"],
            id="upstream-test3-first-container-wins",
        ),
        pytest.param(
            _pod(
                "test5",
                containers=2,
                phase="podPhase",
                reason="podReason",
                statuses=[_cs(ready=True, restarts=3, state=RUNNING), _cs(ready=True, restarts=3)],
            ),
            ["test5", "1/2", "podReason", "6"],
            id="upstream-test5-status-reason",
        ),
        pytest.param(
            _pod(
                "test6",
                containers=2,
                statuses=[
                    _cs(ready=True, restarts=3, state={"terminated": {"reason": "Completed"}}),
                    _cs(ready=True, restarts=3, state=RUNNING),
                ],
            ),
            ["test6", "1/2", "NotReady", "6"],
            id="upstream-test6-completed-and-running-not-ready",
        ),
        pytest.param(
            _pod(
                "test6",
                containers=2,
                conditions=READY_TRUE,
                statuses=[
                    _cs(ready=True, restarts=3, state={"terminated": {"reason": "Completed"}}),
                    _cs(ready=True, restarts=3, state=RUNNING),
                ],
            ),
            ["test6", "1/2", "Running", "6"],
            id="upstream-test6-completed-and-running-ready",
        ),
        pytest.param(
            _pod(
                "test10",
                phase="podPhase",
                init=[{"name": "i1"}, {"name": "i2"}],
                init_statuses=[
                    _cs(
                        name="i1",
                        restarts=2,
                        state={"terminated": {}},
                        finished=ago(minutes=2),
                    ),
                    _cs(name="i2", restarts=3, state=RUNNING, finished=ago(seconds=10)),
                ],
                statuses=[_cs(state={"waiting": {}})],
            ),
            ["test10", "0/1", "Init:1/2", "5 (10s ago)"],
            id="upstream-test10",
        ),
        pytest.param(
            _pod(
                "test11",
                init=[{"name": "i1"}],
                init_statuses=[
                    _cs(name="i1", restarts=2, state={"terminated": {}}, finished=ago(minutes=2))
                ],
                statuses=[_cs(restarts=4, state=RUNNING, finished=ago(seconds=20))],
            ),
            ["test11", "0/1", "Running", "4 (20s ago)"],
            id="upstream-test11-init-restarts-dropped-once-initialized",
        ),
        pytest.param(
            _pod(
                "test14",
                containers=2,
                statuses=[
                    _cs(ready=True, restarts=6, state=RUNNING, finished=ago(days=5)),
                    _cs(ready=True, restarts=3, state=RUNNING, finished=ago(days=20)),
                ],
            ),
            ["test14", "2/2", "Running", "9 (5d ago)"],
            id="upstream-test14-latest-restart",
        ),
        # Upstream TestPrintPodWithRestartableInitContainer rows.
        pytest.param(
            _pod(
                "sidecar-starting",
                phase="Pending",
                init=SIDECARS,
                init_statuses=[
                    _cs(
                        name="sidecar-1",
                        restarts=3,
                        state=RUNNING,
                        started=True,
                        finished=ago(seconds=10),
                    ),
                    _cs(name="sidecar-2", state=RUNNING, started=False),
                ],
                statuses=[_cs(state={"waiting": {}})],
                conditions=[{"type": "Initialized", "status": "False"}],
            ),
            ["sidecar-starting", "0/3", "Init:1/2", "3 (10s ago)"],
            id="upstream-sidecar-second-not-started",
        ),
        pytest.param(
            _pod(
                "sidecars-up",
                init=SIDECARS,
                init_statuses=[
                    _cs(
                        name="sidecar-1",
                        restarts=3,
                        state=RUNNING,
                        started=True,
                        finished=ago(seconds=10),
                    ),
                    _cs(name="sidecar-2", state=RUNNING, started=True),
                ],
                statuses=[_cs(ready=True, restarts=4, state=RUNNING, finished=ago(seconds=20))],
                conditions=[{"type": "Initialized", "status": "True"}],
            ),
            ["sidecars-up", "1/3", "Running", "7 (10s ago)"],
            id="upstream-sidecars-started",
        ),
    ],
)
def test_pod_cells(pod: dict[str, Any], want: list[Any]) -> None:
    assert row_cells("pods", pod, NOW, wide=False) == [*want, "<unknown>"]


def test_pod_wide_cells() -> None:
    pod = _pod(
        "test1",
        containers=2,
        phase="podPhase",
        statuses=[_cs(ready=True, restarts=3, state=RUNNING), _cs(restarts=3)],
        conditions=[
            {"type": "condition1", "status": "False"},
            {"type": "condition2", "status": "True"},
        ],
        created=ago(hours=2),
    )
    pod["spec"]["nodeName"] = "test1"
    pod["spec"]["readinessGates"] = [
        {"conditionType": "condition1"},
        {"conditionType": "condition2"},
        {"conditionType": "condition3"},
    ]
    pod["status"]["podIPs"] = [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}]
    pod["status"]["nominatedNodeName"] = "node1"
    assert row_cells("pods", pod, NOW) == [
        "test1",
        "1/2",
        "podPhase",
        "6",
        "120m",
        "1.1.1.1",
        "test1",
        "node1",
        "1/3",
    ]


def test_pod_wide_cells_default_to_none() -> None:
    pod = _pod(phase="Pending")
    assert row_cells("pods", pod, NOW)[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_pod_ip_falls_back_to_singular_pod_ip() -> None:
    pod = _pod()
    pod["status"]["podIP"] = "10.0.0.7"
    assert row_cells("pods", pod, NOW)[5] == "10.0.0.7"


@pytest.mark.parametrize(
    ("phase", "want"),
    [
        pytest.param("Running", [], id="running"),
        pytest.param(
            "Succeeded",
            [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": "The pod has completed successfully.",
                }
            ],
            id="succeeded",
        ),
        pytest.param(
            "Failed",
            [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "Failed",
                    "message": "The pod failed.",
                }
            ],
            id="failed",
        ),
    ],
)
def test_pod_row_conditions(phase: str, want: list[dict[str, Any]]) -> None:
    assert row_conditions("pods", _pod(phase=phase)) == want
    assert row_conditions("services", _pod(phase=phase)) == []


# --------------------------------------------------------------------------- services


def _svc(
    name: str,
    type_: str | None,
    *,
    cluster_ips: list[str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    external_ips: list[str] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    selector: dict[str, str] | None = None,
    extra_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = dict(extra_spec or {})
    if type_ is not None:
        spec["type"] = type_
    if cluster_ips is not None:
        spec["clusterIP"] = cluster_ips[0]
        spec["clusterIPs"] = cluster_ips
    if ports is not None:
        spec["ports"] = ports
    if external_ips is not None:
        spec["externalIPs"] = external_ips
    if selector is not None:
        spec["selector"] = selector
    status: dict[str, Any] = {"loadBalancer": {"ingress": ingress} if ingress else {}}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, creationTimestamp=ago(days=2, hours=5)),
        "spec": spec,
        "status": status,
    }


HTTP = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}


@pytest.mark.parametrize(
    ("svc", "want"),
    [
        pytest.param(
            _svc(
                "web", "ClusterIP", cluster_ips=["10.96.0.10"], ports=[HTTP], selector={"app": "w"}
            ),
            ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "2d5h", "app=w"],
            id="cluster-ip",
        ),
        pytest.param(
            _svc("dual", "ClusterIP", cluster_ips=["10.96.0.11", "fd00::11"], ports=[HTTP]),
            ["dual", "ClusterIP", "10.96.0.11", "<none>", "80/TCP", "2d5h", "<none>"],
            id="dual-stack-shows-primary",
        ),
        pytest.param(
            _svc("headless", "ClusterIP", cluster_ips=["None"], ports=[HTTP]),
            ["headless", "ClusterIP", "None", "<none>", "80/TCP", "2d5h", "<none>"],
            id="headless",
        ),
        pytest.param(
            _svc(
                "ext",
                "ClusterIP",
                cluster_ips=["10.96.0.12"],
                ports=[HTTP],
                external_ips=["1.2.3.4", "5.6.7.8"],
            ),
            ["ext", "ClusterIP", "10.96.0.12", "1.2.3.4,5.6.7.8", "80/TCP", "2d5h", "<none>"],
            id="cluster-ip-with-external-ips",
        ),
        pytest.param(
            _svc(
                "np",
                "NodePort",
                cluster_ips=["10.96.0.13"],
                ports=[{**HTTP, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}],
                selector={"b": "2", "a": "1"},
            ),
            ["np", "NodePort", "10.96.0.13", "<none>", "80:30080/TCP,53/UDP", "2d5h", "a=1,b=2"],
            id="node-port",
        ),
        pytest.param(
            _svc(
                "lb", "LoadBalancer", cluster_ips=["1.3.4.5"], ports=[{**HTTP, "nodePort": 31000}]
            ),
            ["lb", "LoadBalancer", "1.3.4.5", "<pending>", "80:31000/TCP", "2d5h", "<none>"],
            id="load-balancer-pending",
        ),
        pytest.param(
            _svc(
                "service4",
                "LoadBalancer",
                cluster_ips=["1.5.6.7"],
                ports=[HTTP],
                ingress=[{"ip": "3.4.5.6"}, {"ip": "2.3.4.5"}, {"hostname": "lb.example"}],
            ),
            [
                "service4",
                "LoadBalancer",
                "1.5.6.7",
                "2.3.4.5,3.4.5.6,lb.example",
                "80/TCP",
                "2d5h",
                "<none>",
            ],
            id="load-balancer-ingress-sorted-unclipped",
        ),
        pytest.param(
            _svc(
                "lbx",
                "LoadBalancer",
                cluster_ips=["1.5.6.8"],
                ports=[HTTP],
                ingress=[{"ip": "2.3.4.5"}],
                external_ips=["9.9.9.9"],
            ),
            ["lbx", "LoadBalancer", "1.5.6.8", "2.3.4.5,9.9.9.9", "80/TCP", "2d5h", "<none>"],
            id="load-balancer-plus-external-ips",
        ),
        pytest.param(
            _svc("db", "ExternalName", extra_spec={"externalName": "db.example.com"}),
            ["db", "ExternalName", "<none>", "db.example.com", "<none>", "2d5h", "<none>"],
            id="external-name",
        ),
        pytest.param(
            _svc("plain", None, extra_spec={"clusterIP": "10.96.0.14"}, ports=[{"port": 443}]),
            ["plain", "ClusterIP", "10.96.0.14", "<none>", "443/TCP", "2d5h", "<none>"],
            id="undefaulted-type-protocol-and-cluster-ips",
        ),
    ],
)
def test_service_cells(svc: dict[str, Any], want: list[Any]) -> None:
    assert row_cells("services", svc, NOW) == want


def test_service_narrow_output_clips_load_balancer_addresses() -> None:
    svc = _svc(
        "service4",
        "LoadBalancer",
        cluster_ips=["1.5.6.7"],
        ports=[HTTP, {"port": 8090, "protocol": "UDP"}, {"port": 8000, "protocol": "TCP"}],
        ingress=[{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}, {"ip": "5.6.7.8", "hostname": "h"}],
    )
    # Upstream TestPrintServiceLoadBalancer, non-wide case.
    assert row_cells("services", svc, NOW, wide=False) == [
        "service4",
        "LoadBalancer",
        "1.5.6.7",
        "2.3.4.5,3.4.5...",
        "80/TCP,8090/UDP,8000/TCP",
        "2d5h",
    ]


# --------------------------------------------------------------------------- endpoints


def _ep(subsets: list[dict[str, Any]] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": meta("web", creationTimestamp=ago(minutes=190)),
    }
    if subsets is not None:
        obj["subsets"] = subsets
    return obj


def _addrs(*ips: str) -> list[dict[str, str]]:
    return [{"ip": ip} for ip in ips]


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        pytest.param(_ep(None), "<none>", id="no-subsets"),
        pytest.param(
            _ep([{"addresses": _addrs("10.0.0.1", "10.0.0.2"), "ports": [{"port": 8080}]}]),
            "10.0.0.1:8080,10.0.0.2:8080",
            id="two-addresses",
        ),
        pytest.param(
            _ep(
                [
                    {
                        "addresses": _addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"),
                        "ports": [{"port": 8080}],
                    },
                    {"addresses": _addrs("10.0.1.1"), "ports": [{"port": 9090}]},
                ]
            ),
            "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...",
            id="more-than-three",
        ),
        pytest.param(
            _ep(
                [
                    {
                        "addresses": _addrs("10.0.0.1", "10.0.0.2"),
                        "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}],
                    }
                ]
            ),
            "10.0.0.1:1,10.0.0.2:1,10.0.0.1:2 + 1 more...",
            id="every-port-times-every-address",
        ),
        pytest.param(
            _ep([{"addresses": _addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")}]),
            "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
            id="headless-without-ports",
        ),
        pytest.param(
            _ep([{"addresses": _addrs("fd00::1"), "ports": [{"port": 53}]}]),
            "[fd00::1]:53",
            id="ipv6-bracketed",
        ),
        pytest.param(
            _ep([{"notReadyAddresses": _addrs("10.0.0.9"), "ports": [{"port": 80}]}]),
            "",
            id="only-not-ready-prints-empty",
        ),
    ],
)
def test_endpoints_cells(obj: dict[str, Any], want: str) -> None:
    assert row_cells("endpoints", obj, NOW) == ["web", want, "3h10m"]


# --------------------------------------------------------------------------- nodes


def _node(
    name: str,
    conditions: list[dict[str, Any]] | None = None,
    *,
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
    addresses: list[dict[str, str]] | None = None,
    info: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "conditions": conditions or [],
            "addresses": addresses or [],
            "nodeInfo": info or {},
        },
    }


def _ready(status: str) -> dict[str, str]:
    return {"type": "Ready", "status": status}


@pytest.mark.parametrize(
    ("node", "want"),
    [
        pytest.param(_node("foo1", [_ready("True")]), ["Ready", "<none>"], id="ready"),
        pytest.param(
            _node("foo2", [_ready("True")], unschedulable=True),
            ["Ready,SchedulingDisabled", "<none>"],
            id="ready-cordoned",
        ),
        pytest.param(
            _node("foo3", [_ready("True"), _ready("True")]), ["Ready", "<none>"], id="dup"
        ),
        pytest.param(_node("foo4", [_ready("False")]), ["NotReady", "<none>"], id="not-ready"),
        pytest.param(
            _node("foo4b", [_ready("Unknown")]), ["NotReady", "<none>"], id="ready-unknown"
        ),
        pytest.param(
            _node("foo5", [_ready("False")], unschedulable=True),
            ["NotReady,SchedulingDisabled", "<none>"],
            id="not-ready-cordoned",
        ),
        pytest.param(
            _node("foo6", [{"type": "InvalidValue", "status": "True"}]),
            ["Unknown", "<none>"],
            id="no-ready-condition",
        ),
        pytest.param(
            _node("foo9", [{}], unschedulable=True),
            ["Unknown,SchedulingDisabled", "<none>"],
            id="unknown-cordoned",
        ),
        pytest.param(
            _node(
                "foo10",
                [_ready("True")],
                labels={
                    "node-role.kubernetes.io/master": "",
                    "node-role.kubernetes.io/control-plane": "",
                    "node-role.kubernetes.io/proxy": "",
                    "node-role.kubernetes.io/": "",
                    "kubernetes.io/role": "node",
                },
            ),
            ["Ready", "control-plane,master,node,proxy"],
            id="roles-sorted",
        ),
        pytest.param(
            _node("foo11", labels={"kubernetes.io/role": "node"}),
            ["Unknown", "node"],
            id="legacy-role-label",
        ),
    ],
)
def test_node_status_and_roles(node: dict[str, Any], want: list[str]) -> None:
    cells = row_cells("nodes", node, NOW, wide=False)
    assert cells == [node["metadata"]["name"], *want, "<unknown>", ""]


def test_node_wide_cells() -> None:
    node = _node(
        "foo3",
        [_ready("True")],
        addresses=[
            {"type": "ExternalIP", "address": "2.2.2.2"},
            {"type": "InternalIP", "address": "3.3.3.3"},
            {"type": "ExternalIP", "address": "4.4.4.4"},
        ],
        info={"kubeletVersion": "v1.31.0", "kernelVersion": "6.1.0"},
    )
    node["metadata"]["creationTimestamp"] = ago(days=400)
    assert row_cells("nodes", node, NOW) == [
        "foo3",
        "Ready",
        "<none>",
        "400d",
        "v1.31.0",
        "3.3.3.3",
        "2.2.2.2",
        "<unknown>",
        "6.1.0",
        "<unknown>",
    ]


# --------------------------------------------------------------------------- other kinds


def _event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("event2"),
        "involvedObject": {
            "kind": "Deployment",
            "name": "Deployment Name",
            "fieldPath": "spec.containers{foo}",
        },
        "reason": "Event Reason",
        "message": "  Message Data\n",
        "type": "Warning",
        "source": {"component": "kubelet", "host": "Node1"},
    }
    base.update(fields)
    return base


NO_TIMES_HEAD = ["<unknown>", "Warning", "Event Reason", "node", "", "kubelet", "Message Data"]
TAIL = ["Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}"]


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(
            _event(firstTimestamp=ago(days=3), lastTimestamp=ago(days=2), count=6),
            ["2d", *TAIL, "kubelet, Node1", "Message Data", "3d", 6, "event2"],
            id="first-and-last",
        ),
        pytest.param(
            _event(eventTime=ago(days=3), lastTimestamp=ago(days=3), count=1),
            ["3d", *TAIL, "kubelet, Node1", "Message Data", "3d", 1, "event2"],
            id="event-time-replaces-first",
        ),
        pytest.param(
            _event(eventTime="2024-04-28T12:00:00.000000Z"),
            ["3d", *TAIL, "kubelet, Node1", "Message Data", "3d", 1, "event2"],
            id="singleton-counts-one",
        ),
        pytest.param(
            _event(
                eventTime=ago(days=3),
                series={"count": 2, "lastObservedTime": ago(days=2)},
            ),
            ["2d", *TAIL, "kubelet, Node1", "Message Data", "3d", 2, "event2"],
            id="series",
        ),
        pytest.param(
            _event(
                source={},
                reportingComponent="kubelet",
                reportingInstance="test",
                firstTimestamp=ago(days=3),
                lastTimestamp=ago(days=2),
                count=6,
            ),
            ["2d", *TAIL, "kubelet, test", "Message Data", "3d", 6, "event2"],
            id="reporting-controller-source",
        ),
        pytest.param(
            _event(source={"component": "kubelet"}, involvedObject={"kind": "Node"}),
            [*NO_TIMES_HEAD, "<unknown>", 1, "event2"],
            id="no-times-no-name",
        ),
    ],
)
def test_event_cells(event: dict[str, Any], want: list[Any]) -> None:
    assert row_cells("events", event, NOW) == want


def test_event_narrow_cells() -> None:
    event = _event(firstTimestamp=ago(days=3), lastTimestamp=ago(days=2), count=6)
    event["involvedObject"] = {"kind": "Pod", "name": "Pod Name"}
    event["type"] = "Normal"
    assert row_cells("events", event, NOW, wide=False) == [
        "2d",
        "Normal",
        "Event Reason",
        "pod/Pod Name",
        "Message Data",
    ]


def _deployment(selector: Any = None, **status: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("web", creationTimestamp=ago(minutes=7, seconds=3)),
        "spec": {
            "replicas": 3,
            "selector": selector,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.27"},
                        {"name": "proxy", "image": "envoy:v1"},
                    ]
                }
            },
        },
        "status": status,
    }


@pytest.mark.parametrize(
    ("resource", "obj", "want"),
    [
        pytest.param(
            "namespaces",
            {"metadata": {"name": "kube-system", "creationTimestamp": ago(days=30)}}
            | {"status": {"phase": "Active"}},
            ["kube-system", "Active", "30d"],
            id="namespace",
        ),
        pytest.param(
            "namespaces",
            {"metadata": {"name": "namespace2"}},
            ["namespace2", "", "<unknown>"],
            id="namespace-bare",
        ),
        pytest.param(
            "leases",
            {"metadata": meta("ctrl", creationTimestamp=ago(hours=1))}
            | {"spec": {"holderIdentity": "node-a_1234"}},
            ["ctrl", "node-a_1234", "60m"],
            id="lease",
        ),
        pytest.param(
            "leases",
            {"metadata": meta("free", creationTimestamp=ago(hours=1)), "spec": {}},
            ["free", "", "60m"],
            id="lease-unheld",
        ),
        pytest.param(
            "deployments",
            _deployment(
                {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["z", "a"]},
                        {"key": "canary", "operator": "DoesNotExist"},
                    ],
                },
                readyReplicas=2,
                updatedReplicas=3,
                availableReplicas=2,
            ),
            [
                "web",
                "2/3",
                3,
                2,
                "7m3s",
                "app,proxy",
                "nginx:1.27,envoy:v1",
                "app=web,!canary,tier in (a,z)",
            ],
            id="deployment",
        ),
        pytest.param(
            "deployments",
            _deployment({"matchExpressions": [{"key": "k", "operator": "Bogus"}]}),
            ["web", "0/3", 0, 0, "7m3s", "app,proxy", "nginx:1.27,envoy:v1", "<invalid>"],
            id="deployment-invalid-selector",
        ),
        pytest.param(
            "replicasets",
            _deployment({"matchLabels": {"app": "web", "pod-template-hash": "abc"}})
            | {"status": {"replicas": 3, "readyReplicas": 1}},
            [
                "web",
                3,
                3,
                1,
                "7m3s",
                "app,proxy",
                "nginx:1.27,envoy:v1",
                "app=web,pod-template-hash=abc",
            ],
            id="replicaset",
        ),
        pytest.param(
            "replicasets",
            _deployment({}),
            ["web", 3, 0, 0, "7m3s", "app,proxy", "nginx:1.27,envoy:v1", "<none>"],
            id="replicaset-empty-selector",
        ),
        pytest.param(
            "widgets.example.com",
            {"metadata": {"name": "w1", "creationTimestamp": "2024-04-30T14:00:00+02:00"}},
            ["w1", "2024-04-30T12:00:00Z"],
            id="unknown-resource-created-at",
        ),
    ],
)
def test_other_resource_cells(resource: str, obj: dict[str, Any], want: list[Any]) -> None:
    assert row_cells(resource, obj, NOW) == want


def test_deployment_replicas_default_to_one() -> None:
    obj = _deployment({"matchLabels": {"app": "web"}}, readyReplicas=1)
    del obj["spec"]["replicas"]
    assert row_cells("deployments", obj, NOW)[1] == "1/1"


# --------------------------------------------------------------------------- columns / table

EXPECTED_COLUMNS = {
    "endpointslices": (["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
    "pods": (
        ["Name", "Ready", "Status", "Restarts", "Age"],
        ["IP", "Node", "Nominated Node", "Readiness Gates"],
    ),
    "services": (["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
    "endpoints": (["Name", "Endpoints", "Age"], []),
    "nodes": (
        ["Name", "Status", "Roles", "Age", "Version"],
        ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"],
    ),
    "namespaces": (["Name", "Status", "Age"], []),
    "events": (
        ["Last Seen", "Type", "Reason", "Object", "Message"],
        ["Subobject", "Source", "First Seen", "Count", "Name"],
    ),
    "leases": (["Name", "Holder", "Age"], []),
    "deployments": (
        ["Name", "Ready", "Up-to-date", "Available", "Age"],
        ["Containers", "Images", "Selector"],
    ),
    "replicasets": (
        ["Name", "Desired", "Current", "Ready", "Age"],
        ["Containers", "Images", "Selector"],
    ),
    "secrets": (["Name", "Type", "Data", "Age"], []),
    "configmaps": (["Name", "Data", "Age"], []),
    "serviceaccounts": (["Name", "Created At"], []),  # not served: the generic table
}


@pytest.mark.parametrize("resource", list(EXPECTED_COLUMNS))
def test_column_definitions(resource: str) -> None:
    columns = column_definitions(resource)
    normal, wide = EXPECTED_COLUMNS[resource]
    assert [c["name"] for c in columns if c["priority"] == 0] == normal
    assert [c["name"] for c in columns if c["priority"] == 1] == wide
    for column in columns:
        assert set(column) == {"name", "type", "format", "description", "priority"}
        assert column["type"] in {"string", "integer", "date"}
        assert column["description"]
    name_columns = [c for c in columns if c["format"] == "name"]
    assert [c["name"] for c in name_columns] == ["Name"]
    if resource != "events":  # upstream puts LAST SEEN first for events
        assert columns[0] == name_columns[0]


def test_column_types_follow_upstream() -> None:
    types = {c["name"]: c["type"] for c in column_definitions("replicasets")}
    assert types["Desired"] == types["Current"] == types["Ready"] == "integer"
    assert {c["name"]: c["type"] for c in column_definitions("pods")}["Restarts"] == "string"
    assert column_definitions("serviceaccounts")[1]["type"] == "date"
    # printSecret/printConfigMap put an int64 under a "string" column, as upstream declares.
    assert column_definitions("secrets")[2]["type"] == "string"


def test_resource_names_are_normalised() -> None:
    assert column_definitions("EndpointSlices.discovery.k8s.io") == column_definitions(
        "endpointslices"
    )


@pytest.mark.parametrize(
    ("resource", "obj"),
    [
        pytest.param("pods", _pod(), id="pods"),
        pytest.param("services", _svc("s", "ClusterIP", cluster_ips=["10.0.0.1"]), id="services"),
        pytest.param("events", _event(), id="events"),
        pytest.param("nodes", _node("n"), id="nodes"),
        pytest.param("deployments", _deployment({}), id="deployments"),
        pytest.param("endpointslices", _slice("e", ago(seconds=1), [], []), id="endpointslices"),
    ],
)
def test_cells_line_up_with_columns(resource: str, obj: dict[str, Any]) -> None:
    columns = column_definitions(resource)
    assert len(row_cells(resource, obj, NOW)) == len(columns)
    narrow = row_cells(resource, obj, NOW, wide=False)
    assert len(narrow) == sum(1 for c in columns if c["priority"] == 0)


SLICES = [
    _slice("a.1", ago(seconds=30), [_port("http", 80)], [V4V6_A]),
    _slice("b.2", ago(minutes=3), [], []),
]
for _s in SLICES:
    _s["metadata"]["labels"] = {"kubernetes.io/service-name": "web"}


def test_build_table_shape_with_metadata_objects() -> None:
    table = build_table("endpointslices", SLICES, NOW, resource_version="42")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["columnDefinitions"] == column_definitions("endpointslices")
    assert [row["cells"] for row in table["rows"]] == [
        ["a.1", "IP", "80", "10.1.2.3,2001:db8::1234:5678", "30s"],
        ["b.2", "IP", "<unset>", "<unset>", "3m"],
    ]
    for row, obj in zip(table["rows"], SLICES, strict=True):
        assert row["object"] == {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
        assert "conditions" not in row
    json.dumps(table)  # must be plain JSON


def test_build_table_full_objects_and_none() -> None:
    full = build_table("endpointslices", SLICES, NOW, include_object="Object")
    assert [row["object"] for row in full["rows"]] == SLICES
    bare = build_table("endpointslices", SLICES, NOW, include_object="None")
    assert all(set(row) == {"cells"} for row in bare["rows"])


def test_build_table_without_columns_for_watch_events() -> None:
    table = build_table("pods", [_pod()], NOW, include_columns=False)
    assert table["columnDefinitions"] == []
    assert len(table["rows"]) == 1
    assert table["metadata"] == {}


def test_build_table_list_metadata_and_pod_conditions() -> None:
    table = build_table(
        "pods",
        [_pod("done", phase="Succeeded"), _pod("up")],
        NOW,
        resource_version="7",
        continue_token="tok",
        remaining_item_count=3,
    )
    assert table["metadata"] == {"resourceVersion": "7", "continue": "tok", "remainingItemCount": 3}
    assert table["rows"][0]["conditions"][0]["reason"] == "Succeeded"
    assert "conditions" not in table["rows"][1]


def test_build_table_empty_list() -> None:
    table = build_table("services", [], NOW)
    assert table["rows"] == []
    assert table["columnDefinitions"][0]["name"] == "Name"


def test_build_table_rejects_unknown_include_object() -> None:
    with pytest.raises(ValueError, match="include_object"):
        build_table("pods", [], NOW, include_object="Everything")
