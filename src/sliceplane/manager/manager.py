"""``sliceplane controller``: start the selected controllers against any API server.

The same entry point serves the CLI and in-process use (the local cluster starts the
controllers with :func:`run_controllers`). With leader election on, controllers run only
while this process holds the Lease, and stop when it is lost, so two replicas never both
write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sliceplane.api.hostport import parse_hostport
from sliceplane.client.client import JSON, PROTOBUF, Client
from sliceplane.client.leases import ClientLeaseClient
from sliceplane.client.throttle import DEFAULT_BURST, DEFAULT_QPS, throttle_for
from sliceplane.endpointbase.podcache import compact_pod
from sliceplane.endpoints.controller import EndpointsController, EndpointsControllerOptions
from sliceplane.endpointslice.controller import ControllerOptions, EndpointSliceController
from sliceplane.machinery import tasks
from sliceplane.machinery.clock import Clock, RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import strip_managed_fields
from sliceplane.machinery.leaderelection import LeaderElectionConfig, LeaderElector
from sliceplane.machinery.serving import serve
from sliceplane.mirroring.controller import MirroringController, MirroringControllerOptions

log = logging.getLogger(__name__)

ALL_CONTROLLERS = ("endpointslice", "endpointslicemirroring", "endpoints")


class ConfigError(ValueError):
    """A setting out of range; the CLI prints it as one line and exits 2."""


@dataclass(slots=True)
class ManagerConfig:
    """Settings, named and bounded like kube-controller-manager's flags."""

    kubeconfig: Path | None = None
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    max_endpoints_per_slice: int = 100
    """1…1000."""
    concurrent_service_endpoint_syncs: int = 5
    """1…50."""
    endpointslice_updates_batch_period: float = 0.0
    """Seconds, >= 0."""
    endpointslice_write_backoff: float = 0.0
    """Seconds, >= 0; sliceplane's own: after writing a Service's slices, hold further
    pod-driven syncs of it back this long, doubling up to 4x while it keeps changing.
    0 (the default) behaves as upstream."""
    endpointslice_min_write_period: float = 0.2
    """Seconds, >= 0; sliceplane's own: pod-driven syncs of a Service with 10,000 or more
    endpoints start at least this long after its last writing sync started (proportionally
    less for smaller Services), so changes share writes as kube-controller-manager's
    slower syncs make them. 0 behaves as upstream."""
    mirroring_max_endpoints_per_subset: int = 1000
    """1…1000."""
    kube_api_qps: float = DEFAULT_QPS
    """Requests per second each controller's client may make; 0 means the default,
    negative means unlimited."""
    kube_api_burst: int = DEFAULT_BURST
    """Bucket size of that limit; 0 means the default."""
    kube_api_content_type: str = "application/json"
    """How the controllers' writes are encoded (kube-controller-manager's
    ``--kube-api-content-type``); ``sliceplane controller`` defaults to protobuf as it does,
    while in-process users (``sliceplane up``, tests) keep JSON."""
    leader_elect: bool = False
    leader_elect_namespace: str = "kube-system"
    leader_elect_name: str = "sliceplane-controller-manager"
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    metrics_bind_address: str | None = "127.0.0.1:10257"
    identity: str = field(default_factory=lambda: default_identity())
    """Who we are in the Lease: ``<hostname>_<pid>_<random>`` (unique per process)."""

    def validate(self) -> None:
        unknown = [c for c in self.controllers if c not in ALL_CONTROLLERS]
        if unknown:
            raise ConfigError(
                f"--controllers: unknown controller {unknown[0]!r} "
                f"(known: {', '.join(ALL_CONTROLLERS)})"
            )
        if not 1 <= self.max_endpoints_per_slice <= 1000:
            raise ConfigError(
                f"--max-endpoints-per-slice: {self.max_endpoints_per_slice} must be between "
                "1 and 1000"
            )
        if not 1 <= self.concurrent_service_endpoint_syncs <= 50:
            raise ConfigError(
                "--concurrent-service-endpoint-syncs: "
                f"{self.concurrent_service_endpoint_syncs} must be between 1 and 50"
            )
        if not 1 <= self.mirroring_max_endpoints_per_subset <= 1000:
            raise ConfigError(
                "--mirroring-max-endpoints-per-subset: "
                f"{self.mirroring_max_endpoints_per_subset} must be between 1 and 1000"
            )
        if self.endpointslice_updates_batch_period < 0:
            raise ConfigError("--endpointslice-updates-batch-period must not be negative")
        if self.endpointslice_write_backoff < 0:
            raise ConfigError("--endpointslice-write-backoff must not be negative")
        if self.endpointslice_min_write_period < 0:
            raise ConfigError("--endpointslice-min-write-period must not be negative")
        if self.kube_api_burst < 0:
            raise ConfigError(f"--kube-api-burst: {self.kube_api_burst} must not be negative")
        if self.kube_api_content_type not in (JSON, PROTOBUF):
            raise ConfigError(
                f"--kube-api-content-type: {self.kube_api_content_type!r} is neither "
                f"{JSON} nor {PROTOBUF}"
            )
        if self.metrics_bind_address:
            metrics_hostport(self.metrics_bind_address)


class Runnable(Protocol):
    async def run(self) -> None: ...


ControllerFactory = Callable[[Client, InformerFactory, Clock, ManagerConfig], Any]


def _endpointslice(
    client: Client, factory: InformerFactory, clock: Clock, cfg: ManagerConfig
) -> EndpointSliceController:
    return EndpointSliceController(
        client,
        factory,
        clock,
        ControllerOptions(
            max_endpoints_per_slice=cfg.max_endpoints_per_slice,
            concurrent_syncs=cfg.concurrent_service_endpoint_syncs,
            batch_period=cfg.endpointslice_updates_batch_period,
            min_write_interval=cfg.endpointslice_write_backoff,
            max_write_interval=4 * cfg.endpointslice_write_backoff,
            write_period=cfg.endpointslice_min_write_period,
        ),
    )


def _mirroring(
    client: Client, factory: InformerFactory, clock: Clock, cfg: ManagerConfig
) -> MirroringController:
    return MirroringController(
        client,
        factory,
        clock,
        MirroringControllerOptions(
            max_endpoints_per_subset=cfg.mirroring_max_endpoints_per_subset,
            concurrent_syncs=cfg.concurrent_service_endpoint_syncs,
        ),
    )


def _endpoints(
    client: Client, factory: InformerFactory, clock: Clock, cfg: ManagerConfig
) -> EndpointsController:
    return EndpointsController(
        client,
        factory,
        clock,
        EndpointsControllerOptions(
            concurrent_syncs=cfg.concurrent_service_endpoint_syncs,
            batch_period=cfg.endpointslice_updates_batch_period,
        ),
    )


FACTORIES: dict[str, ControllerFactory] = {
    "endpointslice": _endpointslice,
    "endpointslicemirroring": _mirroring,
    "endpoints": _endpoints,
}


@dataclass
class Manager:
    """Started controllers plus what serves their metrics."""

    config: ManagerConfig
    client: Client
    clock: Clock
    controllers: dict[str, Any] = field(default_factory=dict)
    factory: InformerFactory | None = None
    leading: asyncio.Event = field(default_factory=asyncio.Event)

    def explain(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The EndpointSlice controller's explanation for a Service (None if unknown)."""
        es = self.controllers.get("endpointslice")
        if not isinstance(es, EndpointSliceController):
            return None
        found = es.explain(namespace, name)
        return None if found is None else found.to_dict()

    def registries(self) -> list[CollectorRegistry]:
        out = []
        for c in self.controllers.values():
            metrics = getattr(c, "metrics", None)
            if metrics is not None:
                out.append(metrics.registry)
        return out

    def _build(self, factory: InformerFactory) -> None:
        self.factory = factory
        cfg = self.config
        # One throttled client per controller, as kube-controller-manager builds one
        # rate-limited clientset per controller; informers keep the unthrottled client.
        self.controllers = {
            name: FACTORIES[name](
                self.client.throttled(throttle_for(cfg.kube_api_qps, cfg.kube_api_burst)).writing(
                    cfg.kube_api_content_type
                ),
                factory,
                self.clock,
                cfg,
            )
            for name in cfg.controllers
        }

    async def run_controllers(self) -> None:
        """Build informers and controllers, then run until cancelled."""
        # As kube-controller-manager: no controller reads managedFields, so no informer of
        # this process keeps them (a third of a kubelet-written pod's memory). Pods are
        # cut further, to the fields the endpoint controllers read (endpointbase.podcache).
        factory = InformerFactory(
            self.client,
            self.clock,
            transform=strip_managed_fields,
            resource_transforms={"pods": compact_pod},
        )
        self._build(factory)
        factory.start()
        self.leading.set()
        try:
            await asyncio.gather(*(c.run() for c in self.controllers.values()))
        finally:
            self.leading.clear()
            await factory.stop()

    async def run_with_factory(self, factory: InformerFactory) -> None:
        """Run the controllers on informers shared with other components (the local
        cluster); the caller starts and stops the factory."""
        self._build(factory)
        self.leading.set()
        try:
            await asyncio.gather(*(c.run() for c in self.controllers.values()))
        finally:
            self.leading.clear()

    async def run(self) -> None:
        if not self.config.leader_elect:
            await self.run_controllers()
            return
        cfg = self.config
        elector = LeaderElector(
            ClientLeaseClient(self.client),
            LeaderElectionConfig(
                namespace=cfg.leader_elect_namespace,
                name=cfg.leader_elect_name,
                identity=cfg.identity,
                lease_duration=cfg.leader_elect_lease_duration,
                renew_deadline=cfg.leader_elect_renew_deadline,
                retry_period=cfg.leader_elect_retry_period,
                release_on_cancel=True,
            ),
            self.clock,
            on_started_leading=self.run_controllers,
            on_new_leader=lambda who: log.info("leader is now %s", who),
        )
        await elector.run()
        # Losing the lease ends the process, as kube-controller-manager does: a restart
        # starts from fresh caches instead of trusting state built while not leading.
        raise LeadershipLost(f"{cfg.identity} lost the lease {cfg.leader_elect_name}")


class LeadershipLost(RuntimeError):
    pass


def metrics_hostport(address: str) -> tuple[str, int]:
    """``--metrics-bind-address``; an empty host is loopback."""
    return parse_hostport(
        address, "--metrics-bind-address", default_host="127.0.0.1", error=ConfigError
    )


async def serve_metrics(
    address: str,
    registries: Callable[[], list[CollectorRegistry]],
    healthy: Callable[[], bool],
    explain: Callable[[str, str], dict[str, Any] | None] | None = None,
) -> web.AppRunner:
    """``/metrics``, ``/healthz`` and ``/debug/endpointslice/<ns>/<service>`` (why each pod
    is or is not an endpoint) on ``host:port`` (plain HTTP, loopback by default)."""

    async def metrics(_: web.Request) -> web.Response:
        body = b"".join(generate_latest(r) for r in registries())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok" if healthy() else "not ok", status=200 if healthy() else 500)

    async def debug(request: web.Request) -> web.Response:
        if explain is None:
            return web.json_response({"error": "no EndpointSlice controller here"}, status=404)
        doc = explain(request.match_info["namespace"], request.match_info["name"])
        if doc is None:
            return web.json_response({"error": "service not found in the cache"}, status=404)
        return web.json_response(doc)

    routes = {
        "/metrics": metrics,
        "/healthz": healthz,
        "/debug/endpointslice/{namespace}/{name}": debug,
    }
    return await serve(
        address, "--metrics-bind-address", routes, default_host="127.0.0.1", error=ConfigError
    )


async def run(
    config: ManagerConfig, *, started: Callable[[Manager], Awaitable[None]] | None = None
) -> None:
    """Connect, serve metrics, run (with leader election if asked) until cancelled."""
    config.validate()
    client = await Client.connect(str(config.kubeconfig) if config.kubeconfig else None)
    manager = Manager(config, client, RealClock())
    runner = None
    try:
        if config.metrics_bind_address:
            runner = await serve_metrics(
                config.metrics_bind_address,
                manager.registries,
                lambda: True,
                manager.explain,
            )
        if started is not None:
            await started(manager)
        await manager.run()
    finally:
        if runner is not None:
            await runner.cleanup()
        with contextlib.suppress(Exception):
            await client.close()


async def run_until_signalled(config: ManagerConfig) -> None:
    """``sliceplane controller``: run until SIGTERM or SIGINT, then stop cleanly.

    The signal cancels :func:`run`, which is what stops the controllers, closes the
    informers and (with leader election) releases the lease, as kube-controller-manager's
    ``--leader-elect-release-lease``-style shutdown does; the process then exits 0 instead
    of dying by the signal's default action with the lease still held."""
    await tasks.run_until_signalled(run(config))


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
