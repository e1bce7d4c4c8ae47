"""Network namespaces that carry real packets for the proxy tests and benchmarks.

A proxy is only proven by packets: a client connects to a ClusterIP and some pod answers.
This module builds a small, sealed network for that out of Linux network namespaces:

* one **control-plane** namespace, where the API server listens;
* one or more **worlds**, each a bridge in a namespace of its own joining several **node**
  namespaces (where a proxy runs and clients connect from);
* **pod** namespaces, each on a bridge inside its node (as a CNI bridge plugin makes them),
  with its node as default route, running :mod:`sliceplane.testenv.namesrv` (an HTTP
  server that answers with its name); nodes route each other's pod ranges, so a reply
  leaves a pod through its own node, as in a cluster (what external traffic policy Local
  and masquerading depend on);
* a point-to-point veth from every node to the control plane, so a node reaches the API
  server at an address of its own link (several worlds may then reuse the same node and pod
  addresses without the control plane confusing them: the differential runs two proxies
  as the *same* node, each in its own world).

Nothing is attached to the host's namespace: no veth end, no bridge, no route lives there,
so no packet of these tests can leave them. Addresses come from 198.18.0.0/15 (RFC 2544,
set aside for benchmarking): nodes share one /24 per world, each node's pods have a /24,
the control-plane links are /31s from another /24, ClusterIPs come from ``service_cidr``,
and externalIPs and load-balancer addresses from ``external_cidr``.

Names are ``sp-<tag>-<pid>-<member>``: unique per run, and a run's leftovers are found by
the PID of a process that no longer exists (:func:`stale_namespaces`).

The planning is pure (:func:`plan_up`, :func:`plan_down`, :func:`stale_namespaces`): lists
of ``ip`` argv, table-tested. :class:`Network` is the thin runner: it executes the plan,
starts processes inside namespaces (``ip netns exec``) and tears everything down in
reverse, also after a failure. Code of the test process itself reaches into a namespace by
:func:`in_netns`: a short-lived thread ``setns(2)``-s into it, so a socket it creates
belongs to that namespace while the test's own threads stay where they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, TypeVar

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000

Role = Literal["controlplane", "switch", "node", "pod"]

# Inside every node and pod namespace the bridge-facing interface is eth0; a node's link
# to the control plane is cp0. Names on the switch side are short (IFNAMSIZ is 16).
BRIDGE = "br0"
NODE_UPLINK = "eth0"
NODE_CP_LINK = "cp0"
POD_BRIDGE = "cbr0"  # inside a node: its pods' bridge


class NetnsError(RuntimeError):
    """A namespace command failed (the message has the command and its stderr)."""


class NetnsUnsupported(NetnsError):
    """This process cannot create network namespaces (not root, or no kernel support)."""


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Member:
    """One namespace of the network, by its role and its addresses."""

    name: str  # logical name: "cp", "node-a", "pod-1", "sw"
    netns: str  # the namespace's name, "sp-<tag>-<pid>-..."
    role: Role
    world: str = ""  # "" for the control plane
    address: str = ""  # a node's on the world's bridge, a pod's on its node's bridge
    cp_address: str = ""  # node side of the control-plane link
    cp_peer: str = ""  # control-plane side of that link (what the node dials)
    zone: str = ""  # topology.kubernetes.io/zone of a node (and of its pods)
    node: str = ""  # the node a pod runs on
    pod_cidr: str = ""  # a node's pod range, on its own bridge
    gateway: str = ""  # a node's address on that bridge: its pods' default route


@dataclass(frozen=True, slots=True)
class Topology:
    """The whole network of one run, derived by :func:`topology` (pure)."""

    prefix: str
    controlplane: Member
    switches: tuple[Member, ...]
    nodes: tuple[Member, ...]
    pods: tuple[Member, ...]
    subnet: str
    service_cidr: str
    external_cidr: str
    pod_port: int

    @property
    def members(self) -> tuple[Member, ...]:
        return (self.controlplane, *self.switches, *self.nodes, *self.pods)

    def node(self, name: str, world: str | None = None) -> Member:
        return self._find(self.nodes, name, world)

    def pod(self, name: str, world: str | None = None) -> Member:
        return self._find(self.pods, name, world)

    def world_names(self) -> tuple[str, ...]:
        return tuple(s.world for s in self.switches)

    def _find(self, among: Iterable[Member], name: str, world: str | None) -> Member:
        want = world if world is not None else self.world_names()[0]
        for m in among:
            if m.name == name and m.world == want:
                return m
        raise KeyError(f"no member {name!r} in world {want!r}")


def run_prefix(tag: str, pid: int) -> str:
    """``sp-<tag>-<pid>-``: the start of every name one run creates."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", tag):
        raise ValueError(f"tag must be 1-12 lowercase letters or digits, got {tag!r}")
    return f"sp-{tag}-{pid}-"


def topology(
    tag: str,
    pid: int,
    *,
    nodes: Sequence[tuple[str, str]] = (("node-a", "zone-a"), ("node-b", "zone-b")),
    pods: Sequence[str | tuple[str, str]] = ("pod-1", "pod-2", "pod-3"),
    worlds: Sequence[str] = ("w",),
    subnet: str = "198.18.0.0/24",
    cp_links: str = "198.18.1.0/24",
    pod_cidrs: str = "198.18.128.0/17",
    service_cidr: str = "198.19.0.0/16",
    external_cidr: str = "198.18.2.0/24",
    pod_port: int = 8080,
) -> Topology:
    """Name and address every member.

    Nodes get ``.10 + i`` of ``subnet`` (their shared bridge). Node ``i`` owns the ``i``-th
    /24 of ``pod_cidrs``: a bridge inside the node with address ``.1``, where its pods get
    ``.10 + j`` and their default route, as a CNI's bridge plugin does; the other nodes
    route that /24 through node ``i``. A pod is given as ``(name, node)``, or by name alone
    and then placed round-robin. Every world repeats the same nodes and pods with the same
    addresses, so a pod is the same endpoint whichever world answers. Node ``i`` of world
    ``w`` owns the /31 number ``w * len(nodes) + i`` of ``cp_links`` (the even address is
    the control plane's side)."""
    prefix = run_prefix(tag, pid)
    net = ipaddress.IPv4Network(subnet)
    links = ipaddress.IPv4Network(cp_links)
    pod_ranges = list(ipaddress.IPv4Network(pod_cidrs).subnets(new_prefix=24))
    if not nodes:
        raise ValueError("at least one node is needed")
    if len(nodes) > min(80, len(pod_ranges)) or len(pods) > 200:
        raise ValueError("at most 80 nodes (one /24 of pod_cidrs each) and 200 pods fit")
    if len(set(worlds)) != len(worlds) or not all(re.fullmatch(r"[a-z]{1,3}", w) for w in worlds):
        raise ValueError(f"worlds must be distinct names of 1-3 letters, got {list(worlds)!r}")
    if len(worlds) * len(nodes) * 2 > links.num_addresses:
        raise ValueError(f"{cp_links} is too small for {len(worlds) * len(nodes)} node links")
    node_names = [n for n, _ in nodes]
    placed = [
        (p, node_names[i % len(nodes)]) if isinstance(p, str) else (p[0], p[1])
        for i, p in enumerate(pods)
    ]
    for pod, node in placed:
        if node not in node_names:
            raise ValueError(f"pod {pod!r} is placed on {node!r}, which is not a node")
    names = node_names + [p for p, _ in placed]
    if len(set(names)) != len(names):
        raise ValueError("node and pod names must be distinct")
    for n in names:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", n):
            raise ValueError(f"{n!r} is not a short DNS label")
    zones = dict(nodes)

    # With one world its name stays out of the namespace names.
    def ns(world: str, name: str) -> str:
        return f"{prefix}{name}" if len(worlds) == 1 else f"{prefix}{world}-{name}"

    switches, node_members, pod_members = [], [], []
    for w_index, world in enumerate(worlds):
        switches.append(Member("sw", ns(world, "sw"), "switch", world))
        for i, (name, zone) in enumerate(nodes):
            link = w_index * len(nodes) + i
            node_members.append(
                Member(
                    name,
                    ns(world, name),
                    "node",
                    world,
                    address=str(net.network_address + 10 + i),
                    cp_address=str(links.network_address + 2 * link + 1),
                    cp_peer=str(links.network_address + 2 * link),
                    zone=zone,
                    pod_cidr=str(pod_ranges[i]),
                    gateway=str(pod_ranges[i].network_address + 1),
                )
            )
        on_node: dict[str, int] = {}
        for name, node in placed:
            j = on_node.setdefault(node, 0)
            on_node[node] = j + 1
            if j >= 200:
                raise ValueError(f"too many pods on {node}")
            cidr = pod_ranges[node_names.index(node)]
            pod_members.append(
                Member(
                    name,
                    ns(world, name),
                    "pod",
                    world,
                    address=str(cidr.network_address + 10 + j),
                    zone=zones[node],
                    node=node,
                    gateway=str(cidr.network_address + 1),
                )
            )
    return Topology(
        prefix=prefix,
        controlplane=Member("cp", f"{prefix}cp", "controlplane"),
        switches=tuple(switches),
        nodes=tuple(node_members),
        pods=tuple(pod_members),
        subnet=str(net),
        service_cidr=str(ipaddress.IPv4Network(service_cidr)),
        external_cidr=str(ipaddress.IPv4Network(external_cidr)),
        pod_port=pod_port,
    )


Command = tuple[str, ...]


def _ip(netns: str, *args: str) -> Command:
    return ("ip", "-n", netns, *args)


def _veth(netns: str, name: str, peer: str, peer_netns: str) -> Command:
    """A veth pair made inside ``netns`` whose other end is born inside ``peer_netns``."""
    return _ip(
        netns, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", peer_netns
    )


def plan_up(topo: Topology) -> list[Command]:
    """Every ``ip`` command that builds ``topo``, in order (namespaces first)."""
    prefixlen = ipaddress.IPv4Network(topo.subnet).prefixlen
    cmds: list[Command] = [("ip", "netns", "add", m.netns) for m in topo.members]
    cmds += [_ip(m.netns, "link", "set", "lo", "up") for m in topo.members]
    for sw in topo.switches:
        cmds.append(_ip(sw.netns, "link", "add", BRIDGE, "type", "bridge"))
        cmds.append(_ip(sw.netns, "link", "set", BRIDGE, "up"))
        for i, m in enumerate(n for n in topo.nodes if n.world == sw.world):
            port = f"v{i}"
            cmds += [
                _veth(sw.netns, port, NODE_UPLINK, m.netns),
                _ip(sw.netns, "link", "set", port, "master", BRIDGE),
                _ip(sw.netns, "link", "set", port, "up"),
                _ip(m.netns, "addr", "add", f"{m.address}/{prefixlen}", "dev", NODE_UPLINK),
                _ip(m.netns, "link", "set", NODE_UPLINK, "up"),
            ]
    for n in topo.nodes:
        pod_len = ipaddress.IPv4Network(n.pod_cidr).prefixlen
        cmds += [
            _ip(n.netns, "link", "add", POD_BRIDGE, "type", "bridge"),
            _ip(n.netns, "addr", "add", f"{n.gateway}/{pod_len}", "dev", POD_BRIDGE),
            _ip(n.netns, "link", "set", POD_BRIDGE, "up"),
        ]
        for j, pod in enumerate(p for p in topo.pods if p.world == n.world and p.node == n.name):
            port = f"p{j}"
            cmds += [
                _veth(n.netns, port, NODE_UPLINK, pod.netns),
                _ip(n.netns, "link", "set", port, "master", POD_BRIDGE),
                _ip(n.netns, "link", "set", port, "up"),
                _ip(pod.netns, "addr", "add", f"{pod.address}/{pod_len}", "dev", NODE_UPLINK),
                _ip(pod.netns, "link", "set", NODE_UPLINK, "up"),
                _ip(pod.netns, "route", "add", "default", "via", pod.gateway),
            ]
        for other in topo.nodes:
            if other.world == n.world and other.name != n.name:
                cmds.append(_ip(n.netns, "route", "add", other.pod_cidr, "via", other.address))
    cp = topo.controlplane.netns
    for i, n in enumerate(topo.nodes):
        port = f"c{i}"
        cmds += [
            _veth(cp, port, NODE_CP_LINK, n.netns),
            _ip(cp, "addr", "add", f"{n.cp_peer}/31", "dev", port),
            _ip(cp, "link", "set", port, "up"),
            _ip(n.netns, "addr", "add", f"{n.cp_address}/31", "dev", NODE_CP_LINK),
            _ip(n.netns, "link", "set", NODE_CP_LINK, "up"),
            # Before DNAT the kernel routes a ClusterIP like any address: without a route
            # a client's connect() fails with ENETUNREACH before any proxy rule is seen.
            _ip(n.netns, "route", "add", topo.service_cidr, "dev", NODE_UPLINK),
            # externalIPs and LoadBalancer ingress addresses come from here, routed alike.
            _ip(n.netns, "route", "add", topo.external_cidr, "dev", NODE_UPLINK),
        ]
    return cmds


# A node forwards (NodePort traffic for an endpoint elsewhere); nothing else does.
def plan_sysctls(topo: Topology) -> list[tuple[str, str, str]]:
    """(namespace, sysctl path under /proc/sys, value) to write after :func:`plan_up`."""
    return [(n.netns, "net/ipv4/ip_forward", "1") for n in topo.nodes]


def plan_down(topo: Topology) -> list[Command]:
    """Delete every namespace, newest first; their veths and bridges go with them."""
    return [("ip", "netns", "delete", m.netns) for m in reversed(topo.members)]


_NAME = re.compile(r"^sp-(?P<tag>[a-z][a-z0-9]{0,11})-(?P<pid>\d+)-")


def parse_netns_list(text: str) -> list[str]:
    """Names from ``ip netns list`` (lines like ``name (id: 3)``)."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def stale_namespaces(names: Iterable[str], tag: str, alive: Callable[[int], bool]) -> list[str]:
    """The namespaces of ``tag`` whose creating process no longer exists."""
    stale = []
    for name in names:
        m = _NAME.match(name)
        if m and m["tag"] == tag and not alive(int(m["pid"])):
            stale.append(name)
    return sorted(stale)


# --------------------------------------------------------------------------- setns


_libc = ctypes.CDLL(None, use_errno=True)


def _enter(netns: str) -> None:
    """Move the calling thread (only it) into ``netns``."""
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"setns into {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread that has entered ``netns`` and return its result.

    Sockets ``fn`` creates stay in ``netns`` whichever thread uses them later, and a
    subprocess it starts is born there; the calling thread never changes namespace.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            _enter(netns)
            result.append(fn())
        except BaseException as exc:  # handed to the caller below
            error.append(exc)

    t = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def socket_in(
    netns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    """A socket of ``netns`` (usable from any thread)."""
    return in_netns(netns, lambda: socket.socket(family, kind))


def write_sysctl(netns: str, key: str, value: str) -> None:
    """Write ``/proc/sys/<key>`` as seen from ``netns`` (network sysctls are per namespace)."""

    def write() -> None:
        Path("/proc/sys", key).write_text(value)

    in_netns(netns, write)


# --------------------------------------------------------------------------- the runner


def _run(
    cmd: Sequence[str], *, check: bool = True, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(cmd), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise NetnsError(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def unsupported_reason() -> str:
    """Why this process cannot build the network ("" when it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    from shutil import which

    if which("ip") is None:
        return "`ip` (iproute2) is not installed: `make env` installs it as root"
    if not Path("/proc/self/ns/net").exists():
        return "the kernel has no network namespaces"
    probe = f"sp-probe-{os.getpid()}-{threading.get_ident() % 10000}"
    added = _run(["ip", "netns", "add", probe], check=False)
    if added.returncode != 0:
        return f"cannot create a network namespace: {added.stderr.strip()}"
    _run(["ip", "netns", "delete", probe], check=False)
    return ""


def netns_list() -> list[str]:
    return parse_netns_list(_run(["ip", "netns", "list"]).stdout)


def netns_pids(netns: str) -> list[int]:
    out = _run(["ip", "netns", "pids", netns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _kill_namespace_processes(netns: str) -> None:
    """SIGKILL what still runs in ``netns`` (children of processes this run started)."""
    for pid in netns_pids(netns):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def sweep(tag: str) -> list[str]:
    """Remove the namespaces (and the processes in them) of runs of ``tag`` that died."""
    stale = stale_namespaces(netns_list(), tag, _pid_alive)
    for name in stale:
        _kill_namespace_processes(name)
        _run(["ip", "netns", "delete", name], check=False)
    return stale


@dataclass
class Process:
    """A process started inside a namespace."""

    name: str
    netns: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Network:
    """Build ``topology`` (``up``), run things in it, and remove every trace (``down``).

    Use as a context manager; ``down`` runs also when ``up`` failed half way, and deletes
    namespaces whether or not the plan got to create them.
    """

    topology: Topology
    workdir: Path
    processes: list[Process] = field(default_factory=list)
    _up: bool = False

    def __enter__(self) -> Network:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._up = True
        for cmd in plan_up(self.topology):
            _run(cmd)
        for netns, key, value in plan_sysctls(self.topology):
            write_sysctl(netns, key, value)

    def down(self) -> None:
        """Stop processes (newest first), kill anything left inside, delete namespaces."""
        if not self._up:
            return
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()
        existing = set(netns_list())
        errors = []
        for cmd in plan_down(self.topology):
            name = cmd[-1]
            if name not in existing:
                continue
            _kill_namespace_processes(name)
            proc = _run(cmd, check=False)
            if proc.returncode != 0:
                errors.append(f"{name}: {proc.stderr.strip()}")
        self._up = False
        if errors:
            raise NetnsError("teardown left namespaces behind: " + "; ".join(errors))

    # ------------------------------------------------------------------ processes

    def spawn(
        self,
        member: Member,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Process:
        """Start ``argv`` inside ``member``'s namespace, output to ``<workdir>/<name>.log``."""
        label = name or f"{member.netns.removeprefix(self.topology.prefix)}-{Path(argv[0]).name}"
        log = self.workdir / f"{label}.log"
        out: IO[bytes]
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", member.netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        p = Process(label, member.netns, proc, log)
        self.processes.append(p)
        return p

    def start_pod_servers(self, python: str, timeout: float = 20.0) -> None:
        """One :mod:`sliceplane.testenv.namesrv` per pod, answering with the pod's name;
        returns once each one answers from a node of its world."""
        port = str(self.topology.pod_port)
        servers = [
            (
                pod,
                self.spawn(
                    pod,
                    [
                        python,
                        "-m",
                        "sliceplane.testenv.namesrv",
                        "--name",
                        pod.name,
                        "--port",
                        port,
                    ],
                    name=f"{pod.netns.removeprefix(self.topology.prefix)}-namesrv",
                ),
            )
            for pod in self.topology.pods
        ]
        deadline = time.monotonic() + timeout
        for pod, proc in servers:
            node = next(n for n in self.topology.nodes if n.world == pod.world)
            while True:
                if proc.proc.poll() is not None:
                    raise NetnsError(f"{pod.netns}: name server exited:\n{proc.tail()}")
                try:
                    answer = http_get(node.netns, pod.address, self.topology.pod_port, timeout=1.0)
                except OSError:
                    answer = None
                if answer is not None and answer.name == pod.name:
                    break
                if time.monotonic() > deadline:
                    raise NetnsError(f"{pod.netns}: name server not answering:\n{proc.tail()}")
                time.sleep(0.05)


# --------------------------------------------------------------------------- clients


def udp_get(netns: str, host: str, port: int, *, timeout: float = 2.0) -> Answer:
    """One datagram from a new socket of ``netns`` and the name server's answer. Raises
    ``ConnectionRefusedError`` on an ICMP rejection, ``TimeoutError`` when dropped."""
    sock = socket_in(netns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.send(b"who\n")
        data = sock.recv(2048)
    finally:
        sock.close()
    name, _, client = data.decode(errors="replace").strip().partition(" ")
    return Answer(name=name, client=client)


@dataclass(frozen=True, slots=True)
class Answer:
    """What :mod:`sliceplane.testenv.namesrv` said: its name and the client it saw."""

    name: str
    client: str


def http_get(netns: str, host: str, port: int, *, timeout: float = 2.0) -> Answer:
    """One HTTP/1.0 GET on a new connection from ``netns`` (so each request is a new
    flow for the proxy to balance). Raises ``ConnectionRefusedError`` on a reset or an
    ICMP rejection, ``TimeoutError`` when the packets are dropped."""
    sock = socket_in(netns)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    raw = b"".join(chunks).decode(errors="replace")
    head, _, body = raw.partition("\r\n\r\n")
    if not head.startswith("HTTP/1.") or " 200 " not in head.split("\r\n")[0] + " ":
        raise NetnsError(f"unexpected answer from {host}:{port}: {raw[:200]!r}")
    name, _, client = body.strip().partition(" ")
    return Answer(name=name, client=client)
