"""``sliceplane up``: a whole Kubernetes-like cluster on a laptop.

Two processes, supervised together: ``sliceplane apiserver`` (state in SQLite under the
data directory) and this one, which runs every controller against it through the same
client a real cluster would see — the EndpointSlice, mirroring and Endpoints controllers,
Deployments and ReplicaSets, the scheduler and the simulated nodes. Two processes use the
machine's two cores; the API server's durability does not depend on the controllers.

Node failure is driven through the API (:mod:`sliceplane.cluster.nodeswitch`), the
settings are :class:`~sliceplane.cluster.config.ClusterConfig`, and the API server child is
:class:`~sliceplane.cluster.apiserverprocess.APIServerProcess`.

With ``--runtime process`` the containers of scheduled pods run as real local processes
(:mod:`sliceplane.workloads.kubelet.processruntime`); the simulated nodes then keep only their
Node objects and heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from sliceplane.api.hostport import parse_hostport
from sliceplane.client.client import Client, wait_ready
from sliceplane.cluster.apiserverprocess import APIServerProcess
from sliceplane.cluster.config import ClusterConfig, ClusterError
from sliceplane.cluster.nodeswitch import run_node_switches
from sliceplane.dns.server import ConfigError as DNSConfigError
from sliceplane.dns.server import DNSConfig, DNSServer, ZoneFeed, local_ips_for
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import strip_managed_fields
from sliceplane.machinery.tasks import cancel_and_wait
from sliceplane.manager.manager import Manager, ManagerConfig
from sliceplane.proxy.server import ProxyConfig, ProxyServer
from sliceplane.view.server import ViewError, ViewServer
from sliceplane.workloads.apps.deployment.controller import DeploymentController
from sliceplane.workloads.apps.replicaset.controller import ReplicaSetController
from sliceplane.workloads.kubelet.nodes import NodesOptions, SimulatedNodes
from sliceplane.workloads.kubelet.processruntime import ProcessRuntime
from sliceplane.workloads.scheduler.scheduler import Scheduler

__all__ = ["ClusterConfig", "ClusterError", "LocalCluster", "run_until_signalled", "usage_text"]

log = logging.getLogger(__name__)


class LocalCluster:
    """Everything ``sliceplane up`` runs, usable in-process by tests and demos."""

    def __init__(self, config: ClusterConfig) -> None:
        config.validate()
        self.config = config
        self.apiserver = APIServerProcess(config)
        self.client: Client | None = None
        self.nodes: SimulatedNodes | None = None
        self.runtime: ProcessRuntime | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._factory: InformerFactory | None = None
        self.view: ViewServer | None = None
        self.view_note = ""
        """Why the view is not served, when it is asked for but cannot bind."""
        self.dns: DNSServer | None = None
        self._dns_feed: ZoneFeed | None = None
        self.failed = asyncio.Event()

    @property
    def kubeconfig(self) -> Path:
        return self.config.data_dir / "kubeconfig"

    @property
    def dns_address(self) -> str:
        """``HOST:PORT`` of cluster DNS (once started)."""
        assert self.dns is not None
        host, port = self.dns.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def _start_dns(self) -> None:
        """Bind cluster DNS first, so an address in use fails before anything starts."""
        host, port = parse_hostport(self.config.dns_listen, "--dns-listen")
        feed = self._dns_feed = ZoneFeed(None, pods=False)
        cfg = DNSConfig(listen=self.config.dns_listen).resolver_config(local_ips_for(host))
        self.dns = DNSServer(cfg, lambda: feed.zone)
        try:
            await self.dns.start(host, port, "--dns-listen")
        except DNSConfigError as exc:
            self.dns = None
            raise ClusterError(str(exc)) from None
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        (self.config.data_dir / "dns-address").write_text(self.dns_address + "\n")

    async def start(self) -> None:
        await self._start_dns()
        await asyncio.get_running_loop().run_in_executor(None, self.apiserver.start)
        self.client = client = await Client.connect(self.kubeconfig)
        await wait_ready(client)
        clock = RealClock()
        # managedFields are dropped from every cached object, as kube-controller-manager's
        # informers drop them: nothing in this process reads them, and they are about a
        # third of a decoded pod.
        factory = self._factory = InformerFactory(client, clock, transform=strip_managed_fields)
        assert self._dns_feed is not None
        self._dns_feed.shared = factory
        self._dns_feed.start()
        process = self.config.runtime == "process"
        self.nodes = nodes = SimulatedNodes(
            client,
            factory,
            clock,
            NodesOptions(
                count=self.config.nodes,
                zones=self.config.zones,
                manage_pods=not process,
                ip_families=self.config.ip_families,
                cidrs=self.config.pod_cidrs(),
                readiness_delay=self.config.pod_ready_delay,
            ),
        )
        if process:
            # The nodes keep Node objects and heartbeats; the runtime owns their pods.
            self.runtime = ProcessRuntime(
                client,
                factory,
                clock,
                nodes,
                self.config.data_dir / "pods",
                self.config.process,
            )
        manager = Manager(
            ManagerConfig(
                controllers=self.config.controllers,
                max_endpoints_per_slice=self.config.max_endpoints_per_slice,
                kube_api_qps=self.config.kube_api_qps,
                kube_api_burst=self.config.kube_api_burst,
                metrics_bind_address=None,
            ),
            client,
            clock,
        )
        parts: dict[str, Callable[[], Awaitable[None]]] = {
            "nodes": nodes.run,
            "scheduler": Scheduler(client, factory, clock).run,
            "replicasets": ReplicaSetController(client, factory, clock).run,
            "deployments": DeploymentController(client, factory, clock).run,
            "endpoint-controllers": lambda: manager.run_with_factory(factory),
            "node-switch": lambda: run_node_switches(factory, nodes),
        }
        if self.runtime is not None:
            parts["process-runtime"] = self.runtime.run
            if self.config.userspace_proxy:
                parts["proxy"] = lambda: run_userspace_proxy(client)
        factory.informer("nodes")  # make sure it exists before the factory starts
        if self.config.view_listen:
            await self._start_view(factory)
        factory.start()
        for name, run in parts.items():
            self._tasks.append(asyncio.create_task(self._supervise(name, run), name=name))
        self._tasks.append(asyncio.create_task(self._watch_apiserver(), name="apiserver-watch"))

    async def stop_part(self, name: str) -> None:
        """Stop one supervised part for good (``endpoint-controllers``, ``scheduler``, ...):
        from the API it looks like a component that crashed or was never deployed."""
        for task in self._tasks:
            if task.get_name() == name:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                return
        raise KeyError(f"no part named {name!r}")

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run a part; if it crashes, log and restart it after a pause."""
        while True:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s crashed; restarting in 1s", name)
                await asyncio.sleep(1.0)

    async def _watch_apiserver(self) -> None:
        while self.apiserver.alive():
            await asyncio.sleep(0.5)
        log.error("the API server exited; see %s", self.apiserver.log_path)
        self.failed.set()

    async def _start_view(self, factory: InformerFactory) -> None:
        """Serve the view on the shared informers; a port in use is a note, not a failure
        (8001 is also ``kubectl proxy``'s default)."""
        view = ViewServer(factory, self.config.view_listen)
        try:
            await view.start()
        except ViewError as exc:
            self.view_note = f"web view not served: {exc} (use --view-listen)"
            return
        self.view = view

    async def stop(self) -> None:
        if self.view is not None:
            await self.view.stop()
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        if self._dns_feed is not None:
            await self._dns_feed.stop()
        if self.dns is not None:
            await self.dns.stop()
        if self.runtime is not None:
            await self.runtime.shutdown()  # no pod process outlives `sliceplane up`
        if self._factory is not None:
            await self._factory.stop()
        if self.client is not None:
            await self.client.close()
        await asyncio.get_running_loop().run_in_executor(None, self.apiserver.stop)


async def run_userspace_proxy(client: Client) -> None:
    """``sliceplane proxy --proxy-mode userspace`` for the host: it is no node, so every
    ready endpoint serves it (no topology, Local policies have no local endpoint here)."""
    config = ProxyConfig(
        proxy_mode="userspace",
        min_sync_period=0.2,
        metrics_bind_address="",
        healthz_bind_address="",
    )
    server = ProxyServer(config, client)
    try:
        await server.start()
        await server.run_forever()
    finally:
        for p in server.proxiers:
            closer = getattr(p.mode, "aclose", None)
            if closer is not None:
                await closer()
        await server.stop()


def _dns_text(cluster: LocalCluster) -> str:
    if cluster.dns is None:
        return ""
    host, port = cluster.dns.address
    return (
        f"Cluster DNS on {cluster.dns_address} (udp, tcp; the address is also in "
        f"{cluster.config.data_dir / 'dns-address'}):\n"
        f"  dig @{host} -p {port} web.default.svc.cluster.local\n"
    )


def usage_text(cluster: LocalCluster) -> str:
    kubectl = Path(sys.executable).parent / "kubectl"
    return (
        f"sliceplane cluster is up: API server {cluster.apiserver.url}, "
        f"{cluster.config.nodes} simulated nodes in {', '.join(cluster.config.zones)}\n"
        f"  export KUBECONFIG={cluster.kubeconfig}\n"
        f"  {kubectl} get nodes\n"
        f"  {kubectl} create deployment web --image=nginx --replicas=3\n"
        f"  {kubectl} expose deployment web --port=80\n"
        f"  {kubectl} get endpointslices -l kubernetes.io/service-name=web\n"
        + (f"  web view: {cluster.view.url}\n" if cluster.view is not None else "")
        + (f"  {cluster.view_note}\n" if cluster.view_note else "")
        + _dns_text(cluster)
        + "Stop with Ctrl-C; `sliceplane up` on the same --data-dir brings everything back."
        + (
            f"\nPods run as local processes (containers need a `command`); logs in "
            f"{cluster.config.data_dir / 'pods'}"
            if cluster.runtime is not None
            else ""
        )
        + (
            "\nServices answer on their ClusterIP from this machine (userspace proxy): "
            f"curl http://$({kubectl} get svc web -o jsonpath='{{.spec.clusterIP}}')/"
            if cluster.runtime is not None and cluster.config.userspace_proxy
            else ""
        )
    )


async def run_until_signalled(config: ClusterConfig) -> None:
    cluster = LocalCluster(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await cluster.start()
        print(usage_text(cluster), flush=True)
        waiter = asyncio.create_task(cluster.failed.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        if cluster.failed.is_set():
            raise ClusterError(f"the API server exited; see {cluster.apiserver.log_path}")
    finally:
        print("stopping", flush=True)
        await cluster.stop()
