"""``sliceplane dns`` as a process against sliceplane's API server, asked by the real
``dig`` and by dnspython: every record kind, dual-stack, headless with hostnames, not-ready
endpoints through the real EndpointSlice controller, changes followed, truncation and the
TCP retry, EDNS0, hostile packets, metrics and the CLI's errors.

The API server is this module's own (dual-stack Service range), so the EndpointSlice
controller one test runs touches no other test's objects. Waits poll DNS until the answer
changes (never a fixed sleep) with a generous deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest
from harness import BIN, ServerProcess

from sliceplane.client.client import Client

Obj = dict[str, Any]
DIG = shutil.which("dig")
pytestmark = pytest.mark.skipif(DIG is None, reason="dig (Debian dnsutils) is not installed")


class DNSProcess:
    """``sliceplane dns`` in a subprocess; its address from its first stderr line."""

    def __init__(self, workdir: Path, kubeconfig: Path, *args: str) -> None:
        self.log_path = workdir / f"dns-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(BIN / "sliceplane"),
                "dns",
                "--kubeconfig",
                str(kubeconfig),
                "--listen",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "127.0.0.1:0",
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"on 127\.0\.0\.1:(\d+)", self.log_path.read_text())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("sliceplane dns did not start:\n" + self.log_path.read_text())
        if not hasattr(self, "port"):
            raise RuntimeError("sliceplane dns exited:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(
        tmp_path_factory.mktemp("dns-api"),
        extra_args=["--service-cidr", "10.96.0.0/16,fd00:10:96::/112"],
    )
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def dnsd(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DNSProcess]:
    d = DNSProcess(tmp_path_factory.mktemp("dns"), server.kubeconfig)
    yield d
    d.stop()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(server.kubeconfig)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: Client) -> AsyncIterator[str]:
    name = f"dns-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    with contextlib.suppress(Exception):
        await client.delete("namespaces", name)


def dig(port: int, *args: str) -> str:
    assert DIG is not None
    out = subprocess.run(
        [DIG, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout


def short(port: int, name: str, qtype: str = "A", *extra: str) -> list[str]:
    return sorted(line for line in dig(port, name, qtype, "+short", *extra).splitlines() if line)


def status(port: int, name: str, qtype: str = "A") -> str:
    m = re.search(r"status: (\w+)", dig(port, name, qtype, "+noall", "+comments"))
    assert m is not None
    return m.group(1)


def ask(
    port: int, name: str, qtype: str = "A", *, tcp: bool = False, timeout: float = 5, **kw: Any
) -> dns.message.Message:
    q = dns.message.make_query(name, qtype, **kw)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=timeout)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=timeout)


async def until(
    port: int, name: str, qtype: str, want: list[str] | str, timeout: float = 30
) -> None:
    """Poll until ``dig +short`` gives ``want`` (a list) or the status is ``want`` (a str)."""
    deadline = time.monotonic() + timeout
    got: Any = None
    while time.monotonic() < deadline:
        got = status(port, name, qtype) if isinstance(want, str) else short(port, name, qtype)
        if got == (want if isinstance(want, str) else sorted(want)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} {qtype}: {got!r}, want {want!r}")


def svc(name: str, ns: str, **spec: Any) -> Obj:
    spec.setdefault("ports", [{"name": "http", "protocol": "TCP", "port": 80}])
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def slice_obj(
    name: str,
    ns: str,
    service: str,
    endpoints: list[Obj],
    family: str = "IPv4",
    ports: list[Obj] | None = None,
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports
        if ports is not None
        else [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


def endpoint(ip: str, ready: bool = True, hostname: str | None = None) -> Obj:
    ep: Obj = {"addresses": [ip], "conditions": {"ready": ready}}
    if hostname:
        ep["hostname"] = hostname
    return ep


async def test_record_kinds(client: Client, ns: str, dnsd: DNSProcess) -> None:
    p = dnsd.port
    web = await client.create("services", svc("web", ns), ns)
    ip = web["spec"]["clusterIP"]
    await client.create(
        "services", svc("ext", ns, type="ExternalName", externalName="example.com", ports=None), ns
    )
    await client.create("services", svc("db", ns, clusterIP="None"), ns)
    await client.create(
        "endpointslices",
        slice_obj(
            "db-1", ns, "db", [endpoint("10.20.0.1", hostname="db-0"), endpoint("10.20.0.2")]
        ),
        ns,
    )
    S = f"{ns}.svc.cluster.local"
    await until(p, f"web.{S}", "A", [ip])
    assert short(p, f"_http._tcp.web.{S}", "SRV") == [f"0 100 80 web.{S}."]
    await until(p, f"db.{S}", "A", ["10.20.0.1", "10.20.0.2"])
    assert short(p, f"db-0.db.{S}") == ["10.20.0.1"]
    assert short(p, f"10-20-0-2.db.{S}") == ["10.20.0.2"]
    assert short(p, f"_http._tcp.db.{S}", "SRV") == [
        f"0 50 8080 10-20-0-2.db.{S}.",
        f"0 50 8080 db-0.db.{S}.",
    ]
    assert short(p, f"ext.{S}", "CNAME") == ["example.com."]
    assert short(p, f"ext.{S}", "A") == ["example.com."]
    rev = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    assert short(p, rev, "PTR") == [f"web.{S}."]
    assert short(p, "1.0.20.10.in-addr.arpa", "PTR") == [f"db-0.db.{S}."]
    assert short(p, "dns-version.cluster.local", "TXT") == ['"1.1.0"']
    assert short(p, "cluster.local", "SOA")[0].startswith(
        "ns.dns.cluster.local. hostmaster.cluster.local."
    )
    # NXDOMAIN and NODATA, both with the SOA
    out = dig(p, f"nope.{S}", "A", "+noall", "+comments", "+authority")
    assert "status: NXDOMAIN" in out and "SOA\tns.dns.cluster.local." in out
    out = dig(p, f"web.{S}", "AAAA", "+noall", "+comments", "+authority")
    assert "status: NOERROR" in out and "ANSWER: 0" in out and "SOA" in out
    assert status(p, S, "A") == "NOERROR"
    assert status(p, "web.no-such-ns.svc.cluster.local") == "NXDOMAIN"
    assert status(p, "example.org") == "REFUSED"
    # case is kept in the answer's owner name
    r = ask(p, f"WEB.{ns}.SVC.cluster.local")
    assert r.answer[0].name.to_text() == f"WEB.{ns}.SVC.cluster.local."


async def test_dual_stack(client: Client, ns: str, dnsd: DNSProcess) -> None:
    s = await client.create("services", svc("both", ns, ipFamilyPolicy="RequireDualStack"), ns)
    v4, v6 = s["spec"]["clusterIPs"]
    name = f"both.{ns}.svc.cluster.local"
    await until(dnsd.port, name, "A", [v4])
    assert short(dnsd.port, name, "AAAA") == [v6]
    srv = ask(dnsd.port, f"_http._tcp.{name}", "SRV")
    assert sorted(rr.to_text() for rrs in srv.additional for rr in rrs) == sorted([v4, v6])
    rev6 = dns.reversename.from_address(v6).to_text()
    assert short(dnsd.port, rev6, "PTR") == [f"{name}."]
    await client.create(
        "services", svc("hl6", ns, clusterIP="None", ipFamilyPolicy="RequireDualStack"), ns
    )
    await client.create(
        "endpointslices", slice_obj("hl6-4", ns, "hl6", [endpoint("10.21.0.1")]), ns
    )
    await client.create(
        "endpointslices", slice_obj("hl6-6", ns, "hl6", [endpoint("fd00:21::1")], "IPv6"), ns
    )
    await until(dnsd.port, f"hl6.{ns}.svc.cluster.local", "AAAA", ["fd00:21::1"])
    assert short(dnsd.port, f"hl6.{ns}.svc.cluster.local", "A") == ["10.21.0.1"]
    assert short(dnsd.port, f"fd00-21--1.hl6.{ns}.svc.cluster.local", "AAAA") == ["fd00:21::1"]


async def test_slice_changed_and_service_deleted(client: Client, ns: str, dnsd: DNSProcess) -> None:
    await client.create("services", svc("hl", ns, clusterIP="None"), ns)
    sl = await client.create(
        "endpointslices", slice_obj("hl-1", ns, "hl", [endpoint("10.22.0.1")]), ns
    )
    name = f"hl.{ns}.svc.cluster.local"
    await until(dnsd.port, name, "A", ["10.22.0.1"])
    sl["endpoints"] = [endpoint("10.22.0.2"), endpoint("10.22.0.3", ready=False)]
    await client.update("endpointslices", sl)
    await until(dnsd.port, name, "A", ["10.22.0.2"])
    await client.delete("endpointslices", "hl-1", ns)
    await until(dnsd.port, name, "A", "NXDOMAIN")  # headless without endpoints
    await client.delete("services", "hl", ns)
    await until(dnsd.port, f"_http._tcp.{name}", "SRV", "NXDOMAIN")


async def test_not_ready_and_publish_not_ready_addresses(
    client: Client, ns: str, dnsd: DNSProcess
) -> None:
    """Through the real EndpointSlice controller: not-ready pods are not answered unless
    the Service publishes not-ready addresses (the controller marks them ready then)."""
    from sliceplane.endpointslice.controller import EndpointSliceController
    from sliceplane.machinery.clock import RealClock
    from sliceplane.machinery.factory import InformerFactory

    with contextlib.suppress(Exception):
        await client.create("nodes", {"metadata": {"name": "dns-node-1"}})
    for name, publish in (("strict", False), ("publish", True)):
        await client.create(
            "services",
            svc(
                name, ns, clusterIP="None", selector={"app": "x"}, publishNotReadyAddresses=publish
            ),
            ns,
        )
    for i, ready in ((1, True), (2, False)):
        pod = {
            "metadata": {"name": f"x-{i}", "namespace": ns, "labels": {"app": "x"}},
            "spec": {"nodeName": "dns-node-1", "containers": [{"name": "c", "image": "app:1"}]},
        }
        await client.create("pods", pod, ns)
        await client.patch(
            "pods",
            f"x-{i}",
            {
                "status": {
                    "phase": "Running",
                    "podIP": f"10.23.0.{i}",
                    "podIPs": [{"ip": f"10.23.0.{i}"}],
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                }
            },
            ns,
            patch_type="merge",
            subresource="status",
        )
    factory = InformerFactory(client, RealClock())
    controller = EndpointSliceController(client, factory, RealClock())
    factory.start()
    task = asyncio.create_task(controller.run())
    try:
        await until(dnsd.port, f"strict.{ns}.svc.cluster.local", "A", ["10.23.0.1"])
        await until(dnsd.port, f"publish.{ns}.svc.cluster.local", "A", ["10.23.0.1", "10.23.0.2"])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await factory.stop()


async def test_truncation_tcp_retry_and_edns(client: Client, ns: str, dnsd: DNSProcess) -> None:
    await client.create("services", svc("big", ns, clusterIP="None"), ns)
    eps = [endpoint(f"10.24.{i // 250}.{i % 250 + 1}") for i in range(150)]
    await client.create("endpointslices", slice_obj("big-1", ns, "big", eps), ns)
    name = f"big.{ns}.svc.cluster.local"
    await until(dnsd.port, f"10-24-0-1.{name}", "A", ["10.24.0.1"])
    udp = ask(dnsd.port, name)
    assert udp.flags & dns.flags.TC and 0 < len(udp.answer[0]) < 150
    tcp = ask(dnsd.port, name, tcp=True)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 150
    # dig retries over TCP by itself on TC; +ignore shows the truncated UDP answer
    assert len(short(dnsd.port, name, "A", "+noedns")) == 150
    assert (
        "tc"
        in dig(dnsd.port, name, "+ignore", "+noedns", "+noall", "+comments")
        .split("flags:")[1]
        .split(";")[0]
    )
    # EDNS0: a 4096-byte buffer takes it all over UDP, and the size is echoed
    big = ask(dnsd.port, name, use_edns=0, payload=4096)
    assert not big.flags & dns.flags.TC and len(big.answer[0]) == 150 and big.payload == 4096
    assert ask(dnsd.port, name, use_edns=0, payload=1232).flags & dns.flags.TC


async def test_hostile_packets_do_not_stop_the_server(
    client: Client, ns: str, dnsd: DNSProcess
) -> None:
    web = await client.create("services", svc("fz", ns), ns)
    name = f"fz.{ns}.svc.cluster.local"
    await until(dnsd.port, name, "A", [web["spec"]["clusterIP"]])
    rng = random.Random(1414)
    seeds = [dns.message.make_query(name, t).to_wire() for t in ("A", "SRV", "PTR", "TXT")]
    seeds.append(dns.message.make_query(name, "A", use_edns=0, payload=4096).to_wire())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(5000):
            if i % 4 == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
            else:
                b = bytearray(rng.choice(seeds))
                for _ in range(rng.randrange(1, 8)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                data = bytes(b[: rng.randrange(1, len(b) + 1)])
            sock.sendto(data, ("127.0.0.1", dnsd.port))
    finally:
        sock.close()
    # TCP: garbage, a short length prefix, and a connection left half-open
    for junk in (b"\x00\x05abc", b"\xff\xff" + b"x" * 100, b"\x00"):
        with socket.create_connection(("127.0.0.1", dnsd.port), timeout=5) as c:
            c.sendall(junk)
    assert dnsd.proc.poll() is None
    # a flood overflows the socket's receive buffer, so a query may be lost, as with any
    # server: ask as a stub resolver would, with retries
    answer = None
    for _ in range(10):
        try:
            answer = ask(dnsd.port, name, timeout=2)
            break
        except dns.exception.Timeout:
            continue
    assert answer is not None
    assert [rr.to_text() for rr in answer.answer[0]] == [web["spec"]["clusterIP"]]
    assert [rr.to_text() for rr in ask(dnsd.port, name, tcp=True).answer[0]] == [
        web["spec"]["clusterIP"]
    ]


def test_metrics_use_coredns_names(dnsd: DNSProcess) -> None:
    ask(dnsd.port, "dns-version.cluster.local", "TXT")
    m = re.search(r"metrics on (\S+)", dnsd.log_path.read_text())
    assert m is not None
    body = urllib.request.urlopen(f"http://{m.group(1)}/metrics", timeout=5).read().decode()
    assert re.search(r'coredns_dns_requests_total\{.*type="TXT".*\} \d', body)
    assert re.search(r'coredns_dns_responses_total\{.*rcode="NOERROR".*\} \d', body)
    assert "coredns_dns_request_duration_seconds_bucket" in body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--bogus"], "No such option: --bogus", id="unknown-flag"),
        pytest.param(["--pods", "all"], "--pods: 'all' is not one of", id="bad-pods"),
        pytest.param(["--ttl", "x"], "--ttl", id="bad-ttl"),
        pytest.param(
            ["--listen", "nowhere"], "--listen: 'nowhere' is not HOST:PORT", id="bad-listen"
        ),
    ],
)
def test_cli_usage_errors_one_line_exit_2(args: list[str], message: str) -> None:
    out = subprocess.run(
        [str(BIN / "sliceplane"), "dns", *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert (
        out.stderr.count("\n") == 1 and message in out.stderr and out.stderr.startswith("error: ")
    )


def test_port_in_use_one_line_exit_2(dnsd: DNSProcess, server: ServerProcess) -> None:
    out = subprocess.run(
        [
            str(BIN / "sliceplane"),
            "dns",
            "--kubeconfig",
            str(server.kubeconfig),
            "--listen",
            f"127.0.0.1:{dnsd.port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "address already in use" in out.stderr.lower()


def test_up_dns_listen_in_use_one_line_exit_2(dnsd: DNSProcess, tmp_path: Path) -> None:
    out = subprocess.run(
        [
            str(BIN / "sliceplane"),
            "up",
            "--data-dir",
            str(tmp_path / "up"),
            "--listen",
            "127.0.0.1:0",
            "--dns-listen",
            f"127.0.0.1:{dnsd.port}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"error: --dns-listen 127.0.0.1:{dnsd.port}: ")
