"""Deployment arithmetic and bookkeeping (upstream ``deployment/util``): replica counts
over ReplicaSets, maxSurge/maxUnavailable, revisions and their annotations, template
equality ignoring the hash label, and the proportions of a scaling event.

Pure functions over ReplicaSet and Deployment dicts; the ones named ``set_*`` edit the
copy they are given (the planner's own).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.wellknown import ANNOTATION_LAST_APPLIED, LABEL_POD_TEMPLATE_HASH
from sliceplane.workloads.podstate import creation_time

HASH_LABEL = LABEL_POD_TEMPLATE_HASH
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = ANNOTATION_LAST_APPLIED
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


def spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def as_int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def replicas(obj: Mapping[str, Any]) -> int:
    """``spec.replicas`` (defaulted to 1 by the server; 1 if absent here too)."""
    return as_int(spec_of(obj).get("replicas"), 1)


def is_rolling_update(d: Mapping[str, Any]) -> bool:
    strategy = spec_of(d).get("strategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


def _rolling_params(d: Mapping[str, Any]) -> tuple[int | str | None, int | str | None]:
    ru = (spec_of(d).get("strategy") or {}).get("rollingUpdate") or {}
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
    return 0 if rs is None else as_int(spec_of(rs).get("replicas"), 0)


def rs_status_count(rs: Mapping[str, Any] | None, name: str) -> int:
    return 0 if rs is None else as_int(status_of(rs).get(name))


def replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    """``GetReplicaCountForReplicaSets``: sum of ``spec.replicas``."""
    return sum(rs_replicas(rs) for rs in rses)


def actual_replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    return sum(rs_status_count(rs, "replicas") for rs in rses)


def ready_replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    return sum(rs_status_count(rs, "readyReplicas") for rs in rses)


def available_replica_count(rses: Sequence[Mapping[str, Any] | None]) -> int:
    return sum(rs_status_count(rs, "availableReplicas") for rs in rses)


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


def creation_key(rs: Mapping[str, Any]) -> tuple[str, str]:
    ts = creation_time(rs)
    # Objects not created yet (planned) sort last, as the newest.
    return (ts.isoformat() if ts is not None else "~", str(meta_of(rs).get("name") or ""))


def by_creation(rses: Sequence[Obj]) -> list[Obj]:
    """``ReplicaSetsByCreationTimestamp``: oldest first, name breaks ties."""
    return sorted(rses, key=creation_key)


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
    template = spec_of(d).get("template") or {}
    for rs in by_creation(rses):
        if equal_ignore_hash(spec_of(rs).get("template") or {}, template):
            return rs
    return None


def omit_zero(status: Obj) -> Obj:
    """DeploymentStatus' counters are ``omitempty`` on the wire."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


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


def find_active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
    """``FindActiveOrLatest``: the only ReplicaSet with replicas, or the newest if none."""
    if new_rs is None and not old:
        return None
    old_newest_first = sorted(old, key=creation_key, reverse=True)
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
        rs_replicas(rs) == want
        and desired == want
        and rs_status_count(rs, "availableReplicas") == want
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
        annotated = as_int(status_of(d).get("replicas"))
    if annotated == 0:
        return 0
    size = rs_replicas(rs) * deployment_replicas / annotated
    rounded = math.floor(size + 0.5) if size >= 0 else math.ceil(size - 0.5)
    return int(rounded) - rs_replicas(rs)


def norm_status(status: Mapping[str, Any]) -> Any:
    return _semantic(omit_zero(dict(status)))


def selects_everything(d: Mapping[str, Any]) -> bool:
    sel = spec_of(d).get("selector")
    return (
        isinstance(sel, Mapping) and not sel.get("matchLabels") and not sel.get("matchExpressions")
    )
