"""The ReplicaSet controller's wiring: informer events to ReplicaSet keys, the claim of
pods, slow-start creation batches, deletions, expectations and the status write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sliceplane.api import errors
from sliceplane.api.meta import Obj, meta_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key, resource_version
from sliceplane.machinery.labelindex import ensure_label_index
from sliceplane.workloads.apps.expectations import (
    ControllerExpectations,
    StaleCache,
)
from sliceplane.workloads.apps.namespaces import namespace_terminating
from sliceplane.workloads.apps.ownercontroller import OwnerController
from sliceplane.workloads.apps.ownership import (
    CONTROLLER_UID_INDEX,
    claim,
    controller_of,
    controller_ref,
    ensure_controller_uid_index,
)
from sliceplane.workloads.apps.replicaset.planner import (
    BURST_REPLICAS,
    SLOW_START_INITIAL_BATCH_SIZE,
    desired_replicas,
    min_ready_seconds,
    plan_replicaset,
    replicaset_status,
    status_differs,
)
from sliceplane.workloads.podstate import (
    is_pod_active,
    is_pod_ready,
)

log = logging.getLogger(__name__)

EVENT_COMPONENT = "replicaset-controller"


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


class ReplicaSetController(OwnerController):
    """See the module docstring. Construct, then ``await run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: ReplicaSetOptions | None = None,
    ) -> None:
        self.options = options or ReplicaSetOptions()
        self.rses = factory.informer("replicasets")
        self.pods = factory.informer("pods")
        super().__init__(
            client,
            clock,
            kind="ReplicaSet",
            cached=(self.rses, self.pods),
            event_component=EVENT_COMPONENT,
            concurrent_syncs=self.options.concurrent_syncs,
            max_retries=self.options.max_retries,
            logger=log,
        )
        ensure_controller_uid_index(self.pods)
        ensure_controller_uid_index(self.rses)
        ensure_label_index(self.pods)
        self.expectations = ControllerExpectations(clock, self.options.expectations_timeout)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # ------------------------------------------------------------------ handlers

    def _on_pod_add(self, pod: Obj) -> None:
        if meta_of(pod).get("deletionTimestamp"):
            self._on_pod_delete(pod)
            return
        key = self.owners.route_add(pod, self.queue.add, adopt=self.options.adopt_orphans)
        if key is not None:
            self.expectations.creation_observed(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if resource_version(old) == resource_version(new):
            return
        labels_changed = (meta_of(old).get("labels") or {}) != (meta_of(new).get("labels") or {})
        if meta_of(new).get("deletionTimestamp"):
            self._on_pod_delete(new)
            if labels_changed:
                self._on_pod_delete(old)
            return
        key = self.owners.route_update(
            old,
            new,
            self.queue.add,
            adopt=self.options.adopt_orphans,
            labels_changed=labels_changed,
        )
        if key is None:
            return
        rs = self.rses.store.get(key)
        mrs = min_ready_seconds(rs) if rs is not None else 0
        if mrs > 0 and not is_pod_ready(old) and is_pod_ready(new):
            # Check availability again once minReadySeconds have passed.
            self.queue.add_after(key, mrs + 1.0)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = self.owners.owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # ------------------------------------------------------------------ sync

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
            if namespace_terminating(exc):
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
