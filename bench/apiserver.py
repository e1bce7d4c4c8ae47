"""API server benchmark: write throughput, list latency, watch fan-out, memory.

Runs one workload against sliceplane's API server (started here, HTTPS + token, SQLite with
synchronous=FULL) and, with ``--against KUBECONFIG``, the same workload against another
server (e.g. kube-apiserver + etcd from ``sliceplane testenv``), then prints both and the
ratios. Figures only: nothing here asserts a time.

    .venv/bin/python bench/apiserver.py                 # quick: 10k pods
    .venv/bin/python bench/apiserver.py --pods 100000   # the 100k list figure
"""

from __future__ import annotations

import argparse
import asyncio
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

from sliceplane.client.client import Client

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


async def _pool(n: int, concurrency: int, fn: Any) -> float:
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

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run_workload(
    kubeconfig: Path, label: str, pods: int, concurrency: int, watchers: int, pid: int | None
) -> Result:
    res = Result(label)
    ns = f"bench-{int(time.time())}"
    async with await Client.connect(kubeconfig) as client:
        await client.create("namespaces", {"metadata": {"name": ns}})

        async def create(i: int) -> None:
            await client.create("pods", pod(f"p-{i:07d}", ns), ns)

        elapsed = await _pool(pods, concurrency, create)
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

        elapsed = await _pool(n_updates, concurrency, update)
        res.figures["updates/s (merge patch)"] = n_updates / elapsed

        for size_label, limit in (("list all pods", None), ("list 500", 500)):
            samples = []
            for _ in range(5):
                t0 = time.perf_counter()
                page = await client.list("pods", ns, limit=limit)
                samples.append(time.perf_counter() - t0)
                assert len(page.items) == (limit or pods)
            res.figures[f"{size_label} p50 ms"] = statistics.median(samples) * 1000
        t0 = time.perf_counter()
        page = await client.list("pods", ns, label_selector="shard=7")
        res.figures["list with label selector ms"] = (time.perf_counter() - t0) * 1000

        # Watch fan-out: N watchers, K writes; events delivered per second across all.
        writes = 500
        start_rv = (await client.list("pods", ns, limit=1)).resource_version
        received = [0] * watchers
        done = asyncio.Event()

        async def watch(idx: int) -> None:
            async for ev in client.watch(
                "pods", ns, resource_version=start_rv, timeout_seconds=120, allow_bookmarks=False
            ):
                if ev.type == "MODIFIED":
                    received[idx] += 1
                    if received[idx] >= writes:
                        return

        tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()

        async def touch(i: int) -> None:
            await client.patch(
                "pods",
                f"p-{i % pods:07d}",
                {"metadata": {"annotations": {"n": str(i)}}},
                ns,
                patch_type="merge",
            )

        await _pool(writes, concurrency, touch)
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
        elapsed = time.perf_counter() - t0
        done.set()
        res.figures[f"watch events/s delivered ({watchers} watchers)"] = sum(received) / elapsed
        if pid is not None:
            res.figures["server RSS MiB"] = rss_mib(pid)
        try:
            await client.delete("namespaces", ns)
        except Exception:
            pass
    return res


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


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


def report(results: list[Result]) -> None:
    names = list(results[0].figures)
    width = max(len(n) for n in names) + 2
    header = f"{'':<{width}}" + "".join(f"{r.name:>22}" for r in results)
    if len(results) == 2:
        header += f"{'ratio (sp/upstream)':>22}"
    print(header)
    for n in names:
        row = f"{n:<{width}}" + "".join(f"{r.figures.get(n, float('nan')):>22.1f}" for r in results)
        if len(results) == 2:
            a, b = results[0].figures.get(n), results[1].figures.get(n)
            if a and b:
                row += f"{a / b:>22.2f}"
        print(row)


async def amain(args: argparse.Namespace) -> None:
    results = []
    tmp = Path(tempfile.mkdtemp(prefix="sliceplane-bench-"))
    proc = start_sliceplane(tmp)
    try:
        results.append(
            await run_workload(
                tmp / "kubeconfig",
                "sliceplane",
                args.pods,
                args.concurrency,
                args.watchers,
                proc.pid,
            )
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.against:
        results.append(
            await run_workload(
                Path(args.against),
                "upstream",
                args.pods,
                args.concurrency,
                args.watchers,
                args.against_pid,
            )
        )
    print(f"\npods={args.pods} concurrency={args.concurrency} cpus={os.cpu_count()}")
    report(results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pods", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--watchers", type=int, default=50)
    p.add_argument("--against", help="kubeconfig of another API server to compare with")
    p.add_argument("--against-pid", type=int, help="its process id, for the memory figure")
    asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    main()
