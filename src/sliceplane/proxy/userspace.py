"""The userspace mode: asyncio TCP and UDP forwarding, no kernel rules, no root.

For a laptop (``sliceplane up --runtime process``): every Service port with usable
endpoints gets a listener on ``ClusterIP:port`` (and one on ``NODE-IP:nodePort``, or
``127.0.0.1:nodePort`` when the node has no address here); each accepted connection or UDP
client is forwarded to an endpoint chosen among the ones the traffic policy selects
(:func:`sliceplane.proxy.topology.plan_port`, the same as the kernel modes), uniformly at
random, or the remembered one under ClientIP affinity (for ``timeoutSeconds``).

Differences from the kernel modes, all forced by being a process: a Service port without
usable endpoints has no listener, so a connection is refused at once (the kernel modes'
reject); the Local policy's "drop" is a refusal too. A connect to an endpoint that fails
is retried on another endpoint (up to 3 tries), as kube-proxy's old userspace proxy did.
When an endpoint leaves the plan, the connections to it are closed gracefully (buffered
data flushed, then FIN) after ``drain_seconds``, never reset; new connections go elsewhere
at once.

Binding a ClusterIP needs the address to be local: on Linux every 127.0.0.0/8 address is,
so a loopback service range (``sliceplane up --runtime process`` uses 127.96.0.0/12) needs
no root; other addresses must already be on an interface (a bind that fails is logged and
retried at the next sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import random
import socket
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.model import Endpoint, ServicePortName
from sliceplane.proxy.topology import PortPlan, merge_plans

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
CONNECT_TRIES = 3
UDP_IDLE_SECONDS = 30.0
DRAIN_SECONDS = 2.0

ListenerKey = tuple[str, str, int]  # (protocol, ip, port)


@dataclass
class Target:
    """What one listener forwards to; replaced (not mutated) on every sync."""

    spn: ServicePortName
    endpoints: tuple[Endpoint, ...]
    affinity_seconds: int = 0


class Affinity:
    """ClientIP affinity: client address -> (endpoint key, last use)."""

    def __init__(self) -> None:
        self.table: dict[str, tuple[str, float]] = {}

    def pick(self, client_ip: str, target: Target, now: float, rng: random.Random) -> Endpoint:
        eps = target.endpoints
        if target.affinity_seconds > 0:
            got = self.table.get(client_ip)
            if got is not None and now - got[1] < target.affinity_seconds:
                for ep in eps:
                    if ep.key == got[0]:
                        self.table[client_ip] = (ep.key, now)
                        return ep
        ep = eps[rng.randrange(len(eps))]
        if target.affinity_seconds > 0:
            self.table[client_ip] = (ep.key, now)
        return ep

    def forget(self, client_ip: str) -> None:
        self.table.pop(client_ip, None)


@dataclass(eq=False)
class _Conn:
    endpoint: str
    writers: list[asyncio.StreamWriter]
    task: asyncio.Task[None] | None = None


@dataclass
class Listener:
    key: ListenerKey
    target: Target
    affinity: Affinity = field(default_factory=Affinity)
    server: asyncio.AbstractServer | None = None
    udp: asyncio.DatagramTransport | None = None
    conns: set[_Conn] = field(default_factory=set)
    sessions: dict[tuple[str, int], _UdpSession] = field(default_factory=dict)
    accepted: int = 0


def plan_listeners(
    plans: Mapping[ServicePortName, PortPlan], node_ip: str = ""
) -> dict[ListenerKey, Target]:
    """Pure: which sockets to listen on and where each forwards."""
    out: dict[ListenerKey, Target] = {}
    for spn in sorted(plans):
        plan = plans[spn]
        svc = plan.svc
        proto = svc.proto
        if proto not in ("tcp", "udp"):
            continue
        internal = plan.internal_endpoints
        if internal:
            out[(proto, svc.cluster_ip, svc.port)] = Target(
                spn, internal, svc.session_affinity_seconds
            )
        external = plan.external_endpoints
        if svc.node_port and external:
            out[(proto, node_ip or "127.0.0.1", svc.node_port)] = Target(
                spn, external, svc.session_affinity_seconds
            )
        for ip in (*svc.external_ips, *svc.load_balancer_vips):
            if external:
                out[(proto, ip, svc.port)] = Target(spn, external, svc.session_affinity_seconds)
    return out


def _bind(proto: str, ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        if proto == "tcp":
            sock.listen(512)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class UserspaceMode:
    """The ``Mode`` for userspace forwarding (its ``sync`` must run on the event loop)."""

    name = "userspace"

    def __init__(
        self,
        cfg: RenderConfig,
        *,
        drain_seconds: float = DRAIN_SECONDS,
        udp_idle_seconds: float = UDP_IDLE_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.drain_seconds = drain_seconds
        self.udp_idle_seconds = udp_idle_seconds
        self.rng = rng or random.Random()
        self.plans: dict[ServicePortName, PortPlan] = {}
        self.listeners: dict[ListenerKey, Listener] = {}
        self.bind_errors: dict[ListenerKey, str] = {}
        self._bg: set[asyncio.Task[None]] = set()

    # -- Mode ----------------------------------------------------------------------------

    def sync(
        self, plans: Mapping[ServicePortName, PortPlan], changed: set[ServicePortName] | None
    ) -> None:
        merged = merge_plans(self.plans, plans, changed)
        self.plans = merged
        wanted = plan_listeners(merged, self.cfg.node_ip)
        for key in list(self.listeners):
            if key not in wanted:
                self._close_listener(self.listeners.pop(key))
        self.bind_errors = {}
        for key, target in wanted.items():
            lst = self.listeners.get(key)
            if lst is None:
                try:
                    lst = self._open(key, target)
                except OSError as exc:
                    self.bind_errors[key] = exc.strerror or str(exc)
                    level = logging.DEBUG if exc.errno == errno.EADDRNOTAVAIL else logging.WARNING
                    log.log(level, "cannot listen on %s %s:%d: %s", *key, exc.strerror)
                    continue
                self.listeners[key] = lst
            else:
                self._retarget(lst, target)

    def render_full(self, plans: Mapping[ServicePortName, PortPlan]) -> str:
        lines = []
        for (proto, ip, port), t in sorted(plan_listeners(plans, self.cfg.node_ip).items()):
            eps = " ".join(ep.key for ep in t.endpoints)
            aff = f" affinity={t.affinity_seconds}s" if t.affinity_seconds else ""
            host = f"[{ip}]" if ":" in ip else ip
            lines.append(f"{proto} {host}:{port} -> {eps}{aff}  # {t.spn}")
        return "\n".join(lines) + ("\n" if lines else "")

    def cleanup(self) -> None:
        """Nothing outlives the process."""

    async def aclose(self) -> None:
        for lst in list(self.listeners.values()):
            self._close_listener(lst, drain=False)
        self.listeners.clear()
        for t in list(self._bg):
            t.cancel()
        for t in list(self._bg):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    # -- listeners -----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)
        return task

    def _open(self, key: ListenerKey, target: Target) -> Listener:
        proto, ip, port = key
        sock = _bind(proto, ip, port)
        lst = Listener(key, target)
        loop = asyncio.get_running_loop()
        if proto == "tcp":

            async def start() -> None:
                lst.server = await asyncio.start_server(
                    lambda r, w: self._handle_tcp(lst, r, w), sock=sock
                )

            self._spawn(start())
        else:

            async def start_udp() -> None:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpListener(self, lst), sock=sock
                )
                lst.udp = transport

            self._spawn(start_udp())
        return lst

    def _retarget(self, lst: Listener, target: Target) -> None:
        keep = {ep.key for ep in target.endpoints}
        lst.target = target
        for conn in list(lst.conns):
            if conn.endpoint not in keep:
                self._spawn(self._drain(lst, conn))
        for addr, sess in list(lst.sessions.items()):
            if sess.endpoint not in keep:
                sess.close()
                lst.sessions.pop(addr, None)

    def _close_listener(self, lst: Listener, *, drain: bool = True) -> None:
        if lst.server is not None:
            lst.server.close()
        if lst.udp is not None:
            lst.udp.close()
        for conn in list(lst.conns):
            if drain:
                self._spawn(self._drain(lst, conn))
            else:
                _close_writers(conn)
        for sess in lst.sessions.values():
            sess.close()
        lst.sessions.clear()

    async def _drain(self, lst: Listener, conn: _Conn) -> None:
        await asyncio.sleep(self.drain_seconds)
        _close_writers(conn)
        lst.conns.discard(conn)

    # -- TCP -----------------------------------------------------------------------------

    async def _handle_tcp(
        self, lst: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        client_ip = str(peer[0])
        lst.accepted += 1
        tried: set[str] = set()
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        ep: Endpoint | None = None
        for _ in range(CONNECT_TRIES):
            target = lst.target
            choices = [e for e in target.endpoints if e.key not in tried] or list(target.endpoints)
            if not choices:
                break
            ep = lst.affinity.pick(
                client_ip,
                Target(target.spn, tuple(choices), target.affinity_seconds),
                time.monotonic(),
                self.rng,
            )
            tried.add(ep.key)
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(ep.ip, ep.port), CONNECT_TIMEOUT
                )
                break
            except (OSError, TimeoutError) as exc:
                log.info("%s: connect to %s failed: %s", target.spn, ep.key, exc)
                lst.affinity.forget(client_ip)
        if upstream is None or ep is None:
            writer.transport.abort()  # nobody to talk to: reset, as a reject would
            return
        up_reader, up_writer = upstream
        conn = _Conn(ep.key, [writer, up_writer])
        lst.conns.add(conn)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            lst.conns.discard(conn)
            _close_writers(conn)

    def connection_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for lst in self.listeners.values():
            for c in lst.conns:
                out[c.endpoint] = out.get(c.endpoint, 0) + 1
        return out


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await src.read(65536)
            if not data:
                break
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()  # half-close: the other direction may still be talking
    except (ConnectionError, OSError):
        pass


def _close_writers(conn: _Conn) -> None:
    for w in conn.writers:
        with contextlib.suppress(Exception):
            w.close()  # flushes what is buffered, then FIN (never a reset)


# -- UDP -----------------------------------------------------------------------------------


class _UdpSession(asyncio.DatagramProtocol):
    """One client's flow to one endpoint over a connected UDP socket."""

    def __init__(self, lst: Listener, client: tuple[str, int], endpoint: str) -> None:
        self.lst = lst
        self.client = client
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last = time.monotonic()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for data in self.pending:
            self.transport.sendto(data)  # type: ignore[union-attr]
        self.pending.clear()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.last = time.monotonic()
        if self.lst.udp is not None:
            self.lst.udp.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s -> %s: %s", self.client, self.endpoint, exc)

    def send(self, data: bytes) -> None:
        self.last = time.monotonic()
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _UdpListener(asyncio.DatagramProtocol):
    def __init__(self, mode: UserspaceMode, lst: Listener) -> None:
        self.mode = mode
        self.lst = lst

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        client = (str(addr[0]), int(addr[1]))
        lst = self.lst
        now = time.monotonic()
        sess = lst.sessions.get(client)
        if sess is not None and (sess.closed or now - sess.last > self.mode.udp_idle_seconds):
            sess.close()
            sess = None
        if sess is None:
            if not lst.target.endpoints:
                return
            ep = lst.affinity.pick(client[0], lst.target, now, self.mode.rng)
            sess = _UdpSession(lst, client, ep.key)
            lst.sessions[client] = sess
            loop = asyncio.get_running_loop()
            created = sess

            async def connect() -> None:
                try:
                    await loop.create_datagram_endpoint(
                        lambda: created, remote_addr=(ep.ip, ep.port)
                    )
                except OSError as exc:
                    log.info("udp connect to %s failed: %s", ep.key, exc)
                    lst.sessions.pop(client, None)

            self.mode._spawn(connect())
        sess.send(data)
