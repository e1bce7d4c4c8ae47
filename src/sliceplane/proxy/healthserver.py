"""Health check node ports, the I/O part: one aiohttp listener per port, kept in step with
the proxier after every successful sync (kube-proxy calls ``SyncServices`` and
``SyncEndpoints`` at the end of each ``syncProxyRules``).

Decisions live in :mod:`sliceplane.proxy.healthcheck`; this module only opens and closes
sockets. A sync is synchronous and must stay fast, so :meth:`ServiceHealthServer.sync`
updates the table at once (a probe sees the new endpoint count immediately) and leaves
opening and closing listeners to one background task, which works from the table's
current state until nothing differs: closes before opens, so a port handed from one
Service to another is free when it is bound again, and a burst of syncs costs one pass.
A port that cannot be bound (in use) is logged and tried again at the next sync, as
upstream does.

As upstream, each address family has its own server (the IPv4 proxier's Services listen
on IPv4 addresses, the IPv6 one's on IPv6, ``::`` without dual binding), and the handler
answers every method and path: a balancer's probe path is its own business.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping

from aiohttp import web

from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.healthcheck import (
    HealthTable,
    bind_hosts,
    health_check_ports,
    local_ready_endpoints,
)
from sliceplane.proxy.model import Endpoint, Family, ServiceName, ServicePortName
from sliceplane.proxy.proxier import Proxier

log = logging.getLogger(__name__)


class ServiceHealthServer:
    """One family's health check node ports (upstream's ``ServiceHealthServer``)."""

    def __init__(self, hosts: tuple[str, ...], proxy_healthy: Callable[[], bool]) -> None:
        self.hosts = hosts
        self.table = HealthTable()
        self._proxy_healthy = proxy_healthy
        self._open: dict[ServiceName, tuple[int, web.ServerRunner]] = {}
        self._task: asyncio.Task[None] | None = None
        self._again = False

    @property
    def listening(self) -> dict[ServiceName, int]:
        """Service → port of the listeners actually open now."""
        return {svc: port for svc, (port, _) in self._open.items()}

    def sync(self, ports: Mapping[ServiceName, int], counts: Mapping[ServiceName, int]) -> None:
        """``SyncServices(ports)`` then ``SyncEndpoints(counts)``; listeners follow soon."""
        closed, opened = self.table.sync_services(ports)
        self.table.sync_endpoints(counts)
        for svc, port in closed.items():
            log.info("closing health check for %s on port %d", svc, port)
        for svc, port in opened.items():
            log.info("opening health check for %s on port %d", svc, port)
        if closed or opened or self.listening != self.table.ports:
            self._kick()

    def _kick(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True  # the running pass looks once more before it ends
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous caller (unit tests): nothing can listen
            log.debug("no event loop: health check listeners not changed")
            return
        self._task = loop.create_task(self._reconcile(), name="proxy-health-check-ports")

    async def _reconcile(self) -> None:
        while True:
            self._again = False
            try:
                await self._pass()
            except Exception:  # unexpected; the next sync tries again
                log.exception("health check listeners")
                return
            if not self._again:
                return

    async def _pass(self) -> None:
        for svc, (port, runner) in list(self._open.items()):
            if self.table.ports.get(svc) != port:
                del self._open[svc]
                await runner.cleanup()
        for svc, port in list(self.table.ports.items()):
            if svc in self._open:
                continue
            opened = await self._listen(svc, port)
            if opened is None:
                self.table.forget(svc, port)
            else:
                self._open[svc] = (port, opened)

    async def _listen(self, svc: ServiceName, port: int) -> web.ServerRunner | None:
        handler = functools.partial(self._handle, svc)
        runner = web.ServerRunner(web.Server(handler, access_log=None))
        await runner.setup()
        try:
            for host in self.hosts:
                await web.TCPSite(runner, host, port).start()
        except OSError as exc:  # whatever opened is closed, so a retry starts clean
            log.error("failed to start health check for %s on port %d: %s", svc, port, exc)
            await runner.cleanup()
            return None
        return runner

    async def _handle(self, svc: ServiceName, _: web.BaseRequest) -> web.Response:
        got = self.table.answer(svc, self._proxy_healthy())
        return web.Response(status=got.status, body=got.body.encode(), headers=dict(got.headers))

    async def settle(self) -> None:
        """Wait until the listeners match the table (tests; shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Close every listener."""
        self.table.sync_services({})
        self._kick()
        await self.settle()


class HealthChecks:
    """The proxy's health check node ports: a :class:`ServiceHealthServer` per family,
    created at that family's first sync, where this mode's NodePorts answer."""

    def __init__(self, mode: str, proxy_healthy: Callable[[], bool]) -> None:
        self.mode = mode
        self.proxy_healthy = proxy_healthy
        self.servers: dict[Family, ServiceHealthServer] = {}

    def after_sync(self, proxier: Proxier, cfg: RenderConfig) -> None:
        """Bring the family's health servers in line with the proxier just synced.

        A proxy on no node (the host of ``sliceplane up``) has no local endpoints to
        report, so it opens nothing rather than a port that always says 503."""
        if not proxier.node_name:
            return
        server = self.servers.get(proxier.family)
        if server is None:
            hosts = bind_hosts(self.mode, proxier.family, cfg.nodeport_ips, cfg.node_ip)
            server = self.servers[proxier.family] = ServiceHealthServer(hosts, self.proxy_healthy)
        # One port per Service (every port of it carries the same value), so the first will do.
        ports = health_check_ports(
            next(iter(sps.values())) for sps in proxier.services.by_service.values() if sps
        )
        endpoints: dict[ServicePortName, tuple[Endpoint, ...]] = {}
        for svc in ports:
            endpoints.update(proxier.slices.endpoints(svc))
        server.sync(ports, local_ready_endpoints(endpoints))

    async def close(self) -> None:
        for server in self.servers.values():
            await server.close()
