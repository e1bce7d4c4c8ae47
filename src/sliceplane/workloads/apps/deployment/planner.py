"""One sync of a Deployment as a pure function (upstream ``syncDeployment``): which
strategy runs, in what order, and the :class:`~.sync.DeploymentPlan` it leaves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sliceplane.api.meta import Obj, meta_of
from sliceplane.workloads.apps.deployment.progress import calculate_status
from sliceplane.workloads.apps.deployment.recreate import rollout_recreate
from sliceplane.workloads.apps.deployment.rolling import rollout_rolling
from sliceplane.workloads.apps.deployment.sync import DeploymentPlan, DeploymentSync
from sliceplane.workloads.apps.deployment.util import (
    as_int,
    is_rolling_update,
    selects_everything,
    spec_of,
    status_of,
)


def plan_deployment(
    d: Mapping[str, Any],
    rses: Sequence[Mapping[str, Any]],
    pods: Sequence[Obj],
    now: datetime,
) -> DeploymentPlan:
    """One sync of Deployment ``d`` (upstream ``syncDeployment``), given the ReplicaSets it
    controls and the pods of those ReplicaSets (only Recreate looks at pods). Pure: the
    inputs are not modified; the plan holds new objects."""
    s = DeploymentSync(d, rses, pods)
    meta = meta_of(d)
    if selects_everything(d):
        s.event(
            "Warning",
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        )
        if as_int(status_of(d).get("observedGeneration")) < as_int(meta.get("generation")):
            st = dict(status_of(d))
            st["observedGeneration"] = as_int(meta.get("generation"))
            return s.finish(st)
        return s.plan
    if meta.get("deletionTimestamp"):
        new_rs, old = s.all_rses_and_sync_revision(False, now)
        return s.finish(calculate_status([*old, new_rs], new_rs, s.d, now))
    s.check_paused_conditions(now)
    if spec_of(d).get("paused"):
        return s.finish(s.sync_scaling(now))
    if s.is_scaling_event(now):
        return s.finish(s.sync_scaling(now))
    if is_rolling_update(d):
        return s.finish(rollout_rolling(s, now))
    return s.finish(rollout_recreate(s, now))
