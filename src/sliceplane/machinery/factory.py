"""Shared informers: one list+watch per resource, however many controllers read it.

The EndpointSlice, mirroring and Endpoints controllers all read Services (and two of them
Pods); running one informer per resource keeps the API server's load and our memory at
one copy, as client-go's SharedInformerFactory does.

An informer may also be restricted by label and field selectors (kube-proxy watches only
the Services and EndpointSlices it serves, and its own Node). Informers are keyed by
(resource, label selector, field selector): readers asking for the same collection share
one list+watch, and a restricted informer never serves a reader that wants everything.
client-go ties the selectors to a whole factory (``WithTweakListOptions``); keying them per
informer lets one factory serve the proxy's Services, slices and Node together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.informer import Informer, InformerOptions, Transform, namespace_index
from sliceplane.machinery.tasks import cancel_and_wait

log = logging.getLogger(__name__)

NAMESPACE_INDEX = "namespace"


@dataclass(frozen=True, slots=True)
class InformerKey:
    """Which collection an informer holds: a resource and its selectors (``""``: none)."""

    resource: str
    label_selector: str = ""
    field_selector: str = ""

    def name(self) -> str:
        """The informer's name in logs and task names: the resource, then its selectors."""
        sels = ",".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{self.resource}[{sels}]" if sels else self.resource


class InformerFactory:
    """Creates informers on demand, starts them together, stops them together."""

    def __init__(
        self,
        client: Client,
        clock: Clock,
        options: InformerOptions | None = None,
        *,
        transform: Transform | None = None,
        resource_transforms: Mapping[str, Transform] | None = None,
    ) -> None:
        """``transform``: given to every informer (see :data:`~sliceplane.machinery.
        informer.Transform`), as client-go's ``WithTransform`` factory option; only for
        transforms every reader of every informer can live with. ``resource_transforms``:
        per resource, a transform used instead of ``transform`` for that resource's
        informers (client-go sets one per informer, ``SetTransform``); it should do what
        ``transform`` does too."""
        self.client = client
        self.clock = clock
        self.options = options
        self.transform = transform
        self.resource_transforms = dict(resource_transforms or {})
        self._informers: dict[InformerKey, Informer] = {}
        self._tasks: dict[InformerKey, asyncio.Task[None]] = {}
        self._started = False

    def informer(
        self,
        resource: str,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Informer:
        """The cluster-wide informer for ``resource`` restricted by the selectors, if any
        (created on first use), with a namespace index. An empty selector is no selector."""
        key = InformerKey(resource, label_selector or "", field_selector or "")
        inf = self._informers.get(key)
        if inf is None:
            if key.label_selector or key.field_selector:
                lw = self.client.list_watcher(
                    resource,
                    label_selector=key.label_selector or None,
                    field_selector=key.field_selector or None,
                )
            else:
                lw = self.client.list_watcher(resource)
            inf = Informer(
                lw,
                self.clock,
                self.options,
                name=key.name(),
                transform=self.resource_transforms.get(resource, self.transform),
            )
            inf.add_index(NAMESPACE_INDEX, namespace_index)
            self._informers[key] = inf
            if self._started:  # factory already running: start late joiners too
                self._start(key, inf)
        return inf

    def _start(self, key: InformerKey, inf: Informer) -> None:
        self._tasks[key] = asyncio.create_task(inf.run(), name=f"informer-{inf.name}")

    def start(self) -> None:
        """Run every informer created so far; later ones start as they are created."""
        self._started = True
        for key, inf in self._informers.items():
            if key not in self._tasks:
                self._start(key, inf)

    async def wait_for_sync(self) -> None:
        await asyncio.gather(*(inf.wait_for_sync() for inf in self._informers.values()))

    def synced(self) -> bool:
        return all(inf.has_synced() for inf in self._informers.values())

    async def stop(self) -> None:
        for inf in self._informers.values():
            inf.stop()
        await cancel_and_wait(self._tasks.values())
        self._tasks.clear()
        self._started = False
