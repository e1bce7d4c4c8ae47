"""Where a watch fan-out round goes on sliceplane's server: writes, collections, CPU.

``bench/apiserver.py`` reports one number per fan-out round (events/s until the last of
50 watchers saw its 500th event). This fills one sliceplane server with the benchmark's
pods and patches, then runs the benchmark's own rounds (``apiserver.fan_out``, the same
watcher process) and prints, per round, what the server did in it, recorded in the
server process by hooks installed before it starts (``--hooks``, this file):

* the watch writes: how many ``StreamResponse.write`` calls (each one chunk, one TLS
  write) and their sizes, i.e. how many events one write to one watcher carried;
* the server's garbage collections in the round (generation, count, pause);
* the server's and the watcher process's CPU seconds.

With ``--py-spy FILE`` it records the server with py-spy during the rounds only.

    .venv/bin/python bench/fanoutprobe.py --pods 100000 --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from apiserver import BIN, Watchers, fan_out
from listprobe import fill
from procstats import cpu_seconds, load
from sliceplane.client.client import Client

STATS = os.environ.get("FANOUT_PROBE_STATS", "")


def install_hooks() -> None:
    """In the server process: record watch writes and collections between SIGUSR1
    (reset, start) and SIGUSR2 (dump to ``$FANOUT_PROBE_STATS`` as JSON)."""
    from aiohttp import web

    state: dict[str, Any] = {"on": False}

    def reset() -> None:
        state.update(on=True, writes=[], gcs=[], t0=time.perf_counter())

    orig_write = web.StreamResponse.write

    async def write(self: web.StreamResponse, data: Any) -> None:
        if state["on"]:
            state["writes"].append(len(data))
        await orig_write(self, data)

    web.StreamResponse.write = write  # type: ignore[method-assign]
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif state["on"]:
            state["gcs"].append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(on_gc)

    def dump() -> None:
        with open(STATS, "w") as f:
            json.dump({"writes": state["writes"], "gcs": state["gcs"]}, f)
        state["on"] = False

    signal.signal(signal.SIGUSR1, lambda *_: reset())
    signal.signal(signal.SIGUSR2, lambda *_: dump())


def start_hooked(data_dir: Path, stats: Path) -> subprocess.Popen[str]:
    here, data = str(Path(__file__).parent), str(data_dir)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import fanoutprobe; "
        "fanoutprobe.install_hooks(); from sliceplane.cli.main import main; "
        f"sys.argv = ['sliceplane', 'apiserver', '--data-dir', {data!r}, "
        "'--listen', '127.0.0.1:0']; sys.exit(main())"
    )
    env = dict(os.environ, FANOUT_PROBE_STATS=str(stats))
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc
        if not line:
            raise SystemExit("server did not start")


def summary(stats: dict[str, Any]) -> str:
    w = sorted(stats["writes"])
    n = len(w)
    if not n:
        return "no writes"
    q = [w[int(n * p)] for p in (0.1, 0.5, 0.9)]
    gens = {g: [d for gg, d in stats["gcs"] if gg == g] for g in (0, 1, 2)}
    gcs = ", ".join(f"gen{g} {len(d)}x {sum(d) * 1000:.0f} ms" for g, d in gens.items() if d)
    return (
        f"{n} writes ({n / 50:.0f} per watcher), {sum(w) / 1e6:.1f} MB, size p10/p50/p90 "
        f"{q[0]}/{q[1]}/{q[2]} B, max {w[-1]}; collections: {gcs or 'none'}"
    )


async def amain(args: argparse.Namespace) -> None:
    print(f"load before: {load()}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="sliceplane-fanprobe-"))
    stats_file = tmp / "stats.json"
    (tmp / "data").mkdir()
    proc = start_hooked(tmp / "data", stats_file)
    try:
        kubeconfig = tmp / "data" / "kubeconfig"
        ns = "probe"
        async with await Client.connect(kubeconfig) as client:
            await fill(client, ns, args.pods)
            await asyncio.sleep(2)
            print(f"load after fill: {load()}", flush=True)
            fan = Watchers(kubeconfig, ns, 50)
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(
                    [
                        str(BIN / "py-spy"),
                        "record",
                        "-p",
                        str(proc.pid),
                        "-r",
                        "250",
                        "-f",
                        "raw",
                        "-o",
                        args.py_spy,
                        "-d",
                        "900",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                await asyncio.sleep(1.5)
            try:
                for r in range(args.rounds):
                    gc.collect()
                    cpu0 = cpu_seconds(proc.pid)
                    proc.send_signal(signal.SIGUSR1)
                    await asyncio.sleep(0.1)
                    await fan_out(client, fan, ns, args.pods, 32, 50, r, "sliceplane")
                    proc.send_signal(signal.SIGUSR2)
                    await asyncio.sleep(0.3)
                    cpu = cpu_seconds(proc.pid) - cpu0
                    stats = json.loads(stats_file.read_text())
                    print(f"    server CPU {cpu:.2f} s; {summary(stats)}", flush=True)
            finally:
                fan.close()
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load after: {load()}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pods", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--py-spy", help="record the server into this raw file during the rounds")
    asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    main()
