"""``sliceplane up``: a whole Kubernetes-like cluster on a laptop.

Two processes, supervised together: ``sliceplane apiserver`` (state in SQLite under the
data directory) and this one, which runs every controller against it through the same
client a real cluster would see — the EndpointSlice, mirroring and Endpoints controllers,
Deployments and ReplicaSets, the scheduler and the simulated nodes. Two processes use the
machine's two cores; the API server's durability does not depend on the controllers.

Node failure is driven through the API, so kubectl can do it too: annotate a node
``sliceplane.io/stopped=true`` (``sliceplane node stop NAME`` does that) and its simulated
kubelet stops; remove the annotation to bring it back.

With ``--runtime process`` the containers of scheduled pods run as real local processes
(:mod:`sliceplane.workloads.processruntime`); the simulated nodes then keep only their
Node objects and heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sliceplane.api.meta import meta_of
from sliceplane.client.client import Client, wait_ready
from sliceplane.client.throttle import DEFAULT_BURST, DEFAULT_QPS
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.manager.manager import ALL_CONTROLLERS, Manager, ManagerConfig
from sliceplane.workloads.deployment import DeploymentController
from sliceplane.workloads.nodes import NodesOptions, SimulatedNodes
from sliceplane.workloads.podcidr import (
    DEFAULT_CLUSTER_CIDR_IPV4,
    IPV4,
    IPV6,
    ClusterCIDRs,
    parse_cluster_cidrs,
    usable_hosts,
)
from sliceplane.workloads.processruntime import ProcessRuntime, ProcessRuntimeOptions
from sliceplane.workloads.replicaset import ReplicaSetController
from sliceplane.workloads.scheduler import Scheduler

log = logging.getLogger(__name__)

ANNOTATION_STOPPED = "sliceplane.io/stopped"
SERVICE_CIDR_IPV6 = "fd00:10:96::/108"
"""The second service range of a dual-stack cluster."""


class ClusterError(Exception):
    """Something a user can fix (port in use, bad flag): printed as one line."""


@dataclass(slots=True)
class ClusterConfig:
    data_dir: Path
    listen: str = "127.0.0.1:6443"
    nodes: int = 3
    """Simulated nodes, ``node-1`` … ``node-N``."""
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    runtime: str = "simulated"
    """``simulated`` (no processes) or ``process`` (real local processes)."""
    process: ProcessRuntimeOptions = field(default_factory=ProcessRuntimeOptions)
    """Settings of the process runtime (``runtime == "process"``); its pod processes log
    to ``DATA_DIR/pods/<ns>_<name>_<uid>/<container>.log``."""
    max_endpoints_per_slice: int = 100
    insecure_http: bool = False
    service_cidr: str = "10.96.0.0/12"
    dual_stack: bool = False
    """IPv4 and IPv6: a second service range (:data:`SERVICE_CIDR_IPV6`) and pod IPs of both
    families (simulated runtime)."""
    cluster_cidr: str = DEFAULT_CLUSTER_CIDR_IPV4
    """The pod range every node's ``podCIDR`` is cut from (kube-controller-manager's
    ``--cluster-cidr``): IPv4, or ``IPv4,IPv6`` with ``dual_stack`` (which otherwise uses
    ``fd00:10:244::/48``). The default /14 holds 1,024 nodes at /24 each."""
    node_cidr_mask_size: int = 24
    """Prefix length of each node's IPv4 pod CIDR (``--node-cidr-mask-size``); IPv6 node
    ranges are /64."""
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    kube_api_qps: float = DEFAULT_QPS
    """Client limit of each endpoint controller, as ``sliceplane controller`` and
    kube-controller-manager have it (0: the default, negative: unlimited)."""
    kube_api_burst: int = DEFAULT_BURST
    extra_apiserver_args: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.nodes < 1:
            raise ClusterError("--nodes must be at least 1")
        if self.runtime not in ("simulated", "process"):
            raise ClusterError(f"--runtime must be simulated or process, not {self.runtime!r}")
        if not 1 <= self.max_endpoints_per_slice <= 1000:
            raise ClusterError("--max-endpoints-per-slice must be between 1 and 1000")
        if self.kube_api_burst < 0:
            raise ClusterError(f"--kube-api-burst: {self.kube_api_burst} must not be negative")
        self._validate_pod_cidrs()

    @property
    def ip_families(self) -> tuple[str, ...]:
        return (IPV4, IPV6) if self.dual_stack else (IPV4,)

    def pod_cidrs(self) -> ClusterCIDRs:
        """The parsed pod ranges (raises :class:`ClusterError` like :meth:`validate`)."""
        try:
            return parse_cluster_cidrs(
                self.cluster_cidr,
                dual_stack=self.dual_stack,
                node_mask_ipv4=self.node_cidr_mask_size,
            )
        except ValueError as exc:
            raise ClusterError(f"--cluster-cidr: {exc}") from None

    def _validate_pod_cidrs(self) -> None:
        """Every node must get a pod range that fits its pods, inside the cluster range and
        clear of the Service ranges (checked here so that ``sliceplane up`` fails with one
        line before starting anything)."""
        cidrs = self.pod_cidrs()
        max_pods = NodesOptions().max_pods
        for family in self.ip_families:
            cluster, mask = cidrs.cluster(family), cidrs.node_mask(family)
            if not 0 < mask <= cluster.max_prefixlen:
                raise ClusterError(
                    f"--node-cidr-mask-size: {mask} is not an {family} prefix length"
                )
            if mask < cluster.prefixlen:
                raise ClusterError(
                    f"--cluster-cidr {cluster} is smaller than one /{mask} node pod range"
                )
            room = cidrs.node_slots(family)
            if room < self.nodes:
                raise ClusterError(
                    f"--cluster-cidr {cluster} holds {room} /{mask} node pod ranges, "
                    f"fewer than --nodes {self.nodes}; use a wider range"
                )
            hosts = usable_hosts(str(ipaddress.ip_network((cluster.network_address, mask))))
            if hosts < max_pods:
                raise ClusterError(
                    f"--node-cidr-mask-size {mask} leaves {hosts} pod addresses per node, "
                    f"fewer than the {max_pods} pods a node may run"
                )
            for service in self._service_ranges():
                if cluster.version == service.version and cluster.overlaps(service):
                    raise ClusterError(
                        f"--cluster-cidr {cluster} overlaps the service range {service}"
                    )

    def service_cidrs(self) -> str:
        """The API server's ``--service-cidr``."""
        return self.service_cidr + (f",{SERVICE_CIDR_IPV6}" if self.dual_stack else "")

    def _service_ranges(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for text in self.service_cidrs().split(","):
            with contextlib.suppress(ValueError):  # the API server reports a bad one
                out.append(ipaddress.ip_network(text.strip(), strict=False))
        return out


class APIServerProcess:
    """The ``sliceplane apiserver`` child: started, watched, stopped."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = config.data_dir / "apiserver.log"

    def start(self, timeout: float = 30.0) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "sliceplane.cli.main",
            "apiserver",
            "--data-dir",
            str(cfg.data_dir),
            "--listen",
            cfg.listen,
            "--service-cidr",
            cfg.service_cidrs(),
            *cfg.extra_apiserver_args,
        ]
        if cfg.insecure_http:
            cmd.append("--insecure-http")
        if cfg.runtime == "process":
            # Without root, process pods listen on 127.x addresses; let slices carry them.
            cmd.append("--allow-loopback-endpoints")
        with open(self.log_path, "ab") as log_file:
            offset = log_file.tell()
            self.proc = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            m = re.search(r"listening on (\S+)", text)
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                last = text.strip().splitlines()[-1:] or ["exited"]
                raise ClusterError(f"the API server did not start: {last[0]}")
            time.sleep(0.05)
        self.stop()
        raise ClusterError(f"the API server did not start in {timeout:.0f}s; see {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


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
        self.failed = asyncio.Event()

    @property
    def kubeconfig(self) -> Path:
        return self.config.data_dir / "kubeconfig"

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.apiserver.start)
        self.client = client = await Client.connect(self.kubeconfig)
        await wait_ready(client)
        clock = RealClock()
        factory = self._factory = InformerFactory(client, clock)
        process = self.config.runtime == "process"
        self.nodes = SimulatedNodes(
            client,
            factory,
            clock,
            NodesOptions(
                count=self.config.nodes,
                zones=self.config.zones,
                manage_pods=not process,
                ip_families=self.config.ip_families,
                cidrs=self.config.pod_cidrs(),
            ),
        )
        if process:
            # The nodes keep Node objects and heartbeats; the runtime owns their pods.
            self.runtime = ProcessRuntime(
                client,
                factory,
                clock,
                self.nodes,
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
            "nodes": self.nodes.run,
            "scheduler": Scheduler(client, factory, clock).run,
            "replicasets": ReplicaSetController(client, factory, clock).run,
            "deployments": DeploymentController(client, factory, clock).run,
            "endpoint-controllers": lambda: manager.run_with_factory(factory),
            "node-switch": lambda: self._watch_node_switches(factory),
        }
        if self.runtime is not None:
            parts["process-runtime"] = self.runtime.run
        factory.informer("nodes")  # make sure it exists before the factory starts
        factory.start()
        for name, run in parts.items():
            self._tasks.append(asyncio.create_task(self._supervise(name, run), name=name))
        self._tasks.append(asyncio.create_task(self._watch_apiserver(), name="apiserver-watch"))

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

    async def _watch_node_switches(self, factory: InformerFactory) -> None:
        """Start/stop simulated nodes when their ``sliceplane.io/stopped`` annotation moves."""
        nodes = factory.informer("nodes")
        wanted: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

        def seen(node: dict[str, Any]) -> None:
            meta = meta_of(node)
            stopped = (meta.get("annotations") or {}).get(ANNOTATION_STOPPED) == "true"
            wanted.put_nowait((str(meta.get("name")), stopped))

        nodes.add_handler(seen, lambda _old, new: seen(new), None)
        state: dict[str, bool] = {}
        while True:
            name, stopped = await wanted.get()
            sim = self.nodes
            if sim is None or name not in sim.nodes or state.get(name, False) == stopped:
                continue
            state[name] = stopped
            if stopped:
                await sim.stop_node(name)
            else:
                await sim.start_node(name)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.runtime is not None:
            await self.runtime.shutdown()  # no pod process outlives `sliceplane up`
        if self._factory is not None:
            await self._factory.stop()
        if self.client is not None:
            await self.client.close()
        await asyncio.get_running_loop().run_in_executor(None, self.apiserver.stop)


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
        "Stop with Ctrl-C; `sliceplane up` on the same --data-dir brings everything back."
        + (
            f"\nPods run as local processes (containers need a `command`); logs in "
            f"{cluster.config.data_dir / 'pods'}"
            if cluster.runtime is not None
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
