"""``sliceplane dns``: the thin I/O around :mod:`sliceplane.dns.wire`.

Informers over Services, EndpointSlices, Namespaces (and Pods in ``verified`` mode) feed a
:class:`~sliceplane.dns.zone.ZoneBuilder`; a burst of events publishes one new snapshot
(on the next loop turn), which every query after it reads. UDP and TCP listen on the same
address; TCP carries any number of length-prefixed queries per connection, answered in
order, and closes idle connections. Nothing a client sends can stop the server: bad
packets are dropped or answered FORMERR by the pure layer, and an unexpected exception
while answering is logged, counted as SERVFAIL and the loop goes on.

Metrics use CoreDNS's names (``coredns_dns_requests_total``,
``coredns_dns_responses_total``, ``coredns_dns_request_duration_seconds``) with its
labels, on ``/metrics`` of ``--metrics-bind-address``.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import gc
import ipaddress
import logging
import math
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.rcode
import dns.rdatatype
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from sliceplane.api.hostport import parse_hostport
from sliceplane.client.client import Client
from sliceplane.dns.compact import COMPACT
from sliceplane.dns.memo import Memo, patched
from sliceplane.dns.resolver import Config, PodMode
from sliceplane.dns.wire import Outcome, apply_case, case_template, respond, without_question
from sliceplane.dns.zone import Zone, ZoneBuilder
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import Informer
from sliceplane.machinery.serving import serve
from sliceplane.machinery.tasks import cancel_and_wait

log = logging.getLogger(__name__)

TCP_IDLE_SECONDS = 10.0
MEMO_ENTRIES = 100_000
MAX_UDP_REQUEST = 65535
UDP_BATCH = 64
LATER_LIMIT = 100_000
"""Deferred case templates at most (beyond that a miss makes its template at once)."""
LATER_SLICE = 0.0002
"""Seconds of deferred template making per turn of the event loop."""
"""Datagrams answered per readiness callback before the loop runs anything else."""
UDP_QUEUE = 4096
"""Answers kept while the socket's send buffer is full; more are dropped."""
POD_MODES = ("disabled", "insecure", "verified")


class ConfigError(ValueError):
    """A bad setting or an address that cannot be bound: one line, exit 2."""


@dataclass
class DNSConfig:
    """``sliceplane dns`` settings; defaults are CoreDNS's where it has one."""

    kubeconfig: Path | None = None
    listen: str = "127.0.0.1:5353"
    """HOST:PORT for UDP and TCP (port 0: a free port, the same for both)."""
    domain: str = "cluster.local"
    ttl: int = 5
    """TTL of every record (the SOA's minimum too); CoreDNS's default is 5 s."""
    pods: str = "disabled"
    endpoint_pod_names: bool = False
    metrics_bind_address: str | None = "127.0.0.1:9153"

    def validate(self) -> None:
        parse_hostport(self.listen, "--listen", error=ConfigError)
        if self.metrics_bind_address:
            parse_hostport(self.metrics_bind_address, "--metrics-bind-address", error=ConfigError)
        if self.pods not in POD_MODES:
            raise ConfigError(f"--pods: {self.pods!r} is not one of {', '.join(POD_MODES)}")
        if not 0 <= self.ttl <= 3600:
            raise ConfigError(f"--ttl: {self.ttl} is outside 0..3600")
        labels = self.domain.strip(".").split(".")
        if not self.domain.strip(".") or not all(
            0 < len(lab) <= 63 and lab.replace("-", "").isalnum() for lab in labels
        ):
            raise ConfigError(f"--domain: {self.domain!r} is not a DNS domain")

    def resolver_config(self, local_ips: tuple[str, ...] = ()) -> Config:
        mode: PodMode = self.pods  # type: ignore[assignment]
        return Config(
            domain=self.domain,
            ttl=self.ttl,
            pods=mode,
            endpoint_pod_names=self.endpoint_pod_names,
            local_ips=local_ips,
        )


def local_ips_for(host: str) -> tuple[str, ...]:
    """The addresses NS records name: the listen address unless it is loopback or
    unspecified (CoreDNS's ``boundIPs`` skips loopback; for an unspecified address it
    lists the interfaces, which we do not: see docs/upstream-differences.md)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ()
    if ip.is_loopback or ip.is_unspecified:
        return ()
    return (str(ip),)


DURATION_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
    4.096,
    8.192,
)
"""CoreDNS's request duration buckets (``plugin/metrics/vars``), in seconds."""

_BOUNDS = (*DURATION_BUCKETS, math.inf)


class Tally:
    """The counts of one kind of answer: (server, proto, family, zone, type, rcode).

    Every answer used to pass through three prometheus-client children (two counters and a
    histogram, each taking a lock, the histogram searching its buckets in a Python loop):
    about a fifth of answering a remembered query. A tally is three plain fields the
    answering loop adds to; :class:`Metrics` sums them into CoreDNS's series when
    ``/metrics`` is read. One event loop writes them, so nothing is lost without a lock."""

    __slots__ = ("buckets", "count", "labels", "total")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        """server, zone, view, proto, family, type, rcode, plugin."""
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(_BOUNDS)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1


class Metrics:
    """CoreDNS's request metrics (``plugin/metrics/vars``), names and labels kept.

    The request series are computed from the :class:`Tally` of each kind of answer when
    the registry is collected (a custom collector), not counted per query through
    prometheus-client's locked children."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.zone_changes = Counter(
            "sliceplane_dns_zone_snapshots_total",
            "Zone snapshots published (one per burst of object changes).",
            registry=self.registry,
        )
        self._tallies: dict[tuple[str, str, str, str, int, int], Tally] = {}
        self.registry.register(_RequestCollector(self))

    def children(self, server: str, proto: str, family: str, out: Outcome) -> Tally | None:
        """The tally one kind of answer counts in (None: not counted), looked up once per
        (server, proto, family, zone, type, rcode) and kept by the caller."""
        if out.rcode < 0:
            return None
        key = (server, proto, family, out.zone, out.qtype, out.rcode)
        found = self._tallies.get(key)
        if found is None:
            zone = out.zone or "dropped"
            qtype = (
                dns.rdatatype.to_text(dns.rdatatype.RdataType.make(out.qtype))
                if out.qtype
                else "other"
            )
            plugin = "kubernetes" if out.zone and out.rcode != dns.rcode.REFUSED else ""
            rcode = dns.rcode.to_text(dns.rcode.Rcode.make(out.rcode))
            labels = (server, zone, "", proto, family, qtype, rcode, plugin)
            found = self._tallies[key] = Tally(labels)
        return found

    def observe(self, server: str, proto: str, family: str, out: Outcome, seconds: float) -> None:
        found = self.children(server, proto, family, out)
        if found is not None:
            found.observe(seconds)

    def families(self) -> list[Any]:
        """``coredns_dns_requests_total``, ``coredns_dns_responses_total`` and
        ``coredns_dns_request_duration_seconds`` summed from the tallies."""
        requests: dict[tuple[str, ...], int] = {}
        responses: dict[tuple[str, ...], int] = {}
        durations: dict[tuple[str, ...], tuple[list[int], float]] = {}
        for t in list(self._tallies.values()):
            server, zone, view, proto, family, qtype, rcode, plugin = t.labels
            req_key = (server, zone, view, proto, family, qtype)
            requests[req_key] = requests.get(req_key, 0) + t.count
            resp_key = (server, zone, view, rcode, plugin)
            responses[resp_key] = responses.get(resp_key, 0) + t.count
            dur_key = (server, zone, view, qtype)
            buckets, total = durations.get(dur_key, ([0] * len(_BOUNDS), 0.0))
            summed = [a + b for a, b in zip(buckets, t.buckets, strict=True)]
            durations[dur_key] = (summed, total + t.total)
        req = CounterMetricFamily(
            "coredns_dns_requests_total",
            "Counter of DNS requests made per zone, protocol and family.",
            labels=["server", "zone", "view", "proto", "family", "type"],
        )
        for labels, n in requests.items():
            req.add_metric(labels, n)
        resp = CounterMetricFamily(
            "coredns_dns_responses_total",
            "Counter of response status codes.",
            labels=["server", "zone", "view", "rcode", "plugin"],
        )
        for labels, n in responses.items():
            resp.add_metric(labels, n)
        dur = HistogramMetricFamily(
            "coredns_dns_request_duration_seconds",
            "Histogram of the time (in seconds) each request took per zone.",
            labels=["server", "zone", "view", "type"],
        )
        for labels, (buckets, total) in durations.items():
            cumulative, running = [], 0
            for bound, n in zip(_BOUNDS, buckets, strict=True):
                running += n
                cumulative.append(("+Inf" if bound == math.inf else repr(bound), running))
            dur.add_metric(labels, cumulative, total)
        return [req, resp, dur]


class _RequestCollector(Collector):
    """The request series of one :class:`Metrics`, made when the registry is read."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Any:
        return iter(self._metrics.families())


@dataclass
class ZoneFeed:
    """Informers -> :class:`ZoneBuilder`, publishing a snapshot once per burst.

    With ``shared`` (the shared informer factory of ``sliceplane up``) it adds its
    handlers to that factory's informers and leaves running them to their owner; otherwise
    it runs informers of its own over ``client``, which keep compact objects
    (:mod:`sliceplane.dns.compact`): only the fields the zone reads."""

    client: Client | None
    pods: bool
    metrics: Metrics | None = None
    shared: InformerFactory | None = None
    _own: list[asyncio.Task[None]] = field(default_factory=list)
    builder: ZoneBuilder = field(default_factory=lambda: ZoneBuilder(now=time.time))
    zone: Zone = field(default_factory=Zone)
    _informers: list[Informer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _scheduled: bool = False
    _listeners: list[Callable[[Zone], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zone = Zone(synced=False)

    def _inform(
        self, resource: str, put: Callable[[Any], None], delete: Callable[[Any], None]
    ) -> None:
        if self.shared is not None:
            inf = self.shared.informer(resource)
        else:  # our own informers keep only what the zone reads (sliceplane.dns.compact)
            assert self.client is not None
            inf = Informer(
                self.client.list_watcher(resource),
                RealClock(),
                name=f"dns-{resource}",
                transform=COMPACT[resource],
            )

        def on_put(obj: Any, new: Any = None) -> None:
            put(new if new is not None else obj)
            self._schedule()

        def on_delete(obj: Any) -> None:
            delete(obj)
            self._schedule()

        inf.add_handler(on_put, on_put, on_delete)
        self._informers.append(inf)
        if inf.has_synced():
            self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._publish)

    def _publish(self) -> None:
        self._scheduled = False
        if all(i.has_synced() for i in self._informers):
            self.builder.mark_synced()
        zone = self.builder.snapshot()
        if zone is not self.zone:
            self.zone = zone
            if self.metrics is not None:
                self.metrics.zone_changes.inc()
            for fn in self._listeners:
                fn(zone)

    def start(self) -> None:
        b = self.builder
        self._inform("services", b.put_service, b.delete_service)
        self._inform("endpointslices", b.put_slice, b.delete_slice)
        self._inform("namespaces", b.put_namespace, b.delete_namespace)
        if self.pods:
            self._inform("pods", b.put_pod, b.delete_pod)
        if self.shared is None:
            for inf in self._informers:
                self._own.append(asyncio.create_task(inf.run(), name=f"informer-{inf.name}"))
        self._tasks.append(asyncio.create_task(self._mark_synced(), name="dns-synced"))

    async def wait_synced(self) -> None:
        """Until every informer has listed once."""
        await asyncio.gather(*(i.wait_for_sync() for i in self._informers))

    async def _mark_synced(self) -> None:
        await asyncio.gather(*(i.wait_for_sync() for i in self._informers))
        self._publish()

    async def stop(self) -> None:
        if self._own:
            for inf in self._informers:
                inf.stop()
            await cancel_and_wait(self._own)
            self._own.clear()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


class _UDP:
    """The UDP socket, read by the event loop without a transport.

    asyncio's datagram transport reads one datagram per readiness callback, so every query
    paid a trip through the selector and a callback handle: more than answering a
    remembered query costs. Here a readiness callback drains up to ``UDP_BATCH`` datagrams
    into one reused buffer and answers each straight away; answers the kernel cannot take
    at once wait in a bounded queue written when the socket is writable again (UDP: one
    that overflows it is dropped, as a full socket buffer would)."""

    def __init__(self, sock: socket.socket, answer: Callable[[bytes], bytes | None]) -> None:
        self.sock = sock
        self.answer = answer
        self.loop = asyncio.get_running_loop()
        self._buf = bytearray(MAX_UDP_REQUEST)
        self._view = memoryview(self._buf)
        self._pending: collections.deque[tuple[bytes, Any]] = collections.deque()
        sock.setblocking(False)
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock, view, answer = self.sock, self._view, self.answer
        for _ in range(UDP_BATCH):
            try:
                n, addr = sock.recvfrom_into(view)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # ICMP errors reported on the socket
                log.debug("udp: %s", exc)
                continue
            out = answer(bytes(view[:n]))
            if out is None:
                continue
            if self._pending:
                self._queue(out, addr)
                continue
            try:
                sock.sendto(out, addr)
            except (BlockingIOError, InterruptedError):
                self._queue(out, addr)
            except OSError as exc:
                log.debug("udp: %s", exc)

    def _queue(self, out: bytes, addr: Any) -> None:
        if not self._pending:
            self.loop.add_writer(self.sock.fileno(), self._writable)
        if len(self._pending) < UDP_QUEUE:
            self._pending.append((out, addr))

    def _writable(self) -> None:
        while self._pending:
            out, addr = self._pending[0]
            try:
                self.sock.sendto(out, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("udp: %s", exc)
            self._pending.popleft()
        self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        if self._pending:
            self.loop.remove_writer(self.sock.fileno())
            self._pending.clear()
        self.sock.close()


class DNSServer:
    """UDP and TCP on one address, answering from ``zone()``."""

    def __init__(self, cfg: Config, zone: Callable[[], Zone], metrics: Metrics | None = None):
        self.cfg = cfg
        self.zone = zone
        self.metrics = metrics
        self.address: tuple[str, int] = ("", 0)
        self.metrics_address = ""
        self._udp: _UDP | None = None
        self._tcp: asyncio.Server | None = None
        self._label = ""
        self._family = "1"
        # respond() is a pure function of (request bytes, zone): its answers are remembered
        # per snapshot and transport (sliceplane.dns.memo), and forgotten on any change.
        self.memos = {False: Memo(MEMO_ENTRIES), True: Memo(MEMO_ENTRIES)}
        # Templates still to make for names first asked in lower case (see _compute).
        self._later: collections.deque[tuple[bytes, Outcome, Zone, bool]] = collections.deque()
        self._later_scheduled = False

    def answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        start = time.perf_counter()
        memo = self.memos[tcp]
        zone = self.zone()
        if zone is not memo.zone:  # a new snapshot: every remembered answer is void
            memo.for_zone(zone)
            if memo.retired:
                asyncio.get_running_loop().call_soon(memo.free_retired)
        entry = memo.get(data)
        if entry is not None:
            response: bytes | None = patched(entry, data)
            tag = entry.tag
        else:
            response, tag = self._compute(memo, data, zone, tcp)
        if tag is not None:
            tag.observe(time.perf_counter() - start)
        return response

    def _compute(self, memo: Memo, data: bytes, zone: Zone, tcp: bool) -> tuple[bytes | None, Any]:
        proto = "tcp" if tcp else "udp"
        try:
            end = data.find(0, 12)
            name = data[12:end] if end > 12 else b""
            if name and name == name.lower() and len(self._later) < LATER_LIMIT:
                # Already in lower case (most clients without 0x20): its answer is the one a
                # case template would start from, so it goes out after one render and the
                # template (one more render, of the upper-case query) is made after the
                # answers waiting now; until then the exact bytes answer a repeat.
                out = respond(data, zone, self.cfg, tcp=tcp)
                entry = memo.put(data, out, None)
                response: bytes | None = out.response
                if entry is not None:
                    self._defer(data, out, zone, tcp)
            elif (folded := case_template(data, zone, self.cfg, tcp=tcp)) is not None:
                out, case = folded
                entry = memo.put(data, out, case)
                body = entry.body if entry is not None else without_question(out.response, case)  # type: ignore[arg-type]
                response = apply_case(body, case, data)
            else:
                out = respond(data, zone, self.cfg, tcp=tcp)
                entry = memo.put(data, out, None)
                response = out.response
        except Exception:  # a bug must not stop the server: SERVFAIL, logged
            log.exception("answering a query failed")
            out = Outcome(_servfail(data), dns.rcode.SERVFAIL)
            entry = None
            response = out.response
        tag = None
        if self.metrics is not None:
            tag = self.metrics.children(self._label, proto, self._family, out)
            if entry is not None:
                entry.tag = tag
        return response, tag

    def _defer(self, data: bytes, out: Outcome, zone: Zone, tcp: bool) -> None:
        self._later.append((data, out, zone, tcp))
        if not self._later_scheduled:
            self._later_scheduled = True
            asyncio.get_running_loop().call_soon(self._make_later)

    def _make_later(self) -> None:
        """Make the deferred case templates, a slice at a time (``LATER_SLICE`` seconds) so
        that queries arriving meanwhile wait for one slice at most, not for all of them."""
        later = self._later
        stop = time.perf_counter() + LATER_SLICE
        while later and time.perf_counter() < stop:
            data, out, zone, tcp = later.popleft()
            memo = self.memos[tcp]
            if memo.zone is not zone:
                continue  # the snapshot changed: that answer is void anyway
            try:
                folded = case_template(data, zone, self.cfg, tcp=tcp, lower=out)
            except Exception:
                log.exception("making a case template failed")
                continue
            if folded is None:
                continue  # the exact bytes stay remembered, as for any other request
            old = memo.entries.get(data[2:])
            entry = memo.put(data, folded[0], folded[1])
            if entry is not None:
                if old is not None:
                    entry.tag = old.tag
                elif self.metrics is not None:
                    proto = "tcp" if tcp else "udp"
                    entry.tag = self.metrics.children(self._label, proto, self._family, out)
        if later:
            asyncio.get_running_loop().call_soon(self._make_later)
        else:
            self._later_scheduled = False

    async def start(self, host: str, port: int, flag: str = "--listen") -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._family = "2" if family == socket.AF_INET6 else "1"
        for _attempt in range(20):
            try:
                udp_sock = socket.socket(family, socket.SOCK_DGRAM)
                udp_sock.bind((host, port))
                bound = udp_sock.getsockname()[1]
                tcp_sock = socket.socket(family, socket.SOCK_STREAM)
                tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    tcp_sock.bind((host, bound))
                except OSError:
                    udp_sock.close()
                    tcp_sock.close()
                    if port == 0:
                        continue  # the free UDP port is taken for TCP: pick another
                    raise
                break
            except OSError as exc:
                raise ConfigError(f"{flag} {host}:{port}: {exc.strerror}") from None
        else:
            raise ConfigError(f"{flag} {host}:0: no port free for both UDP and TCP")
        udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        tcp_sock.listen(512)
        tcp_sock.setblocking(False)
        self._udp = _UDP(udp_sock, lambda data: self.answer(data, tcp=False))
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        self.address = (host, bound)
        self._label = f"dns://{host}:{bound}"
        return self.address

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
                (length,) = struct.unpack("!H", head)
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_SECONDS)
                out = self.answer(data, tcp=True)
                if out is None:
                    break
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()


def _servfail(data: bytes) -> bytes | None:
    if len(data) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", data)
    return struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x0100) | dns.rcode.SERVFAIL, 0, 0, 0, 0)


async def serve_metrics(
    address: str, metrics: Metrics, healthy: Callable[[], bool]
) -> web.AppRunner:
    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def health(_: web.Request) -> web.Response:
        ok = healthy()
        return web.Response(text="OK" if ok else "not synced", status=200 if ok else 503)

    routes = {"/metrics": get_metrics, "/health": health, "/ready": health}
    return await serve(address, "--metrics-bind-address", routes, error=ConfigError)


async def _freeze_after_sync(feed: ZoneFeed) -> None:
    """Once the zone is listed, move everything allocated so far (it lives as long as the
    process) out of the cyclic collector's reach: its full collections walked the 10,000
    Services again and again, pauses of tens of milliseconds in the middle of answering."""
    await feed.wait_synced()
    gc.freeze()


async def run(
    config: DNSConfig,
    *,
    started: Callable[[DNSServer, ZoneFeed], Awaitable[None]] | None = None,
) -> None:
    """Bind, connect, serve until cancelled. Binding comes first, so a port in use is
    reported before anything else happens."""
    config.validate()
    host, port = parse_hostport(config.listen, "--listen", error=ConfigError)
    metrics = Metrics()
    holder: dict[str, ZoneFeed] = {}

    def current() -> Zone:
        feed = holder.get("feed")
        return feed.zone if feed is not None else Zone(synced=False)

    server = DNSServer(config.resolver_config(local_ips_for(host)), current, metrics)
    await server.start(host, port)
    runner: web.AppRunner | None = None
    client: Client | None = None
    feed: ZoneFeed | None = None
    freeze: asyncio.Task[None] | None = None
    try:
        if config.metrics_bind_address:
            runner = await serve_metrics(
                config.metrics_bind_address, metrics, lambda: current().synced
            )
            bound = runner.addresses[0]
            server.metrics_address = f"{bound[0]}:{bound[1]}"
        client = await Client.connect(str(config.kubeconfig) if config.kubeconfig else None)
        feed = ZoneFeed(client, pods=config.pods == "verified", metrics=metrics)
        holder["feed"] = feed
        feed.start()
        freeze = asyncio.create_task(_freeze_after_sync(feed), name="dns-gc-freeze")
        if started is not None:
            await started(server, feed)
        await asyncio.Event().wait()
    finally:
        if freeze is not None:
            await cancel_and_wait([freeze])
        await server.stop()
        if feed is not None:
            await feed.stop()
        if runner is not None:
            await runner.cleanup()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
