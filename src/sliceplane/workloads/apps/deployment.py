"""The Deployment controller: roll a pod template out through ReplicaSets, and report it.

Why: a Deployment is the object users write (``kubectl apply``, ``kubectl scale``,
``kubectl rollout status``); it owns one ReplicaSet per template version and only ever
decides how many replicas each should have. This module reproduces upstream's
``pkg/controller/deployment`` behaviour so those kubectl commands print what they print
against a real cluster:

* the new ReplicaSet is ``<name>-<pod-template-hash>`` (:mod:`.podtemplatehash`), with the
  hash added to its selector and template labels, a controller reference, the
  Deployment's annotations (minus the skipped ones), ``deployment.kubernetes.io/revision``
  (max old revision + 1) and the ``desired-replicas``/``max-replicas`` annotations;
* **RollingUpdate** scales the new ReplicaSet up to at most ``replicas + maxSurge`` pods in
  total, and old ones down only while ``replicas - maxUnavailable`` stay available,
  counting the new ReplicaSet's *available* replicas (surge rounds percentages up,
  unavailability down; both zero means one unavailable is allowed);
* **Recreate** scales every old ReplicaSet to zero, waits until no old pod is left, then
  creates or scales up the new one;
* a change of ``spec.replicas`` alone is a *scaling event*: ReplicaSets are resized
  proportionally (the ``max-replicas`` annotation records what each was sized for);
* status carries observedGeneration, replicas, updatedReplicas, readyReplicas,
  availableReplicas, unavailableReplicas and the ``Available`` / ``Progressing``
  conditions with upstream's reasons and messages (including ``ProgressDeadlineExceeded``);
* old ReplicaSets beyond ``revisionHistoryLimit`` that have been scaled to zero are deleted.

:func:`plan_deployment` is pure: it walks upstream's sync flow over copies of the cached
objects and returns every write it would make (:class:`DeploymentPlan`). Where upstream
writes the same object twice in one sync, the plan holds its final state once.
:class:`DeploymentController` maps informer events to Deployment keys and applies plans.

Known differences from upstream: the hash value (see :mod:`.podtemplatehash`); rollback via
``spec.rollbackTo`` (long gone from apps/v1) and owned ReplicaSets that stop matching the
selector are not released; the embedded API server drops ``metadata`` from status writes,
so the revision annotation is also written with a merge patch of the Deployment, which
bumps ``metadata.generation`` once per new revision (observed by the following sync).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj, format_time, meta_of, parse_time
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key, resource_version
from sliceplane.machinery.labelindex import ensure_label_index
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.workloads.apps.expectations import WrittenVersions
from sliceplane.workloads.apps.ownership import (
    CONTROLLER_UID_INDEX,
    OwnerLookup,
    claim,
    controlled_by,
    controller_of,
    controller_ref,
    ensure_controller_uid_index,
)
from sliceplane.workloads.apps.podtemplatehash import compute_hash
from sliceplane.workloads.apps.replicaset import STALE_CACHE_RETRY, StaleCache
from sliceplane.workloads.podstate import creation_time

log = logging.getLogger(__name__)

Event = tuple[str, str, str]
"""(type, reason, message) recorded on the Deployment."""

EVENT_COMPONENT = "deployment-controller"

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
ANNOTATIONS_TO_SKIP = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000

# Condition reasons (deployment/util).
REPLICASET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

MAX_INT32 = 2**31 - 1


@dataclass(slots=True)
class DeploymentOptions:
    """Settings of the Deployment controller (upstream flag names in comments)."""

    concurrent_syncs: int = 5
    """--concurrent-deployment-syncs: workers reconciling Deployments in parallel."""
    adopt_orphans: bool = True
    """Adopt ReplicaSets without a controller that match a Deployment's selector."""
    max_retries: int = 15
    """Failed syncs of one key retried (rate-limited) this many times before dropping."""


# ---------------------------------------------------------------------------- arithmetic


class IntOrStringError(ValueError):
    """A maxSurge/maxUnavailable value that is neither an int nor ``"<n>%"``."""


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int as is, a percentage of ``total``
    rounded up or down (computed in floating point, as upstream does)."""
    if value is None:
        raise IntOrStringError("nil value for IntOrString")
    if isinstance(value, bool):
        raise IntOrStringError("invalid type: neither int nor percentage")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise IntOrStringError("invalid type: neither int nor percentage")
    if not value.endswith("%"):
        raise IntOrStringError("invalid type: string is not a percentage")
    try:
        pct = int(value[:-1])
    except ValueError as exc:
        raise IntOrStringError(f"invalid value {value!r}: {exc}") from exc
    scaled = float(pct) * float(total) / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(
    max_surge: int | str | None, max_unavailable: int | str | None, desired: int
) -> tuple[int, int]:
    """``ResolveFenceposts``: (surge, unavailable) for ``desired`` replicas; a missing
    value counts as 0, surge rounds up, unavailable down, and if both come out 0 one pod
    may be unavailable (surge may be impossible, e.g. under quota)."""
    surge = scaled_value(0 if max_surge is None else max_surge, desired, True)
    unavailable = scaled_value(0 if max_unavailable is None else max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def replicas(obj: Mapping[str, Any]) -> int:
    """``spec.replicas`` (defaulted to 1 by the server; 1 if absent here too)."""
    return _int(_spec(obj).get("replicas"), 1)


def is_rolling_update(d: Mapping[str, Any]) -> bool:
    strategy = _spec(d).get("strategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


def _rolling_params(d: Mapping[str, Any]) -> tuple[int | str | None, int | str | None]:
    ru = (_spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    return ru.get("maxSurge"), ru.get("maxUnavailable")


def max_surge(d: Mapping[str, Any]) -> int:
    """``MaxSurge``: 0 unless RollingUpdate."""
    if not is_rolling_update(d):
        return 0
    surge, _ = resolve_fenceposts(*_rolling_params(d), replicas(d))
    return surge


def max_unavailable(d: Mapping[str, Any]) -> int:
    """``MaxUnavailable``: 0 unless RollingUpdate with replicas, capped at replicas."""
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    _, unavailable = resolve_fenceposts(*_rolling_params(d), replicas(d))
    return min(unavailable, replicas(d))


def rs_replicas(rs: Mapping[str, Any] | None) -> int:
    return 0 if rs is None else _int(_spec(rs).get("replicas"), 0)


def _rs_status(rs: Mapping[str, Any] | None, name: str) -> int:
    return 0 if rs is None else _int(_status(rs).get(name))


def replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    """``GetReplicaCountForReplicaSets``: sum of ``spec.replicas``."""
    return sum(rs_replicas(rs) for rs in rses)


def actual_replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    return sum(_rs_status(rs, "replicas") for rs in rses)


def ready_replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    return sum(_rs_status(rs, "readyReplicas") for rs in rses)


def available_replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    return sum(_rs_status(rs, "availableReplicas") for rs in rses)


def new_rs_new_replicas(
    d: Mapping[str, Any], all_rses: Sequence[Mapping[str, Any] | None], new_rs: Mapping[str, Any]
) -> int:
    """``NewRSNewReplicas``: how big the new ReplicaSet may be now. RollingUpdate: grow by
    what fits under ``replicas + maxSurge`` total, never past ``replicas``; Recreate: all."""
    if not is_rolling_update(d):
        return replicas(d)
    surge = scaled_value(_rolling_params(d)[0] or 0, replicas(d), True)
    current = replica_count(all_rses)
    max_total = replicas(d) + surge
    if current >= max_total:
        return rs_replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - rs_replicas(new_rs))
    return rs_replicas(new_rs) + scale_up


def _creation_key(rs: Mapping[str, Any]) -> tuple[str, str]:
    ts = creation_time(rs)
    # Objects not created yet (planned) sort last, as the newest.
    return (ts.isoformat() if ts is not None else "~", str(meta_of(rs).get("name") or ""))


def by_creation(rses: Sequence[Obj]) -> list[Obj]:
    """``ReplicaSetsByCreationTimestamp``: oldest first, name breaks ties."""
    return sorted(rses, key=_creation_key)


def revision(rs: Mapping[str, Any]) -> int:
    """The revision annotation as an int (0 when absent or malformed)."""
    raw = (meta_of(rs).get("annotations") or {}).get(REVISION)
    try:
        return int(str(raw)) if raw is not None else 0
    except ValueError:
        return 0


def _semantic(obj: Any) -> Any:
    """Normalise for ``apiequality.Semantic.DeepEqual``: empty maps/lists equal absent."""
    if isinstance(obj, Mapping):
        out = {k: _semantic(v) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(obj, list):
        return [_semantic(v) for v in obj]
    return obj


def _without_hash(template: Mapping[str, Any]) -> Any:
    t = copy.deepcopy(dict(template))
    labels = meta_of(t).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return _semantic(t)


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``EqualIgnoreHash``: templates equal apart from the pod-template-hash label."""
    return bool(_without_hash(a) == _without_hash(b))


def find_new_replicaset(d: Mapping[str, Any], rses: Sequence[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash)."""
    template = _spec(d).get("template") or {}
    for rs in by_creation(rses):
        if equal_ignore_hash(_spec(rs).get("template") or {}, template):
            return rs
    return None


def has_progress_deadline(d: Mapping[str, Any]) -> bool:
    value = _spec(d).get("progressDeadlineSeconds")
    return isinstance(value, int) and value != MAX_INT32


def get_condition(status: Mapping[str, Any], type_: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


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
    rest = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = [*rest, cond]


def remove_condition(status: Obj, type_: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def _omit_zero(status: Obj) -> Obj:
    """DeploymentStatus' counters are ``omitempty`` on the wire."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


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
        "observedGeneration": _int(meta_of(d).get("generation")),
        "replicas": actual_replica_count(all_rses),
        "updatedReplicas": actual_replica_count([new_rs]),
        "readyReplicas": ready_replica_count(all_rses),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    old = _status(d)
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
    return _omit_zero(status)


def deployment_complete(d: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    want = replicas(d)
    return (
        _int(status.get("updatedReplicas")) == want
        and _int(status.get("replicas")) == want
        and _int(status.get("availableReplicas")) == want
        and _int(status.get("observedGeneration")) >= _int(meta_of(d).get("generation"))
    )


def deployment_progressing(d: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    old = _status(d)
    old_old = _int(old.get("replicas")) - _int(old.get("updatedReplicas"))
    new_old = _int(new.get("replicas")) - _int(new.get("updatedReplicas"))
    return (
        _int(new.get("updatedReplicas")) > _int(old.get("updatedReplicas"))
        or new_old < old_old
        or _int(new.get("readyReplicas")) > _int(old.get("readyReplicas"))
        or _int(new.get("availableReplicas")) > _int(old.get("availableReplicas"))
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
    deadline = since + timedelta(seconds=_int(_spec(d).get("progressDeadlineSeconds")))
    return deadline < now


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def _copy_deployment_annotations(d: Mapping[str, Any], rs: Obj) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in (meta_of(d).get("annotations") or {}).items():
        if k in ANNOTATIONS_TO_SKIP or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    return changed


def set_new_replicaset_annotations(
    d: Mapping[str, Any], rs: Obj, new_revision: int, exists: bool
) -> bool:
    """``SetNewReplicaSetAnnotations``: copy the Deployment's annotations, raise the
    revision (remembering the old one in revision-history, bounded in length) and, for a
    ReplicaSet about to be created, record desired/max replicas. Returns whether changed."""
    changed = _copy_deployment_annotations(d, rs)
    ann = rs["metadata"].setdefault("annotations", {})
    old_raw = ann.get(REVISION)
    had = old_raw is not None
    try:
        old = int(old_raw) if old_raw is not None else 0
    except ValueError:
        return changed
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if had:
            history = ann.get(REVISION_HISTORY) or ""
            parts = history.split(",") if history else []
            total = len(history) + len(str(old_raw)) + 1
            start = 0
            while total > MAX_REV_HISTORY_LENGTH_IN_CHARS and start < len(parts):
                total -= len(parts[start]) + 1
                start += 1
            if total <= MAX_REV_HISTORY_LENGTH_IN_CHARS:
                ann[REVISION_HISTORY] = ",".join([*parts[start:], str(old_raw)])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ---------------------------------------------------------------------------- the plan


@dataclass(slots=True)
class DeploymentPlan:
    """Every write one sync of a Deployment makes, in the order to make them."""

    create: Obj | None = None
    """A new ReplicaSet to create first (named ``<deployment>-<hash>``)."""
    updates: list[Obj] = field(default_factory=list)
    """ReplicaSets to PUT (final state; each carries the cached resourceVersion)."""
    deletes: list[Obj] = field(default_factory=list)
    """Old ReplicaSets to delete (revision history cleanup)."""
    status: Obj | None = None
    """The Deployment's new status, or ``None`` when it would not change."""
    revision: str | None = None
    """A new value for the Deployment's revision annotation, or ``None``."""
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    """Sync again after this many seconds (progress deadline or minReadySeconds)."""

    def writes(self) -> int:
        return (
            (self.create is not None)
            + len(self.updates)
            + len(self.deletes)
            + (self.status is not None)
            + (self.revision is not None)
        )


class _Sync:
    """Working state of one planning pass: copies of the Deployment and its ReplicaSets
    that upstream's steps mutate, plus the record of what to write."""

    def __init__(
        self, d: Mapping[str, Any], rses: Sequence[Mapping[str, Any]], pods: Sequence[Obj]
    ) -> None:
        self.orig = d
        self.d: Obj = copy.deepcopy(dict(d))
        self.d.setdefault("metadata", {})
        self.d.setdefault("status", {})
        self.rses: list[Obj] = [copy.deepcopy(dict(rs)) for rs in rses]
        self.pods = pods
        self.plan = DeploymentPlan()
        self._dirty: list[int] = []  # ids of updated ReplicaSets, in first-touch order
        self.created: Obj | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def name(self) -> str:
        return str(self.d["metadata"].get("name") or "")

    def event(self, type_: str, reason: str, message: str) -> None:
        self.plan.events.append((type_, reason, message))

    def touch(self, rs: Obj) -> None:
        if rs is self.created:
            return
        if id(rs) not in self._dirty:
            self._dirty.append(id(rs))

    def scale_rs(self, rs: Obj, new_scale: int, operation: str | None = None) -> bool:
        """``scaleReplicaSet`` (``scaleReplicaSetAndRecordEvent`` when no operation is
        given): resize and refresh the replicas annotations. Returns whether resized."""
        old_scale = rs_replicas(rs)
        if operation is None:
            if old_scale == new_scale:
                return False
            operation = "up" if old_scale < new_scale else "down"
        d = self.d
        size_changed = old_scale != new_scale
        annotations_changed = set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d))
        if size_changed or annotations_changed:
            rs.setdefault("spec", {})["replicas"] = new_scale
            self.touch(rs)
            if size_changed:
                self.event(
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled {operation} replica set {meta_of(rs).get('name')} "
                    f"from {old_scale} to {new_scale}",
                )
        return size_changed

    def finish(self, status: Obj | None) -> DeploymentPlan:
        by_id = {id(rs): rs for rs in self.rses}
        self.plan.updates = [by_id[i] for i in self._dirty if i in by_id]
        if status is not None and _norm_status(status) != _norm_status(_status(self.orig)):
            self.plan.status = status
        want_rev = (self.d["metadata"].get("annotations") or {}).get(REVISION)
        have_rev = (meta_of(self.orig).get("annotations") or {}).get(REVISION)
        if want_rev is not None and want_rev != have_rev:
            self.plan.revision = str(want_rev)
        return self.plan

    # ------------------------------------------------------------------ upstream steps

    def all_rses_and_sync_revision(
        self, create: bool, now: datetime
    ) -> tuple[Obj | None, list[Obj]]:
        """``getAllReplicaSetsAndSyncRevision``: (new RS or None, all old RSes)."""
        new_rs = find_new_replicaset(self.d, self.rses)
        old = [rs for rs in self.rses if rs is not new_rs]
        return self.new_replicaset(new_rs, old, create, now), old

    def new_replicaset(
        self, existing: Obj | None, old: list[Obj], create: bool, now: datetime
    ) -> Obj | None:
        """``getNewReplicaSet``."""
        d = self.d
        new_revision = max((revision(rs) for rs in old), default=0) + 1
        if existing is not None:
            annotations_updated = set_new_replicaset_annotations(d, existing, new_revision, True)
            mrs = _int(_spec(d).get("minReadySeconds"))
            if annotations_updated or _int(_spec(existing).get("minReadySeconds")) != mrs:
                spec = existing.setdefault("spec", {})
                if mrs:
                    spec["minReadySeconds"] = mrs
                else:
                    spec.pop("minReadySeconds", None)
                self.touch(existing)
            rev = (existing["metadata"].get("annotations") or {}).get(REVISION)
            if rev is not None:
                d["metadata"].setdefault("annotations", {})[REVISION] = rev
            if has_progress_deadline(d) and get_condition(d["status"], "Progressing") is None:
                set_condition(
                    d["status"],
                    new_condition(
                        "Progressing",
                        "True",
                        FOUND_NEW_RS,
                        f'Found new replica set "{meta_of(existing).get("name")}"',
                        now,
                    ),
                )
            return existing
        if not create:
            return None
        template = copy.deepcopy(dict(_spec(d).get("template") or {}))
        collision = _status(d).get("collisionCount")
        pod_hash = compute_hash(template, collision if isinstance(collision, int) else None)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
        selector = copy.deepcopy(dict(_spec(d).get("selector") or {}))
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        meta = meta_of(d)
        rs_spec: Obj = {"replicas": 0, "selector": selector, "template": template}
        if _int(_spec(d).get("minReadySeconds")):
            rs_spec["minReadySeconds"] = _int(_spec(d).get("minReadySeconds"))
        new_rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta.get('name')}-{pod_hash}",
                "namespace": meta.get("namespace"),
                "labels": dict(tmeta["labels"]),
                "ownerReferences": [controller_ref(d, "apps/v1", "Deployment")],
            },
            "spec": rs_spec,
        }
        count = new_rs_new_replicas(d, [*old, new_rs], new_rs)
        rs_spec["replicas"] = count
        set_new_replicaset_annotations(d, new_rs, new_revision, False)
        self.plan.create = new_rs
        self.created = new_rs
        self.rses.append(new_rs)
        if count > 0:
            self.event(
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {count}",
            )
        d["metadata"].setdefault("annotations", {})[REVISION] = str(new_revision)
        if has_progress_deadline(d):
            set_condition(
                d["status"],
                new_condition(
                    "Progressing",
                    "True",
                    NEW_RS_CREATED,
                    f'Created new replica set "{new_rs["metadata"]["name"]}"',
                    now,
                ),
            )
        return new_rs

    def scale(self, new_rs: Obj | None, old: list[Obj]) -> None:
        """``scale``: a scaling event (or a paused Deployment) resizes ReplicaSets."""
        d = self.d
        want = replicas(d)
        active_or_latest = find_active_or_latest(new_rs, old)
        if active_or_latest is not None:
            if rs_replicas(active_or_latest) != want:
                self.scale_rs(active_or_latest, want)
            return
        if is_saturated(d, new_rs):
            for rs in old:
                if rs_replicas(rs) > 0:
                    self.scale_rs(rs, 0)
            return
        if not is_rolling_update(d):
            return
        active = [rs for rs in [*old, new_rs] if rs is not None and rs_replicas(rs) > 0]
        allowed = want + max_surge(d) if want > 0 else 0
        to_add = allowed - replica_count(active)
        operation = ""
        if to_add > 0:
            # Largest first; newer first among equals.
            active.sort(key=_creation_key, reverse=True)
            active.sort(key=rs_replicas, reverse=True)
            operation = "up"
        elif to_add < 0:
            # Largest first; older first among equals.
            active.sort(key=_creation_key)
            active.sort(key=rs_replicas, reverse=True)
            operation = "down"
        sizes: list[int] = []
        added = 0
        for rs in active:
            if to_add != 0:
                proportion = get_proportion(rs, d, to_add, added)
                sizes.append(rs_replicas(rs) + proportion)
                added += proportion
            else:
                sizes.append(rs_replicas(rs))
        for i, rs in enumerate(active):
            size = sizes[i]
            if i == 0 and to_add != 0:
                size = max(0, size + to_add - added)
            self.scale_rs(rs, size, operation)

    def cleanup(self, old: list[Obj]) -> None:
        """``cleanupDeployment``: delete the oldest scaled-down ReplicaSets beyond
        ``revisionHistoryLimit``."""
        limit = _spec(self.d).get("revisionHistoryLimit")
        if not isinstance(limit, int) or limit == MAX_INT32:
            return
        alive = [rs for rs in old if not meta_of(rs).get("deletionTimestamp")]
        diff = len(alive) - limit
        if diff <= 0:
            return
        alive.sort(key=_creation_key)
        alive.sort(key=revision)
        for rs in alive[:diff]:
            st = _status(rs)
            if (
                _int(st.get("replicas")) != 0
                or rs_replicas(rs) != 0
                or _int(meta_of(rs).get("generation")) > _int(st.get("observedGeneration"))
            ):
                continue
            self.plan.deletes.append(rs)

    def rollout_rolling(self, now: datetime) -> Obj | None:
        new_rs, old = self.all_rses_and_sync_revision(True, now)
        assert new_rs is not None
        all_rses = [*old, new_rs]
        if self.reconcile_new(all_rses, new_rs):
            return self.rollout_status(all_rses, new_rs, now)
        active_old = [rs for rs in old if rs_replicas(rs) > 0]
        if self.reconcile_old(all_rses, active_old, new_rs):
            return self.rollout_status(all_rses, new_rs, now)
        if deployment_complete(self.d, _status(self.d)):
            self.cleanup(old)
        return self.rollout_status(all_rses, new_rs, now)

    def reconcile_new(self, all_rses: list[Obj], new_rs: Obj) -> bool:
        want = replicas(self.d)
        if rs_replicas(new_rs) == want:
            return False
        if rs_replicas(new_rs) > want:
            return self.scale_rs(new_rs, want)
        return self.scale_rs(new_rs, new_rs_new_replicas(self.d, all_rses, new_rs))

    def reconcile_old(self, all_rses: list[Obj], old: list[Obj], new_rs: Obj) -> bool:
        if replica_count(old) == 0:
            return False
        d = self.d
        min_available = replicas(d) - max_unavailable(d)
        new_unavailable = rs_replicas(new_rs) - _rs_status(new_rs, "availableReplicas")
        max_scaled_down = replica_count(all_rses) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self.cleanup_unhealthy(old, max_scaled_down)
        scaled = self.scale_down_old_for_rolling([*old, new_rs], old)
        return cleaned + scaled > 0

    def cleanup_unhealthy(self, old: list[Obj], max_cleanup: int) -> int:
        """Scale down old ReplicaSets' unavailable replicas first (oldest first)."""
        total = 0
        for rs in by_creation(old):
            if total >= max_cleanup:
                break
            have = rs_replicas(rs)
            avail = _rs_status(rs, "availableReplicas")
            if have == 0 or have == avail:
                continue
            count = min(max_cleanup - total, have - avail)
            self.scale_rs(rs, have - count)
            total += count
        return total

    def scale_down_old_for_rolling(self, all_rses: list[Obj], old: list[Obj]) -> int:
        d = self.d
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
            self.scale_rs(rs, rs_replicas(rs) - count)
            total += count
        return total

    def rollout_recreate(self, now: datetime) -> Obj | None:
        new_rs, old = self.all_rses_and_sync_revision(False, now)
        all_rses: list[Obj | None] = [*old, new_rs]
        scaled_down = False
        for rs in old:
            if rs_replicas(rs) > 0 and self.scale_rs(rs, 0):
                scaled_down = True
        if scaled_down:
            return self.rollout_status(all_rses, new_rs, now)
        if self.old_pods_running(new_rs, old):
            return self.rollout_status(all_rses, new_rs, now)
        if new_rs is None:
            new_rs, old = self.all_rses_and_sync_revision(True, now)
            all_rses = [*old, new_rs]
        assert new_rs is not None
        if rs_replicas(new_rs) != replicas(self.d):
            self.scale_rs(new_rs, replicas(self.d))
        if deployment_complete(self.d, _status(self.d)):
            self.cleanup(old)
        return self.rollout_status(all_rses, new_rs, now)

    def old_pods_running(self, new_rs: Obj | None, old: list[Obj]) -> bool:
        if actual_replica_count(old) > 0:
            return True
        new_uid = meta_of(new_rs).get("uid") if new_rs is not None else None
        rs_uids = {meta_of(rs).get("uid") for rs in self.rses if meta_of(rs).get("uid")}
        for pod in self.pods:
            ref = controller_of(pod)
            if ref is None or ref.get("uid") not in rs_uids or ref.get("uid") == new_uid:
                continue
            phase = (pod.get("status") or {}).get("phase")
            if phase not in ("Failed", "Succeeded"):
                return True
        return False

    def rollout_status(
        self, all_rses: Sequence[Obj | None], new_rs: Obj | None, now: datetime
    ) -> Obj:
        """``syncRolloutStatus``: the new status with the Progressing condition moved on;
        also decides when to look again for a progress deadline."""
        d = self.d
        status = calculate_status(all_rses, new_rs, d, now)
        if not has_progress_deadline(d):
            remove_condition(status, "Progressing")
        current = get_condition(d["status"], "Progressing")
        complete_already = (
            _int(status.get("replicas")) == _int(status.get("updatedReplicas"))
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        rs_name = meta_of(new_rs).get("name") if new_rs is not None else None
        if has_progress_deadline(d) and not complete_already:
            if deployment_complete(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else f'Deployment "{self.name}" has successfully progressed.'
                )
                set_condition(
                    status, new_condition("Progressing", "True", NEW_RS_AVAILABLE, msg, now)
                )
            elif deployment_progressing(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else f'Deployment "{self.name}" is progressing.'
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
                    else f'Deployment "{self.name}" has timed out progressing.'
                )
                set_condition(status, new_condition("Progressing", "False", TIMED_OUT, msg, now))
        failure = next(
            (
                c
                for rs in all_rses
                if rs is not None
                for c in _status(rs).get("conditions") or []
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
        if _norm_status(status) == _norm_status(_status(self.orig)):
            self.plan.requeue_after = self.stuck_requeue(status, now)
        return status

    def stuck_requeue(self, status: Obj, now: datetime) -> float | None:
        """``requeueStuckDeployment``: when to check for ``ProgressDeadlineExceeded``."""
        d = self.d
        current = get_condition(d["status"], "Progressing")
        if not has_progress_deadline(d) or current is None:
            return None
        if deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
            return None
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return None
        deadline = since + timedelta(seconds=_int(_spec(d).get("progressDeadlineSeconds")))
        after = (deadline - now).total_seconds()
        return 0.0 if after < 1 else after + 1

    def check_paused_conditions(self, now: datetime) -> None:
        d = self.d
        if not has_progress_deadline(d):
            return
        cond = get_condition(d["status"], "Progressing")
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == PAUSED
        paused = bool(_spec(d).get("paused"))
        if paused and not paused_cond:
            set_condition(
                d["status"],
                new_condition("Progressing", "Unknown", PAUSED, "Deployment is paused", now),
            )
        elif not paused and paused_cond:
            set_condition(
                d["status"],
                new_condition("Progressing", "Unknown", RESUMED, "Deployment is resumed", now),
            )

    def is_scaling_event(self, now: datetime) -> bool:
        new_rs, old = self.all_rses_and_sync_revision(False, now)
        for rs in [*old, new_rs]:
            if rs is None or rs_replicas(rs) <= 0:
                continue
            raw = (meta_of(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
            try:
                desired = int(str(raw)) if raw is not None else None
            except ValueError:
                desired = None
            if desired is not None and desired != replicas(self.d):
                return True
        return False

    def sync_scaling(self, now: datetime) -> Obj:
        """``sync``: scale (paused or scaling event), then plain status."""
        new_rs, old = self.all_rses_and_sync_revision(False, now)
        self.scale(new_rs, old)
        if _spec(self.d).get("paused"):
            self.cleanup(old)
        return calculate_status([*old, new_rs], new_rs, self.d, now)


def find_active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
    """``FindActiveOrLatest``: the only ReplicaSet with replicas, or the newest if none."""
    if new_rs is None and not old:
        return None
    old_newest_first = sorted(old, key=_creation_key, reverse=True)
    active = [rs for rs in [*old_newest_first, new_rs] if rs is not None and rs_replicas(rs) > 0]
    if len(active) == 0:
        return new_rs if new_rs is not None else old_newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def is_saturated(d: Mapping[str, Any], rs: Mapping[str, Any] | None) -> bool:
    """The ReplicaSet is at full size for the Deployment and entirely available."""
    if rs is None:
        return False
    raw = (meta_of(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
    try:
        desired = int(str(raw))
    except (TypeError, ValueError):
        return False
    want = replicas(d)
    return (
        rs_replicas(rs) == want and desired == want and _rs_status(rs, "availableReplicas") == want
    )


def get_proportion(rs: Mapping[str, Any], d: Mapping[str, Any], to_add: int, added: int) -> int:
    """``GetProportion``: this ReplicaSet's share of a proportional resize."""
    if rs_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _replicaset_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _replicaset_fraction(rs: Mapping[str, Any], d: Mapping[str, Any]) -> int:
    if replicas(d) == 0:
        return -rs_replicas(rs)
    deployment_replicas = replicas(d) + max_surge(d)
    raw = (meta_of(rs).get("annotations") or {}).get(MAX_REPLICAS)
    try:
        annotated = int(str(raw)) if raw is not None else None
    except ValueError:
        annotated = None
    if annotated is None:
        annotated = _int(_status(d).get("replicas"))
    if annotated == 0:
        return 0
    size = rs_replicas(rs) * deployment_replicas / annotated
    rounded = math.floor(size + 0.5) if size >= 0 else math.ceil(size - 0.5)
    return int(rounded) - rs_replicas(rs)


def _norm_status(status: Mapping[str, Any]) -> Any:
    return _semantic(_omit_zero(dict(status)))


def selects_everything(d: Mapping[str, Any]) -> bool:
    sel = _spec(d).get("selector")
    return (
        isinstance(sel, Mapping) and not sel.get("matchLabels") and not sel.get("matchExpressions")
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
    s = _Sync(d, rses, pods)
    meta = meta_of(d)
    if selects_everything(d):
        s.event(
            "Warning",
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        )
        if _int(_status(d).get("observedGeneration")) < _int(meta.get("generation")):
            st = dict(_status(d))
            st["observedGeneration"] = _int(meta.get("generation"))
            return s.finish(st)
        return s.plan
    if meta.get("deletionTimestamp"):
        new_rs, old = s.all_rses_and_sync_revision(False, now)
        return s.finish(calculate_status([*old, new_rs], new_rs, s.d, now))
    s.check_paused_conditions(now)
    if _spec(d).get("paused"):
        return s.finish(s.sync_scaling(now))
    if s.is_scaling_event(now):
        return s.finish(s.sync_scaling(now))
    if is_rolling_update(d):
        return s.finish(s.rollout_rolling(now))
    return s.finish(s.rollout_recreate(now))


# ---------------------------------------------------------------------------- wiring


class DeploymentController:
    """See the module docstring. Construct, then ``await run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: DeploymentOptions | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.options = options or DeploymentOptions()
        self.recorder = EventRecorder(client, clock, EVENT_COMPONENT)
        self.deployments = factory.informer("deployments")
        self.rses = factory.informer("replicasets")
        self.pods = factory.informer("pods")
        ensure_controller_uid_index(self.rses)
        ensure_controller_uid_index(self.pods)
        ensure_label_index(self.rses)
        self.queue: WorkQueue[str] = WorkQueue(clock, name="deployment")
        self.written = WrittenVersions()
        self.owners = OwnerLookup(self.deployments, "Deployment")
        self.deployments.add_handler(
            self._on_deployment, self._on_deployment_update, self._on_deployment_delete
        )
        self.rses.add_handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        self.pods.add_handler(None, None, self._on_pod_delete)
        self.syncs_done = 0

    async def run(self) -> None:
        for inf in (self.deployments, self.rses, self.pods):
            await inf.wait_for_sync()
        try:
            await run_workers(
                self.queue,
                self.options.concurrent_syncs,
                self.sync,
                max_retries=self.options.max_retries,
                logger=log,
            )
        finally:
            self.queue.shut_down()
            await self.recorder.flush()

    # ------------------------------------------------------------------ handlers

    def _on_deployment(self, d: Obj) -> None:
        self.queue.add(object_key(d))

    def _on_deployment_update(self, old: Obj, new: Obj) -> None:
        self.queue.add(object_key(new))

    def _on_deployment_delete(self, d: Obj) -> None:
        key = object_key(d)
        self.owners.forget(key)
        self.written.forget(key)
        self.queue.add(key)

    def _enqueue_matching(self, rs: Obj) -> None:
        if self.options.adopt_orphans:
            for key in self.owners.adopting_keys(rs):
                self.queue.add(key)

    def _on_rs_add(self, rs: Obj) -> None:
        if controller_of(rs) is not None:
            key = self.owners.owner_key(rs)
            if key is not None:
                self.queue.add(key)
            return
        self._enqueue_matching(rs)

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        if resource_version(old) == resource_version(new):
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref is not None and old_ref != new_ref:
            old_key = self.owners.owner_key(old)
            if old_key is not None:
                self.queue.add(old_key)
        if new_ref is not None:
            key = self.owners.owner_key(new)
            if key is not None:
                self.queue.add(key)
            return
        if old_ref != new_ref or (meta_of(old).get("labels") != meta_of(new).get("labels")):
            self._enqueue_matching(new)

    def _on_rs_delete(self, rs: Obj) -> None:
        self.written.forget(object_key(rs))
        key = self.owners.owner_key(rs)
        if key is not None:
            self.queue.add(key)

    def _on_pod_delete(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: look again when one goes."""
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rses.store.get(f"{meta_of(pod).get('namespace')}/{ref.get('name')}")
        if rs is None or meta_of(rs).get("uid") != ref.get("uid"):
            return
        key = self.owners.owner_key(rs)
        if key is None:
            return
        d = self.deployments.store.get(key)
        if d is not None and not is_rolling_update(d):
            self.queue.add(key)

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Reconcile one key. A cache that lags behind our own write is not an error: the
        echo of that write re-queues the key, and a delayed add backs that up."""
        try:
            await self._sync(key)
        except StaleCache as exc:
            log.debug("%s", exc)
            self.queue.add_after(key, STALE_CACHE_RETRY)
        finally:
            self.syncs_done += 1

    async def _sync(self, key: str) -> None:
        d = self.deployments.store.get(key)
        if d is None:
            self.written.forget(key)
            return
        if self.written.lagging(key, resource_version(d)):
            raise StaleCache(f"Deployment cache is behind this controller's write of {key}")
        selector = self.owners.selector(d)
        if selector is None:
            log.warning("deployment %s: invalid selector, not syncing", key)
            return
        rses = await claim(
            self.client,
            self.rses,
            "replicasets",
            d,
            controller_ref(d, "apps/v1", "Deployment"),
            selector,
            adopt_orphans=self.options.adopt_orphans,
            adopted=lambda rs: self.written.wrote(object_key(rs), resource_version(rs)),
        )
        for rs in rses:
            if self.written.lagging(object_key(rs), resource_version(rs)):
                raise StaleCache(f"ReplicaSet cache is behind for {object_key(rs)}")
        rs_uids = [str(meta_of(rs).get("uid") or "") for rs in rses]
        pods = [p for uid in rs_uids for p in self.pods.store.by_index(CONTROLLER_UID_INDEX, uid)]
        plan = plan_deployment(d, rses, pods, self.clock.wall())
        await self.apply(d, plan)
        for type_, reason, message in plan.events:
            self.recorder.event(d, type_, reason, message)
        if plan.requeue_after is not None:
            if plan.requeue_after <= 0:
                self.queue.add_rate_limited(key)
            else:
                self.queue.add_after(key, plan.requeue_after)

    async def apply(self, d: Obj, plan: DeploymentPlan) -> None:
        """Make the planned writes in order; the first failure stops the rest."""
        ns = str(meta_of(d).get("namespace"))
        if plan.create is not None:
            await self._create_rs(d, plan)
        for rs in plan.updates:
            updated = await self.client.update("replicasets", rs)
            self.written.wrote(object_key(updated), resource_version(updated))
        for rs in plan.deletes:
            try:
                await self.client.delete("replicasets", str(meta_of(rs).get("name")), ns)
            except errors.NotFound:
                pass
        current = d
        if plan.status is not None or plan.revision is not None:
            body = copy.deepcopy(d)
            body["status"] = plan.status if plan.status is not None else _status(d)
            if plan.revision is not None:
                body["metadata"].setdefault("annotations", {})[REVISION] = plan.revision
            current = await self.client.update("deployments", body, subresource="status")
            self.written.wrote(object_key(current), resource_version(current))
        if plan.revision is not None:
            have = (meta_of(current).get("annotations") or {}).get(REVISION)
            if have != plan.revision:
                # The server kept metadata out of the status write (see module docstring).
                patched = await self.client.patch(
                    "deployments",
                    str(meta_of(d).get("name")),
                    {
                        "metadata": {
                            "annotations": {REVISION: plan.revision},
                            "resourceVersion": resource_version(current),
                        }
                    },
                    ns,
                    patch_type="merge",
                )
                self.written.wrote(object_key(patched), resource_version(patched))

    async def _create_rs(self, d: Obj, plan: DeploymentPlan) -> None:
        assert plan.create is not None
        ns = str(meta_of(d).get("namespace"))
        name = str(plan.create["metadata"]["name"])
        try:
            created = await self.client.create("replicasets", plan.create, ns)
        except errors.AlreadyExists:
            existing = await self.client.get("replicasets", name, ns)
            if controlled_by(existing, d) and equal_ignore_hash(
                _spec(existing).get("template") or {}, _spec(d).get("template") or {}
            ):
                # Ours, created by an earlier sync the cache has not delivered yet.
                raise StaleCache(f"ReplicaSet {ns}/{name} not in the cache yet") from None
            # A hash collision: bump collisionCount so the next sync picks another name.
            body = copy.deepcopy(d)
            st = body.setdefault("status", {})
            st["collisionCount"] = _int(st.get("collisionCount")) + 1
            updated = await self.client.update("deployments", body, subresource="status")
            self.written.wrote(object_key(updated), resource_version(updated))
            raise
        except errors.StatusError as exc:
            if _namespace_terminating(exc):
                raise
            msg = f'Failed to create new replica set "{name}": {exc}'
            self.recorder.event(d, "Warning", FAILED_RS_CREATE, msg)
            if has_progress_deadline(d):
                body = copy.deepcopy(d)
                st = body.setdefault("status", {})
                set_condition(
                    st,
                    new_condition("Progressing", "False", FAILED_RS_CREATE, msg, self.clock.wall()),
                )
                try:
                    await self.client.update("deployments", body, subresource="status")
                except errors.StatusError:
                    pass
            raise
        self.written.wrote(object_key(created), resource_version(created))


def _namespace_terminating(exc: errors.StatusError) -> bool:
    causes = (exc.details or {}).get("causes") or []
    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
        return True
    return isinstance(exc, errors.Forbidden) and "being terminated" in exc.message
