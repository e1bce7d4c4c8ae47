"""What the Deployment and ReplicaSet controllers share: the worker loop and the owner's
own add/update/delete handlers.

Why: both are "owner" controllers in upstream's sense (``pkg/controller/deployment`` and
``pkg/controller/replicaset``): each keys its queue by the owner object, tracks its own
writes (:class:`~sliceplane.workloads.apps.expectations.WrittenVersions`) so a lagging
cache is retried instead of acted on, and routes owned objects through an
:class:`~sliceplane.workloads.apps.ownership.OwnerLookup`. The loop that waits for the
caches and runs the workers, the three owner handlers and the stale-cache retry were the
same lines in both controllers; they live here once, and each controller keeps only what
is its own (the owned objects' handlers and ``_sync``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sliceplane.api.meta import Obj
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.informer import Informer, object_key
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.workloads.apps.expectations import STALE_CACHE_RETRY, StaleCache, WrittenVersions
from sliceplane.workloads.apps.ownership import OwnerLookup


class OwnerController:
    """The shared half of an owner controller: a subclass creates its informers, calls
    this ``__init__`` with the owner informer first in ``cached`` (the order the caches
    are awaited), adds its owned objects' handlers and implements :meth:`_sync`."""

    def __init__(
        self,
        client: Client,
        clock: Clock,
        *,
        kind: str,
        cached: Sequence[Informer],
        event_component: str,
        concurrent_syncs: int,
        max_retries: int,
        logger: logging.Logger,
    ) -> None:
        self.client = client
        self.clock = clock
        self.recorder = EventRecorder(client, clock, event_component)
        self.cached = tuple(cached)
        self.concurrent_syncs = concurrent_syncs
        self.max_retries = max_retries
        self.log = logger
        self.queue: WorkQueue[str] = WorkQueue(clock, name=kind.lower())
        self.written = WrittenVersions()
        self.owners = OwnerLookup(self.cached[0], kind)
        self.cached[0].add_handler(self._on_owner, self._on_owner_update, self._on_owner_delete)
        self.syncs_done = 0

    async def run(self) -> None:
        """Wait for every cache, then run the workers until cancelled; the queue is shut
        down and pending events flushed however the loop ends."""
        for inf in self.cached:
            await inf.wait_for_sync()
        try:
            await run_workers(
                self.queue,
                self.concurrent_syncs,
                self.sync,
                max_retries=self.max_retries,
                logger=self.log,
            )
        finally:
            self.queue.shut_down()
            await self.recorder.flush()

    # ------------------------------------------------------------------ owner handlers

    def _on_owner(self, owner: Obj) -> None:
        self.queue.add(object_key(owner))

    def _on_owner_update(self, old: Obj, new: Obj) -> None:
        self.queue.add(object_key(new))

    def _on_owner_delete(self, owner: Obj) -> None:
        """A deleted owner's cached selector and write record go; its key is still synced
        so the controller sees the owner gone."""
        key = object_key(owner)
        self.owners.forget(key)
        self.written.forget(key)
        self.queue.add(key)

    # ------------------------------------------------------------------ sync

    async def sync(self, key: str) -> None:
        """Reconcile one key. A cache that lags behind our own write is not an error: the
        echo of that write re-queues the key, and a delayed add backs that up."""
        try:
            await self._sync(key)
        except StaleCache as exc:
            self.log.debug("%s", exc)
            self.queue.add_after(key, STALE_CACHE_RETRY)
        finally:
            self.syncs_done += 1

    async def _sync(self, key: str) -> None:
        raise NotImplementedError
