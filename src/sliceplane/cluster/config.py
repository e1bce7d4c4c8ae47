"""What ``sliceplane up`` runs, as one dataclass checked before anything starts.

:class:`ClusterConfig` holds the local cluster's settings (nodes and zones, runtime, service
and pod ranges, controller limits); :meth:`ClusterConfig.validate` turns every setting that
cannot work into a :class:`ClusterError`, one line a user can act on, so that a bad flag
fails before an API server process or a node exists.
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from sliceplane.api.hostport import parse_hostport
from sliceplane.client.throttle import DEFAULT_BURST, DEFAULT_QPS
from sliceplane.manager.manager import ALL_CONTROLLERS
from sliceplane.workloads.kubelet.nodes import NodesOptions
from sliceplane.workloads.kubelet.podcidr import (
    DEFAULT_CLUSTER_CIDR_IPV4,
    IPV4,
    IPV6,
    ClusterCIDRs,
    parse_cluster_cidrs,
    usable_hosts,
)
from sliceplane.workloads.kubelet.processoptions import ProcessRuntimeOptions

SERVICE_CIDR_IPV6 = "fd00:10:96::/108"
"""The second service range of a dual-stack cluster."""


DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
PROCESS_SERVICE_CIDR = "127.96.0.0/12"
"""The process runtime's Service range: Linux routes all of 127.0.0.0/8 to ``lo``, so
the userspace proxy can listen on any ClusterIP without root (the pods' loopback
aliases are 127.244.x.y and up, clear of it). On macOS only 127.0.0.1 is local by
default: add each ClusterIP with ``sudo ifconfig lo0 alias IP`` (see docs/proxy.md)."""


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
    to ``DATA_DIR/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log`` (CRI format)."""
    max_endpoints_per_slice: int = 100
    insecure_http: bool = False
    service_cidr: str = ""
    """The Service range (``--service-cidr``); empty: 10.96.0.0/12, or
    :data:`PROCESS_SERVICE_CIDR` with ``runtime == "process"``, where the userspace proxy
    must bind every ClusterIP without root."""
    userspace_proxy: bool = True
    """With ``runtime == "process"``, run ``sliceplane proxy --proxy-mode userspace`` in
    this process so ClusterIPs answer from the host."""
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
    pod_ready_delay: float = NodesOptions().readiness_delay
    """Seconds a simulated pod is Running before it is Ready (container start-up; a
    readiness probe's ``initialDelaySeconds`` lengthens it). 0: a pod goes Running and
    Ready in one status write, as KWOK's ``pod-ready`` stage does (benchmarks at scale)."""
    controllers: tuple[str, ...] = ALL_CONTROLLERS
    kube_api_qps: float = DEFAULT_QPS
    """Client limit of each endpoint controller, as ``sliceplane controller`` and
    kube-controller-manager have it (0: the default, negative: unlimited)."""
    kube_api_burst: int = DEFAULT_BURST
    extra_apiserver_args: list[str] = field(default_factory=list)
    view_listen: str = ""
    """HOST:PORT of the web view (``sliceplane view`` on the cluster's informers); empty:
    not served. ``sliceplane up`` passes ``--view-listen`` (default 127.0.0.1:8001)."""
    dns_listen: str = "127.0.0.1:0"
    """Where cluster DNS (``sliceplane dns``'s server, in-process) answers, UDP and TCP;
    port 0 picks a free one. The address is written to ``DATA_DIR/dns-address``."""

    def validate(self) -> None:
        if self.nodes < 1:
            raise ClusterError("--nodes must be at least 1")
        if self.runtime not in ("simulated", "process"):
            raise ClusterError(f"--runtime must be simulated or process, not {self.runtime!r}")
        if not 1 <= self.max_endpoints_per_slice <= 1000:
            raise ClusterError("--max-endpoints-per-slice must be between 1 and 1000")
        if self.pod_ready_delay < 0:
            raise ClusterError(f"pod ready delay {self.pod_ready_delay} must not be negative")
        if self.kube_api_burst < 0:
            raise ClusterError(f"--kube-api-burst: {self.kube_api_burst} must not be negative")
        parse_hostport(self.dns_listen, "--dns-listen", error=ClusterError)
        for text in self.service_cidrs().split(","):
            try:
                ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                raise ClusterError(f"--service-cidr: {text!r} is not a valid CIDR") from None
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
        base = self.service_cidr or (
            PROCESS_SERVICE_CIDR if self.runtime == "process" else DEFAULT_SERVICE_CIDR
        )
        return base + (f",{SERVICE_CIDR_IPV6}" if self.dual_stack and "," not in base else "")

    def _service_ranges(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for text in self.service_cidrs().split(","):
            with contextlib.suppress(ValueError):  # the API server reports a bad one
                out.append(ipaddress.ip_network(text.strip(), strict=False))
        return out
