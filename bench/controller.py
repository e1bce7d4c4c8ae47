"""EndpointSlice controller benchmark: sliceplane's controller vs kube-controller-manager's.

Each side gets its own fresh kube-apiserver + etcd (``sliceplane.testenv.ControlPlane``, the
pinned version, etcd fsyncing) per scenario, so the only thing that differs is the
controller:

* ``upstream``: kube-controller-manager with ``--controllers=endpointslice-controller``;
* ``sliceplane``: ``sliceplane controller --controllers endpointslice`` (its own process);
  ``--sides`` adds ``sliceplane-backoff`` (the opt-in write back-off) or
  ``sliceplane-no-period`` (``--endpointslice-min-write-period 0s``, upstream's timing).

Both run with the same settings (100 endpoints per slice, 5 concurrent syncs, no batch
period, and kube-controller-manager's default client limit of 20 requests/s with bursts
of 30, which both sides apply). The sides run one after the other, never together (2
cores). The workload is driven from this process through the same client on both sides;
pods are created with ``spec.nodeName`` (Nodes exist, in three zones) and made Ready
through the ``pods/status`` subresource (IP, Running, Ready), as a kubelet would.

Scenarios (``--scenario``; ``issue`` runs the four of issue 3, ``all`` runs every one):

* ``default``: 100 Services x 50 pods made ready, then every pod replaced (a new pod
  created and made Ready, then the old one deleted with grace 0, 16 at a time), then half
  of every Service's pods deleted;
* ``big``: one Service x 10,000 pods made ready;
* ``many``: 1,000 Services x 10 pods made ready;
* ``rolling``: a rolling update of a 5,000-pod Service (set up ready first, not measured);
* ``flap``: 100 Services x 50 ready pods (set up first), then 10 % of the pods flap
  readiness: 10 rounds, 2 s apart, each turning every flapping pod to the other state.

Per measured phase: convergence time (from the last write of the phase returning until a
watch on EndpointSlices shows every Service's slices holding exactly the expected ready
endpoints), per-pod latency from its ready patch to the slice event showing it, slice
writes by verb (kube-apiserver's ``apiserver_request_total``, successful requests only),
bytes written (``apiserver_request_body_size_bytes``: protobuf from kube-controller-manager,
JSON from sliceplane) and bytes every slice watcher receives (the JSON size of the
slice objects in the watch events), the minimum writes the phase needs (every slice whose
endpoints change written once: for ``flap``, once per round), the controller process's CPU
seconds and peak memory, and the CPU seconds kube-apiserver and this driver spent in the
phase (the driver and kube-apiserver share the two cores with the controller: where the
controller makes kube-apiserver work harder, the driver slows, the phase lasts longer and a
controller held at 20 writes/s writes more). Figures only, nothing asserted.

Diagnostics: ``BENCH_DEBUG=1`` prints slice events per second of each phase and what
the clients read from kube-apiserver (requests by verb and resource, watch events and
bytes by kind); ``BENCH_APISERVER_PPROF=DIR`` turns kube-apiserver's profiling on (both
sides) and saves a 14 s CPU profile per phase, from its start or, with
``BENCH_PPROF_AT=converge``, from the end of the drive (``go tool pprof``).

    .venv/bin/python bench/controller.py                      # default: 100 x 50, ~4 min
    .venv/bin/python bench/controller.py --scenario issue     # big, many, rolling, flap
    .venv/bin/python bench/controller.py --quick              # 20 x 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client.parser import text_string_to_metric_families

import report
from procstats import cpu_seconds, load, pct, rss_mib
from progress import phase
from sliceplane.client.client import Client
from sliceplane.testenv.controlplane import ControlPlane, free_ports

BIN = Path(sys.executable).parent
NS = "bench"
ZONES = ("zone-a", "zone-b", "zone-c")
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")
MAX_PER_SLICE = 100
DEBUG = bool(os.environ.get("BENCH_DEBUG"))


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def pool(items: list[Any], concurrency: int, fn: Any, what: str) -> None:
    it = iter(items)

    async def worker() -> None:
        for x in it:
            await fn(x)
            tick()

    with phase(what, len(items)) as tick:
        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def slice_counters(client: Client) -> dict[str, float]:
    """EndpointSlice writes kube-apiserver has served (successful ones, by verb) and the
    request bytes it received for them."""
    text = (await client.request("GET", "/metrics")).decode()
    out: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if labels.get("resource") != "endpointslices":
                continue
            if (
                s.name == "apiserver_request_total"
                and labels.get("verb") in WRITE_VERBS
                and str(labels.get("code", "")).startswith("2")
            ):
                out[labels["verb"]] += s.value
            elif s.name == "apiserver_request_total" and labels.get("verb") in WRITE_VERBS:
                out[f"{labels['verb']} {labels.get('code')}"] += s.value
            elif s.name == "apiserver_request_body_size_bytes_sum":
                out["bytes"] += s.value
    return out


READ_VERBS = ("LIST", "WATCH", "GET")


async def read_counters(client: Client) -> dict[str, float]:
    """What the clients asked kube-apiserver to read (requests by verb and resource, the
    size of list answers) and the watch events it encoded (count and bytes by kind): the
    controller's informers are the only reader besides this driver, whose reads are the
    same on both sides, so a difference between the sides is the controller's."""
    text = (await client.request("GET", "/metrics")).decode()
    out: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if s.name == "apiserver_request_total" and labels.get("verb") in READ_VERBS:
                out[f"{labels['verb']} {labels.get('resource')}"] += s.value
            elif s.name == "apiserver_response_sizes_sum" and labels.get("verb") == "LIST":
                out[f"LIST {labels.get('resource')} bytes"] += s.value
            elif s.name == "apiserver_watch_events_total":
                out[f"watch events {labels.get('kind') or labels.get('resource')}"] += s.value
            elif s.name == "apiserver_watch_events_sizes_sum":
                key = f"watch bytes {labels.get('kind') or labels.get('resource')}"
                out[key] += s.value
    return out


def pod_ip(gen: int, n: int) -> str:
    """Address of pod number ``n`` of generation ``gen`` (0: first pods, 1: replacements)."""
    return f"10.{gen * 64 + n // 65536}.{(n // 256) % 256}.{n % 256}"


def slices_for(n: int) -> int:
    return max(1, math.ceil(n / MAX_PER_SLICE))


@dataclass
class SliceWatch:
    """EndpointSlices as a watch shows them, compared against what each Service expects."""

    services: int
    slices: dict[str, tuple[int, frozenset[tuple[str, bool]]]] = field(default_factory=dict)
    by_service: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    expected: dict[int, frozenset[str]] = field(default_factory=dict)
    ok: set[int] = field(default_factory=set)
    converged_at: float | None = None
    first_seen: dict[str, float] = field(default_factory=dict)
    events: int = 0
    bytes: int = 0
    event_times: list[float] = field(default_factory=list)

    def set_expected(self, expected: dict[int, frozenset[str]]) -> None:
        self.expected = expected
        self.converged_at = None
        self.ok = {s for s in range(self.services) if self._matches(s)}
        self._check()

    def _matches(self, svc: int) -> bool:
        have: set[tuple[str, bool]] = set()
        for name in self.by_service.get(svc, ()):
            have |= self.slices[name][1]
        return have == {(ip, True) for ip in self.expected.get(svc, frozenset())}

    def _check(self) -> None:
        if self.converged_at is None and len(self.ok) == self.services:
            self.converged_at = time.perf_counter()

    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        self.events += 1
        self.event_times.append(time.perf_counter())
        self.bytes += len(msgspec.json.encode(obj))
        meta = obj.get("metadata") or {}
        if DEBUG:
            print(
                f"    {time.perf_counter():.3f} {kind} {meta.get('name')} "
                f"rv={meta.get('resourceVersion')} eps={len(obj.get('endpoints') or [])} "
                f"ann={meta.get('annotations')}"
            )
        name = str(meta.get("name"))
        svc_name = (meta.get("labels") or {}).get("kubernetes.io/service-name", "")
        if not svc_name.startswith("svc-"):
            return
        svc = int(svc_name[4:])
        if kind == "DELETED":
            self.slices.pop(name, None)
            self.by_service[svc].discard(name)
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
            self.by_service[svc].add(name)
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


@dataclass
class PhaseResult:
    drive: float
    converge: float
    latencies: list[float]
    minimum_writes: int


Key = tuple[int, int]  # (service, pod number within it)


class Workload:
    def __init__(self, client: Client, services: int, pods: int, concurrency: int) -> None:
        self.client = client
        self.services = services
        self.pods = pods
        self.concurrency = concurrency
        self.watch = SliceWatch(services)
        self.current: dict[Key, tuple[str, str]] = {}  # key -> (pod name, ip)
        self.ready: set[Key] = set()
        self.sent: dict[str, float] = {}
        self.generation: dict[Key, int] = defaultdict(int)
        self.on_drive_end: Any = None

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

        await pool(list(range(self.services)), self.concurrency, svc, "creating Services")

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

    async def _set_ready(self, name: str, ip: str, ready: bool = True) -> None:
        t = now_rfc3339()
        if ready:
            self.sent[ip] = time.perf_counter()
        flag = "True" if ready else "False"
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
                        {"type": "ContainersReady", "status": flag, "lastTransitionTime": t},
                        {"type": "Ready", "status": flag, "lastTransitionTime": t},
                    ],
                }
            },
            NS,
            subresource="status",
        )

    def _expected(self) -> dict[int, frozenset[str]]:
        out: dict[int, set[str]] = defaultdict(set)
        for key, (_name, ip) in self.current.items():
            if key in self.ready:
                out[key[0]].add(ip)
        return {s: frozenset(out.get(s, set())) for s in range(self.services)}

    def _ready_counts(self) -> dict[int, int]:
        counts: dict[int, int] = defaultdict(int)
        for key in self.ready:
            counts[key[0]] += 1
        return counts

    def _latencies(self, ips: list[str]) -> list[float]:
        first = self.watch.first_seen
        return [first[ip] - self.sent[ip] for ip in ips if ip in first and ip in self.sent]

    async def _converge(self, t0: float) -> tuple[float, float]:
        last = time.perf_counter()
        if self.on_drive_end is not None:
            self.on_drive_end()
        with phase("waiting for the slices to converge"):
            done = await self.watch.wait(900)
        return last - t0, done - last

    # ------------------------------------------------------------------ phases

    async def phase_ready(self) -> PhaseResult:
        """Create every pod (not ready, no IP), then make each one Ready."""
        keys = [(s, k) for k in range(self.pods) for s in range(self.services)]
        names = {key: f"svc-{key[0]}-g0-{key[1]}" for key in keys}
        before = self._ready_counts()

        async def create(key: Key) -> None:
            await self.client.create("pods", self._pod(names[key], *key), NS)

        t0 = time.perf_counter()
        if DEBUG:
            print(f"    {t0:.3f} creating pods")
        await pool(keys, self.concurrency, create, "creating pods")
        for key in keys:
            self.current[key] = (names[key], self.ip(0, *key))
        self.ready |= set(keys)
        self.watch.set_expected(self._expected())
        if DEBUG:
            print(f"    {time.perf_counter():.3f} making pods ready")

        async def ready(key: Key) -> None:
            await self._set_ready(*self.current[key])

        self.ready_start = time.perf_counter()
        await pool(keys, self.concurrency, ready, "making pods Ready")
        drive, converge = await self._converge(t0)
        after = self._ready_counts()
        minimum = sum(
            slices_for(after[s]) for s in range(self.services) if after[s] != before.get(s, 0)
        )
        ips = [ip for _n, ip in self.current.values()]
        return PhaseResult(drive, converge, self._latencies(ips), minimum)

    async def phase_rolling(self) -> PhaseResult:
        """Replace every pod: create its successor, make it Ready, delete the old one."""
        keys = list(self.current)
        new_ips: list[str] = []
        by_service = self._ready_counts()

        async def replace(key: Key) -> None:
            old_name, _ = self.current[key]
            gen = self.generation[key] + 1
            self.generation[key] = gen
            name = f"svc-{key[0]}-g{gen}-{key[1]}"
            ip = self.ip(gen % 2, *key)
            await self.client.create("pods", self._pod(name, *key), NS)
            await self._set_ready(name, ip)
            await self.client.delete("pods", old_name, NS, grace_period_seconds=0)
            self.current[key] = (name, ip)
            new_ips.append(ip)

        # The end state is known up front: every Service holds exactly the new pods.
        self.watch.set_expected(
            {
                s: frozenset(
                    self.ip((self.generation[(s, k)] + 1) % 2, s, k) for k in range(self.pods)
                )
                for s in range(self.services)
            }
        )
        t0 = time.perf_counter()
        await pool(keys, self.concurrency, replace, "replacing pods")
        drive, converge = await self._converge(t0)
        minimum = sum(slices_for(n) for n in by_service.values())
        return PhaseResult(drive, converge, self._latencies(new_ips), minimum)

    async def phase_scale_down(self) -> PhaseResult:
        """Delete every other pod of each Service."""
        victims = [key for key in self.current if key[1] % 2 == 1]
        names = {key: self.current[key][0] for key in victims}
        for key in victims:
            del self.current[key]
            self.ready.discard(key)
        self.watch.set_expected(self._expected())
        touched = {key[0] for key in victims}

        async def delete(key: Key) -> None:
            await self.client.delete("pods", names[key], NS, grace_period_seconds=0)

        t0 = time.perf_counter()
        await pool(victims, self.concurrency, delete, "deleting half the pods")
        drive, converge = await self._converge(t0)
        # Each touched slice rewritten once (packing may leave the count as it was).
        minimum = sum(slices_for(self.pods) for _ in touched)
        return PhaseResult(drive, converge, [], minimum)

    async def phase_flap(self, rounds: int = 10, period: float = 2.0) -> PhaseResult:
        """Every tenth pod of each Service flips readiness each round."""
        flapping = sorted(key for key in self.current if key[1] % 10 == 0)
        touched = {key[0] for key in flapping}
        t0 = time.perf_counter()
        for r in range(rounds):
            start = time.perf_counter()
            ready = r % 2 == 1  # round 0 takes them out, round 1 brings them back, ...
            for key in flapping:
                (self.ready.add if ready else self.ready.discard)(key)

            async def flip(key: Key, ready: bool = ready) -> None:
                await self._set_ready(*self.current[key], ready=ready)

            await pool(flapping, self.concurrency, flip, f"flap round {r + 1}/{rounds}")
            if r < rounds - 1:
                await asyncio.sleep(max(0.0, period - (time.perf_counter() - start)))
        self.watch.set_expected(self._expected())
        drive, converge = await self._converge(t0)
        minimum = rounds * sum(slices_for(self.pods) for _ in touched)
        return PhaseResult(drive, converge, [], minimum)


@dataclass(frozen=True)
class Scenario:
    services: int
    pods: int
    setup: tuple[str, ...]
    """Phases run before measuring (not reported)."""
    phases: tuple[str, ...]


SCENARIOS = {
    "default": Scenario(100, 50, (), ("ready", "rolling", "scale-down")),
    "big": Scenario(1, 10_000, (), ("ready",)),
    "many": Scenario(1000, 10, (), ("ready",)),
    "rolling": Scenario(1, 5_000, ("ready",), ("rolling",)),
    "flap": Scenario(100, 50, ("ready",), ("flap",)),
}
ISSUE_SCENARIOS = ("big", "many", "rolling", "flap")


SIDE_ARGS = {
    "sliceplane": (),
    # sliceplane's opt-in write back-off: fewer writes, later slices.
    "sliceplane-backoff": ("--endpointslice-write-backoff", "1s"),
    # Without the default minimum write period of a large Service: upstream's timing.
    "sliceplane-no-period": ("--endpointslice-min-write-period", "0s"),
}


def start_sliceplane_controller(
    cp: ControlPlane, log: Path, extra: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    # BENCH_PYSPY=out.svg (or .json for speedscope) records the controller with py-spy.
    pyspy = os.environ.get("BENCH_PYSPY")
    wrap: list[str] = []
    if pyspy:
        fmt = "speedscope" if pyspy.endswith(".json") else "flamegraph"
        wrap = [str(BIN / "py-spy"), "record", "-o", pyspy, "-f", fmt, "-r", "50", "--"]
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [
                *wrap,
                str(BIN / "sliceplane"),
                "controller",
                "--kubeconfig",
                str(cp.kubeconfig),
                "--controllers",
                "endpointslice",
                "--max-endpoints-per-slice",
                str(MAX_PER_SLICE),
                "--concurrent-service-endpoint-syncs",
                "5",
                "--metrics-bind-address",
                f"127.0.0.1:{free_ports(1)[0]}",
                *extra,
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def controller_pid(proc: subprocess.Popen[bytes]) -> int:
    """The controller's own pid: py-spy's child when BENCH_PYSPY wraps it."""
    if not os.environ.get("BENCH_PYSPY"):
        return proc.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.1)
    return proc.pid


async def wait_placeholders(client: Client, services: int, who: str) -> str:
    """Started and synced: every Service has its (empty) placeholder slice."""
    deadline = time.monotonic() + 300
    while True:
        page = await client.list("endpointslices", NS)
        if len(page.items) >= services:
            return page.resource_version
        if time.monotonic() > deadline:
            raise SystemExit(f"{who}: placeholder slices missing after 300s")
        await asyncio.sleep(0.2)


async def run_side(name: str, scenario: Scenario, args: argparse.Namespace) -> Side:
    side = Side(name)
    upstream = name == "upstream"
    cp = ControlPlane(
        apiserver_args=("--profiling=true",) if os.environ.get("BENCH_APISERVER_PPROF") else (),
        with_controller_manager=upstream,
        controllers=("endpointslice-controller",),
        controller_manager_args=(
            f"--max-endpoints-per-slice={MAX_PER_SLICE}",
            "--concurrent-service-endpoint-syncs=5",
            "--endpointslice-updates-batch-period=0s",
        ),
    )
    with phase(f"{name}: starting kube-apiserver + etcd"):
        cp.start()
    proc: subprocess.Popen[bytes] | None = None
    ctl_pid = 0
    api_pid = cp.pids["kube-apiserver"]
    try:
        if upstream:
            ctl_pid = cp.pids["kube-controller-manager"]
        else:
            proc = start_sliceplane_controller(
                cp, cp.workdir / "logs" / "sliceplane-controller.log", SIDE_ARGS[name]
            )
            ctl_pid = controller_pid(proc)
        async with await Client.connect(cp.kubeconfig) as client:
            w = Workload(client, scenario.services, scenario.pods, args.concurrency)
            await w.setup(args.nodes)
            with phase(f"{name}: waiting for placeholder slices"):
                rv = await wait_placeholders(client, scenario.services, name)
            watcher = asyncio.create_task(w.run_watch(rv))
            await asyncio.sleep(0.5)
            fns = {
                "ready": w.phase_ready,
                "rolling": w.phase_rolling,
                "scale-down": w.phase_scale_down,
                "flap": w.phase_flap,
            }
            for step in scenario.setup:
                with phase(f"{name}: set-up {step}"):
                    await fns[step]()
                await asyncio.sleep(2.0)
            for step in scenario.phases:
                c0 = await slice_counters(client)
                r0 = await read_counters(client)
                cpu0 = cpu_seconds(ctl_pid)
                api0 = cpu_seconds(api_pid)
                drv0 = time.process_time()
                watch_bytes0 = w.watch.bytes
                ev0 = len(w.watch.event_times)
                tp0 = time.perf_counter()
                prof_dir = os.environ.get("BENCH_APISERVER_PPROF")
                prof = None

                def start_prof() -> None:
                    nonlocal prof
                    prof = asyncio.create_task(
                        client.request(
                            "GET", "/debug/pprof/profile", params={"seconds": "14"}, timeout=60
                        )
                    )

                if prof_dir and os.environ.get("BENCH_PPROF_AT") == "converge":
                    w.on_drive_end = start_prof
                elif prof_dir:
                    start_prof()
                with phase(f"{name}: {step}"):
                    r = await fns[step]()
                if prof is not None:
                    Path(prof_dir, f"{name}-{step}.pprof").write_bytes(await prof)
                await asyncio.sleep(2.0)  # let trailing writes land before counting
                hist: dict[int, int] = defaultdict(int)
                for t in w.watch.event_times[ev0:]:
                    hist[int(t - tp0)] += 1
                if DEBUG:
                    rs = getattr(w, "ready_start", tp0) - tp0
                    per_s = [hist[i] for i in range(max(hist, default=0) + 1)]
                    print(f"  {name} {step} ready at {rs:.1f}s; slice events/s: {per_s}")
                c1 = await slice_counters(client)
                r1 = await read_counters(client)
                cpu1 = cpu_seconds(ctl_pid)
                api1 = cpu_seconds(api_pid)
                drv1 = time.process_time()
                f = side.figures
                f[f"{step}: driving the phase s"] = r.drive
                f[f"{step}: convergence after last write s"] = r.converge
                if r.latencies:
                    f[f"{step}: ready->slice p50 ms"] = pct(r.latencies, 0.5) * 1000
                    f[f"{step}: ready->slice p99 ms"] = pct(r.latencies, 0.99) * 1000
                total = 0
                for k in c1:
                    if " " in k and c1[k] != c0.get(k, 0):  # "VERB code": refused writes
                        print(f"  {name} {step} refused slice writes {k}: {c1[k] - c0[k]}")
                for verb in WRITE_VERBS:
                    n = int(c1.get(verb, 0) - c0.get(verb, 0))
                    total += n
                    if n:
                        f[f"{step}: slice {verb}s"] = n
                f[f"{step}: slice writes total"] = total
                f[f"{step}: minimum writes needed"] = r.minimum_writes
                f[f"{step}: request bytes written KiB"] = (c1["bytes"] - c0["bytes"]) / 1024
                f[f"{step}: bytes to each slice watcher KiB"] = (
                    w.watch.bytes - watch_bytes0
                ) / 1024
                f[f"{step}: controller CPU s"] = cpu1 - cpu0
                f[f"{step}: kube-apiserver CPU s"] = api1 - api0
                f[f"{step}: driver CPU s"] = drv1 - drv0
                reads = {k: r1[k] - r0.get(k, 0) for k in sorted(r1) if r1[k] != r0.get(k, 0)}
                if DEBUG:
                    print(f"  {name} {step} reads: {reads}", flush=True)
                print(
                    f"  {name} {step}: drive {r.drive:.1f}s converge {r.converge:.2f}s "
                    f"writes {total} (min {r.minimum_writes}) load {load()}",
                    flush=True,
                )
            slices = await client.list("endpointslices", NS)
            side.figures["final EndpointSlices"] = len(slices.items)
            side.figures["controller RSS MiB (end)"] = rss_mib(ctl_pid)
            side.figures["controller peak RSS MiB"] = rss_mib(ctl_pid, "VmHWM:")
            watcher.cancel()
    finally:
        if proc is not None:
            if ctl_pid != proc.pid:  # py-spy writes its profile when the controller ends
                os.kill(ctl_pid, 15)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    pass
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cp.stop()
    return side


def print_sides(sides: list[Side]) -> None:
    names = list(dict.fromkeys(n for s in sides for n in s.figures))
    width = max(len(n) for n in names) + 2
    by = {s.name: s.figures for s in sides}
    ours = [s.name for s in sides if s.name != "upstream"] if "upstream" in by else []
    print(
        f"{'':<{width}}"
        + "".join(f"{s.name:>20}" for s in sides)
        + "".join(f"{n + '/up':>24}" for n in ours)
    )
    for n in names:
        row = f"{n:<{width}}"
        for s in sides:
            v = s.figures.get(n, float("nan"))
            row += f"{v:>20.0f}" if float(v).is_integer() else f"{v:>20.2f}"
        b = by["upstream"].get(n) if ours else None
        for side in ours:
            a = by[side].get(n)
            row += f"{a / b:>24.2f}" if a is not None and b else f"{'':>24}"
        print(row)
    print("(every row: lower is better; ratio < 1 means sliceplane did less / was faster)")


async def amain(args: argparse.Namespace) -> None:
    if args.scenario == "all":
        names = list(SCENARIOS)
    elif args.scenario == "issue":
        names = list(ISSUE_SCENARIOS)
    else:
        names = [args.scenario]
    version = ControlPlane().version
    with phase("scenarios", len(names)) as next_scenario:
        for sc_name in names:
            await run_scenario(sc_name, args, version)
            next_scenario()


async def run_scenario(sc_name: str, args: argparse.Namespace, version: str) -> None:
    """One scenario, ``--repeat`` times: every side in turn, then the table; with
    ``--repeat``/``--write-docs``, the median (min-max) table of bench/report.py too."""
    scenario = SCENARIOS[sc_name]
    if args.quick:
        scenario = Scenario(
            min(scenario.services, 20), min(scenario.pods, 20), scenario.setup, scenario.phases
        )
    ours = next((n for n in args.sides if n != "upstream"), "sliceplane")
    table = report.Table(ours, "upstream" if "upstream" in args.sides else None)
    for run in report.runs(args):
        sides = []
        print(f"== scenario {sc_name}", flush=True)
        with phase(f"scenario {sc_name}: sides", len(args.sides)) as next_side:
            for name in args.sides:
                print(f"{name}: load before {load()}", flush=True)
                sides.append(await run_side(name, scenario, args))
                next_side()
        settings = (
            f"services={scenario.services} pods/service={scenario.pods} nodes={args.nodes} "
            f"concurrency={args.concurrency} cpus={os.cpu_count()} kubernetes={version}"
        )
        print(f"\nscenario={sc_name} {settings}")
        print_sides(sides)
        print(flush=True)
        by = {s.name: s.figures for s in sides}
        table.add(by.get(ours, {}), by.get("upstream"))
        if run.index == 1:
            run.note(settings)
    if args.repeat > 1 or args.write_docs:
        print(table.text(), flush=True)
        report.publish(
            args,
            f"controller-{sc_name}",
            f"EndpointSlice controller, scenario {sc_name} ({ours} vs kube-controller-manager)",
            table,
            f"bench/controller.py --scenario {sc_name} --repeat {args.repeat}",
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scenario", default="default", choices=[*SCENARIOS, "issue", "all"])
    p.add_argument("--nodes", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="at most 20 services x 20 pods")
    p.add_argument(
        "--sides",
        nargs="+",
        default=["sliceplane", "upstream"],
        choices=[*SIDE_ARGS, "upstream"],
    )
    report.add_arguments(p)
    args = p.parse_args()
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
