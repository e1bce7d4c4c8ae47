"""Differential test of cluster DNS: CoreDNS's kubernetes plugin vs ``sliceplane dns``.

One real kube-apiserver (``sliceplane.testenv``, dual-stack Service range) holds every
Service shape — ClusterIP with named, unnamed, TCP and UDP ports; dual-stack; IPv6;
headless with hostnames, pod-named, not-ready, unknown-readiness and duplicated
endpoints across slices, IPv6 slices, port-less slices; headless without endpoints;
ExternalName outside the zone, inside it, dangling, to an IP — plus namespaces and pods.
The slices are written by the test (no controller), so both servers read exactly the same
objects. CoreDNS (``make coredns-bin``, version in ``tools/coredns``) and ``sliceplane
dns`` run against it side by side in two configurations (``pods insecure``; ``pods
verified`` with ``endpoint_pod_names``), and every query of the corpus — each record type
for each existing name, missing names, namespace, apex and reverse names, pod names, case
variants — must get the same rcode, header flags and answer/authority/additional sections
after sorting, with SOA serials normalised (TTLs are compared as they are).

What remains different is documented in docs/upstream-differences.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import pytest
from harness import BIN

from sliceplane.client.client import Client
from sliceplane.testenv import BinariesNotFound, ControlPlane, find_binaries
from sliceplane.testenv.coredns import CoreDNS, CoreDNSNotFound, find_coredns

Obj = dict[str, Any]
pytestmark = pytest.mark.timeout(600)

NS, OTHER, EMPTY = "dnsdiff", "dnsdiff-other", "dnsdiff-empty"
HTTP = {"name": "http", "protocol": "TCP", "port": 80}
DNSU = {"name": "dns", "protocol": "UDP", "port": 53}
UNNAMED = {"protocol": "TCP", "port": 8080}


def svc(name: str, ns: str = NS, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def ep(ip: str, ready: bool | None = True, hostname: str = "", pod: str = "") -> Obj:
    e: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        e["hostname"] = hostname
    if pod:
        e["targetRef"] = {"kind": "Pod", "name": pod, "namespace": NS}
    return e


def eps(
    name: str, service: str, endpoints: list[Obj], ports: list[Obj] | None, family: str = "IPv4"
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports,
    }


SERVICES = [
    svc("web", ports=[HTTP, DNSU, {**UNNAMED, "name": "alt"}]),
    svc("single", ports=[UNNAMED]),
    svc("dual", ipFamilyPolicy="RequireDualStack", ports=[HTTP]),
    svc("v6", ipFamilies=["IPv6"], ports=[HTTP]),
    svc("db", clusterIP="None", ports=[{"name": "pg", "protocol": "TCP", "port": 5432}]),
    svc("hl6", clusterIP="None", ipFamilyPolicy="RequireDualStack", ports=[HTTP]),
    svc("noports", clusterIP="None"),
    svc("empty", clusterIP="None", ports=[HTTP]),
    svc("big", clusterIP="None", ports=[HTTP]),
    svc("ext", type="ExternalName", externalName="example.com"),
    svc("alias", type="ExternalName", externalName=f"web.{NS}.svc.cluster.local"),
    svc("dangling", type="ExternalName", externalName=f"gone.{NS}.svc.cluster.local"),
    svc("extip", type="ExternalName", externalName="1.2.3.4"),
    svc("web", ns=OTHER, ports=[HTTP]),
]
PG = [{"name": "pg", "protocol": "TCP", "port": 5432}]
SLICES = [
    eps(
        "db-a",
        "db",
        [
            ep("10.20.0.1", hostname="db-0", pod="db-0"),
            ep("10.20.0.2", pod="db-1"),
            ep("10.20.0.3", ready=False),
        ],
        PG,
    ),
    eps("db-b", "db", [ep("10.20.0.2", ready=None, pod="db-1"), ep("10.20.0.4", pod="db-3")], PG),
    eps("hl6-4", "hl6", [ep("10.21.0.1")], [HTTP]),
    eps("hl6-6", "hl6", [ep("fd00:21::1"), ep("fd00:21::")], [HTTP], "IPv6"),
    eps("noports-a", "noports", [ep("10.22.0.1")], None),
    eps("web-a", "web", [ep("10.23.0.1", pod="web-abc")], [HTTP]),
    eps("big-a", "big", [ep(f"10.24.{i // 200}.{i % 200 + 1}") for i in range(120)], [HTTP]),
]
PODS = [
    ("p1", "10.30.0.1", "Running"),
    ("p2", "fd00:30::1", "Running"),
    ("done", "10.30.0.2", "Succeeded"),
]


@dataclass
class Server:
    name: str
    port: int


def _sentinel_ready(port: int) -> bool:
    q = dns.message.make_query(f"sentinel.{NS}.svc.cluster.local", "A")
    try:
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=2)
    except Exception:
        return False
    return [rr.to_text() for rrs in r.answer for rr in rrs] == ["10.99.0.1"]


async def _populate(kubeconfig: Path) -> dict[str, Obj]:
    async with await Client.connect(kubeconfig) as c:
        for ns in (NS, OTHER, EMPTY):
            await c.create("namespaces", {"metadata": {"name": ns}})
        out: dict[str, Obj] = {}
        for s in SERVICES:
            created = await c.create("services", s, s["metadata"]["namespace"])
            out[f"{created['metadata']['namespace']}/{created['metadata']['name']}"] = created
        for sl in SLICES:
            await c.create("endpointslices", sl, NS)
        for name, ip, phase in PODS:
            pod = {
                "metadata": {"name": name, "namespace": NS},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]},
            }
            await c.create("pods", pod, NS)
            await c.patch(
                "pods",
                name,
                {"status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}},
                NS,
                patch_type="merge",
                subresource="status",
            )
        # last: a sentinel Service and slice; once a server answers it, it has the rest
        await c.create("services", svc("sentinel", clusterIP="None", ports=[HTTP]), NS)
        await c.create(
            "endpointslices", eps("sentinel-a", "sentinel", [ep("10.99.0.1")], [HTTP]), NS
        )
        return out


class SliceplaneDNS:
    def __init__(self, kubeconfig: Path, workdir: Path, *args: str) -> None:
        self.log = workdir / f"sliceplane-dns{'-'.join(args).replace('--', '-')}.log"
        fh = open(self.log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(BIN / "sliceplane"),
                "dns",
                "--kubeconfig",
                str(kubeconfig),
                "--listen",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "",
                *args,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        fh.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("sliceplane dns did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Obj], list[tuple[Server, Server]]]]:
    try:
        binaries = find_binaries()
        find_coredns()
    except (BinariesNotFound, CoreDNSNotFound) as exc:
        pytest.skip(str(exc))
    work = tmp_path_factory.mktemp("dnsdiff")
    cp = ControlPlane(
        work / "k8s",
        binaries=binaries,
        service_cidr="10.96.0.0/16,fd00:10:96::/112",
        unsafe_no_fsync=True,
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(cp)
        objects = asyncio.run(_populate(cp.kubeconfig))
        pairs: list[tuple[Server, Server]] = []
        for label, core_opts, ours in (
            ("insecure", ("pods insecure",), ("--pods", "insecure")),
            (
                "verified",
                ("pods verified", "endpoint_pod_names"),
                ("--pods", "verified", "--endpoint-pod-names"),
            ),
        ):
            core = stack.enter_context(
                CoreDNS(cp.kubeconfig, options=core_opts, workdir=work / f"coredns-{label}")
            )
            sp = SliceplaneDNS(cp.kubeconfig, work, *ours)
            stack.callback(sp.stop)
            pairs.append(
                (Server(f"coredns/{label}", core.port), Server(f"sliceplane/{label}", sp.port))
            )
        deadline = time.monotonic() + 60
        for a, b in pairs:
            while not (_sentinel_ready(a.port) and _sentinel_ready(b.port)):
                assert time.monotonic() < deadline, "servers did not see the objects"
                time.sleep(0.2)
        yield objects, pairs


def _rr_text(rr: Any, name: str, ttl: int, rdclass: int, rdtype: int) -> str:
    data = rr.to_text()
    if rdtype == dns.rdatatype.SOA:
        parts = data.split()
        parts[2] = "SERIAL"
        data = " ".join(parts)
    klass, kind = dns.rdataclass.to_text(rdclass), dns.rdatatype.to_text(rdtype)
    return f"{name.lower()} {ttl} {klass} {kind} {data.lower()}"


def normalise(m: dns.message.Message) -> tuple[Any, ...]:
    def section(rrsets: list[Any]) -> list[str]:
        return sorted(
            _rr_text(rr, rrs.name.to_text(), rrs.ttl, rrs.rdclass, rrs.rdtype)
            for rrs in rrsets
            for rr in rrs
        )

    flags = [f for f in ("AA", "TC", "RD", "RA") if m.flags & dns.flags.from_text(f)]
    return (
        dns.rcode.to_text(m.rcode()),
        flags,
        section(m.answer),
        section(m.authority),
        section(m.additional),
    )


def query(port: int, name: str, qtype: str, *, tcp: bool = True, **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(name, qtype, **kw)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=5)


def reverse(ip: str) -> str:
    return dns.reversename.from_address(ip).to_text()


def corpus(objects: dict[str, Obj]) -> list[tuple[str, str]]:
    S = f"{NS}.svc.cluster.local."
    types = ["A", "AAAA", "SRV", "TXT", "CNAME", "PTR", "MX", "NS", "SOA", "ANY", "CAA"]
    names: list[str] = []
    for key in objects:
        ns, name = key.split("/")
        names.append(f"{name}.{ns}.svc.cluster.local.")
    names += [
        # endpoints by hostname, dashed address, pod name; ports; missing things
        f"db-0.db.{S}",
        f"10-20-0-2.db.{S}",
        f"db-1.db.{S}",
        f"db-3.db.{S}",
        f"10-20-0-3.db.{S}",
        f"fd00-21--1.hl6.{S}",
        f"fd00-21--0.hl6.{S}",
        f"10-21-0-1.hl6.{S}",
        f"10-23-0-1.web.{S}",
        f"web-abc.web.{S}",
        f"10-22-0-1.noports.{S}",
        f"_http._tcp.web.{S}",
        f"_dns._udp.web.{S}",
        f"_alt._tcp.web.{S}",
        f"_http._udp.web.{S}",
        f"_nope._tcp.web.{S}",
        f"_pg._tcp.db.{S}",
        f"_http._tcp.hl6.{S}",
        f"_http._tcp.ext.{S}",
        f"_http._tcp.dual.{S}",
        f"_http._tcp.empty.{S}",
        f"_http._tcp.noports.{S}",
        f"x._tcp.web.{S}",
        f"nope.{S}",
        f"a.b.c.web.{S}",
        f"*.{S}",
        f"any.{S}",
        f"*.db.{S}",
        S,
        f"{EMPTY}.svc.cluster.local.",
        "nonamespace.svc.cluster.local.",
        "web.nonamespace.svc.cluster.local.",
        "svc.cluster.local.",
        "pod.cluster.local.",
        "cluster.local.",
        "foo.cluster.local.",
        "dns-version.cluster.local.",
        "ns.dns.cluster.local.",
        "x.dns-version.cluster.local.",
        f"10-30-0-1.{NS}.pod.cluster.local.",
        f"10-30-0-2.{NS}.pod.cluster.local.",
        f"10-30-0-9.{NS}.pod.cluster.local.",
        f"fd00-30--1.{NS}.pod.cluster.local.",
        f"10-30-0-1.{OTHER}.pod.cluster.local.",
        "10-30-0-1.nonamespace.pod.cluster.local.",
        f"x-y.{NS}.pod.cluster.local.",
        f"{NS}.pod.cluster.local.",
        f"x.10-30-0-1.{NS}.pod.cluster.local.",
        "in-addr.arpa.",
        "10.in-addr.arpa.",
        "ip6.arpa.",
        "dns-version.in-addr.arpa.",
        "9.9.9.9.in-addr.arpa.",
        reverse("fd00:99::1"),
        reverse("10.20.0.1"),
        reverse("10.20.0.2"),
        reverse("10.20.0.3"),
        reverse("fd00:21::1"),
        reverse("10.23.0.1"),
        reverse("10.99.0.1"),
        "example.com.",
        "local.",
        ".",
        f"WEB.{NS}.SVC.Cluster.Local.",
        f"Db-0.DB.{S}",
        "DNS-VERSION.CLUSTER.LOCAL.",
    ]
    for s in objects.values():
        for ip in s["spec"].get("clusterIPs") or []:
            if ip != "None":
                names.append(reverse(ip))
    return [(n, t) for n in names for t in types]


def test_same_answers_as_coredns(env: tuple[dict[str, Obj], list[tuple[Server, Server]]]) -> None:
    objects, pairs = env
    items = corpus(objects)
    assert len(items) > 900
    diffs: list[str] = []
    for core, ours in pairs:
        for name, qtype in items:
            want = normalise(query(core.port, name, qtype))
            got = normalise(query(ours.port, name, qtype))
            if got != want:
                diffs.append(
                    f"{core.name} {name} {qtype}\n  coredns:    {want}\n  sliceplane: {got}"
                )
    assert not diffs, f"{len(diffs)} of {2 * len(items)} differ:\n" + "\n".join(diffs[:40])


@pytest.mark.parametrize(
    ("kw", "tcp"),
    [
        pytest.param({}, False, id="udp-512"),
        pytest.param({"use_edns": 0, "payload": 1232}, False, id="udp-edns-1232"),
        pytest.param({"use_edns": 0, "payload": 4096}, False, id="udp-edns-4096"),
        pytest.param({"use_edns": 0, "payload": 100}, False, id="udp-edns-below-512"),
        pytest.param({"use_edns": 0, "ednsflags": dns.flags.DO}, False, id="edns-do"),
        pytest.param({}, True, id="tcp"),
    ],
)
@pytest.mark.parametrize("qtype", ["A", "SRV"])
def test_truncation_and_edns_as_coredns(
    env: tuple[dict[str, Obj], list[tuple[Server, Server]]],
    kw: dict[str, Any],
    tcp: bool,
    qtype: str,
) -> None:
    """The big headless Service: same TC bit, same number of records kept per section,
    same OPT (version, size, DO). Which records are kept depends on each server's order
    of endpoints, so only the counts are compared."""
    _, pairs = env
    core, ours = pairs[0]
    name = f"big.{NS}.svc.cluster.local."

    def shape(m: dns.message.Message) -> tuple[Any, ...]:
        count = [sum(len(r) for r in sec) for sec in (m.answer, m.authority, m.additional)]
        return (
            m.rcode(),
            bool(m.flags & dns.flags.TC),
            count,
            m.edns,
            m.payload if m.edns >= 0 else None,
            bool(m.ednsflags & dns.flags.DO),
        )

    assert shape(query(ours.port, name, qtype, tcp=tcp, **kw)) == shape(
        query(core.port, name, qtype, tcp=tcp, **kw)
    )


def test_malformed_and_refused_as_coredns(
    env: tuple[dict[str, Obj], list[tuple[Server, Server]]],
) -> None:
    """Bad EDNS version, another class, other opcodes: the same rcode from both."""
    _, pairs = env
    core, ours = pairs[0]
    cases = [
        dns.message.make_query("dns-version.cluster.local.", "TXT", use_edns=1),
        dns.message.make_query("dns-version.cluster.local.", "TXT", rdclass="CH"),
        dns.message.make_query("cluster.local.", "AXFR"),
    ]
    notify = dns.message.make_query("cluster.local.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    cases.append(notify)
    for q in cases:
        want = dns.query.tcp(q, "127.0.0.1", port=core.port, timeout=5)
        got = dns.query.tcp(q, "127.0.0.1", port=ours.port, timeout=5)
        assert (got.rcode(), got.opcode(), normalise(got)) == (
            want.rcode(),
            want.opcode(),
            normalise(want),
        ), q.to_text()
