"""The EndpointSlice mirroring controller: slices for selector-less Services' Endpoints.

Keys are ``namespace/name`` of the Endpoints (= of the Service). Endpoints, Service and
mirrored-slice events map to that key; ``sync`` plans with the pure planner and applies
the calls in order, recording the planner's events on the Endpoints object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sliceplane.api import errors
from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.wellknown import LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MIRRORING_CONTROLLER_NAME
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key
from sliceplane.machinery.ratelimit import controller_rate_limiter
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.mirroring.planner import MirroringOptions, plan_mirroring

log = logging.getLogger(__name__)

EVENT_COMPONENT = "endpointslice-mirroring-controller"


@dataclass(slots=True)
class MirroringControllerOptions:
    max_endpoints_per_subset: int = 1000
    """--mirroring-max-endpoints-per-subset: 1…1000."""
    concurrent_syncs: int = 5
    """--mirroring-concurrent-service-endpoint-syncs."""


def _mirrored_key(es: Obj) -> str | None:
    meta = meta_of(es)
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != MIRRORING_CONTROLLER_NAME:
        return None
    svc = labels.get(LABEL_SERVICE_NAME)
    return f"{meta.get('namespace')}/{svc}" if svc else None


MIRRORED_INDEX = "mirrored-endpoints"
"""Index of EndpointSlices by the ``namespace/name`` of the Endpoints they mirror."""


def mirrored_index(es: Obj) -> list[str]:
    """Why: every Endpoints write (the Endpoints controller makes one per Service change)
    syncs its key here, and the sync needs that key's mirrored slices; scanning every
    slice of the namespace for them made each sync cost O(Services in the namespace)."""
    key = _mirrored_key(es)
    return [key] if key else []


class MirroringController:
    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: MirroringControllerOptions | None = None,
    ) -> None:
        self.client = client
        self.options = options or MirroringControllerOptions()
        self.services = factory.informer("services")
        self.endpoints = factory.informer("endpoints")
        self.slices = factory.informer("endpointslices")
        self.slices.ensure_index(MIRRORED_INDEX, mirrored_index)
        self.recorder = EventRecorder(client, clock, EVENT_COMPONENT)
        self.queue: WorkQueue[str] = WorkQueue(
            clock, controller_rate_limiter(clock, base=1.0), name="endpointslice_mirroring"
        )
        enqueue = self._enqueue
        self.endpoints.add_handler(enqueue, lambda o, n: enqueue(n), enqueue)
        self.services.add_handler(enqueue, self._on_service_update, enqueue)
        self.slices.add_handler(self._on_slice, lambda o, n: self._on_slice(n), self._on_slice)

    def _enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    def _on_service_update(self, old: Obj, new: Obj) -> None:
        # Only a selector appearing or disappearing changes whether we mirror.
        if bool((old.get("spec") or {}).get("selector")) != bool(
            (new.get("spec") or {}).get("selector")
        ):
            self._enqueue(new)

    def _on_slice(self, es: Obj) -> None:
        key = _mirrored_key(es)
        if key is not None:
            self.queue.add_after(key, 1.0)

    async def run(self) -> None:
        for inf in (self.services, self.endpoints, self.slices):
            await inf.wait_for_sync()
        try:
            await run_workers(self.queue, self.options.concurrent_syncs, self.sync, logger=log)
        finally:
            self.queue.shut_down()
            await self.recorder.flush()

    async def sync(self, key: str) -> None:
        ns, _, _name = key.partition("/")
        endpoints = self.endpoints.store.get(key)
        service = self.services.store.get(key)
        existing = self.slices.store.by_index(MIRRORED_INDEX, key)
        if endpoints is None:
            # The Endpoints is gone: its mirrored slices go too (the GC does it through
            # their owner reference upstream; deleting here is the same outcome, sooner).
            for es in existing:
                try:
                    await self.client.delete("endpointslices", es["metadata"]["name"], ns)
                except errors.NotFound:
                    pass
            return
        plan = plan_mirroring(
            endpoints,
            service,
            existing,
            MirroringOptions(max_endpoints_per_subset=self.options.max_endpoints_per_subset),
        )
        for ev in plan.events:
            self.recorder.event(endpoints, ev.type, ev.reason, ev.message)
        for action in plan.actions:
            es = action.slice
            if action.verb == "create":
                await self.client.create("endpointslices", es, ns)
            elif action.verb == "update":
                await self.client.update("endpointslices", es)
            else:
                try:
                    await self.client.delete("endpointslices", es["metadata"]["name"], ns)
                except errors.NotFound:
                    pass
