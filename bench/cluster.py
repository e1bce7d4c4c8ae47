"""Local cluster benchmark (issue 5): nodes, pods and Services at scale with ``LocalCluster``.

Starts sliceplane's whole local cluster (``sliceplane.cluster.up.LocalCluster``: the API
server process plus this process running the scheduler, ReplicaSet/Deployment controllers,
simulated nodes and the EndpointSlice/Endpoints/mirroring controllers), then creates S
Services, each backed by a Deployment of P/S replicas, and measures:

* start-up: API server up, then all N nodes registered (Node + Lease);
* rollout: from the first Deployment created until every pod is Ready, and until every
  Service's slices hold all its ready endpoints;
* the network-programming-latency idea per pod, three ways:
  ``SLI (s-res)``: slice observed by a watch minus the slice's
  ``endpoints.kubernetes.io/last-change-trigger-time`` annotation (which, as upstream, is
  the newest Ready ``lastTransitionTime`` of its pods; whole seconds, truncated, so this
  reads 0-1 s high); ``ready->slice (s-res)``: first slice observation showing the pod
  ready minus the pod's own Ready ``lastTransitionTime``; ``ready seen->slice seen``: the
  same but from the moment the pod's Ready=True was first observed (ms resolution). All
  observations come from the cluster's own shared informers (the watches the controllers
  use), so measuring adds no watch of its own;
* memory (RSS, peak) and CPU seconds of both processes, the summed RSS of every process
  (peak sampled each second), the cluster process's time in the garbage collector, the
  API writes per pod by verb and resource and the watch history's size (both from the
  API server's /metrics); steady-state CPU over 30 s idle (node heartbeats only).
* ``--repeat N`` / ``--write-docs`` (``bench/report.py``): a table per size, median
  (min-max) over the runs, written into its marked block of docs/benchmarks.md.

All Services and Deployments live in one namespace by default (the worst case for
controllers that scan a namespace's pods per sync, as upstream's listers do too);
``--namespaces K`` spreads them round-robin over K namespaces.

``--sizes`` runs several sizes, each on a fresh cluster, smallest first, and prints the
scaling trend (a power law fitted through the last two sizes, extrapolated to 1k nodes /
50k and 100k pods). A size is skipped when that extrapolation says it would overrun
``--budget`` seconds (per rollout) or what is left of ``--total-budget``.

    .venv/bin/python bench/cluster.py                  # 2.5k, 5k, 10k pods, 50k if it fits
    .venv/bin/python bench/cluster.py --quick          # 50 nodes, 2,500 pods, 50 Services
    .venv/bin/python bench/cluster.py --sizes 1000:50000:1000 --budget 3600 --total-budget 4000
    .venv/bin/python bench/cluster.py --sizes 100:5000:100 --profile /tmp/prof   # py-spy
    .venv/bin/python bench/cluster.py --sizes 100:5000:100 --profile-idle /tmp/prof --idle 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import itertools
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import report as bench_report
from procstats import cpu_seconds, load, pct, rss_mib, tree_rss_mib
from progress import phase

# bench/dns.py would shadow dnspython's ``dns`` package (which sliceplane.cluster.up
# imports) while this script's directory is first on sys.path: take it off now that the
# helpers above are loaded.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
from sliceplane.cluster.up import ClusterConfig, LocalCluster  # noqa: E402
from sliceplane.machinery.gctuning import tune_for_large_caches  # noqa: E402
from sliceplane.workloads.kubelet.nodes import NodesOptions  # noqa: E402
from sliceplane.workloads.kubelet.podcidr import DEFAULT_CLUSTER_CIDR_IPV4  # noqa: E402

NS = "bench"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"


WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE")


async def scrape(client: Any) -> tuple[dict[str, float], dict[str, float]]:
    """From the API server's /metrics: the writes it has answered so far, by
    resource[/subresource] (upstream's ``apiserver_request_total``, to count what a pod
    costs), and its watch history gauges (``sliceplane_watch_history_*``)."""
    text = (await client.request("GET", "/metrics")).decode()
    out: dict[str, float] = {}
    history: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("sliceplane_watch_history_"):
            name, _, value = line.partition(" ")
            history[name] = float(value)
            continue
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        inner = labels_text[len("apiserver_request_total{") : -1]
        labels = dict(part.split("=", 1) for part in inner.split(","))
        verb = labels.get("verb", "").strip('"')
        if verb not in WRITE_VERBS:
            continue
        res = labels.get("resource", "").strip('"')
        sub = labels.get("subresource", "").strip('"')
        name = f"{verb} {res}{'/' + sub if sub else ''}"
        out[name] = out.get(name, 0.0) + float(value)
    return out, history


@dataclass
class GCTimer:
    """Time this process spends in the cyclic garbage collector (``gc.callbacks``): with
    every informer of a large cluster in one process, a full collection walks millions of
    decoded objects and stops the event loop meanwhile."""

    total: float = 0.0
    longest: float = 0.0
    full: int = 0
    _t0: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        took = time.perf_counter() - self._t0
        self.total += took
        self.longest = max(self.longest, took)
        if info.get("generation") == 2:
            self.full += 1


def parse_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ready_time(pod: dict[str, Any]) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            return str(c.get("lastTransitionTime") or "") or None
    return None


@dataclass
class Observer:
    """Handlers on the cluster's shared pod and EndpointSlice informers."""

    pods_ready_seen: dict[str, float] = field(default_factory=dict)  # pod name -> wall time
    pods_ready_ltt: dict[str, float] = field(default_factory=dict)  # pod name -> Ready LTT
    pod_in_slice: dict[str, float] = field(default_factory=dict)  # pod name -> wall time
    slice_ready: dict[str, int] = field(default_factory=dict)  # slice name -> ready endpoints
    sli: list[float] = field(default_factory=list)  # per newly shown pod: observed - trigger
    pods_seen: set[str] = field(default_factory=set)  # created (pipeline stage counts)
    pods_bound: set[str] = field(default_factory=set)  # scheduled
    ready_total: int = 0
    all_ready_at: float | None = None
    all_in_slices_at: float | None = None
    expected: int = 0

    def on_pod(self, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        if not str(meta.get("namespace")).startswith(NS):
            return
        name = f"{meta.get('namespace')}/{meta.get('name')}"
        if name in self.pods_ready_seen:
            return
        self.pods_seen.add(name)
        if (pod.get("spec") or {}).get("nodeName"):
            self.pods_bound.add(name)
        ltt = ready_time(pod)
        if ltt is None:
            return
        now = time.time()
        self.pods_ready_seen[name] = now
        self.pods_ready_ltt[name] = parse_time(ltt)
        if len(self.pods_ready_seen) >= self.expected and self.all_ready_at is None:
            self.all_ready_at = time.perf_counter()

    def on_slice(self, es: dict[str, Any]) -> None:
        meta = es.get("metadata") or {}
        ns = str(meta.get("namespace"))
        if not ns.startswith(NS):
            return
        now = time.time()
        trigger = (meta.get("annotations") or {}).get(TRIGGER)
        trigger_t = parse_time(trigger) if trigger else None
        ready = 0
        for ep in es.get("endpoints") or []:
            if not (ep.get("conditions") or {}).get("ready"):
                continue
            ready += 1
            ref = ep.get("targetRef") or {}
            pod = f"{ns}/{ref.get('name')}"
            if ref.get("name") and pod not in self.pod_in_slice:
                self.pod_in_slice[pod] = now
                if trigger_t is not None:
                    self.sli.append(now - trigger_t)
        key = f"{ns}/{meta.get('name')}"
        self.ready_total += ready - self.slice_ready.get(key, 0)
        self.slice_ready[key] = ready
        if self.ready_total >= self.expected and self.all_in_slices_at is None:
            self.all_in_slices_at = time.perf_counter()

    def on_slice_delete(self, es: dict[str, Any]) -> None:
        obj = es.get("obj", es)  # a tombstone wraps the last known object
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        self.ready_total -= self.slice_ready.pop(key, 0)

    def latencies(self) -> dict[str, list[float]]:
        ltt, seen = [], []
        for pod, t in self.pod_in_slice.items():
            if pod in self.pods_ready_ltt:
                ltt.append(t - self.pods_ready_ltt[pod])
                seen.append(t - self.pods_ready_seen[pod])
        return {
            "SLI: slice seen - trigger-time annotation (s-res)": self.sli,
            "pod Ready LTT -> slice seen (s-res)": ltt,
            "pod Ready seen -> slice seen": seen,
        }


@dataclass
class Size:
    nodes: int
    pods: int
    services: int

    @property
    def label(self) -> str:
        return f"{self.nodes}n/{self.pods}p/{self.services}s"


async def wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def run_size(size: Size, args: argparse.Namespace) -> dict[str, float]:
    f: dict[str, float] = {}
    tmp = Path(tempfile.mkdtemp(prefix="sliceplane-cluster-bench-"))
    me = os.getpid()
    cpu_me0 = cpu_seconds(me)
    cluster = LocalCluster(
        ClusterConfig(
            data_dir=tmp,
            listen="127.0.0.1:0",
            nodes=size.nodes,
            insecure_http=False,
            cluster_cidr=args.cluster_cidr,
            kube_api_qps=args.kube_api_qps,
            kube_api_burst=args.kube_api_burst,
            pod_ready_delay=args.pod_ready_delay,
        )
    )
    t0 = time.perf_counter()
    obs = Observer(expected=size.pods)
    gc_timer = GCTimer()
    gc.callbacks.append(gc_timer)
    profiler: asyncio.subprocess.Process | None = None
    try:
        with phase(f"{size.label}: starting the cluster"):
            await cluster.start()
        assert cluster.client is not None and cluster.apiserver.proc is not None
        api_pid = cluster.apiserver.proc.pid
        f["API server + controllers started s"] = time.perf_counter() - t0
        client = cluster.client
        factory = cluster._factory  # the shared informers the controllers use
        assert factory is not None
        factory.informer("pods").add_handler(obs.on_pod, lambda _o, n: obs.on_pod(n), None)
        factory.informer("endpointslices").add_handler(
            obs.on_slice, lambda _o, n: obs.on_slice(n), obs.on_slice_delete
        )

        async def nodes_registered() -> int:
            page = await client.list("leases", "kube-node-lease")
            return len(page.items)

        deadline = time.perf_counter() + 600
        with phase(f"{size.label}: nodes registered", size.nodes) as tick:
            registered = 0
            while (now := await nodes_registered()) < size.nodes:
                tick(now - registered)
                registered = now
                if time.perf_counter() > deadline:
                    raise TimeoutError("nodes did not register")
                await asyncio.sleep(0.5)
        f["nodes registered (Node+Lease) s"] = time.perf_counter() - t0
        namespaces = [f"{NS}-{j}" for j in range(args.namespaces)]
        for ns in namespaces:
            await client.create("namespaces", {"metadata": {"name": ns}})

        if args.profile:
            profiler = await start_profiles(args.profile, size, me, api_pid)

        replicas = size.pods // size.services
        t_roll = time.perf_counter()
        sem = asyncio.Semaphore(16)

        async def make(i: int, tick: Any) -> None:
            labels = {"app": f"svc-{i}"}
            ns = namespaces[i % len(namespaces)]
            async with sem:
                await client.create(
                    "services",
                    {
                        "metadata": {"name": f"svc-{i}", "namespace": ns},
                        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
                    },
                    ns,
                )
                await client.create(
                    "deployments",
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": f"svc-{i}", "namespace": ns},
                        "spec": {
                            "replicas": replicas,
                            "selector": {"matchLabels": labels},
                            "template": {
                                "metadata": {"labels": labels},
                                "spec": {
                                    "containers": [
                                        {
                                            "name": "app",
                                            "image": "registry.example/app:1",
                                            "ports": [{"containerPort": 8080}],
                                        }
                                    ]
                                },
                            },
                        },
                    },
                    ns,
                )
            tick()

        with phase(f"{size.label}: creating Services + Deployments", size.services) as tick:
            await asyncio.gather(*(make(i, tick) for i in range(size.services)))
        f["Services + Deployments created s"] = time.perf_counter() - t_roll
        last_report = time.perf_counter()
        with (
            phase(f"{size.label}: pods Ready", size.pods) as ready_tick,
            phase(f"{size.label}: endpoints in slices", size.pods) as slice_tick,
        ):
            shown_ready = shown_in_slices = 0
            peak_total = 0.0
            last_sample = 0.0
            while obs.all_in_slices_at is None or obs.all_ready_at is None:
                if time.perf_counter() - t_roll > args.budget:
                    f["TIMED OUT at s"] = time.perf_counter() - t_roll
                    break
                if cluster.failed.is_set():
                    raise RuntimeError("the API server exited")
                await asyncio.sleep(0.2)
                ready_tick(len(obs.pods_ready_seen) - shown_ready)
                shown_ready = len(obs.pods_ready_seen)
                slice_tick(obs.ready_total - shown_in_slices)
                shown_in_slices = obs.ready_total
                if time.perf_counter() - last_sample > 1.0:
                    last_sample = time.perf_counter()
                    peak_total = max(peak_total, tree_rss_mib(me))
                if time.perf_counter() - last_report > 15:
                    last_report = time.perf_counter()
                    print(
                        f"    {size.label}: t={last_report - t_roll:.0f}s "
                        f"created {len(obs.pods_seen)} "
                        f"bound {len(obs.pods_bound)} ready "
                        f"{len(obs.pods_ready_seen)} in slices {obs.ready_total} "
                        f"rss api {rss_mib(api_pid):.0f} MiB ctl {rss_mib(me):.0f} MiB "
                        f"all {tree_rss_mib(me):.0f} MiB "
                        f"cpu api {cpu_seconds(api_pid):.0f} s ctl {cpu_seconds(me):.0f} s "
                        f"load {load()}",
                        flush=True,
                    )
        if obs.all_ready_at is not None:
            f["all pods Ready s (from first create)"] = obs.all_ready_at - t_roll
        if obs.all_in_slices_at is not None:
            f["all endpoints in slices s"] = obs.all_in_slices_at - t_roll
            f["pods/s end to end"] = size.pods / (obs.all_in_slices_at - t_roll)
        f["pods ready"] = len(obs.pods_ready_seen)
        f["ready endpoints in slices"] = obs.ready_total
        for name, values in obs.latencies().items():
            for q in (0.5, 0.9, 0.99):
                f[f"{name} p{round(q * 100)} s"] = pct(values, q)
        if profiler is not None:
            await stop_profiles(profiler)
            profiler = None
        f["API server RSS MiB"] = rss_mib(api_pid)
        f["API server peak RSS MiB"] = rss_mib(api_pid, "VmHWM:")
        f["cluster process RSS MiB"] = rss_mib(me)
        f["all processes RSS MiB (sum)"] = tree_rss_mib(me)
        f["all processes peak RSS MiB (sum, sampled 1/s)"] = max(peak_total, tree_rss_mib(me))
        writes, history = await scrape(client)
        f["watch history events (API server)"] = history.get(
            "sliceplane_watch_history_events", float("nan")
        )
        f["watch history MiB charged (API server)"] = (
            history.get("sliceplane_watch_history_bytes", float("nan")) / 2**20
        )
        f["API writes per pod"] = sum(writes.values()) / size.pods
        for name, count in sorted(writes.items(), key=lambda kv: -kv[1])[:8]:
            f[f"  writes per pod: {name}"] = count / size.pods
        f["API server CPU s"] = cpu_seconds(api_pid)
        f["cluster process CPU s"] = cpu_seconds(me) - cpu_me0
        f["cluster process GC s (total)"] = gc_timer.total
        f["cluster process GC longest pause s"] = gc_timer.longest
        f["cluster process full GCs"] = gc_timer.full
        # Steady state: nothing changes but heartbeats (Lease renewals every 10 s).
        if args.profile_idle:
            profiler = await start_profiles(args.profile_idle, size, me, api_pid, "-idle")
        a0, m0 = cpu_seconds(api_pid), cpu_seconds(me)
        gc0, full0 = gc_timer.total, gc_timer.full
        with phase(f"{size.label}: idle CPU for {args.idle:.0f}s"):
            await asyncio.sleep(args.idle)
        f[f"idle CPU % API server ({args.idle:.0f}s)"] = (
            (cpu_seconds(api_pid) - a0) / args.idle * 100
        )
        f[f"idle CPU % cluster process ({args.idle:.0f}s)"] = (
            (cpu_seconds(me) - m0) / args.idle * 100
        )
        # A full collection of a large heap can fall in the idle window (it is triggered
        # by the rollout's last allocations): its share of the idle CPU above.
        f[f"  of it in the GC s (cluster process, {args.idle:.0f}s)"] = gc_timer.total - gc0
        f[f"  full GCs (cluster process, {args.idle:.0f}s)"] = gc_timer.full - full0
        if profiler is not None:
            await stop_profiles(profiler)
            profiler = None
    finally:
        gc.callbacks.remove(gc_timer)
        if profiler is not None:
            await stop_profiles(profiler)
        with phase(f"{size.label}: stopping the cluster"):
            await cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return f


async def start_profiles(
    out_dir: str, size: Size, me: int, api_pid: int, suffix: str = ""
) -> asyncio.subprocess.Process:
    """py-spy on both processes (one py-spy each, run together through a shell)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmds = []
    for label, pid in (("apiserver", api_pid), ("cluster", me)):
        base = Path(out_dir) / f"{size.label.replace('/', '-')}-{label}{suffix}"
        cmds.append(
            f"{spy} record --nonblocking --rate 50 --pid {pid} --format raw "
            f"--output {base}.folded >{base}.log 2>&1 &"
        )
    script = " ".join(cmds) + " wait"
    return await asyncio.create_subprocess_shell(script, start_new_session=True)


async def stop_profiles(proc: asyncio.subprocess.Process) -> None:
    # SIGINT to the shell's process group makes each py-spy write its file and exit.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 2)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(proc.wait(), 60)


def extrapolate(done: list[tuple[Size, float]], size: Size) -> tuple[float, str]:
    """Rollout time for ``size`` from the measured ones: a power law through the last two
    points (time ~ pods^k), or linear from a single point."""
    (b, tb) = done[-1]
    if len(done) >= 2:
        (a, ta) = done[-2]
        k = math.log(tb / ta) / math.log(b.pods / a.pods)
        return tb * (size.pods / b.pods) ** k, f"power-law (time ~ pods^{k:.2f})"
    return tb * size.pods / b.pods, "linear"


def report(results: list[tuple[Size, dict[str, float]]]) -> None:
    names = list(dict.fromkeys(n for _s, f in results for n in f))
    width = max(len(n) for n in names) + 2
    print(f"{'':<{width}}" + "".join(f"{s.label:>20}" for s, _f in results))
    for n in names:
        row = f"{n:<{width}}"
        for _s, f in results:
            v = f.get(n, float("nan"))
            row += f"{v:>20.0f}" if float(v).is_integer() else f"{v:>20.3f}"
        print(row)
    if len(results) > 1:
        print("\nscaling (each size vs the previous):")
        key = "all endpoints in slices s"
        for (a, fa), (b, fb) in itertools.pairwise(results):
            if key in fa and key in fb:
                api = fb["API server RSS MiB"] / fa["API server RSS MiB"]
                ctl = fb["cluster process RSS MiB"] / fa["cluster process RSS MiB"]
                print(
                    f"  {a.label} -> {b.label}: pods x{b.pods / a.pods:.1f}, "
                    f"time x{fb[key] / fa[key]:.2f}, API server RSS x{api:.2f}, "
                    f"cluster RSS x{ctl:.2f}"
                )


async def run_one(
    spec: str,
    args: argparse.Namespace,
    results: list[tuple[Size, dict[str, float]]],
    done: list[tuple[Size, float]],
    started: float,
) -> None:
    """One size on a fresh cluster, unless the budget says it would not fit."""
    n, p, s = (int(x) for x in spec.split(":"))
    size = Size(n, p, s)
    if done:
        estimate, how = extrapolate(done, size)
        left = args.total_budget - (time.perf_counter() - started)
        if estimate > min(args.budget, left):
            print(
                f"skipping {size.label}: {how} estimate {estimate:.0f}s > budget "
                f"{min(args.budget, left):.0f}s",
                flush=True,
            )
            return
    table = bench_report.Table("sliceplane", None)
    t0 = time.perf_counter()
    for run in bench_report.runs(args):
        f = await run_size(size, args)
        results.append((size, f))
        table.add(f)
        run.note(
            f"{size.nodes} nodes, {size.pods} pods, {size.services} Services "
            f"({size.pods // size.services} replicas each, {args.namespaces} namespace(s)); "
            f"endpoint controllers' client limit {args.kube_api_qps:g} qps / burst "
            f"{args.kube_api_burst}; pod ready delay {args.pod_ready_delay:g} s"
        )
    done.append((size, f.get("all endpoints in slices s", time.perf_counter() - t0)))
    print(table.text(), flush=True)
    bench_report.publish(
        args,
        f"cluster-{size.nodes}-{size.pods}-{size.services}",
        f"Local cluster, {size.nodes:,} nodes / {size.pods:,} pods / {size.services:,} Services",
        table,
        "bench/cluster.py " + " ".join(sys.argv[1:]),
    )


async def amain(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    results: list[tuple[Size, dict[str, float]]] = []
    done: list[tuple[Size, float]] = []  # size, rollout seconds
    started = time.perf_counter()
    with phase("sizes", len(args.sizes)) as next_size:
        for spec in args.sizes:
            await run_one(spec, args, results, done, started)
            next_size()
    if len(done) >= 2:
        for target in ("1000:50000:1000", "1000:100000:1000"):
            n, p, s = (int(x) for x in target.split(":"))
            big = Size(n, p, s)
            if all(d.pods < big.pods for d, _t in done):
                estimate, how = extrapolate(done, big)
                print(f"extrapolated rollout for {big.label}: {estimate:.0f}s ({how})")
    print(f"\ncpus={os.cpu_count()} (API server and cluster process: one core each at most)")
    report(results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--sizes",
        nargs="+",
        default=["50:2500:50", "100:5000:100", "200:10000:200", "1000:50000:1000"],
        help="NODES:PODS:SERVICES, each on a fresh cluster",
    )
    p.add_argument("--quick", action="store_true", help="one size: 50:2500:50")
    p.add_argument("--budget", type=float, default=600.0, help="seconds allowed for a rollout")
    p.add_argument("--total-budget", type=float, default=840.0, help="seconds for the whole run")
    p.add_argument("--namespaces", type=int, default=1, help="spread Services over K namespaces")
    p.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    p.add_argument("--profile", metavar="DIR", help="py-spy both processes during the rollout")
    p.add_argument(
        "--profile-idle",
        metavar="DIR",
        help="py-spy both processes during the idle measurement (what keeps them busy)",
    )
    p.add_argument(
        "--cluster-cidr",
        default=DEFAULT_CLUSTER_CIDR_IPV4,
        help="pod range (the default /14 holds 1,024 nodes at /24 each)",
    )
    p.add_argument(
        "--kube-api-qps",
        type=float,
        default=20.0,
        help="endpoint controllers' client limit (sliceplane up's default; negative: none)",
    )
    p.add_argument("--kube-api-burst", type=int, default=30)
    p.add_argument(
        "--pod-ready-delay",
        type=float,
        default=NodesOptions().readiness_delay,
        help="seconds a pod is Running before Ready (0: one status write, as KWOK's)",
    )
    bench_report.add_arguments(p)
    p.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's GC thresholds (sliceplane up tunes them for large caches)",
    )
    args = p.parse_args()
    if not args.default_gc:
        tune_for_large_caches()  # as `sliceplane up` does for this process
    if args.quick:
        args.sizes = ["50:2500:50"]
        args.idle = min(args.idle, 10.0)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
