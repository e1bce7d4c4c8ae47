"""The probe state machine, probe worker timing and crash-loop back-off (upstream
``prober/worker.go`` and kubelet back-off), as tables; timing on a FakeClock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sliceplane.machinery.clock import FakeClock
from sliceplane.workloads.kubelet.probes import (
    ProbeSpec,
    ProbeState,
    ProbeType,
    probe_worker,
    replay,
    restart_delay,
    should_restart,
)


def spec(success: int = 1, failure: int = 3, delay: float = 0, period: float = 10) -> ProbeSpec:
    return ProbeSpec(
        "tcpSocket",
        {"port": 80},
        initial_delay=delay,
        period=period,
        success_threshold=success,
        failure_threshold=failure,
    )


T, F = True, False


@pytest.mark.parametrize(
    ("kind", "success", "failure", "outcomes", "published"),
    [
        pytest.param("readiness", 1, 3, [], [], id="readiness-starts-unready"),
        pytest.param("readiness", 1, 3, [T], [T], id="readiness-one-success"),
        pytest.param("readiness", 2, 3, [T, T], [F, T], id="readiness-success-threshold-2"),
        pytest.param(
            "readiness", 2, 3, [T, F, T, T], [F, F, F, T], id="readiness-run-broken-by-failure"
        ),
        pytest.param(
            "readiness", 1, 3, [T, F, F, F], [T, T, T, F], id="readiness-failure-threshold-3"
        ),
        pytest.param(
            "readiness", 1, 3, [T, F, F, T, F, F], [T, T, T, T, T, T], id="readiness-flaky-stays"
        ),
        pytest.param(
            "readiness", 1, 1, [T, F, T, F], [T, F, T, F], id="readiness-thresholds-1-follow"
        ),
        pytest.param(
            "readiness", 1, 2, [F, F, F, T], [F, F, F, T], id="readiness-keeps-probing-after-fail"
        ),
        pytest.param("liveness", 1, 3, [F, F], [T, T], id="liveness-starts-healthy"),
        pytest.param("liveness", 1, 3, [F, F, F], [T, T, F], id="liveness-fails-at-threshold"),
        pytest.param(
            "liveness", 1, 3, [F, F, F, T, T], [T, T, F, F, F], id="liveness-holds-after-failure"
        ),
        pytest.param("liveness", 1, 2, [F, T, F, T], [T, T, T, T], id="liveness-flaky-survives"),
        pytest.param("startup", 1, 3, [F, F, T], [T, T, T], id="startup-passes-before-threshold"),
        pytest.param("startup", 1, 2, [F, F], [T, F], id="startup-fails-at-threshold"),
    ],
)
def test_replay(
    kind: ProbeType, success: int, failure: int, outcomes: list[bool], published: list[bool]
) -> None:
    assert replay(spec(success, failure), kind, outcomes) == published


def test_hold_after_liveness_failure() -> None:
    state = ProbeState.new(spec(failure=1), "liveness")
    assert state.observe(False) is False
    assert state.on_hold and state.run == 0
    assert not state.due(1000)
    assert state.observe(True) is False  # held until the container restarts


def test_readiness_never_holds() -> None:
    state = ProbeState.new(spec(failure=1), "readiness")
    assert state.observe(False) is False
    assert not state.on_hold
    assert state.observe(True) is True


def test_due_honours_initial_delay() -> None:
    state = ProbeState.new(spec(delay=5), "readiness")
    assert not state.due(4.9)
    assert state.due(5.0)


@pytest.mark.parametrize(
    ("probe", "kind", "expected"),
    [
        pytest.param(None, "readiness", None, id="absent"),
        pytest.param({"periodSeconds": 3}, "readiness", None, id="no-handler"),
        pytest.param(
            {"httpGet": {"path": "/healthz", "port": 8080}},
            "readiness",
            ProbeSpec("httpGet", {"path": "/healthz", "port": 8080}),
            id="defaults",
        ),
        pytest.param(
            {
                "exec": {"command": ["true"]},
                "initialDelaySeconds": 2,
                "periodSeconds": 1,
                "timeoutSeconds": 4,
                "successThreshold": 2,
                "failureThreshold": 5,
            },
            "readiness",
            ProbeSpec("exec", {"command": ["true"]}, 2.0, 1.0, 4.0, 2, 5),
            id="all-fields",
        ),
        pytest.param(
            {"tcpSocket": {"port": 1}, "successThreshold": 3},
            "liveness",
            ProbeSpec("tcpSocket", {"port": 1}),
            id="liveness-success-threshold-is-1",
        ),
        pytest.param(
            {"tcpSocket": {"port": 1}, "periodSeconds": 0, "failureThreshold": -1},
            "readiness",
            ProbeSpec("tcpSocket", {"port": 1}, period=1.0, failure_threshold=1),
            id="clamped-minimums",
        ),
        pytest.param(
            {"grpc": {"port": 9000}}, "readiness", ProbeSpec("grpc", {"port": 9000}), id="grpc"
        ),
    ],
)
def test_parse(probe: Any, kind: ProbeType, expected: ProbeSpec | None) -> None:
    assert ProbeSpec.parse(probe, kind) == expected


@pytest.mark.parametrize(
    ("crashes", "expected"),
    [(0, 0.0), (1, 0.0), (2, 10.0), (3, 20.0), (4, 40.0), (6, 160.0), (7, 300.0), (30, 300.0)],
)
def test_restart_delay(crashes: int, expected: float) -> None:
    assert restart_delay(crashes) == expected


def test_restart_delay_custom() -> None:
    assert [restart_delay(n, 1.0, 3.0) for n in range(1, 6)] == [0.0, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("policy", "code", "expected"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 137, True),
        ("Never", 1, False),
        ("Never", 0, False),
    ],
)
def test_should_restart(policy: str, code: int, expected: bool) -> None:
    assert should_restart(policy, code) is expected


# ---------------------------------------------------------------------------- worker timing


class Script:
    """Probe outcomes in order; records the (fake) time of every probe."""

    def __init__(self, clock: FakeClock, outcomes: list[bool]) -> None:
        self.clock = clock
        self.outcomes = list(outcomes)
        self.times: list[float] = []

    async def __call__(self) -> tuple[bool, str]:
        self.times.append(self.clock.now())
        ok = self.outcomes.pop(0) if self.outcomes else True
        return ok, "" if ok else "boom"


async def test_worker_readiness_timing() -> None:
    clock = FakeClock(start=0.0)
    script = Script(clock, [False, True, True, False, False])
    published: list[tuple[float, bool]] = []
    failures: list[str] = []
    task = asyncio.create_task(
        probe_worker(
            clock,
            spec(failure=2, delay=5, period=2),
            "readiness",
            0.0,
            script,
            lambda r: published.append((clock.now(), r)),
            failures.append,
        )
    )
    await clock.advance(4.9)
    assert script.times == []  # initialDelaySeconds
    await clock.advance(10)
    assert script.times == [5.0, 7.0, 9.0, 11.0, 13.0]
    assert published == [(7.0, True), (13.0, False)]
    assert failures == ["boom", "boom", "boom"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_worker_liveness_returns_false_at_threshold() -> None:
    clock = FakeClock(start=100.0)
    script = Script(clock, [True, False, False, False])
    published: list[bool] = []
    task = asyncio.create_task(
        probe_worker(clock, spec(failure=3, period=1), "liveness", 100.0, script, published.append)
    )
    await clock.advance(10)
    assert task.done() and task.result() is False
    assert script.times == [100.0, 101.0, 102.0, 103.0]
    assert published == [False]


async def test_worker_startup_returns_true_on_success() -> None:
    clock = FakeClock(start=0.0)
    script = Script(clock, [False, False, True])
    task = asyncio.create_task(
        probe_worker(clock, spec(failure=3, period=3), "startup", 0.0, script, lambda _r: None)
    )
    await clock.advance(10)
    assert task.done() and task.result() is True
    assert script.times == [0.0, 3.0, 6.0]


async def test_worker_initial_delay_counts_from_container_start() -> None:
    clock = FakeClock(start=10.0)
    script = Script(clock, [True])
    task = asyncio.create_task(
        probe_worker(clock, spec(delay=5), "readiness", 7.0, script, lambda _r: None)
    )
    await clock.advance(1.9)
    assert script.times == []
    await clock.advance(0.2)
    assert script.times == [12.0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
