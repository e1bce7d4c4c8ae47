"""The ReplicaSet controller's pure part: pods to create from the template, surplus
pods in upstream's deletion order (``ActivePodsWithRanks``), and the new status.

Functions over the cached objects; nothing passed in is modified (new pods and statuses
are fresh dicts).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sliceplane.api.meta import Obj, copy_json, format_time, labels_of, meta_of
from sliceplane.api.podstatus import status_condition, without_condition
from sliceplane.workloads.apps.ownership import (
    controller_ref,
)
from sliceplane.workloads.podstate import (
    creation_time,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    pod_phase,
    ready_since,
)

BURST_REPLICAS = 500
"""Upstream's ``BurstReplicas``: at most this many creations or deletions per sync."""
SLOW_START_INITIAL_BATCH_SIZE = 1
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def desired_replicas(rs: Mapping[str, Any]) -> int:
    value = _spec(rs).get("replicas")
    return int(value) if isinstance(value, int) else 1


def min_ready_seconds(obj: Mapping[str, Any]) -> int:
    value = _spec(obj).get("minReadySeconds")
    return int(value) if isinstance(value, int) else 0


def pod_from_template(rs: Mapping[str, Any]) -> Obj:
    """A pod to POST for ``rs`` (upstream ``GetPodFromTemplate``)."""
    meta = meta_of(rs)
    template = _spec(rs).get("template") or {}
    tmeta = meta_of(template)
    pod_meta: Obj = {
        "generateName": f"{meta.get('name')}-",
        "namespace": meta.get("namespace"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [controller_ref(rs, "apps/v1", "ReplicaSet")],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy_json(template.get("spec") or {}),
    }


def _deletion_cost(pod: Mapping[str, Any]) -> int:
    raw = (meta_of(pod).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return 0
    return value if -(2**31) <= value < 2**31 else 0


def _max_restarts(pod: Mapping[str, Any]) -> tuple[int, int]:
    """(regular, init/sidecar) maximum container restart counts."""
    status = pod.get("status") or {}

    def most(key: str) -> int:
        return max((int(c.get("restartCount") or 0) for c in status.get(key) or []), default=0)

    return most("containerStatuses"), most("initContainerStatuses")


def _log_rank(t: datetime, now: datetime) -> int:
    """The log2 bucket of ``now - t`` in nanoseconds (``logarithmicRankDiff``)."""
    delta_ns = (now - t).total_seconds() * 1e9
    return int(math.log2(delta_ns)) if delta_ns > 0 else -1


def _newer_first(
    ti: datetime | None, tj: datetime | None, ui: str, uj: str, now: datetime | None
) -> int:
    """Upstream's time comparison: a zero time sorts first, then the more recent time,
    compared in log2 buckets of age with the UID as tie breaker. Returns -1/0/1."""
    if ti == tj:
        return 0
    if ti is None or tj is None:
        return -1 if ti is None else 1
    if now is None:
        return -1 if ti > tj else 1
    diff = _log_rank(ti, now) - _log_rank(tj, now)
    if diff == 0:
        return (ui > uj) - (ui < uj)
    return -1 if diff < 0 else 1


def compare_for_deletion(
    a: Mapping[str, Any], rank_a: int, b: Mapping[str, Any], rank_b: int, now: datetime | None
) -> int:
    """Negative when ``a`` should be deleted before ``b`` (``ActivePodsWithRanks.Less``)."""
    node_a = str(_spec(a).get("nodeName") or "")
    node_b = str(_spec(b).get("nodeName") or "")
    # 1. Unassigned < assigned.
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    # 2. Pending < Unknown < Running.
    pa, pb = _PHASE_ORDINAL.get(pod_phase(a), 0), _PHASE_ORDINAL.get(pod_phase(b), 0)
    if pa != pb:
        return -1 if pa < pb else 1
    # 3. Not ready < ready.
    ra, rb = is_pod_ready(a), is_pod_ready(b)
    if ra != rb:
        return -1 if not ra else 1
    # 4. Lower pod-deletion-cost < higher.
    ca, cb = _deletion_cost(a), _deletion_cost(b)
    if ca != cb:
        return -1 if ca < cb else 1
    # 5. Doubled up (more related active pods on the same node) < not doubled up.
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    uid_a, uid_b = str(meta_of(a).get("uid") or ""), str(meta_of(b).get("uid") or "")
    # 6. Both ready: ready for less time < more time.
    if ra and rb:
        cmp = _newer_first(ready_since(a), ready_since(b), uid_a, uid_b, now)
        if cmp:
            return cmp
    # 7. More restarts < fewer restarts.
    rsa, rsb = _max_restarts(a), _max_restarts(b)
    if rsa[0] != rsb[0]:
        return -1 if rsa[0] > rsb[0] else 1
    if rsa[1] != rsb[1]:
        return -1 if rsa[1] > rsb[1] else 1
    # 8. Newer < older.
    return _newer_first(creation_time(a), creation_time(b), uid_a, uid_b, now)


def rank_pods_for_deletion(
    pods: Sequence[Mapping[str, Any]],
    related_pods: Sequence[Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> list[Obj]:
    """``pods`` ordered most-deletable first. ``related_pods`` (default: ``pods``) are the
    active pods of every ReplicaSet with the same owner; a pod sharing its node with more
    of them ranks as more deletable (spreading what stays)."""
    per_node: dict[str, int] = {}
    for p in related_pods if related_pods is not None else pods:
        if is_pod_active(p):
            node = str(_spec(p).get("nodeName") or "")
            per_node[node] = per_node.get(node, 0) + 1
    ranked = [(dict(p), per_node.get(str(_spec(p).get("nodeName") or ""), 0)) for p in pods]

    def cmp(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        return compare_for_deletion(x[0], x[1], y[0], y[1], now)

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [p for p, _ in ranked]


def pods_to_delete(
    pods: Sequence[Mapping[str, Any]],
    related_pods: Sequence[Mapping[str, Any]] | None,
    diff: int,
    now: datetime | None,
) -> list[Obj]:
    """The ``diff`` most deletable of ``pods`` (``getPodsToDelete``)."""
    if diff >= len(pods):
        return [dict(p) for p in pods]
    return rank_pods_for_deletion(pods, related_pods, now)[:diff]


def _template_selector(rs: Mapping[str, Any]) -> Mapping[str, str]:
    tmpl = _spec(rs).get("template") or {}
    labels = labels_of(tmpl)
    return {str(k): str(v) for k, v in labels.items()}


def replicaset_status(
    rs: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    manage_error: str | None = None,
) -> Obj:
    """The status ``rs`` should report for its active ``pods`` (upstream
    ``calculateStatus``), with ``observedGeneration`` set to the RS's generation.

    ``manage_error`` (the text of a failed create/delete) adds a ``ReplicaFailure``
    condition if none is present; without it an existing one is removed. Zero counts other
    than ``replicas`` are omitted, as the Go types' ``omitempty`` does on the wire.
    """
    old = rs.get("status") if isinstance(rs.get("status"), Mapping) else {}
    assert isinstance(old, Mapping)
    template_labels = _template_selector(rs)
    min_ready = min_ready_seconds(rs)
    fully_labeled = ready = available = 0
    for pod in pods:
        labels = meta_of(pod).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
    conditions = [dict(c) for c in old.get("conditions") or [] if isinstance(c, Mapping)]
    failure = status_condition(old, "ReplicaFailure")
    if manage_error is not None and failure is None:
        diff = len(pods) - desired_replicas(rs)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": format_time(now),
                "reason": reason,
                "message": manage_error,
            }
        )
    elif manage_error is None and failure is not None:
        conditions = without_condition(conditions, "ReplicaFailure")
    status: Obj = {"replicas": len(pods)}
    for name, value in (
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("observedGeneration", int(meta_of(rs).get("generation") or 0)),
    ):
        if value:
            status[name] = value
    if conditions:
        status["conditions"] = conditions
    return status


def plan_replicaset(
    rs: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    related_pods: Sequence[Mapping[str, Any]] | None = None,
    burst_replicas: int = BURST_REPLICAS,
    manage: bool = True,
) -> tuple[list[Obj], list[Obj], Obj]:
    """Plan one sync of ``rs`` whose owned pods are ``pods`` (any state; inactive ones
    are ignored). Returns (pods to create, pods to delete, status before those writes).

    ``manage=False`` (expectations pending, or the RS is being deleted) plans no writes
    but still computes the status. Inputs are never modified.
    """
    active = [p for p in pods if is_pod_active(p)]
    status = replicaset_status(rs, active, now)
    creates: list[Obj] = []
    deletes: list[Obj] = []
    if manage and not meta_of(rs).get("deletionTimestamp"):
        diff = len(active) - desired_replicas(rs)
        if diff < 0:
            creates = [pod_from_template(rs) for _ in range(min(-diff, burst_replicas))]
        elif diff > 0:
            related = None
            if related_pods is not None:
                related = [p for p in related_pods if is_pod_active(p)]
            deletes = pods_to_delete(active, related, min(diff, burst_replicas), now)
    return creates, deletes, status


def status_differs(current: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` would change ``current`` (zero counts and absent fields are
    the same thing on the wire)."""

    def norm(s: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (s or {}).items() if v not in (0, None, [], {})}

    return norm(current) != norm(new)
