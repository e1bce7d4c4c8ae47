"""The proxier: informer events in, one rules transaction per sync out.

Handlers only record (``ServiceChangeTracker``, ``EndpointSliceCache``); :meth:`Proxier.sync`
checks out what changed, plans the changed Service ports (:mod:`sliceplane.proxy.topology`)
and hands them to the mode (nftables, iptables, ipvs or userspace), which renders and
applies. A partial sync plans and renders only the Services that changed; a full sync
(the first one, after a failure, after the node's zone changed, and every
``--full-sync-period``) renders everything and repairs whatever was changed behind our back.
No I/O happens here except through the mode's backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from sliceplane.api.meta import Obj, labels_of, meta_of
from sliceplane.api.wellknown import LABEL_ZONE
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.model import Family, ServiceName, ServicePortName
from sliceplane.proxy.services import ServiceChangeTracker
from sliceplane.proxy.slicecache import EndpointSliceCache, slice_accepted_by_labels
from sliceplane.proxy.topology import PortPlan, plan_port

log = logging.getLogger(__name__)


class NeedFullSync(Exception):
    """Raised by a mode's partial sync when only a full one can be right (e.g. iptables'
    large-cluster mode flipped): the proxier then does a full sync at once."""


class Mode(Protocol):
    """A data-plane backend: renders plans and applies them."""

    name: str
    cfg: RenderConfig
    """What the renderers are told about the node and the flags (replaced, never mutated)."""

    def sync(
        self, plans: Mapping[ServicePortName, PortPlan], changed: set[ServicePortName] | None
    ) -> None:
        """Apply. ``changed`` None: full sync, ``plans`` holds every port; otherwise
        ``plans`` holds the changed ports that still exist and ``changed`` also names the
        removed ones. Raises on failure (the proxier then does a full sync next)."""

    def render_full(self, plans: Mapping[ServicePortName, PortPlan]) -> str:
        """The complete ruleset text a full sync would apply (``--dry-run``)."""

    def cleanup(self) -> None:
        """Remove everything this mode ever created."""


@dataclass
class SyncResult:
    full: bool
    duration: float
    services: int
    changed_ports: int
    trigger_times: dict[ServiceName, list[datetime]] = field(default_factory=dict)


class Proxier:
    def __init__(self, node_name: str, family: Family, mode: Mode) -> None:
        self.node_name = node_name
        self.family = family
        self.mode = mode
        self.services = ServiceChangeTracker(family)
        self.slices = EndpointSliceCache(node_name, family)
        self.zone = ""
        self.need_full = True
        self._ports: dict[ServiceName, set[ServicePortName]] = {}

    # -- informer handlers ---------------------------------------------------------------

    def on_service(self, svc: Obj) -> bool:
        return self.services.update(svc)

    def on_service_delete(self, svc: Obj) -> bool:
        return self.services.delete(svc)

    def on_slice(self, es: Obj) -> bool:
        if not slice_accepted_by_labels(es):
            return self.slices.delete(es)
        return self.slices.update(es)

    def on_slice_delete(self, es: Obj) -> bool:
        return self.slices.delete(es)

    def on_service_cidrs(self, cidrs: tuple[str, ...]) -> None:
        """This family's Service ranges changed. Like kube-proxy, no sync is asked for: the
        drop rule they feed is part of the setup a full sync writes."""
        cfg = self.mode.cfg
        if cfg.service_cidrs != cidrs:
            self.mode.cfg = replace(cfg, service_cidrs=cidrs)

    def on_node(self, node: Obj) -> bool:
        meta = meta_of(node)
        if meta.get("name") != self.node_name:
            return False
        zone = str(labels_of(node).get(LABEL_ZONE) or "")
        if zone == self.zone:
            return False
        self.zone = zone
        self.need_full = True
        return True

    # -- planning ------------------------------------------------------------------------

    def _plans_for(self, names: set[ServiceName]) -> dict[ServicePortName, PortPlan]:
        out: dict[ServicePortName, PortPlan] = {}
        for svc in names:
            ports = self.services.by_service.get(svc)
            if not ports:
                continue
            eps = self.slices.endpoints(svc)
            for spn, sp in ports.items():
                out[spn] = plan_port(sp, eps.get(spn, ()), self.node_name, self.zone)
        return out

    def all_plans(self) -> dict[ServicePortName, PortPlan]:
        return self._plans_for(set(self.services.by_service))

    def sync(self, *, full: bool = False) -> SyncResult:
        start = time.perf_counter()
        full = full or self.need_full
        svc_changed = self.services.checkout()
        ep_changed, trigger_times = self.slices.checkout()
        changed_services = svc_changed | ep_changed
        if full:
            plans = self.all_plans()
            changed: set[ServicePortName] | None = None
        else:
            plans = self._plans_for(changed_services)
            changed = set(plans)
            for svc in changed_services:
                changed |= self._ports.get(svc, set())
        try:
            try:
                self.mode.sync(plans, changed)
            except NeedFullSync:
                if full:
                    raise
                plans, changed, full = self.all_plans(), None, True
                self.mode.sync(plans, changed)
        except Exception:
            self.need_full = True
            raise
        self.need_full = False
        if full:
            self._ports = {}
        else:
            for svc in changed_services:
                self._ports.pop(svc, None)
        for spn in plans:
            self._ports.setdefault(spn.service, set()).add(spn)
        return SyncResult(
            full=full,
            duration=time.perf_counter() - start,
            services=len(self.services.by_service),
            changed_ports=len(plans) if changed is None else len(changed),
            trigger_times={k: v for k, v in trigger_times.items() if k in ep_changed},
        )

    def dry_run(self) -> str:
        return self.mode.render_full(self.all_plans())
