"""The statuses a kubelet (and the node lifecycle controller) would write, as pure functions.

Why: simulated nodes must produce pod and node statuses that the rest of the system and
``kubectl`` read exactly as they read a real kubelet's — phase, IPs, container statuses and
the five pod conditions with upstream's reasons, messages and transition-time rules — and
those rules are easiest to get right (and to test in tables) with no I/O and no clock:
every function takes ``now`` and returns new dicts, never mutating its inputs.

Upstream references: kubelet ``generateAPIPodStatus`` / ``status.GeneratePodReadyCondition``
(condition set and messages), ``podutil.UpdatePodCondition`` (``lastTransitionTime`` moves
only when ``status`` changes), ``setNodeReadyCondition`` & friends (node conditions), and
the node lifecycle controller's ``tryUpdateNodeHealth`` / ``MarkPodsNotReady``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sliceplane.api.meta import Obj, annotations_of, format_time, meta_of
from sliceplane.workloads.podstate import POD_SCHEDULED, set_condition

READY_ANNOTATION: Final = "sliceplane.io/ready"
"""Readiness override for experiments: ``"false"`` keeps/makes a pod NotReady, ``"true"``
makes it Ready at once (other values are ignored)."""

POD_READY_TO_START: Final = "PodReadyToStartContainers"
INITIALIZED: Final = "Initialized"
CONTAINERS_READY: Final = "ContainersReady"
READY: Final = "Ready"
KUBELET_CONDITIONS: Final = (
    POD_READY_TO_START,
    INITIALIZED,
    READY,
    CONTAINERS_READY,
    POD_SCHEDULED,
)
"""The pod conditions a kubelet owns, in the order it writes them."""

NODE_STATUS_UNKNOWN_REASON: Final = "NodeStatusUnknown"
NODE_STATUS_UNKNOWN_MESSAGE: Final = "Kubelet stopped posting node status."
NODE_NEVER_POSTED_MESSAGE: Final = "Kubelet never posted node status."

NODE_HEALTHY_CONDITIONS: Final = (
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)
"""(type, status, reason, message) of a healthy kubelet's node conditions, in its order."""


# ---------------------------------------------------------------------------- readiness


def readiness_override(pod: Mapping[str, Any]) -> bool | None:
    """The ``sliceplane.io/ready`` annotation as a bool, or None when absent/unrecognised."""
    value = annotations_of(pod).get(READY_ANNOTATION)
    if not isinstance(value, str):
        return None
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def ready_delay(pod: Mapping[str, Any], default: float) -> float:
    """Seconds from container start until the pod's containers are ready.

    ``default`` stands for container start-up time; a readiness probe cannot pass before
    its ``initialDelaySeconds``, so the larger of the two wins for a container with one.
    The pod is ready when its slowest container is.
    """
    delay = default
    for c in (pod.get("spec") or {}).get("containers") or []:
        probe = c.get("readinessProbe") if isinstance(c, dict) else None
        if isinstance(probe, dict):
            initial = probe.get("initialDelaySeconds")
            if isinstance(initial, int | float) and not isinstance(initial, bool):
                delay = max(delay, float(initial))
    return max(0.0, delay)


# ---------------------------------------------------------------------------- conditions


def _condition(type_: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


def _readiness_gates_problem(pod: Mapping[str, Any]) -> str | None:
    """Upstream's message for the first readiness gate that is not True, else None."""
    conds = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or []}
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        t = gate.get("conditionType") if isinstance(gate, dict) else None
        if not t:
            continue
        c = conds.get(t)
        if c is None:
            return f'corresponding condition of pod readiness gate "{t}" does not exist.'
        if c.get("status") != "True":
            return f'the status of pod readiness gate "{t}" is not "True", but {c.get("status")}'
    return None


def _container_id(uid: str, name: str) -> str:
    digest = hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()
    return f"sliceplane://{digest}"


def node_internal_ips(node: Mapping[str, Any]) -> list[str]:
    """The node's InternalIP addresses in the order listed (primary first)."""
    return [
        str(a.get("address"))
        for a in (node.get("status") or {}).get("addresses") or []
        if a.get("type") == "InternalIP" and a.get("address")
    ]


def running_status(
    pod: Mapping[str, Any],
    node: Mapping[str, Any],
    ip: str | Sequence[str],
    now: datetime,
    ready: bool,
) -> Obj:
    """The status a kubelet reports for ``pod`` running on ``node`` with address(es) ``ip``.

    ``ready`` says whether the containers passed readiness; the pod's ``Ready`` condition
    additionally needs every readiness gate to be True. ``startTime``, container start
    times and unchanged conditions' ``lastTransitionTime`` are carried over from the pod's
    current status, so calling this again with a later ``now`` changes nothing unless
    readiness changed. Conditions the kubelet does not own are kept, after its own.
    ``hostNetwork`` pods get the node's addresses, as upstream.
    """
    meta = meta_of(pod)
    spec = pod.get("spec") or {}
    current: Mapping[str, Any] = pod.get("status") or {}
    # A shallow copy is enough: every key set below gets a fresh value, and the rest is
    # passed through unchanged (as unchanged conditions already were). A deep copy of the
    # whole status was three quarters of this function's time, once per pod sync.
    status: Obj = dict(current)
    host_ips = node_internal_ips(node)
    pod_ips = [ip] if isinstance(ip, str) else list(ip)
    if spec.get("hostNetwork"):
        pod_ips = list(host_ips)
    start = current.get("startTime") or format_time(now)
    uid = str(meta.get("uid") or "")

    old_statuses = {
        s.get("name"): s for s in current.get("containerStatuses") or [] if isinstance(s, dict)
    }
    container_statuses: list[Obj] = []
    names: list[str] = []
    for c in spec.get("containers") or []:
        name = str(c.get("name") or "")
        names.append(name)
        old = old_statuses.get(name) or {}
        started_at = ((old.get("state") or {}).get("running") or {}).get("startedAt") or start
        container_statuses.append(
            {
                "name": name,
                "image": c.get("image") or "",
                "imageID": c.get("image") or "",
                "containerID": _container_id(uid, name),
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started_at}},
                "lastState": {},
            }
        )
    init_statuses: list[Obj] = []
    for c in spec.get("initContainers") or []:
        name = str(c.get("name") or "")
        init_statuses.append(
            {
                "name": name,
                "image": c.get("image") or "",
                "imageID": c.get("image") or "",
                "containerID": _container_id(uid, name),
                "ready": True,
                "started": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": start,
                        "finishedAt": start,
                        "containerID": _container_id(uid, name),
                    }
                },
                "lastState": {},
            }
        )

    unready = f"containers with unready status: [{' '.join(names)}]"
    gates_problem = _readiness_gates_problem(pod)
    if not ready:
        ready_cond = _condition(READY, False, "ContainersNotReady", unready)
    elif gates_problem is not None:
        ready_cond = _condition(READY, False, "ReadinessGatesNotReady", gates_problem)
    else:
        ready_cond = _condition(READY, True)
    wanted = [
        _condition(POD_READY_TO_START, True),
        _condition(INITIALIZED, True),
        ready_cond,
        _condition(CONTAINERS_READY, ready, "ContainersNotReady", unready),
        _condition(POD_SCHEDULED, True),
    ]
    old_conditions: list[Obj] = [c for c in current.get("conditions") or [] if isinstance(c, dict)]
    merged = old_conditions
    for cond in wanted:
        merged = set_condition(merged, cond, now)
    by_type = {c["type"]: c for c in merged}
    conditions = [by_type[t] for t in KUBELET_CONDITIONS] + [
        c for c in merged if c.get("type") not in KUBELET_CONDITIONS
    ]

    status.update(
        {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": host_ips[0] if host_ips else "",
            "hostIPs": [{"ip": h} for h in host_ips],
            "podIP": pod_ips[0] if pod_ips else "",
            "podIPs": [{"ip": p} for p in pod_ips],
            "startTime": start,
            "containerStatuses": container_statuses,
        }
    )
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return status


def same_ignoring_nulls(a: Any, b: Any) -> bool:
    """Whether two decoded JSON values are equal once null-valued object keys are dropped,
    recursively: to the API server "absent" and "null" are the same (a patch's nulls delete,
    so a stored status lacks the ``lastProbeTime: null`` a kubelet computes). Runs on every
    simulated pod sync, so equal subtrees are settled by one ``==`` and only the branches
    that differ are walked, instead of building normalised copies of both sides."""
    if a == b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k, v in a.items() if v is not None]
        if len(keys) != sum(1 for v in b.values() if v is not None):
            return False
        return all(same_ignoring_nulls(a[k], b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return all(same_ignoring_nulls(x, y) for x, y in zip(a, b, strict=True))
    return False


def mark_pod_not_ready(pod: Mapping[str, Any], now: datetime) -> Obj | None:
    """``MarkPodsNotReady`` for one pod: its Ready condition turned False, or None when
    there is nothing to write (no Ready condition, or already not True).

    As upstream, only ``status`` changes: the condition keeps its reason and message (the
    kubelet's ``True`` condition has none) and gets ``lastTransitionTime = now``.
    """
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") != READY:
            continue
        if c.get("status") == "False":
            return None
        return {**c, "status": "False", "lastTransitionTime": format_time(now)}
    return None


# ---------------------------------------------------------------------------- nodes


def node_ready_conditions(previous: Sequence[Obj], now: datetime) -> list[Obj]:
    """A healthy kubelet's node conditions with ``lastHeartbeatTime = now``;
    ``lastTransitionTime`` is kept for conditions whose status did not change."""
    old = {c.get("type"): c for c in previous}
    out: list[Obj] = []
    for type_, status, reason, message in NODE_HEALTHY_CONDITIONS:
        prev = old.get(type_) or {}
        same = prev.get("status") == status and prev.get("lastTransitionTime")
        out.append(
            {
                "type": type_,
                "status": status,
                "lastHeartbeatTime": format_time(now),
                "lastTransitionTime": prev["lastTransitionTime"] if same else format_time(now),
                "reason": reason,
                "message": message,
            }
        )
    return out


def node_unknown_conditions(previous: Sequence[Obj], now: datetime) -> list[Obj]:
    """What the node lifecycle controller writes when a kubelet stops posting status:
    every condition ``Unknown`` with reason ``NodeStatusUnknown``; the heartbeat time
    is kept, the transition time moves to ``now`` for conditions that changed."""
    old = {c.get("type"): c for c in previous}
    types = [t for t, *_ in NODE_HEALTHY_CONDITIONS]
    types += [str(c.get("type")) for c in previous if c.get("type") not in types]
    out: list[Obj] = []
    for type_ in types:
        prev = old.get(type_)
        if prev is None:
            out.append(
                {
                    "type": type_,
                    "status": "Unknown",
                    "lastHeartbeatTime": format_time(now),
                    "lastTransitionTime": format_time(now),
                    "reason": NODE_STATUS_UNKNOWN_REASON,
                    "message": NODE_NEVER_POSTED_MESSAGE,
                }
            )
            continue
        cond = dict(prev)
        if prev.get("status") != "Unknown":
            cond["lastTransitionTime"] = format_time(now)
        cond.update(
            {
                "status": "Unknown",
                "reason": NODE_STATUS_UNKNOWN_REASON,
                "message": NODE_STATUS_UNKNOWN_MESSAGE,
            }
        )
        out.append(cond)
    return out
