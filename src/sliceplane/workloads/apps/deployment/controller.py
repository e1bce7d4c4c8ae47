"""The Deployment controller's wiring: informer events to Deployment keys, the claim of
ReplicaSets, and the planned writes applied through the client in order."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from sliceplane.api import errors
from sliceplane.api.meta import Obj, meta_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key, resource_version
from sliceplane.machinery.labelindex import ensure_label_index
from sliceplane.workloads.apps.deployment.planner import plan_deployment
from sliceplane.workloads.apps.deployment.progress import (
    has_progress_deadline,
    new_condition,
    set_condition,
)
from sliceplane.workloads.apps.deployment.sync import DeploymentPlan
from sliceplane.workloads.apps.deployment.util import (
    FAILED_RS_CREATE,
    REVISION,
    as_int,
    equal_ignore_hash,
    is_rolling_update,
    spec_of,
    status_of,
)
from sliceplane.workloads.apps.expectations import StaleCache
from sliceplane.workloads.apps.namespaces import namespace_terminating
from sliceplane.workloads.apps.ownercontroller import OwnerController
from sliceplane.workloads.apps.ownership import (
    CONTROLLER_UID_INDEX,
    claim,
    controlled_by,
    controller_of,
    controller_ref,
    ensure_controller_uid_index,
)

log = logging.getLogger(__name__)


EVENT_COMPONENT = "deployment-controller"


@dataclass(slots=True)
class DeploymentOptions:
    """Settings of the Deployment controller (upstream flag names in comments)."""

    concurrent_syncs: int = 5
    """--concurrent-deployment-syncs: workers reconciling Deployments in parallel."""
    adopt_orphans: bool = True
    """Adopt ReplicaSets without a controller that match a Deployment's selector."""
    max_retries: int = 15
    """Failed syncs of one key retried (rate-limited) this many times before dropping."""


class DeploymentController(OwnerController):
    """See the module docstring. Construct, then ``await run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: DeploymentOptions | None = None,
    ) -> None:
        self.options = options or DeploymentOptions()
        self.deployments = factory.informer("deployments")
        self.rses = factory.informer("replicasets")
        self.pods = factory.informer("pods")
        super().__init__(
            client,
            clock,
            kind="Deployment",
            cached=(self.deployments, self.rses, self.pods),
            event_component=EVENT_COMPONENT,
            concurrent_syncs=self.options.concurrent_syncs,
            max_retries=self.options.max_retries,
            logger=log,
        )
        ensure_controller_uid_index(self.rses)
        ensure_controller_uid_index(self.pods)
        ensure_label_index(self.rses)
        self.rses.add_handler(self._on_rs_add, self._on_rs_update, self._on_rs_delete)
        self.pods.add_handler(None, None, self._on_pod_delete)

    # ------------------------------------------------------------------ handlers

    def _on_rs_add(self, rs: Obj) -> None:
        self.owners.route_add(rs, self.queue.add, adopt=self.options.adopt_orphans)

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        if resource_version(old) == resource_version(new):
            return
        self.owners.route_update(
            old,
            new,
            self.queue.add,
            adopt=self.options.adopt_orphans,
            labels_changed=meta_of(old).get("labels") != meta_of(new).get("labels"),
        )

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
            body["status"] = plan.status if plan.status is not None else status_of(d)
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
                spec_of(existing).get("template") or {}, spec_of(d).get("template") or {}
            ):
                # Ours, created by an earlier sync the cache has not delivered yet.
                raise StaleCache(f"ReplicaSet {ns}/{name} not in the cache yet") from None
            # A hash collision: bump collisionCount so the next sync picks another name.
            body = copy.deepcopy(d)
            st = body.setdefault("status", {})
            st["collisionCount"] = as_int(st.get("collisionCount")) + 1
            updated = await self.client.update("deployments", body, subresource="status")
            self.written.wrote(object_key(updated), resource_version(updated))
            raise
        except errors.StatusError as exc:
            if namespace_terminating(exc):
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
