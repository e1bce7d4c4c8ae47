"""The ReplicaSet controller: keep ``spec.replicas`` pods of a template alive, and say so.

Why: a Deployment only ever decides *how many* pods each of its ReplicaSets should have;
this controller turns those numbers into Pods and reports back ``status`` (replicas,
fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration), which is what
the Deployment controller gates its rollouts on and what ``kubectl get rs`` prints.

Shape (as the EndpointSlice controller): informer handlers only map objects to ReplicaSet
keys; :meth:`ReplicaSetController.sync` reads the caches, asks the pure
:func:`plan_replicaset` for pods to create, pods to delete and the new status, and applies
that with the client. Behaviour follows upstream ``pkg/controller/replicaset``:

* pods are created from the template with ``generateName: <rs>-``, the template's labels,
  annotations and finalizers, and a controller ownerReference (apps/v1 ReplicaSet,
  ``controller`` and ``blockOwnerDeletion`` true); at most ``burst_replicas`` per sync, in
  slow-start batches (1, 2, 4, ...) that stop at the first failure;
* surplus pods are deleted in upstream's ``ActivePodsWithRanks`` order: unscheduled,
  then pending/unknown, then not ready, then lower ``pod-deletion-cost``, then doubled-up
  on a node, then ready for less time, then more restarts, then newer (the last two time
  comparisons in log2 buckets, as with ``LogarithmicScaleDown``);
* expectations (:mod:`.expectations`) stop a sync from managing replicas while its own
  creations or deletions have not reached the pod cache yet; the status is still updated;
* orphaned pods matching the selector are adopted (patched to carry the controller
  reference); owned pods that stopped matching are not released (they simply stop being
  counted), a deviation from upstream's ``ControllerRefManager``.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj, format_time, labels_of, meta_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key, resource_version
from sliceplane.machinery.labelindex import ensure_label_index
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.workloads.apps.expectations import ControllerExpectations, WrittenVersions
from sliceplane.workloads.apps.ownership import (
    CONTROLLER_UID_INDEX,
    OwnerLookup,
    claim,
    controller_of,
    controller_ref,
    ensure_controller_uid_index,
)
from sliceplane.workloads.podstate import (
    creation_time,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    pod_phase,
    ready_since,
)

log = logging.getLogger(__name__)

EVENT_COMPONENT = "replicaset-controller"
BURST_REPLICAS = 500
"""Upstream's ``BurstReplicas``: at most this many creations or deletions per sync."""
SLOW_START_INITIAL_BATCH_SIZE = 1
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
STALE_CACHE_RETRY = 1.0
"""Seconds after which a sync skipped for a lagging cache runs anyway (a safety net: the
echo of our own write normally re-queues the key much sooner)."""

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


class StaleCache(Exception):
    """The ReplicaSet cache has not yet delivered this controller's own last write."""


@dataclass(slots=True)
class ReplicaSetOptions:
    """Settings of the ReplicaSet controller (upstream flag names in comments)."""

    concurrent_syncs: int = 5
    """--concurrent-replicaset-syncs: workers reconciling ReplicaSets in parallel."""
    burst_replicas: int = BURST_REPLICAS
    """Most pods created or deleted for one ReplicaSet in one sync."""
    slow_start_initial_batch: int = SLOW_START_INITIAL_BATCH_SIZE
    """First creation batch; each successful batch doubles the next one."""
    expectations_timeout: float = 300.0
    """Seconds after which unobserved creations/deletions are given up on."""
    adopt_orphans: bool = True
    """Adopt pods without a controller that match a ReplicaSet's selector."""
    max_retries: int = 15
    """Failed syncs of one key retried (rate-limited) this many times before dropping."""


# ---------------------------------------------------------------------------- pure planning


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
        "spec": copy.deepcopy(template.get("spec") or {}),
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


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


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
    failure = _condition(old, "ReplicaFailure")
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
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
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


# ---------------------------------------------------------------------------- wiring


class ReplicaSetController:
    """See the module docstring. Construct, then ``await run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: ReplicaSetOptions | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.options = options or ReplicaSetOptions()
        self.recorder = EventRecorder(client, clock, EVENT_COMPONENT)
        self.rses = factory.informer("replicasets")
        self.pods = factory.informer("pods")
        ensure_controller_uid_index(self.pods)
        ensure_controller_uid_index(self.rses)
        ensure_label_index(self.pods)
        self.queue: WorkQueue[str] = WorkQueue(clock, name="replicaset")
        self.expectations = ControllerExpectations(clock, self.options.expectations_timeout)
        self.written = WrittenVersions()
        self.owners = OwnerLookup(self.rses, "ReplicaSet")
        self.rses.add_handler(self._on_rs, self._on_rs_update, self._on_rs_delete)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        self.syncs_done = 0

    async def run(self) -> None:
        await self.rses.wait_for_sync()
        await self.pods.wait_for_sync()
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

    def _on_rs(self, rs: Obj) -> None:
        self.queue.add(object_key(rs))

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        self.queue.add(object_key(new))

    def _on_rs_delete(self, rs: Obj) -> None:
        key = object_key(rs)
        self.owners.forget(key)
        self.written.forget(key)
        self.queue.add(key)

    def _enqueue_matching(self, pod: Obj) -> None:
        if self.options.adopt_orphans:
            for key in self.owners.adopting_keys(pod):
                self.queue.add(key)

    def _on_pod_add(self, pod: Obj) -> None:
        if meta_of(pod).get("deletionTimestamp"):
            self._on_pod_delete(pod)
            return
        if controller_of(pod) is not None:
            key = self.owners.owner_key(pod)
            if key is not None:
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        self._enqueue_matching(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if resource_version(old) == resource_version(new):
            return
        labels_changed = (meta_of(old).get("labels") or {}) != (meta_of(new).get("labels") or {})
        if meta_of(new).get("deletionTimestamp"):
            self._on_pod_delete(new)
            if labels_changed:
                self._on_pod_delete(old)
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref is not None and old_ref != new_ref:
            old_key = self.owners.owner_key(old)
            if old_key is not None:
                self.queue.add(old_key)
        if new_ref is not None:
            key = self.owners.owner_key(new)
            if key is None:
                return
            self.queue.add(key)
            rs = self.rses.store.get(key)
            mrs = min_ready_seconds(rs) if rs is not None else 0
            if mrs > 0 and not is_pod_ready(old) and is_pod_ready(new):
                # Check availability again once minReadySeconds have passed.
                self.queue.add_after(key, mrs + 1.0)
            return
        if labels_changed or old_ref != new_ref:
            self._enqueue_matching(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = self.owners.owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, object_key(pod))
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
        rs = self.rses.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            self.written.forget(key)
            return
        if self.written.lagging(key, resource_version(rs)):
            raise StaleCache(f"ReplicaSet cache is behind this controller's write of {key}")
        selector = self.owners.selector(rs)
        if selector is None:
            log.warning("replicaset %s: invalid selector, not syncing", key)
            return
        needs_sync = self.expectations.satisfied(key)
        pods = await claim(
            self.client,
            self.pods,
            "pods",
            rs,
            controller_ref(rs, "apps/v1", "ReplicaSet"),
            selector,
            adopt_orphans=self.options.adopt_orphans,
            adoptable=is_pod_active,
        )
        now = self.clock.wall()
        creates, deletes, status = plan_replicaset(
            rs,
            pods,
            now,
            related_pods=self._related_pods(rs),
            burst_replicas=self.options.burst_replicas,
            manage=needs_sync,
        )
        manage_error: Exception | None = None
        try:
            if creates:
                await self._create_pods(key, rs, creates)
            elif deletes:
                await self._delete_pods(key, rs, deletes)
        except Exception as exc:  # reported in status, then re-raised for a retry
            manage_error = exc
            active = [p for p in pods if is_pod_active(p)]
            status = replicaset_status(rs, active, now, manage_error=str(exc))
        updated = await self._write_status(key, rs, status)
        if manage_error is not None:
            raise manage_error
        mrs = min_ready_seconds(updated)
        st = updated.get("status") or {}
        want = desired_replicas(updated)
        if (
            mrs > 0
            and st.get("readyReplicas", 0) == want
            and st.get("availableReplicas", 0) != want
        ):
            self.queue.add_after(key, float(mrs))

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet sharing ``rs``'s controller (``getIndirectlyRelatedPods``)."""
        uid = str(meta_of(rs).get("uid") or "")
        owner = controller_of(rs)
        if owner is None or not owner.get("uid"):
            return list(self.pods.store.by_index(CONTROLLER_UID_INDEX, uid))
        out: list[Obj] = []
        for sibling in self.rses.store.by_index(CONTROLLER_UID_INDEX, str(owner["uid"])):
            suid = str(meta_of(sibling).get("uid") or "")
            out.extend(self.pods.store.by_index(CONTROLLER_UID_INDEX, suid))
        return out

    async def _create_pods(self, key: str, rs: Obj, creates: list[Obj]) -> None:
        """Create in slow-start batches; unattempted and failed creations are no longer
        expected, so the next sync retries them."""
        ns = str(meta_of(rs).get("namespace"))
        total = len(creates)
        self.expectations.expect_creations(key, total)
        succeeded = 0
        failure: BaseException | None = None
        pos = 0
        batch = min(total, max(1, self.options.slow_start_initial_batch))
        while batch > 0 and failure is None:
            results = await asyncio.gather(
                *(self._create_one(rs, ns, creates[pos + i]) for i in range(batch)),
                return_exceptions=True,
            )
            errs = [r for r in results if isinstance(r, BaseException)]
            succeeded += batch - len(errs)
            pos += batch
            if errs:
                failure = errs[0]
            batch = min(total - pos, 2 * batch)
        for _ in range(total - succeeded):
            self.expectations.creation_observed(key)
        if failure is not None:
            raise failure

    async def _create_one(self, rs: Obj, ns: str, pod: Obj) -> None:
        try:
            created = await self.client.create("pods", pod, ns)
        except errors.StatusError as exc:
            if _namespace_terminating(exc):
                return  # nothing to create in a namespace that is going away
            self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {exc}")
            raise
        name = meta_of(created).get("name")
        self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {name}")

    async def _delete_pods(self, key: str, rs: Obj, deletes: list[Obj]) -> None:
        ns = str(meta_of(rs).get("namespace"))
        pod_keys = [object_key(p) for p in deletes]
        self.expectations.expect_deletions(key, pod_keys)

        async def one(pod: Obj, pod_key: str) -> None:
            name = str(meta_of(pod).get("name"))
            try:
                await self.client.delete("pods", name, ns)
            except errors.StatusError as exc:
                # The informer will not observe a deletion that did not happen.
                self.expectations.deletion_observed(key, pod_key)
                if isinstance(exc, errors.NotFound):
                    return
                self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {exc}")
                raise
            self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

        results = await asyncio.gather(
            *(one(p, k) for p, k in zip(deletes, pod_keys, strict=True)), return_exceptions=True
        )
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _write_status(self, key: str, rs: Obj, status: Obj) -> Obj:
        """PUT the status if it changed. A Conflict propagates: the retry plans again from
        a fresher cache instead of stamping a generation this sync did not look at."""
        current = rs.get("status") if isinstance(rs.get("status"), Mapping) else None
        if not status_differs(current, status):
            return rs
        body = dict(rs)
        body["status"] = status
        updated = await self.client.update("replicasets", body, subresource="status")
        self.written.wrote(key, resource_version(updated))
        return updated


def _namespace_terminating(exc: errors.StatusError) -> bool:
    causes = (exc.details or {}).get("causes") or []
    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
        return True
    return isinstance(exc, errors.Forbidden) and "being terminated" in exc.message
