"""Where a list's time goes: the server's part (bytes on the wire) and the driver's decode.

``bench/apiserver.py`` times a list as the Python driver sees it: request, body, msgspec
decode. That hides which side is slow. This fills one server (sliceplane's, or
kube-apiserver + etcd with ``--upstream``) with the benchmark's pods and patches once, then
for each list asked for prints, per sample, the time to the first and to the last byte of
the raw answer (no decoding; ``Accept-Encoding`` as given, aiohttp's default being gzip),
its size, and then the time ``msgspec`` takes to decode that body with the collector as
the benchmark's driver has it. With ``--py-spy FILE`` it records the server (sliceplane's)
with py-spy during extra samples of the label-selector list.

    .venv/bin/python bench/listprobe.py --pods 100000
    .venv/bin/python bench/listprobe.py --pods 100000 --upstream
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import msgspec

from apiserver import BIN, pod, start_sliceplane
from procstats import load
from sliceplane.client.client import Client
from sliceplane.testenv.controlplane import ControlPlane

LISTS = {
    "selector": "labelSelector=shard%3D7",
    "all": "",
    "limit500": "limit=500",
}


async def fill(client: Client, ns: str, pods: int) -> None:
    await client.create("namespaces", {"metadata": {"name": ns}})
    sem = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        async with sem:
            await client.create("pods", pod(f"p-{i:07d}", ns), ns)

    async def patch(i: int) -> None:
        async with sem:
            body = {"metadata": {"labels": {"round": "2"}}}
            await client.patch("pods", f"p-{i:07d}", body, ns, patch_type="merge")

    t0 = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(pods)))
    await asyncio.gather(*(patch(i) for i in range(min(pods, 5000))))
    print(f"filled {pods} pods in {time.perf_counter() - t0:.1f} s", flush=True)


async def raw(client: Client, ns: str, query: str, encoding: str) -> tuple[float, float, bytes]:
    url = f"{client.conn.server}/api/v1/namespaces/{ns}/pods" + (f"?{query}" if query else "")
    headers = {"Accept-Encoding": encoding}
    t0 = time.perf_counter()
    async with client._session.get(
        url,
        headers=headers,
        server_hostname=client.conn.tls_server_name,
        auto_decompress=False,  # the wire's bytes and times
    ) as resp:
        first = None
        parts = []
        async for chunk in resp.content.iter_any():
            if first is None:
                first = time.perf_counter() - t0
            parts.append(chunk)
        last = time.perf_counter() - t0
    return first or last, last, b"".join(parts)


async def probe(kubeconfig: Path, args: argparse.Namespace, pid: int | None) -> None:
    ns = "probe"
    async with await Client.connect(kubeconfig) as client:
        await fill(client, ns, args.pods)
        await asyncio.sleep(2)
        print(f"load: {load()}", flush=True)
        for name in args.lists:
            for encoding in args.encodings:
                rows = []
                body = b""
                for _ in range(args.samples):
                    first, last, body = await raw(client, ns, LISTS[name], encoding)
                    rows.append(f"{first * 1000:.0f}/{last * 1000:.0f}")
                print(
                    f"{name:9} {encoding:8} first/last byte ms: {' '.join(rows)}  "
                    f"({len(body) / 1e6:.1f} MB)",
                    flush=True,
                )
        if args.decode:
            _, _, body = await raw(client, ns, LISTS["selector"], "identity")
            for how in ("gc on", "gc.collect + freeze before each", "gc.collect, then off"):
                times = []
                for _ in range(args.samples):
                    if how != "gc on":
                        gc.collect()
                    if how.endswith("freeze before each"):
                        gc.freeze()
                    if how.endswith("off"):
                        gc.disable()
                    t0 = time.perf_counter()
                    doc = msgspec.json.decode(body)
                    times.append(time.perf_counter() - t0)
                    gc.enable()
                    gc.unfreeze()
                    del doc
                print(
                    f"decode selector body ({len(body) / 1e6:.1f} MB), {how}: "
                    + " ".join(f"{t * 1000:.0f}" for t in times)
                    + " ms",
                    flush=True,
                )
        if args.py_spy and pid is not None:
            spy = subprocess.Popen(
                [
                    str(BIN / "py-spy"),
                    "record",
                    "-p",
                    str(pid),
                    "-r",
                    "250",
                    "-f",
                    "raw",
                    "-o",
                    args.py_spy,
                    "-d",
                    "600",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(1.5)
            t0 = time.perf_counter()
            for _ in range(args.spy_samples):
                await raw(client, ns, LISTS["selector"], "identity")
            print(
                f"py-spy: {args.spy_samples} selector lists in {time.perf_counter() - t0:.2f} s",
                flush=True,
            )
            spy.send_signal(signal.SIGINT)
            spy.wait(30)


async def amain(args: argparse.Namespace) -> None:
    print(f"load before: {load()}", flush=True)
    if args.upstream:
        cp = ControlPlane(unsafe_no_fsync=False)
        cp.start()
        try:
            await probe(cp.kubeconfig, args, None)
        finally:
            cp.stop()
    else:
        tmp = Path(tempfile.mkdtemp(prefix="sliceplane-probe-"))
        proc = start_sliceplane(tmp)
        try:
            await probe(tmp / "kubeconfig", args, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load after: {load()}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pods", type=int, default=100_000)
    p.add_argument("--upstream", action="store_true", help="kube-apiserver + etcd instead")
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--lists", nargs="+", choices=sorted(LISTS), default=["selector"])
    p.add_argument("--encodings", nargs="+", default=["gzip", "identity"])
    p.add_argument("--decode", action="store_true", help="also time msgspec decoding")
    p.add_argument("--py-spy", help="record sliceplane's server into this raw file")
    p.add_argument("--spy-samples", type=int, default=20)
    asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    main()
