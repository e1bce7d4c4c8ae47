"""API server benchmark: write throughput, list latency, watch fan-out, memory.

Runs one workload against sliceplane's API server (started here, HTTPS + token, SQLite with
synchronous=FULL) and then the identical workload against upstream, either kube-apiserver +
etcd started here with ``--upstream`` (``sliceplane.testenv.ControlPlane``, the pinned
version, etcd fsyncing every commit like synchronous=FULL) or any server given with
``--against KUBECONFIG``. Prints both columns and the ratio sliceplane / upstream, with
which direction is better on each row. Figures only: nothing here asserts a time.

    .venv/bin/python bench/apiserver.py --upstream                # 10k pods, both servers
    .venv/bin/python bench/apiserver.py --upstream --quick        # 2k pods, smoke run
    .venv/bin/python bench/apiserver.py --upstream --pods 100000  # the 100k list figure
    .venv/bin/python bench/apiserver.py --upstream --repeat 3 --write-docs  # docs' table

``--repeat N`` runs both sides N times and prints median (min-max) per row, the ratio
column being the median of the per-run ratios; ``--write-docs`` writes that table into
docs/benchmarks.md (``bench/report.py``); ``--lock FILE`` holds that flock for each run
(not across ``--repeat``). The watch fan-out row is itself the median of
``--fanout-rounds`` bursts within each run, its watchers in a driver process of their own
(:class:`Watchers`); list samples are timed with the driver's collector off
(:func:`timed_list`). ``bench/listprobe.py`` times the servers' part of a list alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import report
from procstats import cpu_seconds, load, rss_mib
from progress import phase
from sliceplane.client.client import Client
from sliceplane.testenv.controlplane import ControlPlane

BIN = Path(sys.executable).parent


def pod(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "shard": name[-1]}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "registry.example/app:1",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                }
            ],
        },
    }


@dataclass
class Result:
    name: str
    figures: dict[str, float] = field(default_factory=dict)


async def _pool(n: int, concurrency: int, fn: Any, what: str) -> float:
    """Run fn(i) for i in range(n) with bounded concurrency; return elapsed seconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await fn(i)
            tick()

    with phase(what, n) as tick:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


# Which way is better on each row (for the ratio column): "higher" or "lower".
BETTER = {
    "creates/s": "higher",
    "updates/s (merge patch)": "higher",
    "list all pods p50 ms": "lower",
    "list 500 p50 ms": "lower",
    "list with label selector p50 ms": "lower",
    "server RSS MiB": "lower",
    "server peak RSS MiB": "lower",
    "server CPU s (whole workload)": "lower",
}


class Watchers:
    """The fan-out's watchers, in a driver process of their own (``multiprocessing``).

    Why: in the writers' process, decoding 25,000 events a round (about 0.45 s of CPU)
    held up the writers' event loop, and the 50 watches took 50 of the client's 64 pooled
    connections, leaving 14 of the 32 writers in flight: the round measured the driver as
    much as the server, on both sides. Here the watchers have their own process, event
    loop and client (connection pool); the writers keep all of theirs. The workload is the
    one it was: 50 watches from the same resourceVersion, 500 merge patches, 32 at a time.
    """

    def __init__(self, kubeconfig: Path, ns: str, watchers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_watchers_main, args=(child, str(kubeconfig), ns, watchers), daemon=True
        )
        self._proc.start()
        child.close()

    def start(self, resource_version: str, writes: int) -> None:
        """Open the watches from ``resource_version``; returns once they are open."""
        self._conn.send((resource_version, writes))
        if self._conn.recv() != "ready":
            raise RuntimeError("watcher process failed")

    def finished(self, timeout: float = 300.0) -> tuple[float, int, float]:
        """When the last watcher saw its last event (``time.perf_counter``, the same clock
        in every process), how many events they saw, and the process's CPU seconds."""
        if not self._conn.poll(timeout):
            raise TimeoutError("watchers did not catch up")
        done: tuple[float, int, float] = self._conn.recv()
        return done

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


def _watchers_main(conn: Any, kubeconfig: str, ns: str, watchers: int) -> None:
    asyncio.run(_watchers_loop(conn, Path(kubeconfig), ns, watchers))


async def _watch_until(
    client: Client, ns: str, start_rv: str, writes: int, received: list[int], idx: int
) -> None:
    async for ev in client.watch(
        "pods", ns, resource_version=start_rv, timeout_seconds=120, allow_bookmarks=False
    ):
        if ev.type == "MODIFIED":
            received[idx] += 1
            if received[idx] >= writes:
                return


async def _watchers_loop(conn: Any, kubeconfig: Path, ns: str, watchers: int) -> None:
    loop = asyncio.get_running_loop()
    async with await Client.connect(kubeconfig) as client:
        while True:
            order = await loop.run_in_executor(None, conn.recv)
            if order is None:
                return
            start_rv, writes = order
            received = [0] * watchers
            cpu0 = time.process_time()
            tasks = [
                asyncio.create_task(_watch_until(client, ns, start_rv, writes, received, i))
                for i in range(watchers)
            ]
            await asyncio.sleep(0.5)
            conn.send("ready")
            await asyncio.wait_for(asyncio.gather(*tasks), 300)
            conn.send((time.perf_counter(), sum(received), time.process_time() - cpu0))


async def fan_out(
    client: Client,
    watchers: Watchers,
    ns: str,
    pods: int,
    concurrency: int,
    n_watchers: int,
    round_: int,
    label: str,
) -> float:
    """One round: the watchers watch from now, 500 patches, events/s until all saw all."""
    writes = 500
    start_rv = (await client.list("pods", ns, limit=1)).resource_version
    watchers.start(start_rv, writes)
    t0 = time.perf_counter()

    async def touch(i: int) -> None:
        await client.patch(
            "pods",
            f"p-{i % pods:07d}",
            {"metadata": {"annotations": {"n": f"{round_}-{i}"}}},
            ns,
            patch_type="merge",
        )

    await _pool(writes, concurrency, touch, f"{label}: writes watched by {n_watchers}")
    with phase(f"{label}: watchers catching up"):
        loop = asyncio.get_running_loop()
        end, seen, cpu = await loop.run_in_executor(None, watchers.finished)
    rate = seen / (end - t0)
    print(
        f"  {label} fan-out round {round_ + 1}: {rate:,.0f} events/s "
        f"({end - t0:.2f} s, watcher process CPU {cpu:.2f} s)",
        flush=True,
    )
    return rate


async def timed_list(client: Client, ns: str, **kw: Any) -> tuple[float, int]:
    """One list as the driver sees it (request, body, decode), and its item count.

    The collector is run before and kept off during the sample, the same on both sides:
    decoding a list of 100,000 pods creates millions of containers, and the cyclic
    collections that set off in the driver took 4-5 s of a 6-8 s sample (1-2 s without),
    a cost of the driver's heap, not of either server.
    """
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        page = await client.list("pods", ns, **kw)
        elapsed = time.perf_counter() - t0
        n = len(page.items)
    finally:
        gc.enable()
    del page
    return elapsed, n


async def run_workload(
    kubeconfig: Path,
    label: str,
    pods: int,
    concurrency: int,
    watchers: int,
    pids: list[int],
    fanout_rounds: int = 3,
) -> Result:
    res = Result(label)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    ns = f"bench-{int(time.time())}"
    async with await Client.connect(kubeconfig) as client:
        await client.create("namespaces", {"metadata": {"name": ns}})

        async def create(i: int) -> None:
            await client.create("pods", pod(f"p-{i:07d}", ns), ns)

        elapsed = await _pool(pods, concurrency, create, f"{label}: creating pods")
        res.figures["creates/s"] = pods / elapsed

        n_updates = min(pods, 5000)

        async def update(i: int) -> None:
            await client.patch(
                "pods",
                f"p-{i:07d}",
                {"metadata": {"labels": {"round": "2"}}},
                ns,
                patch_type="merge",
            )

        elapsed = await _pool(n_updates, concurrency, update, f"{label}: patching pods")
        res.figures["updates/s (merge patch)"] = n_updates / elapsed

        with phase(f"{label}: lists", 15) as tick:
            for size_label, kw, want in (
                ("list all pods", {}, pods),
                ("list 500", {"limit": 500}, min(pods, 500)),
                # shard is the name's last digit: a tenth of the pods.
                ("list with label selector", {"label_selector": "shard=7"}, (pods + 2) // 10),
            ):
                samples = []
                for _ in range(5):
                    elapsed, n = await timed_list(client, ns, **kw)
                    samples.append(elapsed)
                    assert n == want, (size_label, n, want)
                    tick()
                res.figures[f"{size_label} p50 ms"] = statistics.median(samples) * 1000

        # Watch fan-out: N watchers, K writes; events delivered per second across all.
        # Several rounds, the median kept: one burst of 500 writes lasts about a second,
        # so a single round moved by a third from run to run.
        rates = []
        fan = Watchers(kubeconfig, ns, watchers)
        try:
            for round_ in range(fanout_rounds):
                rates.append(
                    await fan_out(client, fan, ns, pods, concurrency, watchers, round_, label)
                )
        finally:
            fan.close()
        res.figures[f"watch events/s delivered ({watchers} watchers)"] = statistics.median(rates)
        if pids:
            res.figures["server RSS MiB"] = sum(rss_mib(p) for p in pids)
            res.figures["server peak RSS MiB"] = sum(rss_mib(p, "VmHWM:") for p in pids)
            res.figures["server CPU s (whole workload)"] = sum(cpu_seconds(p) for p in pids) - cpu0
        try:
            await client.delete("namespaces", ns)
        except Exception:
            pass
    return res


def start_sliceplane(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            str(BIN / "sliceplane"),
            "apiserver",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if re.search(r"listening on", line):
            return proc
        if not line:
            break
    proc.kill()
    raise SystemExit("sliceplane apiserver did not start")


def better(name: str) -> str:
    return BETTER.get(name, "higher" if name.endswith("/s") or "/s " in name else "lower")


def print_results(results: list[Result]) -> None:
    names = list(dict.fromkeys(n for r in results for n in r.figures))
    width = max(len(n) for n in names) + 2
    header = f"{'':<{width}}" + "".join(f"{r.name:>14}" for r in results)
    if len(results) == 2:
        header += f"{'sp/upstream':>13}  better"
    print(header)
    for n in names:
        row = f"{n:<{width}}" + "".join(f"{r.figures.get(n, float('nan')):>14.1f}" for r in results)
        if len(results) == 2:
            a, b = results[0].figures.get(n), results[1].figures.get(n)
            if a and b:
                row += f"{a / b:>13.2f}  {better(n)}"
        print(row)


async def one_run(args: argparse.Namespace) -> list[Result]:
    """Both sides once, one after the other (never at the same time: two cores)."""
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="sliceplane-bench-"))
    with phase("starting sliceplane apiserver"):
        proc = start_sliceplane(tmp)
    try:
        results.append(
            await run_workload(
                tmp / "kubeconfig",
                "sliceplane",
                args.pods,
                args.concurrency,
                args.watchers,
                [proc.pid],
                args.fanout_rounds,
            )
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load after sliceplane: {load()}", flush=True)
    if args.upstream:
        # etcd keeps its default fsync per commit: the same durability as synchronous=FULL.
        with phase("starting kube-apiserver + etcd"):
            cp = ControlPlane(unsafe_no_fsync=False)
            cp.start()
        try:
            results.append(
                await run_workload(
                    cp.kubeconfig,
                    f"k8s {cp.version}",
                    args.pods,
                    args.concurrency,
                    args.watchers,
                    [cp.pids["etcd"], cp.pids["kube-apiserver"]],
                    args.fanout_rounds,
                )
            )
        finally:
            cp.stop()
    elif args.against:
        results.append(
            await run_workload(
                Path(args.against),
                "upstream",
                args.pods,
                args.concurrency,
                args.watchers,
                list(args.against_pid or []),
                args.fanout_rounds,
            )
        )
    return results


async def amain(args: argparse.Namespace) -> None:
    table: report.Table | None = None
    for run in report.runs(args):
        results = await one_run(args)
        print(
            f"\npods={args.pods} concurrency={args.concurrency} watchers={args.watchers} "
            f"cpus={os.cpu_count()}"
        )
        print_results(results)
        if table is None:
            table = report.Table(results[0].name, results[1].name if len(results) > 1 else None)
        table.add(
            results[0].figures,
            results[1].figures if len(results) > 1 else None,
            better={n: better(n) for r in results for n in r.figures},
        )
        run.note(
            f"pods={args.pods}, {args.concurrency} concurrent writers, {args.watchers} "
            f"watchers, fan-out: median of {args.fanout_rounds} rounds of 500 writes"
        )
    assert table is not None
    if table.runs > 1:
        print(f"\nover {table.runs} runs:\n{table.text()}", flush=True)
    command = f"bench/apiserver.py{' --upstream' if args.upstream else ''} --pods {args.pods}"
    if args.repeat > 1:
        command += f" --repeat {args.repeat}"
    report.publish(
        args,
        f"apiserver-{args.pods // 1000}k" if args.pods >= 1000 else f"apiserver-{args.pods}",
        f"API server, {args.pods:,} pods"
        + (" (sliceplane vs kube-apiserver + etcd)" if args.upstream else ""),
        table,
        command,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--watchers", type=int, default=50)
    p.add_argument(
        "--fanout-rounds",
        type=int,
        default=3,
        help="rounds of the watch fan-out per run; the row is their median (default 3)",
    )
    p.add_argument("--quick", action="store_true", help="2,000 pods (a smoke run)")
    p.add_argument(
        "--upstream",
        action="store_true",
        help="also start kube-apiserver + etcd (ControlPlane) and run the same workload",
    )
    p.add_argument("--against", help="kubeconfig of another API server to compare with")
    p.add_argument(
        "--against-pid",
        type=int,
        action="append",
        help="its process ids (repeat for etcd), for the memory and CPU figures",
    )
    report.add_arguments(p)
    args = p.parse_args()
    if args.quick:
        args.pods = min(args.pods, 2_000)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
