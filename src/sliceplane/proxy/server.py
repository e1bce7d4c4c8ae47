"""``sliceplane proxy`` as a process: informers, proxiers per family, the sync loop,
``/healthz`` and ``/metrics``.

Watches what kube-proxy watches (``cmd/kube-proxy/app/server.go``): Services and
EndpointSlices without the ``service.kubernetes.io/service-proxy-name`` and
``service.kubernetes.io/headless`` labels, and this node's Node (zone label, addresses).
The address families come from the Node's InternalIP addresses and ``--cluster-cidr``
(IPv4 when neither says otherwise); each family gets its own proxier, as kube-proxy's
dual-stack meta-proxier does. SIGTERM stops the process and leaves the rules in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sliceplane.api.hostport import parse_hostport
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock, RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.gctuning import collection_paused
from sliceplane.machinery.informer import Informer, strip_managed_fields
from sliceplane.machinery.serving import serve
from sliceplane.machinery.tasks import run_until_signalled
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.healthserver import HealthChecks
from sliceplane.proxy.metrics import ProxyMetrics
from sliceplane.proxy.model import Family
from sliceplane.proxy.proxier import Mode, Proxier, SyncResult
from sliceplane.proxy.servicecidrs import ServiceCIDRSet
from sliceplane.proxy.slicecache import PROXY_LABEL_SELECTOR
from sliceplane.proxy.syncloop import SyncLoop

log = logging.getLogger(__name__)

MODES = ("nftables", "iptables", "ipvs", "userspace")


class ConfigError(Exception):
    """A bad flag or an unusable environment: one line, exit 2."""


@dataclass
class ProxyConfig:
    kubeconfig: Path | None = None
    hostname_override: str = ""
    proxy_mode: str = "nftables"
    cluster_cidr: str = ""
    masquerade_all: bool = False
    dry_run: bool = False
    cleanup: bool = False
    sync_period: float = 30.0
    min_sync_period: float = 1.0
    full_sync_period: float = 3600.0
    """sliceplane only: how often a sync rewrites everything (kube-proxy's fixed
    ``FullSyncPeriod``, one hour); other syncs touch only what changed."""
    metrics_bind_address: str = "127.0.0.1:10249"
    healthz_bind_address: str = "127.0.0.1:10256"
    masquerade_bit: int = 14

    def cidrs(self) -> dict[Family, str]:
        out: dict[Family, str] = {}
        for part in (p.strip() for p in self.cluster_cidr.split(",") if p.strip()):
            try:
                net = ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ConfigError(f"--cluster-cidr: {part!r} is not a valid CIDR") from None
            fam: Family = 6 if net.version == 6 else 4
            if fam in out:
                raise ConfigError("--cluster-cidr: give at most one IPv4 and one IPv6 CIDR")
            out[fam] = str(net)
        return out

    def validate(self) -> None:
        if self.proxy_mode not in MODES:
            raise ConfigError(f"--proxy-mode: {self.proxy_mode!r} is not one of {', '.join(MODES)}")
        self.cidrs()
        if self.sync_period <= 0:
            raise ConfigError("--sync-period must be greater than 0")
        if self.full_sync_period <= 0:
            raise ConfigError("--full-sync-period must be greater than 0")
        if self.min_sync_period < 0:
            raise ConfigError("--min-sync-period must not be negative")
        if not 0 <= self.masquerade_bit <= 31:
            raise ConfigError("--masquerade-bit must be within [0, 31]")
        for flag, value in (
            ("--metrics-bind-address", self.metrics_bind_address),
            ("--healthz-bind-address", self.healthz_bind_address),
        ):
            if value:
                split_hostport(value, flag)
        if not self.cleanup and not self.hostname_override:
            raise ConfigError("--hostname-override is required (the name of this node)")


def split_hostport(value: str, flag: str) -> tuple[str, int]:
    """kube-proxy's bind addresses: an empty host binds every address."""
    return parse_hostport(value, flag, default_host="0.0.0.0", error=ConfigError)


def families_for(node: dict[str, Any] | None, cidrs: dict[Family, str]) -> list[Family]:
    """IPv4 unless the Node's addresses or ``--cluster-cidr`` say IPv6 or dual-stack."""
    fams: set[Family] = set(cidrs)
    for ip in node_ips(node).values():
        fams.add(6 if ":" in ip else 4)
    return sorted(fams) or [4]


def node_ips(node: dict[str, Any] | None) -> dict[Family, str]:
    """The Node's first InternalIP per family (kube-proxy's primary node IPs)."""
    out: dict[Family, str] = {}
    if node is None:
        return out
    for kind in ("InternalIP", "ExternalIP"):
        for a in (node.get("status") or {}).get("addresses") or ():
            if a.get("type") != kind:
                continue
            try:
                ip = ipaddress.ip_address(str(a.get("address")))
            except ValueError:
                continue
            fam: Family = 6 if ip.version == 6 else 4
            out.setdefault(fam, str(ip))
    return out


def render_config(config: ProxyConfig, family: Family, node: dict[str, Any] | None) -> RenderConfig:
    ip = node_ips(node).get(family, "")
    return RenderConfig(
        family=family,
        masquerade_bit=config.masquerade_bit,
        masquerade_all=config.masquerade_all,
        cluster_cidr=config.cidrs().get(family, ""),
        node_ip=ip,
        nodeport_ips=(ip,) if ip else (),
    )


SERVICE_CIDR_WAIT = 2.0
"""Seconds the first sync waits for the ServiceCIDR list after the Services and slices."""

ModeFactory = Callable[[ProxyConfig, Family, RenderConfig], Mode]


def make_mode(config: ProxyConfig, family: Family, cfg: RenderConfig) -> Mode:
    from sliceplane.proxy.backends import IptablesCommand, NftCommand
    from sliceplane.proxy.modes import IptablesMode, NftablesMode

    if config.proxy_mode == "nftables":
        return NftablesMode(NftCommand("ip6" if family == 6 else "ip"), cfg)
    if config.proxy_mode == "iptables":
        return IptablesMode(IptablesCommand(family), cfg)
    if config.proxy_mode == "ipvs":
        from sliceplane.proxy.ipvs import IpvsMode

        return IpvsMode(None, IptablesCommand(family), cfg)
    from sliceplane.proxy.userspace import UserspaceMode

    return UserspaceMode(cfg)


def dry_run_text(config: ProxyConfig, proxiers: list[Proxier]) -> str:
    parts: list[str] = []
    for i, p in enumerate(proxiers):
        text = p.dry_run()
        if i and config.proxy_mode in ("iptables", "ipvs"):
            parts.append("# ip6tables-restore\n")
        parts.append(text)
    return "".join(parts)


def cleanup_all(families: tuple[Family, ...] = (4, 6)) -> list[str]:
    """Remove what any mode of this proxy created, in both families; returns what it did."""
    from sliceplane.proxy.backends import BackendError, IptablesCommand, NftCommand
    from sliceplane.proxy.ipvs import IpvsMode
    from sliceplane.proxy.modes import IptablesMode, NftablesMode

    done: list[str] = []
    for fam in families:
        cfg = RenderConfig(family=fam)
        for name, mode in (
            ("nftables", NftablesMode(NftCommand("ip6" if fam == 6 else "ip"), cfg)),
            ("iptables", IptablesMode(IptablesCommand(fam), cfg)),
            ("ipvs", IpvsMode(None, IptablesCommand(fam), cfg)),
        ):
            try:
                mode.cleanup()
                done.append(f"{name} IPv{fam}")
            except BackendError as exc:
                log.info("cleanup %s IPv%d: %s", name, fam, exc)
    return done


class ProxyServer:
    """Everything ``sliceplane proxy`` runs, minus argument parsing."""

    def __init__(
        self,
        config: ProxyConfig,
        client: Client,
        *,
        clock: Clock | None = None,
        mode_factory: ModeFactory = make_mode,
    ) -> None:
        self.config = config
        self.client = client
        self.clock = clock or RealClock()
        self.mode_factory = mode_factory
        self.metrics = ProxyMetrics()
        self.proxiers: list[Proxier] = []
        self.loop: SyncLoop | None = None
        self.last_synced: dict[Family, float] = {}
        # nothing in the proxy reads managedFields: the caches need not keep them
        self.factory = InformerFactory(client, self.clock, transform=strip_managed_fields)
        self.node: dict[str, Any] | None = None
        self.service_cidrs = ServiceCIDRSet()
        self.health_checks = HealthChecks(config.proxy_mode, lambda: self.health()[0])

    async def start(self) -> None:
        """Watch, wait for the caches, build the proxiers (no rules written yet)."""
        node = self.config.hostname_override
        nodes: Informer | None = None
        if node:  # without a name (the host of `sliceplane up`) the proxy is on no node
            nodes = self.factory.informer("nodes", field_selector=f"metadata.name={node}")
            self.factory.start()
            await nodes.wait_for_sync()
            self.node = nodes.store.get(node)
            if self.node is None:
                log.warning("node %s not found; no zone, NodePorts on every local address", node)
        fams = families_for(self.node, self.config.cidrs())
        for fam in fams:
            cfg = render_config(self.config, fam, self.node)
            p = Proxier(node, fam, self.mode_factory(self.config, fam, cfg))
            if self.node is not None:
                p.on_node(self.node)
            self.proxiers.append(p)
        svcs = self.factory.informer("services", label_selector=PROXY_LABEL_SELECTOR)
        slices = self.factory.informer("endpointslices", label_selector=PROXY_LABEL_SELECTOR)
        svcs.add_handler(self._svc, lambda _o, n: self._svc(n), self._svc_del)
        slices.add_handler(self._es, lambda _o, n: self._es(n), self._es_del)
        if nodes is not None:
            nodes.add_handler(self._node, lambda _o, n: self._node(n), None)
        cidrs: Informer | None = None
        if self.config.proxy_mode == "nftables":  # the one mode with a rule from them
            cidrs = self.factory.informer("servicecidrs")
            cidrs.add_handler(
                lambda n: self._cidr(None, n), self._cidr, lambda o: self._cidr(o, None)
            )
        self.factory.start()  # the ones not running yet
        await asyncio.gather(svcs.wait_for_sync(), slices.wait_for_sync())
        if cidrs is not None:
            # kube-proxy does not wait for its ServiceCIDR informer, whose list is all but
            # always in before the first sync; a short wait makes that certain here, and a
            # server that does not serve ServiceCIDRs only costs these seconds.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cidrs.wait_for_sync(), SERVICE_CIDR_WAIT)
        # What the initial lists built lives as long as the process: move it out of the
        # collector's generations, so the collections that rendering's allocations set off
        # no longer walk every cached object (gc.freeze's documented use).
        gc.collect()
        gc.freeze()

    def _changed(self, changed: bool) -> None:
        if changed and self.loop is not None:
            self.loop.request()
            now = time.time()
            for p in self.proxiers:
                self.metrics.last_queued.labels(_fam(p.family)).set(now)

    def _svc(self, obj: dict[str, Any]) -> None:
        changed = any([p.on_service(obj) for p in self.proxiers])
        if changed:
            self.metrics.service_changes.inc()
        self._changed(changed)

    def _svc_del(self, obj: dict[str, Any]) -> None:
        changed = any([p.on_service_delete(obj) for p in self.proxiers])
        if changed:
            self.metrics.service_changes.inc()
        self._changed(changed)

    def _es(self, obj: dict[str, Any]) -> None:
        changed = any([p.on_slice(obj) for p in self.proxiers])
        if changed:
            self.metrics.endpoint_changes.inc()
        self._changed(changed)

    def _es_del(self, obj: dict[str, Any]) -> None:
        changed = any([p.on_slice_delete(obj) for p in self.proxiers])
        if changed:
            self.metrics.endpoint_changes.inc()
        self._changed(changed)

    def _cidr(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self.service_cidrs.update(old, new)
        for p in self.proxiers:
            p.on_service_cidrs(self.service_cidrs.for_family(p.family))

    def _node(self, obj: dict[str, Any]) -> None:
        self.node = obj
        self._changed(any([p.on_node(obj) for p in self.proxiers]))

    def sync(self, full: bool) -> None:
        errors: list[Exception] = []
        for p in self.proxiers:
            fam = _fam(p.family)
            try:
                with collection_paused():  # a sync's garbage goes by reference counting
                    result = p.sync(full=full)
            except Exception as exc:
                failures = (
                    self.metrics.nftables_failures
                    if self.config.proxy_mode == "nftables"
                    else self.metrics.iptables_failures
                )
                failures.labels(fam).inc()
                errors.append(exc)
                continue
            self._observe(p.family, result)
            self.health_checks.after_sync(p, render_config(self.config, p.family, self.node))
        if errors:
            raise errors[0]

    def _observe(self, family: Family, result: SyncResult) -> None:
        fam = _fam(family)
        self.metrics.sync_duration.labels(fam).observe(result.duration)
        (
            self.metrics.sync_full_duration if result.full else self.metrics.sync_partial_duration
        ).labels(fam).observe(result.duration)
        self.metrics.last_sync.labels(fam).set(time.time())
        self.last_synced[family] = self.clock.now()
        now = datetime.now(UTC)
        for times in result.trigger_times.values():
            for t in times:
                self.metrics.network_programming.labels(fam).observe(
                    max(0.0, (now - t).total_seconds())
                )

    def health(self) -> tuple[bool, dict[str, Any]]:
        """kube-proxy's rule: unhealthy when a queued update waits longer than 2 x sync-period."""
        now_wall = datetime.now(UTC)
        healthy = True
        if self.loop is not None and self.loop.queued_at is not None:
            healthy = self.clock.now() - self.loop.queued_at < 2 * self.config.sync_period
        last = max(self.last_synced.values(), default=None)
        last_wall = (
            now_wall if healthy else _wall_of(self.clock, last) if last is not None else None
        )
        doc: dict[str, Any] = {
            "lastUpdated": _iso(last_wall),
            "currentTime": _iso(now_wall),
            "nodeEligible": True,
        }
        return healthy, doc

    async def serve_http(self) -> list[Any]:
        from aiohttp import web
        from prometheus_client import generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        async def healthz(_: web.Request) -> web.Response:
            ok, doc = self.health()
            code = 200 if ok else 503
            self.metrics.healthz.labels(str(code)).inc()
            return web.json_response(doc, status=code)

        async def livez(_: web.Request) -> web.Response:
            ok, doc = self.health()
            code = 200 if ok else 503
            self.metrics.livez.labels(str(code)).inc()
            doc.pop("nodeEligible", None)
            return web.json_response(doc, status=code)

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(self.metrics.registry),
                headers={"Content-Type": CONTENT_TYPE_LATEST},
            )

        runners: list[Any] = []
        health_routes = {"/healthz": healthz, "/livez": livez}
        specs = [
            (self.config.healthz_bind_address, "--healthz-bind-address", health_routes),
            (
                self.config.metrics_bind_address,
                "--metrics-bind-address",
                {"/metrics": metrics, **health_routes},
            ),
        ]
        for address, flag, routes in specs:
            if not address:
                continue
            try:
                runner = await serve(
                    address, flag, routes, default_host="0.0.0.0", error=ConfigError
                )
            except ConfigError:
                for r in runners:
                    await r.cleanup()
                raise
            runners.append(runner)
        return runners

    async def run_forever(self) -> None:
        self.loop = SyncLoop(
            self.sync,
            self.clock,
            min_sync_period=self.config.min_sync_period,
            sync_period=self.config.sync_period,
            full_sync_period=self.config.full_sync_period,
        )
        await self.loop.run()

    async def stop(self) -> None:
        await self.factory.stop()


def _fam(family: Family) -> str:
    return "IPv6" if family == 6 else "IPv4"


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def _wall_of(clock: Clock, mono: float) -> datetime:
    return datetime.fromtimestamp(time.time() - (clock.now() - mono), UTC)


async def probe(client: Client, timeout: float = 10.0) -> None:
    """Fail fast with one line when the API server cannot be reached."""
    import aiohttp

    from sliceplane.api.errors import StatusError

    try:
        await asyncio.wait_for(client.request("GET", "/version"), timeout)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise ConfigError(f"cannot reach the API server at {client.conn.server}: {exc}") from None
    except StatusError as exc:
        if exc.code in (401, 403):
            raise ConfigError(f"the API server at {client.conn.server} refused us: {exc}") from None


async def run(config: ProxyConfig, *, out: TextIO = sys.stdout) -> None:
    """``sliceplane proxy``: until SIGTERM/SIGINT (rules stay), or once for --dry-run."""
    config.validate()
    if config.cleanup:
        for what in cleanup_all():
            log.info("removed %s rules", what)
        return
    try:
        client = await Client.connect(str(config.kubeconfig) if config.kubeconfig else None)
    except Exception as exc:
        raise ConfigError(f"--kubeconfig: {exc}") from None
    server = ProxyServer(config, client)
    try:
        await probe(client)
        await server.start()
        if config.dry_run:
            out.write(dry_run_text(config, server.proxiers))
            out.flush()
            return
        runners = await server.serve_http()
        await run_until_signalled(server.run_forever())
        for r in runners:
            await r.cleanup()
        await server.health_checks.close()
        for p in server.proxiers:
            closer = getattr(p.mode, "aclose", None)
            if closer is not None:
                await closer()
    finally:
        await server.stop()
        await client.close()


def health_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc)
