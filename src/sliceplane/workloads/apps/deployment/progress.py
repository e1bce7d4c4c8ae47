"""Deployment status and the Progressing condition (upstream ``progress.go`` and the
condition helpers of ``deployment/util``): status counters from the ReplicaSets, the
Available and Progressing conditions with upstream's reasons and messages, and when to
look again for ``ProgressDeadlineExceeded``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sliceplane.api.meta import Obj, format_time, meta_of, parse_time
from sliceplane.api.podstatus import status_condition, without_condition
from sliceplane.workloads.apps.deployment.util import (
    MAX_INT32,
    MIN_AVAILABLE,
    MIN_UNAVAILABLE,
    NEW_RS_AVAILABLE,
    REPLICASET_UPDATED,
    TIMED_OUT,
    actual_replica_count,
    as_int,
    available_replica_count,
    max_unavailable,
    norm_status,
    omit_zero,
    ready_replica_count,
    replica_count,
    replicas,
    spec_of,
    status_of,
)

if TYPE_CHECKING:
    from sliceplane.workloads.apps.deployment.sync import DeploymentSync


def has_progress_deadline(d: Mapping[str, Any]) -> bool:
    value = spec_of(d).get("progressDeadlineSeconds")
    return isinstance(value, int) and value != MAX_INT32


def get_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """``GetDeploymentCondition`` (the first condition of its type)."""
    return status_condition(status, type_)


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    ts = format_time(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": ts,
        "lastTransitionTime": ts,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, cond: Obj) -> None:
    """``SetDeploymentCondition``: no-op for the same status and reason; keeps the
    transition time when only the reason changes; the condition moves to the end."""
    current = get_condition(status, cond["type"])
    if current is not None and current["status"] == cond["status"]:
        if current.get("reason") == cond["reason"]:
            return
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [*without_condition(status.get("conditions"), cond["type"]), cond]


def remove_condition(status: Obj, type_: str) -> None:
    conds = without_condition(status.get("conditions"), type_)
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def calculate_status(
    all_rses: Sequence[Mapping[str, Any] | None],
    new_rs: Mapping[str, Any] | None,
    d: Mapping[str, Any],
    now: datetime,
) -> Obj:
    """``calculateStatus``: counters from the ReplicaSets' statuses plus the Available
    condition; other conditions are carried over from ``d``."""
    available = available_replica_count(all_rses)
    unavailable = max(0, replica_count(all_rses) - available)
    status: Obj = {
        "observedGeneration": as_int(meta_of(d).get("generation")),
        "replicas": actual_replica_count(all_rses),
        "updatedReplicas": actual_replica_count([new_rs]),
        "readyReplicas": ready_replica_count(all_rses),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    old = status_of(d)
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    conds = [dict(c) for c in old.get("conditions") or [] if isinstance(c, Mapping)]
    if conds:
        status["conditions"] = conds
    if available >= replicas(d) - max_unavailable(d):
        cond = new_condition(
            "Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            "Available",
            "False",
            MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
        )
    set_condition(status, cond)
    return omit_zero(status)


def deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = replicas(d)
    return (
        as_int(status.get("updatedReplicas")) == want
        and as_int(status.get("replicas")) == want
        and as_int(status.get("availableReplicas")) == want
        and as_int(status.get("observedGeneration")) >= as_int(meta_of(d).get("generation"))
    )


def deployment_progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = status_of(d)
    old_old = as_int(old.get("replicas")) - as_int(old.get("updatedReplicas"))
    new_old = as_int(new.get("replicas")) - as_int(new.get("updatedReplicas"))
    return (
        as_int(new.get("updatedReplicas")) > as_int(old.get("updatedReplicas"))
        or new_old < old_old
        or as_int(new.get("readyReplicas")) > as_int(old.get("readyReplicas"))
        or as_int(new.get("availableReplicas")) > as_int(old.get("availableReplicas"))
    )


def deployment_timed_out(d: Mapping[str, Any], status: Mapping[str, Any], now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, "Progressing")
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    deadline = since + timedelta(seconds=as_int(spec_of(d).get("progressDeadlineSeconds")))
    return deadline < now


def rollout_status(
    s: DeploymentSync, all_rses: Sequence[Obj | None], new_rs: Obj | None, now: datetime
) -> Obj:
    """``syncRolloutStatus``: the new status with the Progressing condition moved on;
    also decides when to look again for a progress deadline."""
    d = s.d
    status = calculate_status(all_rses, new_rs, d, now)
    if not has_progress_deadline(d):
        remove_condition(status, "Progressing")
    current = get_condition(d["status"], "Progressing")
    complete_already = (
        as_int(status.get("replicas")) == as_int(status.get("updatedReplicas"))
        and current is not None
        and current.get("reason") == NEW_RS_AVAILABLE
    )
    rs_name = meta_of(new_rs).get("name") if new_rs is not None else None
    if has_progress_deadline(d) and not complete_already:
        if deployment_complete(d, status):
            msg = (
                f'ReplicaSet "{rs_name}" has successfully progressed.'
                if rs_name
                else f'Deployment "{s.name}" has successfully progressed.'
            )
            set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE, msg, now))
        elif deployment_progressing(d, status):
            msg = (
                f'ReplicaSet "{rs_name}" is progressing.'
                if rs_name
                else f'Deployment "{s.name}" is progressing.'
            )
            cond = new_condition("Progressing", "True", REPLICASET_UPDATED, msg, now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, "Progressing")
            set_condition(status, cond)
        elif deployment_timed_out(d, status, now):
            msg = (
                f'ReplicaSet "{rs_name}" has timed out progressing.'
                if rs_name
                else f'Deployment "{s.name}" has timed out progressing.'
            )
            set_condition(status, new_condition("Progressing", "False", TIMED_OUT, msg, now))
    failure = next(
        (
            c
            for rs in all_rses
            if rs is not None
            for c in status_of(rs).get("conditions") or []
            if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
        ),
        None,
    )
    if failure is not None:
        set_condition(
            status,
            {
                "type": "ReplicaFailure",
                "status": failure.get("status"),
                "lastUpdateTime": failure.get("lastTransitionTime"),
                "lastTransitionTime": failure.get("lastTransitionTime"),
                "reason": failure.get("reason"),
                "message": failure.get("message"),
            },
        )
    else:
        remove_condition(status, "ReplicaFailure")
    if norm_status(status) == norm_status(status_of(s.orig)):
        s.plan.requeue_after = stuck_requeue(s, status, now)
    return status


def stuck_requeue(s: DeploymentSync, status: Obj, now: datetime) -> float | None:
    """``requeueStuckDeployment``: when to check for ``ProgressDeadlineExceeded``."""
    d = s.d
    current = get_condition(d["status"], "Progressing")
    if not has_progress_deadline(d) or current is None:
        return None
    if deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
        return None
    since = parse_time(current.get("lastUpdateTime"))
    if since is None:
        return None
    deadline = since + timedelta(seconds=as_int(spec_of(d).get("progressDeadlineSeconds")))
    after = (deadline - now).total_seconds()
    return 0.0 if after < 1 else after + 1
