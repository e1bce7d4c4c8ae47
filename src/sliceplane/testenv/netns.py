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

The planning is pure (:func:`plan_up`, :func:`plan_down`, :func:`stale_namespaces`, in
:mod:`sliceplane.testenv.netns_plan` and re-exported here): lists of ``ip`` argv,
table-tested. :class:`Network` is the thin runner: it executes the plan,
starts processes inside namespaces (``ip netns exec``) and tears everything down in
reverse, also after a failure. Code of the test process itself reaches into a namespace by
:func:`in_netns`: a short-lived thread ``setns(2)``-s into it, so a socket it creates
belongs to that namespace while the test's own threads stay where they are.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sliceplane.testenv.netns_plan import BRIDGE as BRIDGE
from sliceplane.testenv.netns_plan import NODE_CP_LINK as NODE_CP_LINK
from sliceplane.testenv.netns_plan import NODE_UPLINK as NODE_UPLINK
from sliceplane.testenv.netns_plan import POD_BRIDGE as POD_BRIDGE
from sliceplane.testenv.netns_plan import Command as Command
from sliceplane.testenv.netns_plan import Member as Member
from sliceplane.testenv.netns_plan import Role as Role
from sliceplane.testenv.netns_plan import Topology as Topology
from sliceplane.testenv.netns_plan import parse_netns_list as parse_netns_list
from sliceplane.testenv.netns_plan import plan_down as plan_down
from sliceplane.testenv.netns_plan import plan_sysctls as plan_sysctls
from sliceplane.testenv.netns_plan import plan_up as plan_up
from sliceplane.testenv.netns_plan import run_prefix as run_prefix
from sliceplane.testenv.netns_plan import stale_namespaces as stale_namespaces
from sliceplane.testenv.netns_plan import topology as topology
from sliceplane.testenv.processes import Component, popen_logged, proc_start_time

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000


class NetnsError(RuntimeError):
    """A namespace command failed (the message has the command and its stderr)."""


class NetnsUnsupported(NetnsError):
    """This process cannot create network namespaces (not root, or no kernel support)."""


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
class Process(Component):
    """A process started inside a namespace (a :class:`~processes.Component` that knows
    its namespace; shorter log tails and a default grace period)."""

    netns: str = ""

    def tail(self, lines: int = 30) -> str:
        return super().tail(lines)

    def stop(self, grace: float = 5.0) -> None:
        super().stop(grace)


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
        proc = popen_logged(["ip", "netns", "exec", member.netns, *argv], log, env)
        p = Process(label, proc, log, proc_start_time(proc.pid), netns=member.netns)
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
