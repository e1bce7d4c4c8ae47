"""The Recreate strategy (upstream ``recreate.go``): scale every old ReplicaSet to zero,
wait until no old pod is left, then create or scale up the new one.
"""

from __future__ import annotations

from datetime import datetime

from sliceplane.api.meta import Obj, meta_of
from sliceplane.workloads.apps.deployment.progress import deployment_complete, rollout_status
from sliceplane.workloads.apps.deployment.sync import DeploymentSync
from sliceplane.workloads.apps.deployment.util import (
    actual_replica_count,
    replicas,
    rs_replicas,
    status_of,
)
from sliceplane.workloads.apps.ownership import controller_of


def rollout_recreate(s: DeploymentSync, now: datetime) -> Obj | None:
    new_rs, old = s.all_rses_and_sync_revision(False, now)
    all_rses: list[Obj | None] = [*old, new_rs]
    scaled_down = False
    for rs in old:
        if rs_replicas(rs) > 0 and s.scale_rs(rs, 0):
            scaled_down = True
    if scaled_down:
        return rollout_status(s, all_rses, new_rs, now)
    if old_pods_running(s, new_rs, old):
        return rollout_status(s, all_rses, new_rs, now)
    if new_rs is None:
        new_rs, old = s.all_rses_and_sync_revision(True, now)
        all_rses = [*old, new_rs]
    assert new_rs is not None
    if rs_replicas(new_rs) != replicas(s.d):
        s.scale_rs(new_rs, replicas(s.d))
    if deployment_complete(s.d, status_of(s.d)):
        s.cleanup(old)
    return rollout_status(s, all_rses, new_rs, now)


def old_pods_running(s: DeploymentSync, new_rs: Obj | None, old: list[Obj]) -> bool:
    if actual_replica_count(old) > 0:
        return True
    new_uid = meta_of(new_rs).get("uid") if new_rs is not None else None
    rs_uids = {meta_of(rs).get("uid") for rs in s.rses if meta_of(rs).get("uid")}
    for pod in s.pods:
        ref = controller_of(pod)
        if ref is None or ref.get("uid") not in rs_uids or ref.get("uid") == new_uid:
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Failed", "Succeeded"):
            return True
    return False
