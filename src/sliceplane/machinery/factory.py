"""Shared informers: one list+watch per resource, however many controllers read it.

The EndpointSlice, mirroring and Endpoints controllers all read Services (and two of them
Pods); running one informer per resource keeps the API server's load and our memory at
one copy, as client-go's SharedInformerFactory does.
"""

from __future__ import annotations

import asyncio
import logging

from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.informer import Informer, InformerOptions, namespace_index
from sliceplane.machinery.tasks import cancel_and_wait

log = logging.getLogger(__name__)

NAMESPACE_INDEX = "namespace"


class InformerFactory:
    """Creates informers on demand, starts them together, stops them together."""

    def __init__(
        self, client: Client, clock: Clock, options: InformerOptions | None = None
    ) -> None:
        self.client = client
        self.clock = clock
        self.options = options
        self._informers: dict[str, Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def informer(self, resource: str) -> Informer:
        """The cluster-wide informer for ``resource`` (created on first use), with a
        namespace index."""
        inf = self._informers.get(resource)
        if inf is None:
            lw = self.client.list_watcher(resource)
            inf = Informer(lw, self.clock, self.options, name=resource)
            inf.add_index(NAMESPACE_INDEX, namespace_index)
            self._informers[resource] = inf
            if self._tasks:  # factory already running: start late joiners too
                self._tasks.append(asyncio.create_task(inf.run(), name=f"informer-{resource}"))
        return inf

    def start(self) -> None:
        for name, inf in self._informers.items():
            self._tasks.append(asyncio.create_task(inf.run(), name=f"informer-{name}"))

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(inf.wait_for_sync() for inf in self._informers.values()))

    def synced(self) -> bool:
        return all(inf.has_synced() for inf in self._informers.values())

    async def stop(self) -> None:
        for inf in self._informers.values():
            inf.stop()
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
