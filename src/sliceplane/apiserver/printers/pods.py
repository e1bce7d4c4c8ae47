"""Pod rows: STATUS, READY and RESTARTS as ``printPod`` derives them from container
statuses, and the row conditions upstream attaches for finished pods.

The largest printer, and the one kubectl users read most, so it has a module of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sliceplane.api.meta import parse_time
from sliceplane.api.podstatus import find_condition
from sliceplane.apiserver.printers.cells import _age, _dig, _int, _list, _map, _name, _str
from sliceplane.apiserver.printers.durations import _since

_NODE_LOST_REASON = "NodeLost"
_SCHEDULING_GATED = "SchedulingGated"


def _has_condition(conditions: list[Any], type_: str) -> bool:
    """Any entry of ``type_`` that is True: kubectl's ``hasPodReadyCondition`` looks past
    the first entry of a type, unlike :func:`~sliceplane.api.podstatus.find_condition`."""
    return any(_str(c, "type") == type_ and _str(c, "status") == "True" for c in conditions)


def _pod_initialized(conditions: list[Any]) -> bool:
    found = find_condition(conditions, "Initialized")
    return found is not None and found.get("status") == "True"


def _finished_at(status: Any) -> datetime | None:
    return parse_time(_dig(status, "lastState", "terminated", "finishedAt"))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a


def _terminated_reason(terminated: Any, prefix: str) -> str:
    reason = _str(terminated, "reason")
    if reason:
        return prefix + reason
    signal = _int(terminated, "signal")
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated, 'exitCode')}"


@dataclass
class _PodSummary:
    ready: int
    total: int
    reason: str
    restarts: int
    last_restart: datetime | None


def _summarize_pod(pod: Mapping[str, Any]) -> _PodSummary:
    spec = _map(pod, "spec")
    status = _map(pod, "status")
    conditions = _list(status, "conditions")
    phase = _str(status, "phase")

    reason = _str(status, "reason") or phase
    for condition in conditions:
        if (
            _str(condition, "type") == "PodScheduled"
            and _str(condition, "reason") == _SCHEDULING_GATED
        ):
            reason = _SCHEDULING_GATED

    init_specs = _list(spec, "initContainers")
    sidecar_specs = [c for c in init_specs if _str(c, "restartPolicy") == "Always"]
    sidecars = {_str(c, "name") for c in sidecar_specs}
    total = len(_list(spec, "containers")) + len(sidecar_specs)
    ready = 0
    restarts = 0
    last_restart: datetime | None = None
    sidecar_restarts = 0
    last_sidecar_restart: datetime | None = None

    initializing = False
    for index, cs in enumerate(_list(status, "initContainerStatuses")):
        is_sidecar = _str(cs, "name") in sidecars
        restarts += _int(cs, "restartCount")
        last_restart = _later(last_restart, _finished_at(cs))
        if is_sidecar:
            sidecar_restarts += _int(cs, "restartCount")
            last_sidecar_restart = _later(last_sidecar_restart, _finished_at(cs))
        terminated = _dig(cs, "state", "terminated")
        waiting_reason = _str(cs, "state", "waiting", "reason")
        if isinstance(terminated, Mapping) and _int(terminated, "exitCode") == 0:
            continue
        if is_sidecar and _dig(cs, "started") is True:
            if _dig(cs, "ready") is True:
                ready += 1
            continue
        if isinstance(terminated, Mapping):
            reason = _terminated_reason(terminated, "Init:")
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = "Init:" + waiting_reason
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _pod_initialized(conditions):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(_list(status, "containerStatuses")):
            restarts += _int(cs, "restartCount")
            last_restart = _later(last_restart, _finished_at(cs))
            terminated = _dig(cs, "state", "terminated")
            waiting_reason = _str(cs, "state", "waiting", "reason")
            if waiting_reason:
                reason = waiting_reason
            elif isinstance(terminated, Mapping):
                reason = _terminated_reason(terminated, "")
            elif _dig(cs, "ready") is True and isinstance(_dig(cs, "state", "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(conditions, "Ready") else "NotReady"

    if _dig(pod, "metadata", "deletionTimestamp"):
        if _str(status, "reason") == _NODE_LOST_REASON:
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    return _PodSummary(ready, total, reason, restarts, last_restart)


def _readiness_gates(pod: Mapping[str, Any]) -> str:
    gates = _list(pod, "spec", "readinessGates")
    if not gates:
        return "<none>"
    conditions = _list(pod, "status", "conditions")
    passed = 0
    for gate in gates:
        wanted = _str(gate, "conditionType")
        for condition in conditions:
            if _str(condition, "type") == wanted:
                if _str(condition, "status") == "True":
                    passed += 1
                break
    return f"{passed}/{len(gates)}"


def _print_pod(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    summary = _summarize_pod(obj)
    restarts = str(summary.restarts)
    if summary.restarts != 0 and summary.last_restart is not None:
        restarts = f"{summary.restarts} ({_since(summary.last_restart, now)} ago)"
    pod_ips = _list(obj, "status", "podIPs")
    pod_ip = _str(pod_ips[0], "ip") if pod_ips else _str(obj, "status", "podIP")
    return [
        _name(obj),
        f"{summary.ready}/{summary.total}",
        summary.reason,
        restarts,
        _age(obj, now),
        pod_ip or "<none>",
        _str(obj, "spec", "nodeName") or "<none>",
        _str(obj, "status", "nominatedNodeName") or "<none>",
        _readiness_gates(obj),
    ]


_POD_SUCCEEDED_CONDITION = {
    "type": "Completed",
    "status": "True",
    "reason": "Succeeded",
    "message": "The pod has completed successfully.",
}
_POD_FAILED_CONDITION = {
    "type": "Completed",
    "status": "True",
    "reason": "Failed",
    "message": "The pod failed.",
}
