"""The legacy Endpoints controller: one ``v1.Endpoints`` per selector Service.

Same shape as the EndpointSlice controller: Service and Pod events map to Service keys,
``sync`` plans from the caches with the pure planner and makes at most one write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sliceplane.api import errors
from sliceplane.api.meta import Obj
from sliceplane.client.client import Client
from sliceplane.endpointbase.podservices import ServiceSelectors
from sliceplane.endpointbase.triggertime import TriggerTimeTracker
from sliceplane.endpoints.planner import plan_endpoints
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key
from sliceplane.machinery.labelindex import ensure_label_index, select
from sliceplane.machinery.ratelimit import default_controller_rate_limiter
from sliceplane.machinery.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EndpointsControllerOptions:
    concurrent_syncs: int = 5
    """--concurrent-endpoint-syncs upstream."""
    batch_period: float = 0.0
    """--endpoint-updates-batch-period upstream."""


class EndpointsController:
    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: EndpointsControllerOptions | None = None,
    ) -> None:
        self.client = client
        self.options = options or EndpointsControllerOptions()
        self.services = factory.informer("services")
        self.pods = factory.informer("pods")
        self.endpoints = factory.informer("endpoints")
        self.selectors = ServiceSelectors(self.services)
        ensure_label_index(self.pods)
        self.queue: WorkQueue[str] = WorkQueue(
            clock, default_controller_rate_limiter(clock), name="endpoint"
        )
        self.trigger = TriggerTimeTracker()
        self.services.add_handler(
            lambda s: self.queue.add(object_key(s)),
            lambda o, n: self.queue.add(object_key(n)),
            lambda s: self.queue.add(object_key(s)),
        )
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod)
        self.endpoints.add_handler(None, None, lambda e: self.queue.add(object_key(e)))

    def _on_pod(self, pod: Obj) -> None:
        for key in self.selectors.services_for_pod(pod):
            self.queue.add_after(key, self.options.batch_period)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        keys = self.selectors.services_to_sync(old, new)
        if (old.get("spec") or {}).get("nodeName") != (new.get("spec") or {}).get("nodeName"):
            keys |= self.selectors.services_for_pod(new)  # nodeName is part of an address
        for key in keys:
            self.queue.add_after(key, self.options.batch_period)

    async def run(self) -> None:
        for inf in (self.services, self.pods, self.endpoints):
            await inf.wait_for_sync()
        # Endpoints whose Service is gone are cleaned up at start, as upstream's
        # checkLeftoverEndpoints does.
        for ep in self.endpoints.store.list():
            self.queue.add(object_key(ep))
        try:
            await run_workers(self.queue, self.options.concurrent_syncs, self.sync, logger=log)
        finally:
            self.queue.shut_down()

    async def sync(self, key: str) -> None:
        ns, _, name = key.partition("/")
        svc = self.services.store.get(key)
        existing = self.endpoints.store.get(key)
        if svc is None:
            self.trigger.delete_service(ns, name)
            if existing is None:
                return
            # Only Endpoints this controller would manage (a selector Service's) are removed
            # when the Service goes; user-made ones for selector-less Services stay.
            try:
                await self.client.delete("endpoints", name, ns)
            except errors.NotFound:
                pass
            return
        selector = self.selectors.selector(svc)
        selected = select(self.pods, ns, selector) if selector is not None else []
        trigger_time = self.trigger.compute(svc, selected)
        plan = plan_endpoints(svc, selected, existing, trigger_time=trigger_time)
        if plan.verb == "none" or plan.obj is None:
            return
        if plan.verb == "create":
            try:
                await self.client.create("endpoints", plan.obj, ns)
            except errors.AlreadyExists:
                raise RuntimeError(f"endpoints {key} appeared meanwhile; retrying") from None
        elif plan.verb == "update":
            await self.client.update("endpoints", plan.obj)
        else:
            try:
                await self.client.delete("endpoints", name, ns)
            except errors.NotFound:
                pass
