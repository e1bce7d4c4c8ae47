"""What a DELETE does to the stored object: a pure plan, carried out by the registry.

kube-apiserver decides a deletion in two steps, and so does this module: first whether the
kind deletes gracefully and what the grace period becomes (``rest.BeforeDelete`` with the
kind's ``CheckGracefulDelete``), then how that combines with finalizers (the generic
store's ``Delete``/``updateForGracefulDeletionAndFinalizers``/``markAsDeleting``). The
rules that are easy to get subtly wrong, and that clients can observe:

* a negative ``gracePeriodSeconds`` means one second, not zero;
* a second DELETE of a gracefully terminating object may only shorten its grace period,
  and then moves the existing ``deletionTimestamp`` back by the difference (never before
  now: a positive period cut to before now becomes one second); without a shorter period
  it changes nothing, not even finalizers asked for by the propagation policy;
* the first DELETE that sets ``deletionTimestamp`` bumps ``metadata.generation`` of kinds
  that keep one (pods, Deployments, ReplicaSets, EndpointSlices), whether it starts a grace
  period or finalizers hold the object;
* an object already marked for deletion with no grace left (a period of 0) and no
  finalizers is removed at once by any further DELETE;
* an update that would store the same object is not written (etcd's guaranteed update
  skips equal bytes), so a repeated DELETE of a finalizer-held object is no new revision.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sliceplane.api.meta import Obj, format_time, parse_time
from sliceplane.apiserver.kinds import KindRules


class Action(Enum):
    UNCHANGED = "unchanged"
    """Answer with the object as it is (a deletion already in progress)."""
    UPDATE = "update"
    """Store ``obj`` (terminating, or held by finalizers) and answer with it."""
    DELETE = "delete"
    """Remove the object now."""
    UPDATE_THEN_DELETE = "update_then_delete"
    """Store ``obj`` (marked with no grace left), then remove it: watchers of a gracefully
    deleted kind see it terminating before it goes."""


@dataclass(frozen=True)
class DeletePlan:
    action: Action
    obj: Obj
    """The object to store for UPDATE*, else the current one."""


def _bump_generation(meta: Obj) -> None:
    generation = meta.get("generation")
    if isinstance(generation, int) and generation > 0:
        meta["generation"] = generation + 1


def plan_delete(
    obj: Obj,
    rules: KindRules,
    requested: int | None,
    finalizers: list[str],
    now: datetime,
) -> DeletePlan:
    """The plan for deleting ``obj``, which holds ``finalizers`` once the propagation
    policy's are added; ``requested`` is the client's ``gracePeriodSeconds``."""
    if requested is not None and requested < 0:
        requested = 1
    meta = obj["metadata"]
    old_stamp = meta.get("deletionTimestamp")
    old_grace = meta.get("deletionGracePeriodSeconds")

    new = copy.deepcopy(obj)
    nmeta = new["metadata"]
    graceful = False
    period = 0
    if rules.graceful_delete:
        if old_stamp is None:
            period = rules.deletion_grace(obj, requested)
            nmeta["deletionTimestamp"] = format_time(now + timedelta(seconds=period))
            nmeta["deletionGracePeriodSeconds"] = period
            _bump_generation(nmeta)
            graceful = True
        elif old_grace:
            if requested is None or requested >= old_grace:
                return DeletePlan(Action.UNCHANGED, obj)
            period = requested
            stamp = parse_time(old_stamp) or now
            stamp = stamp - timedelta(seconds=int(old_grace)) + timedelta(seconds=period)
            if stamp < now:
                stamp = now
                if period != 0:
                    period = 1
            nmeta["deletionTimestamp"] = format_time(stamp)
            nmeta["deletionGracePeriodSeconds"] = period
            graceful = True
        # else: marked with no grace left; only finalizers can keep it

    if finalizers:
        nmeta["finalizers"] = finalizers
    if not graceful:
        if not finalizers:
            return DeletePlan(Action.DELETE, obj)
        # Finalizers hold it: marked as deleting now (an earlier, sooner mark stays).
        if old_stamp is None:
            _bump_generation(nmeta)
        marked = parse_time(old_stamp)
        if marked is None or marked > now:
            nmeta["deletionTimestamp"] = format_time(now)
        nmeta["deletionGracePeriodSeconds"] = 0
        if new == obj:
            return DeletePlan(Action.UNCHANGED, obj)
        return DeletePlan(Action.UPDATE, new)
    if finalizers or period > 0:
        return DeletePlan(Action.UPDATE, new)
    return DeletePlan(Action.UPDATE_THEN_DELETE, new)
