"""Probe settings and the kubelet's probe-result state machine, as pure code.

Why: the process runtime runs readiness, liveness and startup probes for real, and the
rules that turn a stream of individual probe outcomes into "ready" / "must restart" are
upstream's, not ours — thresholds, the initial value per probe type, the initial delay,
and the hold after a liveness failure. Kept free of I/O and clocks so tables of cases can
pin them down; the runtime only feeds in outcomes and reads the state.

Upstream reference: ``pkg/kubelet/prober/worker.go`` (``doProbe``):

* readiness starts as *failure* (a container with a readiness probe is not ready until a
  probe passes); liveness and startup start as *success*;
* no probe runs before ``initialDelaySeconds`` have passed since the container started;
* an outcome equal to the previous one extends the run, a different one starts a new run
  of length 1; the published result changes only once a run reaches ``successThreshold``
  (for success) or ``failureThreshold`` (for failure);
* once liveness or startup publishes failure, the worker holds (stops probing) until the
  container restarts, and the run resets.

Crash-loop back-off (``pkg/kubelet/kuberuntime``, ``flowcontrol.Backoff``): the first
restart after a crash is immediate, later ones wait 10 s, 20 s, 40 s … capped at 300 s; a
container that ran for longer than the reset window starts over.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sliceplane.machinery.clock import Clock

ProbeType = Literal["readiness", "liveness", "startup"]

DEFAULT_PERIOD: Final = 10
DEFAULT_TIMEOUT: Final = 1
DEFAULT_SUCCESS_THRESHOLD: Final = 1
DEFAULT_FAILURE_THRESHOLD: Final = 3

BACKOFF_INITIAL: Final = 10.0
"""Seconds before the second restart (kubelet's ``initialBackOff`` for containers)."""
BACKOFF_MAX: Final = 300.0
"""Cap on the restart back-off (kubelet's ``MaxContainerBackOff``)."""
BACKOFF_RESET: Final = 600.0
"""A container that ran this long without crashing starts its back-off over (upstream
forgets a back-off entry after twice the maximum)."""

HANDLERS: Final = ("httpGet", "tcpSocket", "exec", "grpc")


def _int(value: Any, default: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(minimum, int(value))


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One probe of a container, with upstream's defaults applied."""

    handler: str
    """``httpGet``, ``tcpSocket``, ``exec`` or ``grpc``."""
    action: Mapping[str, Any]
    """The handler's settings as written in the pod spec."""
    initial_delay: float = 0.0
    period: float = float(DEFAULT_PERIOD)
    timeout: float = float(DEFAULT_TIMEOUT)
    success_threshold: int = DEFAULT_SUCCESS_THRESHOLD
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD

    @classmethod
    def parse(cls, probe: Any, kind: ProbeType) -> ProbeSpec | None:
        """The probe of a container field (``readinessProbe`` …), or None when absent or
        without a handler. Liveness and startup probes need ``successThreshold`` 1, as
        upstream validation demands; a bigger value is clamped rather than rejected."""
        if not isinstance(probe, Mapping):
            return None
        handler = next((h for h in HANDLERS if isinstance(probe.get(h), Mapping)), None)
        if handler is None:
            return None
        success = _int(probe.get("successThreshold"), DEFAULT_SUCCESS_THRESHOLD, 1)
        if kind != "readiness":
            success = 1
        return cls(
            handler=handler,
            action=dict(probe[handler]),
            initial_delay=float(_int(probe.get("initialDelaySeconds"), 0, 0)),
            period=float(_int(probe.get("periodSeconds"), DEFAULT_PERIOD, 1)),
            timeout=float(_int(probe.get("timeoutSeconds"), DEFAULT_TIMEOUT, 1)),
            success_threshold=success,
            failure_threshold=_int(probe.get("failureThreshold"), DEFAULT_FAILURE_THRESHOLD, 1),
        )


def initial_result(kind: ProbeType) -> bool:
    """The published result before any probe ran: readiness fails, liveness passes.
    Upstream's startup worker starts at Unknown; only a run of failures changes it, so
    "pass" models it here (whether the container counts as started is the caller's)."""
    return kind != "readiness"


@dataclass(slots=True)
class ProbeState:
    """The result a probe worker publishes for one container run (``worker.go``).

    ``observe`` feeds one outcome and returns the published result; ``on_hold`` is set
    once a liveness or startup probe published failure (the container must restart and
    the caller makes a fresh state for the new run).
    """

    spec: ProbeSpec
    kind: ProbeType
    result: bool = True
    last: bool | None = None
    run: int = 0
    on_hold: bool = False

    @classmethod
    def new(cls, spec: ProbeSpec, kind: ProbeType) -> ProbeState:
        return cls(spec, kind, result=initial_result(kind))

    def due(self, running_for: float) -> bool:
        """Whether a probe may run ``running_for`` seconds after the container started."""
        return not self.on_hold and running_for >= self.spec.initial_delay

    def observe(self, ok: bool) -> bool:
        if self.on_hold:
            return self.result
        if self.last == ok:
            self.run += 1
        else:
            self.last = ok
            self.run = 1
        threshold = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self.run < threshold:
            return self.result
        self.result = ok
        if not ok and self.kind != "readiness":
            self.on_hold = True
            self.run = 0
        return self.result


def replay(spec: ProbeSpec, kind: ProbeType, outcomes: list[bool]) -> list[bool]:
    """The published result after each outcome in turn (for tables and debugging)."""
    state = ProbeState.new(spec, kind)
    return [state.observe(ok) for ok in outcomes]


async def probe_worker(
    clock: Clock,
    spec: ProbeSpec,
    kind: ProbeType,
    started: float,
    probe: Callable[[], Awaitable[tuple[bool, str]]],
    publish: Callable[[bool], None],
    failed: Callable[[str], None] | None = None,
) -> bool:
    """One probe worker for one container run, on ``clock`` (``started``: when the
    container started, on the same clock).

    Waits out ``initialDelaySeconds``, then probes every ``periodSeconds``; ``publish``
    is called whenever the published result changes, ``failed`` with the detail of every
    failed probe. Readiness never returns (cancel it); startup returns True once it
    passes; liveness and startup return False when they publish failure (the caller
    kills the container). ``probe`` enforces ``timeoutSeconds`` itself.
    """
    state = ProbeState.new(spec, kind)
    await clock.sleep(spec.initial_delay - (clock.now() - started))
    while True:
        ok, detail = await probe()
        before = state.result
        result = state.observe(ok)
        if not ok and failed is not None:
            failed(detail)
        if result != before:
            publish(result)
        if kind == "startup" and ok and result:
            return True
        if state.on_hold:
            return False
        await clock.sleep(spec.period)


# ---------------------------------------------------------------------------- back-off


def restart_delay(
    crashes: int,
    initial: float = BACKOFF_INITIAL,
    cap: float = BACKOFF_MAX,
) -> float:
    """Seconds to wait before restarting after the ``crashes``-th crash in a row (1-based):
    0 for the first, then ``initial``, doubling, at most ``cap``."""
    if crashes <= 1:
        return 0.0
    return float(min(cap, initial * 2 ** (crashes - 2)))


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """``Always`` restarts every exit, ``OnFailure`` only non-zero ones, ``Never`` none."""
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True
