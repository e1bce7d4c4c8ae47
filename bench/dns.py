"""Cluster DNS benchmark: ``sliceplane dns`` vs CoreDNS's kubernetes plugin, same load.

One real kube-apiserver (``sliceplane.testenv.ControlPlane``) holds ``--services`` Services
(default 10,000): 70 % ClusterIP, 30 % headless with 10 ready endpoints in one hand-written
EndpointSlice. CoreDNS (``make coredns-bin``, ``pods insecure``) and ``sliceplane dns``
watch it at the same time; each is measured alone in turn (2 cores):

* throughput and latency: ``dnsperf`` (Debian) over UDP for ``--seconds`` with its default
  100 queries outstanding, a mixed query file: 50 % ClusterIP A, 25 % headless A (10
  records), 10 % SRV of a ClusterIP named port, 15 % missing names (NXDOMAIN), as a
  *repeated* file (50,000 queries, looped) and a *cold* one (200,000 queries in random
  letter case, one pass: no request repeats, so sliceplane's answer memo never hits);
  queries per second from dnsperf's summary and per CPU-second of the server (robust to
  a busy machine), p50/p99 from dnsperf's per-query ``-v`` lines;
* memory: each server's resident set (``VmRSS``) with the whole zone loaded; for sliceplane
  also the zone snapshot alone (tracemalloc while building it in this process from the
  same objects);
* slice change to answer: ``--changes`` times, an EndpointSlice of a headless Service is
  updated to a new address and, from the moment the update request is sent, both servers
  are asked every 0.2 ms (over UDP, from a thread of this process, which of the two first
  alternating per change) until each answers the new address; each answer is timed when
  it is read, from the update request being sent, p50/p99.

Each run (``--repeat N``, through ``bench/report.py``) starts both servers afresh, so no
run answers from what an earlier one remembered; ``--write-docs`` rewrites the marked
section of docs/benchmarks.md with the median (min-max) table. Figures only, nothing
asserted; ratios are sliceplane / CoreDNS.

    .venv/bin/python bench/dns.py                  # 10,000 Services, 20 s per server
    .venv/bin/python bench/dns.py --quick          # 1,000 Services, 5 s
    .venv/bin/python bench/dns.py --repeat 3 --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

# This file is bench/dns.py: as a script its directory comes first on sys.path and would
# shadow dnspython's ``dns`` package. Take it off, then load the shared helpers by path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
import importlib.util  # noqa: E402

import dns.message  # noqa: E402
import dns.query  # noqa: E402

_spec = importlib.util.spec_from_file_location("procstats", _HERE / "procstats.py")
assert _spec is not None and _spec.loader is not None
procstats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(procstats)
load, pct, rss_mib = procstats.load, procstats.pct, procstats.rss_mib
cpu_seconds = procstats.cpu_seconds
_spec = importlib.util.spec_from_file_location("progress", _HERE / "progress.py")
assert _spec is not None and _spec.loader is not None
_progress = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_progress)
phase = _progress.phase
_spec = importlib.util.spec_from_file_location("report", _HERE / "report.py")
assert _spec is not None and _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
sys.modules["report"] = report  # dataclasses resolve the module's annotations through it
_spec.loader.exec_module(report)

from sliceplane.api import errors  # noqa: E402
from sliceplane.client.client import Client  # noqa: E402
from sliceplane.dns.zone import zone_from_objects  # noqa: E402
from sliceplane.testenv import ControlPlane  # noqa: E402
from sliceplane.testenv.coredns import CoreDNS  # noqa: E402

BIN = Path(sys.executable).parent
NS = "bench"
Obj = dict[str, Any]


def service(i: int, headless: bool) -> Obj:
    spec: Obj = {"ports": [{"name": "http", "protocol": "TCP", "port": 80}]}
    if headless:
        spec["clusterIP"] = "None"
    return {
        "metadata": {"name": f"{'hl' if headless else 'svc'}-{i}", "namespace": NS},
        "spec": spec,
    }


def endpoint_slice(name: str, service: str, ips: list[str]) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


def headless_ips(i: int) -> list[str]:
    return [f"10.{100 + i // 6000}.{(i // 24) % 250}.{(i % 24) * 10 + k + 1}" for k in range(10)]


async def populate(kubeconfig: Path, n: int) -> tuple[list[Obj], list[Obj]]:
    n_headless = n * 3 // 10
    services = [service(i, False) for i in range(n - n_headless)]
    services += [service(i, True) for i in range(n_headless)]
    slices = [endpoint_slice(f"hl-{i}-a", f"hl-{i}", headless_ips(i)) for i in range(n_headless)]
    async with await Client.connect(kubeconfig) as c:
        await c.create("namespaces", {"metadata": {"name": NS}})
        sem = asyncio.Semaphore(64)
        created: list[Obj] = []

        async def make(resource: str, obj: Obj) -> None:
            async with sem:
                for attempt in range(10):  # a loaded machine makes etcd time out now and then
                    try:
                        out = await c.create(resource, obj, NS)
                        break
                    except errors.AlreadyExists:
                        out = await c.get(resource, obj["metadata"]["name"], NS)
                        break
                    except errors.StatusError:
                        if attempt == 9:
                            raise
                        await asyncio.sleep(1.0)
                if resource == "services":
                    created.append(out)
                tick()

        with phase("creating Services and slices", len(services) + len(slices)) as tick:
            await asyncio.gather(*(make("services", s) for s in services))
            await asyncio.gather(*(make("endpointslices", s) for s in slices))
        await c.create("services", service(999999, True), NS)
        await c.create(
            "endpointslices", endpoint_slice("hl-999999-a", "hl-999999", ["10.250.0.1"]), NS
        )
    return created, slices


def wait_sentinel(port: int, timeout: float = 300) -> None:
    q = dns.message.make_query(f"hl-999999.{NS}.svc.cluster.local", "A")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=1)
            if [rr.to_text() for rrs in r.answer for rr in rrs] == ["10.250.0.1"]:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} never saw the objects")


def query_file(path: Path, n: int, count: int = 50_000, *, cold: bool = False) -> None:
    """The query mix; ``cold``: every name in random letter case, so no two queries are
    the same bytes (sliceplane's per-snapshot answer memo never hits; answers are the
    same, names compare case-insensitively)."""
    rng = random.Random(53)
    n_headless = n * 3 // 10
    n_cluster = n - n_headless
    lines = []
    for _ in range(count):
        x = rng.random()
        if x < 0.50:
            lines.append(f"svc-{rng.randrange(n_cluster)}.{NS}.svc.cluster.local A")
        elif x < 0.75:
            lines.append(f"hl-{rng.randrange(n_headless)}.{NS}.svc.cluster.local A")
        elif x < 0.85:
            lines.append(f"_http._tcp.svc-{rng.randrange(n_cluster)}.{NS}.svc.cluster.local SRV")
        else:
            lines.append(f"missing-{rng.randrange(n)}.{NS}.svc.cluster.local A")
    if cold:
        lines = [
            "".join(ch.upper() if rng.random() < 0.5 else ch for ch in name) + " " + qtype
            for name, qtype in (line.split() for line in lines)
        ]
    path.write_text("\n".join(lines) + "\n")


def dnsperf(port: int, queries: Path, seconds: int, passes: int = 0) -> dict[str, float]:
    exe = shutil.which("dnsperf")
    if exe is None:
        raise SystemExit("dnsperf not found (Debian package dnsperf)")
    out = subprocess.run(
        [exe, "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds), "-v"]
        + (["-n", str(passes)] if passes else []),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    lat = [float(m.group(1)) for m in re.finditer(r"^> \w+ \S+ \S+ (\d+\.\d+)$", out, re.M)]
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    sent = re.search(r"Queries sent:\s+(\d+)", out)
    return {
        "qps": float(qps.group(1)) if qps else float("nan"),
        "sent": float(sent.group(1)) if sent else float("nan"),
        "lost": float(lost.group(1)) if lost else float("nan"),
        "p50_ms": pct(lat, 0.5) * 1000,
        "p99_ms": pct(lat, 0.99) * 1000,
    }


PROBE_INTERVAL = 0.0002
"""Seconds between the probe's questions to each server during a slice change."""


def _probe(
    socks: dict[str, socket.socket], query: bytes, want: bytes, start: float, first: int
) -> dict[str, float]:
    """Ask every server for the changed name every ``PROBE_INTERVAL`` until each has
    answered ``want`` (the new address's bytes); each answer is stamped when it is read,
    the seconds since ``start``. In a thread of its own, with ``select`` (microsecond
    timeouts, where the event loop's epoll rounds a wait up to a millisecond), so that the
    update's own trip in the event loop does not delay the questions. ``first`` picks which
    server is asked first; the caller alternates it."""
    order = list(socks)
    if first % 2:
        order.reverse()
    got: dict[str, float] = {}
    by_fd = {s.fileno(): k for k, s in socks.items()}
    deadline = start + 10
    while len(got) < len(socks) and time.perf_counter() < deadline:
        for k in order:
            if k not in got:
                socks[k].send(query)
        wake = time.perf_counter() + PROBE_INTERVAL
        while True:
            left = wake - time.perf_counter()
            if left <= 0:
                break
            ready, _, _ = select.select([socks[k] for k in order if k not in got], [], [], left)
            now = time.perf_counter()
            for s in ready:
                k = by_fd[s.fileno()]
                with contextlib.suppress(BlockingIOError):
                    while True:
                        data = s.recv(65535)
                        if k not in got and want in data[12:]:
                            got[k] = now - start
            if not ready:
                break
    return got


async def change_latency(
    kubeconfig: Path, ports: dict[str, int], changes: int
) -> dict[str, list[float]]:
    """Update hl-0's slice to a new address; time until each server answers it, from the
    update request being sent (the probe starts with it)."""
    name = f"hl-0.{NS}.svc.cluster.local"
    query = dns.message.make_query(name, "A").to_wire()
    out: dict[str, list[float]] = {k: [] for k in ports}
    socks = {k: socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for k in ports}
    for k, s in socks.items():
        s.connect(("127.0.0.1", ports[k]))
        s.setblocking(False)
    async with await Client.connect(kubeconfig) as c:
        with phase("slice changes until answered", changes) as tick:
            for round_ in range(changes):
                ip = f"10.251.{round_ // 250}.{round_ % 250 + 1}"
                sl = await c.get("endpointslices", "hl-0-a", NS)
                sl["endpoints"] = [{"addresses": [ip], "conditions": {"ready": True}}]
                want = socket.inet_aton(ip)
                start = time.perf_counter()
                update = asyncio.ensure_future(c.update("endpointslices", sl))
                got = await asyncio.to_thread(_probe, socks, query, want, start, round_)
                await update
                for k, t in got.items():
                    out[k].append(t)
                await asyncio.sleep(0.2)
                tick()
    for s in socks.values():
        s.close()
    return out


def zone_memory(services: list[Obj], slices: list[Obj]) -> float:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    zone = zone_from_objects(services=services, slices=slices, namespaces=[NS])
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(s.size_diff for s in after.compare_to(before, "filename"))
    del zone
    return size / (1 << 20)


ROWS = (
    ("qps", "queries/s", "higher"),
    ("q_per_cpu_s", "queries per CPU-second of the server", "higher"),
    ("p50_ms", "p50 latency, ms", "lower"),
    ("p99_ms", "p99 latency, ms", "lower"),
    ("lost", "queries lost", "lower"),
    ("rss_mib", "resident memory after it, MiB", "lower"),
)


def start_sliceplane(kubeconfig: Path, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    log_path = work / "sliceplane-dns.log"
    log = open(log_path, "w")  # noqa: SIM115
    sp = subprocess.Popen(
        [
            str(BIN / "sliceplane"),
            "dns",
            "--kubeconfig",
            str(kubeconfig),
            "--listen",
            "127.0.0.1:0",
            "--metrics-bind-address",
            "",
            "--pods",
            "insecure",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    port = 0
    deadline = time.monotonic() + 60
    while not port and time.monotonic() < deadline:
        m = re.search(r"on 127\.0\.0\.1:(\d+)", log_path.read_text())
        port = int(m.group(1)) if m else 0
        time.sleep(0.05)
    return sp, port


def measure(kubeconfig: Path, work: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """One run: both servers started afresh (no answer remembered from an earlier run),
    both query files against each, then slice changes. {side: {row: value}}."""
    core = CoreDNS(kubeconfig, options=("pods insecure",), workdir=work / "coredns").start()
    sp, port = start_sliceplane(kubeconfig, work)
    figures: dict[str, dict[str, float]] = {"coredns": {}, "sliceplane": {}}
    try:
        ports = {"coredns": core.port, "sliceplane": port}
        for k, p in ports.items():
            t = time.monotonic()
            with phase(f"{k}: loading the zone"):
                wait_sentinel(p)
            print(f"{k}: zone loaded {time.monotonic() - t:.1f} s after start (or less)")
        assert core.proc is not None
        pids = {"coredns": core.proc.pid, "sliceplane": sp.pid}
        for k in ports:
            figures[k]["resident memory with the zone loaded, MiB"] = rss_mib(pids[k])
        for mix in ("repeated", "cold"):
            queries = work / f"queries-{mix}.txt"
            cold = mix == "cold"
            if not queries.exists():
                # cold: one pass over 200,000 queries in random letter case, so no request
                # repeats in the run (a name does, in other cases)
                with phase(f"writing the {mix} queries"):
                    query_file(queries, args.services, 200_000 if cold else 50_000, cold=cold)
            for k, p in ports.items():
                cpu0 = cpu_seconds(pids[k])
                with phase(f"dnsperf {mix} against {k} ({args.seconds} s)"):
                    r = dnsperf(p, queries, args.seconds, 1 if cold else 0)
                cpu = cpu_seconds(pids[k]) - cpu0
                r["cpu_s"] = cpu
                r["q_per_cpu_s"] = r["sent"] / cpu if cpu else float("nan")
                r["rss_mib"] = rss_mib(pids[k])
                print(f"{mix} {k}: {r}  load {load()}", flush=True)
                for key, label, _ in ROWS:
                    figures[k][f"{mix}: {label}"] = r[key]
        lat = asyncio.run(change_latency(kubeconfig, ports, args.changes))
        for k in ports:
            v = [x * 1000 for x in lat[k]]
            figures[k]["slice change to answer p50, ms"] = pct(v, 0.5)
            figures[k]["slice change to answer p99, ms"] = pct(v, 0.99)
            figures[k]["slice changes answered"] = float(len(v))
            p50, p99 = pct(v, 0.5), pct(v, 0.99)
            print(f"slice change to answer ({k}): p50 {p50:.1f} ms, p99 {p99:.1f} ms, n {len(v)}")
    finally:
        sp.terminate()
        sp.wait(10)
        core.stop()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--changes", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    report.add_arguments(ap)
    args = ap.parse_args()
    if args.quick:
        args.services, args.seconds, args.changes = 1000, 5, 10
    work = Path(tempfile.mkdtemp(prefix="sliceplane-bench-dns-"))
    print(f"load before: {load()}", flush=True)
    table = report.Table("sliceplane", "CoreDNS 1.15.0")
    better = {f"{mix}: {label}": b for mix in ("repeated", "cold") for _, label, b in ROWS}
    better["slice changes answered"] = "higher"
    with ControlPlane(work / "k8s", service_cidr="10.96.0.0/14", unsafe_no_fsync=True) as cp:
        t = time.monotonic()
        services, slices = asyncio.run(populate(cp.kubeconfig, args.services))
        took = time.monotonic() - t
        print(f"created {len(services)} Services, {len(slices)} slices in {took:.1f} s")
        for run in report.runs(args):
            figures = measure(cp.kubeconfig, work, args)
            table.add(figures["sliceplane"], figures["coredns"], better)
            headless = args.services * 3 // 10
            run.note(
                f"{args.services:,} Services ({headless:,} headless x 10 endpoints), "
                f"dnsperf {args.seconds} s per file and server, {args.changes} slice changes"
            )
    with phase("zone snapshot memory (tracemalloc)"):
        zmem = zone_memory(services, slices)
    print()
    print(table.text())
    print(f"zone snapshot alone (tracemalloc): {zmem:.1f} MiB")
    report.publish(
        args,
        "dns",
        "Cluster DNS, sliceplane dns vs CoreDNS 1.15.0",
        table,
        "bench/dns.py " + " ".join(sys.argv[1:]),
        extra=f"Zone snapshot alone (tracemalloc, sliceplane): {zmem:.1f} MiB.",
    )


if __name__ == "__main__":
    main()
