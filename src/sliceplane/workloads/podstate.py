"""What every workload room knows about a pod: active, ready, available, its conditions.

Why: the ReplicaSet controller counts replicas and the Deployment controller gates a rollout
on exactly these three predicates, and upstream defines them precisely
(``controller.IsPodActive``, ``podutil.IsPodReady``, ``podutil.IsPodAvailable``). Keeping
them in one pure module means every controller (and its tests) agrees on what "available"
means, including the ``minReadySeconds`` arithmetic on the Ready condition's
``lastTransitionTime``. The scheduler and the kubelet side both write pod conditions, with
:func:`set_condition` (``podutil.UpdatePodCondition``).

This is the one module the rooms of :mod:`sliceplane.workloads` (``apps``, ``scheduler``,
``kubelet``) share; they never import one another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sliceplane.api.meta import Obj, format_time, meta_of, parse_time
from sliceplane.api.podstatus import READY, condition, is_ready
from sliceplane.api.podstatus import pod_ips as pod_ips  # re-exported for the rooms


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str(_status(pod).get("phase") or "")


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """``controller.IsPodActive``: not Succeeded, not Failed, not being deleted."""
    return pod_phase(pod) not in ("Succeeded", "Failed") and not meta_of(pod).get(
        "deletionTimestamp"
    )


is_pod_ready = is_ready
"""``podutil.IsPodReady``: the Ready condition is ``True`` (``api.podstatus.is_ready``)."""


def ready_since(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod last became Ready (``None`` if not ready or unknown)."""
    cond = condition(pod, READY)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """``podutil.IsPodAvailable``: ready, and (with ``minReadySeconds``) ready for longer
    than that; a ready pod with an unknown transition time is not yet available."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def creation_time(obj: Mapping[str, Any]) -> datetime | None:
    return parse_time(meta_of(obj).get("creationTimestamp"))


# ---------------------------------------------------------------------------- conditions

POD_SCHEDULED: Final = "PodScheduled"


def set_condition(conditions: Sequence[Obj], new: Obj, now: datetime) -> list[Obj]:
    """``podutil.UpdatePodCondition``: replace the condition of ``new``'s type (appending it
    if absent); ``lastTransitionTime`` is ``now`` if the status changed, else kept."""
    out: list[Obj] = []
    found = False
    for c in conditions:
        if c.get("type") != new["type"]:
            out.append(c)
            continue
        found = True
        merged = dict(new)
        if c.get("status") == new.get("status") and c.get("lastTransitionTime"):
            merged["lastTransitionTime"] = c["lastTransitionTime"]
        else:
            merged["lastTransitionTime"] = format_time(now)
        out.append(merged)
    if not found:
        out.append({**new, "lastTransitionTime": format_time(now)})
    return out
