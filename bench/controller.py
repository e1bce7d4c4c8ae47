"""EndpointSlice controller benchmark: sliceplane's controller vs kube-controller-manager's.

Each side gets its own fresh kube-apiserver + etcd (``sliceplane.testenv.ControlPlane``, the
pinned version, etcd fsyncing), so the only thing that differs is the controller:

* ``upstream``: kube-controller-manager with ``--controllers=endpointslice-controller``;
* ``sliceplane``: ``sliceplane controller --controllers endpointslice`` (its own process).

Both run with the same settings (100 endpoints per slice, 5 concurrent syncs, no batch
period). The sides run one after the other, never together (2 cores). The workload, driven
from this process through the same client on both sides:

1. ``ready``: N Services x M pods, created with ``spec.nodeName`` (nodes exist, in three
   zones) and then made Ready through the ``pods/status`` subresource (IP, Running, Ready);
2. ``rolling``: every pod replaced: a new pod is created and made Ready, then the old one
   is deleted (grace period 0);
3. ``scale-down``: half of the pods of every Service deleted.

Per phase: convergence time (from the last write of the phase returning until a watch on
EndpointSlices shows every Service's slices holding exactly the expected ready
endpoints), per-pod latency from its ready patch to the slice event showing it (phases 1-2),
EndpointSlice writes by verb from kube-apiserver's ``apiserver_request_total``, and the
controller process's CPU seconds. Figures only, nothing asserted.

    .venv/bin/python bench/controller.py            # 100 services x 50 pods
    .venv/bin/python bench/controller.py --quick    # 20 x 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sliceplane.client.client import Client
from sliceplane.testenv.controlplane import ControlPlane, free_ports

BIN = Path(sys.executable).parent
NS = "bench"
ZONES = ("zone-a", "zone-b", "zone-c")
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, which: str = "VmRSS:") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(which):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def pool(items: list[Any], concurrency: int, fn: Any) -> None:
    it = iter(items)

    async def worker() -> None:
        for x in it:
            await fn(x)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def slice_writes(client: Client) -> dict[str, int]:
    """EndpointSlice write requests kube-apiserver has served, by verb."""
    text = (await client.request("GET", "/metrics")).decode()
    out: dict[str, int] = defaultdict(int)
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for s in family.samples:
            labels = s.labels
            if (
                s.name == "apiserver_request_total"
                and labels.get("resource") == "endpointslices"
                and labels.get("verb") in WRITE_VERBS
            ):
                out[labels["verb"]] += int(s.value)
    return out


def pod_ip(gen: int, n: int) -> str:
    """Address of pod number ``n`` of generation ``gen`` (0: first pods, 1: replacements)."""
    return f"10.{gen * 64 + n // 65536}.{(n // 256) % 256}.{n % 256}"


@dataclass
class SliceWatch:
    """EndpointSlices as a watch shows them, compared against what each Service expects."""

    services: int
    slices: dict[str, tuple[int, frozenset[tuple[str, bool]]]] = field(default_factory=dict)
    expected: dict[int, frozenset[str]] = field(default_factory=dict)
    ok: set[int] = field(default_factory=set)
    converged_at: float | None = None
    first_seen: dict[str, float] = field(default_factory=dict)
    events: int = 0

    def set_expected(self, expected: dict[int, frozenset[str]]) -> None:
        self.expected = expected
        self.converged_at = None
        self.ok = {s for s in range(self.services) if self._matches(s)}
        self._check()

    def _matches(self, svc: int) -> bool:
        have: set[tuple[str, bool]] = set()
        for s, eps in self.slices.values():
            if s == svc:
                have |= eps
        return have == {(ip, True) for ip in self.expected.get(svc, frozenset())}

    def _check(self) -> None:
        if self.converged_at is None and len(self.ok) == self.services:
            self.converged_at = time.perf_counter()

    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        self.events += 1
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        svc_name = (meta.get("labels") or {}).get("kubernetes.io/service-name", "")
        if not svc_name.startswith("svc-"):
            return
        svc = int(svc_name[4:])
        if kind == "DELETED":
            self.slices.pop(name, None)
        else:
            eps = frozenset(
                (addr, bool((ep.get("conditions") or {}).get("ready")))
                for ep in obj.get("endpoints") or []
                for addr in ep.get("addresses") or []
            )
            t = time.perf_counter()
            for addr, ready in eps:
                if ready and addr not in self.first_seen:
                    self.first_seen[addr] = t
            self.slices[name] = (svc, eps)
        if self._matches(svc):
            self.ok.add(svc)
        else:
            self.ok.discard(svc)
        self._check()

    async def wait(self, timeout: float) -> float:
        deadline = time.perf_counter() + timeout
        while self.converged_at is None:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not converged: {self.services - len(self.ok)} services off")
            await asyncio.sleep(0.01)
        return self.converged_at


@dataclass
class Side:
    name: str
    figures: dict[str, float] = field(default_factory=dict)


class Workload:
    def __init__(self, client: Client, services: int, pods: int, concurrency: int) -> None:
        self.client = client
        self.services = services
        self.pods = pods
        self.concurrency = concurrency
        self.watch = SliceWatch(services)
        self.current: dict[tuple[int, int], tuple[str, str]] = {}  # (svc, k) -> (name, ip)
        self.sent: dict[str, float] = {}

    async def setup(self, nodes: int) -> None:
        c = self.client
        await c.create("namespaces", {"metadata": {"name": NS}})
        for i in range(nodes):
            await c.create(
                "nodes",
                {
                    "metadata": {
                        "name": f"node-{i}",
                        "labels": {
                            "topology.kubernetes.io/zone": ZONES[i % len(ZONES)],
                            "kubernetes.io/hostname": f"node-{i}",
                        },
                    }
                },
            )
        self.nodes = nodes

        async def svc(i: int) -> None:
            await c.create(
                "services",
                {
                    "metadata": {"name": f"svc-{i}", "namespace": NS},
                    "spec": {
                        "selector": {"app": f"svc-{i}"},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                    },
                },
                NS,
            )

        await pool(list(range(self.services)), self.concurrency, svc)

    async def run_watch(self, rv: str) -> None:
        async for ev in self.client.watch(
            "endpointslices", NS, resource_version=rv, timeout_seconds=3600, allow_bookmarks=False
        ):
            self.watch.on_event(ev.type, ev.object)

    def ip(self, gen: int, svc: int, k: int) -> str:
        return pod_ip(gen, svc * self.pods + k)

    def _pod(self, name: str, svc: int, k: int) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": NS, "labels": {"app": f"svc-{svc}"}},
            "spec": {
                "nodeName": f"node-{(svc * self.pods + k) % self.nodes}",
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": "c",
                        "image": "registry.example/app:1",
                        "ports": [{"containerPort": 8080, "name": "http"}],
                    }
                ],
            },
        }

    async def _ready(self, name: str, ip: str) -> None:
        t = now_rfc3339()
        self.sent[ip] = time.perf_counter()
        await self.client.patch(
            "pods",
            name,
            {
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "startTime": t,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                        {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                        {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                        {"type": "Ready", "status": "True", "lastTransitionTime": t},
                    ],
                }
            },
            NS,
            subresource="status",
        )

    def _expected(self) -> dict[int, frozenset[str]]:
        out: dict[int, set[str]] = defaultdict(set)
        for (svc, _k), (_name, ip) in self.current.items():
            out[svc].add(ip)
        return {s: frozenset(out.get(s, set())) for s in range(self.services)}

    def _latencies(self, ips: list[str]) -> list[float]:
        first = self.watch.first_seen
        return [first[ip] - self.sent[ip] for ip in ips if ip in first and ip in self.sent]

    async def phase_ready(self) -> tuple[float, float, list[float]]:
        keys = [(s, k) for k in range(self.pods) for s in range(self.services)]
        names = {key: f"svc-{key[0]}-g0-{key[1]}" for key in keys}

        async def create(key: tuple[int, int]) -> None:
            await self.client.create("pods", self._pod(names[key], *key), NS)

        t0 = time.perf_counter()
        await pool(keys, self.concurrency, create)
        for key in keys:
            self.current[key] = (names[key], self.ip(0, *key))
        self.watch.set_expected(self._expected())

        async def ready(key: tuple[int, int]) -> None:
            await self._ready(*self.current[key])

        await pool(keys, self.concurrency, ready)
        last = time.perf_counter()
        done = await self.watch.wait(600)
        ips = [ip for _n, ip in self.current.values()]
        return last - t0, done - last, self._latencies(ips)

    async def phase_rolling(self) -> tuple[float, float, list[float]]:
        keys = list(self.current)
        new_ips: list[str] = []

        async def replace(key: tuple[int, int]) -> None:
            old_name, _ = self.current[key]
            name = f"svc-{key[0]}-g1-{key[1]}"
            ip = self.ip(1, *key)
            await self.client.create("pods", self._pod(name, *key), NS)
            await self._ready(name, ip)
            await self.client.delete("pods", old_name, NS, grace_period_seconds=0)
            self.current[key] = (name, ip)
            new_ips.append(ip)

        # The end state is known up front: every Service holds exactly the new pods.
        self.watch.set_expected(
            {s: frozenset(self.ip(1, s, k) for k in range(self.pods)) for s in range(self.services)}
        )
        t0 = time.perf_counter()
        await pool(keys, self.concurrency, replace)
        last = time.perf_counter()
        done = await self.watch.wait(600)
        return last - t0, done - last, self._latencies(new_ips)

    async def phase_scale_down(self) -> tuple[float, float, list[float]]:
        victims = [key for key in self.current if key[1] % 2 == 1]
        names = {key: self.current[key][0] for key in victims}
        for key in victims:
            del self.current[key]
        self.watch.set_expected(self._expected())

        async def delete(key: tuple[int, int]) -> None:
            await self.client.delete("pods", names[key], NS, grace_period_seconds=0)

        t0 = time.perf_counter()
        await pool(victims, self.concurrency, delete)
        last = time.perf_counter()
        done = await self.watch.wait(600)
        return last - t0, done - last, []


def start_sliceplane_controller(cp: ControlPlane, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [
                str(BIN / "sliceplane"),
                "controller",
                "--kubeconfig",
                str(cp.kubeconfig),
                "--controllers",
                "endpointslice",
                "--max-endpoints-per-slice",
                "100",
                "--concurrent-service-endpoint-syncs",
                "5",
                "--metrics-bind-address",
                f"127.0.0.1:{free_ports(1)[0]}",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def run_side(name: str, args: argparse.Namespace) -> Side:
    side = Side(name)
    upstream = name == "upstream"
    cp = ControlPlane(
        with_controller_manager=upstream,
        controllers=("endpointslice-controller",),
        controller_manager_args=(
            "--max-endpoints-per-slice=100",
            "--concurrent-service-endpoint-syncs=5",
            "--endpointslice-updates-batch-period=0s",
        ),
    )
    cp.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        if upstream:
            ctl_pid = cp.pids["kube-controller-manager"]
        else:
            proc = start_sliceplane_controller(
                cp, cp.workdir / "logs" / "sliceplane-controller.log"
            )
            ctl_pid = proc.pid
        async with await Client.connect(cp.kubeconfig) as client:
            w = Workload(client, args.services, args.pods, args.concurrency)
            await w.setup(args.nodes)
            # Started and synced: every Service has its (empty) placeholder slice.
            deadline = time.monotonic() + 120
            while True:
                page = await client.list("endpointslices", NS)
                if len(page.items) >= args.services:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name}: placeholder slices missing after 120s")
                await asyncio.sleep(0.2)
            rv = page.resource_version
            watcher = asyncio.create_task(w.run_watch(rv))
            await asyncio.sleep(0.5)
            phases = (
                ("ready", w.phase_ready),
                ("rolling", w.phase_rolling),
                ("scale-down", w.phase_scale_down),
            )
            for phase, fn in phases:
                writes0 = await slice_writes(client)
                cpu0 = cpu_seconds(ctl_pid)
                drive, converge, lat = await fn()
                await asyncio.sleep(2.0)  # let trailing writes land before counting
                writes1 = await slice_writes(client)
                cpu1 = cpu_seconds(ctl_pid)
                f = side.figures
                f[f"{phase}: driving the phase s"] = drive
                f[f"{phase}: convergence after last write s"] = converge
                if lat:
                    f[f"{phase}: ready->slice p50 ms"] = pct(lat, 0.5) * 1000
                    f[f"{phase}: ready->slice p99 ms"] = pct(lat, 0.99) * 1000
                total = 0
                for verb in WRITE_VERBS:
                    n = writes1.get(verb, 0) - writes0.get(verb, 0)
                    total += n
                    if n:
                        f[f"{phase}: slice {verb}s"] = n
                f[f"{phase}: slice writes total"] = total
                f[f"{phase}: controller CPU s"] = cpu1 - cpu0
                print(
                    f"  {name} {phase}: drive {drive:.1f}s converge {converge:.2f}s "
                    f"writes {total} load {load()}",
                    flush=True,
                )
            slices = await client.list("endpointslices", NS)
            side.figures["final EndpointSlices"] = len(slices.items)
            side.figures["controller RSS MiB (end)"] = rss_mib(ctl_pid)
            side.figures["controller peak RSS MiB"] = rss_mib(ctl_pid, "VmHWM:")
            watcher.cancel()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cp.stop()
    return side


def report(sides: list[Side]) -> None:
    names = list(dict.fromkeys(n for s in sides for n in s.figures))
    width = max(len(n) for n in names) + 2
    print(f"{'':<{width}}" + "".join(f"{s.name:>14}" for s in sides) + f"{'sp/upstream':>13}")
    by = {s.name: s.figures for s in sides}
    for n in names:
        row = f"{n:<{width}}"
        for s in sides:
            v = s.figures.get(n, float("nan"))
            row += f"{v:>14.0f}" if float(v).is_integer() else f"{v:>14.2f}"
        a, b = by.get("sliceplane", {}).get(n), by.get("upstream", {}).get(n)
        if a is not None and b:
            row += f"{a / b:>13.2f}"
        print(row)
    print("(every row: lower is better; ratio < 1 means sliceplane did less / was faster)")


async def amain(args: argparse.Namespace) -> None:
    sides = []
    for name in args.sides:
        print(f"{name}: load before {load()}", flush=True)
        sides.append(await run_side(name, args))
    cp = ControlPlane()
    print(
        f"\nservices={args.services} pods/service={args.pods} nodes={args.nodes} "
        f"concurrency={args.concurrency} cpus={os.cpu_count()} kubernetes={cp.version}"
    )
    report(sides)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--pods", type=int, default=50, help="pods per Service")
    p.add_argument("--nodes", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="20 services x 20 pods")
    p.add_argument(
        "--sides",
        nargs="+",
        default=["sliceplane", "upstream"],
        choices=["sliceplane", "upstream"],
    )
    args = p.parse_args()
    if args.quick:
        args.services, args.pods = min(args.services, 20), min(args.pods, 20)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
