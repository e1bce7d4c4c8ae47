"""The RollingUpdate strategy (upstream ``rolling.go``): scale the new ReplicaSet up to at
most ``replicas + maxSurge`` pods in total, and old ones down only while
``replicas - maxUnavailable`` stay available (unhealthy old replicas go first).
"""

from __future__ import annotations

from datetime import datetime

from sliceplane.api.meta import Obj
from sliceplane.workloads.apps.deployment.progress import deployment_complete, rollout_status
from sliceplane.workloads.apps.deployment.sync import DeploymentSync
from sliceplane.workloads.apps.deployment.util import (
    available_replica_count,
    by_creation,
    max_unavailable,
    new_rs_new_replicas,
    replica_count,
    replicas,
    rs_replicas,
    rs_status_count,
    status_of,
)


def rollout_rolling(s: DeploymentSync, now: datetime) -> Obj | None:
    new_rs, old = s.all_rses_and_sync_revision(True, now)
    assert new_rs is not None
    all_rses = [*old, new_rs]
    if reconcile_new(s, all_rses, new_rs):
        return rollout_status(s, all_rses, new_rs, now)
    active_old = [rs for rs in old if rs_replicas(rs) > 0]
    if reconcile_old(s, all_rses, active_old, new_rs):
        return rollout_status(s, all_rses, new_rs, now)
    if deployment_complete(s.d, status_of(s.d)):
        s.cleanup(old)
    return rollout_status(s, all_rses, new_rs, now)


def reconcile_new(s: DeploymentSync, all_rses: list[Obj], new_rs: Obj) -> bool:
    want = replicas(s.d)
    if rs_replicas(new_rs) == want:
        return False
    if rs_replicas(new_rs) > want:
        return s.scale_rs(new_rs, want)
    return s.scale_rs(new_rs, new_rs_new_replicas(s.d, all_rses, new_rs))


def reconcile_old(s: DeploymentSync, all_rses: list[Obj], old: list[Obj], new_rs: Obj) -> bool:
    if replica_count(old) == 0:
        return False
    d = s.d
    min_available = replicas(d) - max_unavailable(d)
    new_unavailable = rs_replicas(new_rs) - rs_status_count(new_rs, "availableReplicas")
    max_scaled_down = replica_count(all_rses) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    cleaned = cleanup_unhealthy(s, old, max_scaled_down)
    scaled = scale_down_old_for_rolling(s, [*old, new_rs], old)
    return cleaned + scaled > 0


def cleanup_unhealthy(s: DeploymentSync, old: list[Obj], max_cleanup: int) -> int:
    """Scale down old ReplicaSets' unavailable replicas first (oldest first)."""
    total = 0
    for rs in by_creation(old):
        if total >= max_cleanup:
            break
        have = rs_replicas(rs)
        avail = rs_status_count(rs, "availableReplicas")
        if have == 0 or have == avail:
            continue
        count = min(max_cleanup - total, have - avail)
        s.scale_rs(rs, have - count)
        total += count
    return total


def scale_down_old_for_rolling(s: DeploymentSync, all_rses: list[Obj], old: list[Obj]) -> int:
    d = s.d
    min_available = replicas(d) - max_unavailable(d)
    available = available_replica_count(all_rses)
    if available <= min_available:
        return 0
    total = 0
    budget = available - min_available
    for rs in by_creation(old):
        if total >= budget:
            break
        if rs_replicas(rs) == 0:
            continue
        count = min(rs_replicas(rs), budget - total)
        s.scale_rs(rs, rs_replicas(rs) - count)
        total += count
    return total
