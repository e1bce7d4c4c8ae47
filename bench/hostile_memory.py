"""The hostile probe's memory scenario (issue 17.1), as figures.

Against a fresh ``sliceplane apiserver`` (plain HTTP on loopback): grow one Endpoints
object with JSON patches that each add 0.9 MB of addresses (the probe grew a Deployment to
23 MB with such patches), then apply twenty one-label patches to the largest object the
server kept, and report the server's RSS, the database size, and the time and peak RSS of
a restart. Figures only.

    .venv/bin/python bench/hostile_memory.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ServerProcess

from procstats import rss_mib
from progress import phase

NS = "default"
PATH = f"/api/v1/namespaces/{NS}/endpoints"
MERGE = {"Content-Type": "application/merge-patch+json"}


def db_mib(data: Path) -> float:
    return sum(p.stat().st_size for p in data.glob("state.sqlite*")) / 2**20


async def scenario(server: ServerProcess, data: Path) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    async with aiohttp.ClientSession(server.url) as http:
        print(f"start: RSS {rss_mib(pid):.0f} MiB")
        async with http.post(PATH, json={"metadata": {"name": "grow"}}) as r:
            assert r.status == 201
        codes = []
        with phase("seven 0.9 MB JSON patches", 7) as tick:
            for i in range(7):
                addresses = [{"ip": f"10.{i}.{j // 256}.{j % 256}"} for j in range(40_000)]
                ops = [
                    {
                        "op": "add",
                        "path": "/subsets/-" if i else "/subsets",
                        "value": [{"addresses": addresses, "ports": [{"port": 80}]}]
                        if not i
                        else {"addresses": addresses, "ports": [{"port": 80}]},
                    }
                ]
                body = json.dumps(ops)
                async with http.patch(
                    f"{PATH}/grow",
                    data=body,
                    headers={"Content-Type": "application/json-patch+json"},
                ) as r:
                    codes.append(r.status)
                tick()
        print(f"seven {len(body) / 1e6:.1f} MB JSON patches: answers {codes}")
        size = 0
        async with http.get(f"{PATH}/grow") as r:
            size = len(await r.read())
        print(f"largest object kept: {size / 1e6:.2f} MB")
        with phase("twenty one-label patches", 20) as tick:
            for i in range(20):
                patch = {"metadata": {"labels": {"n": str(i)}}}
                async with http.patch(f"{PATH}/grow", data=json.dumps(patch), headers=MERGE) as r:
                    assert r.status == 200, await r.text()
                tick()
        print(
            f"after twenty one-label patches: RSS {rss_mib(pid):.0f} MiB, "
            f"database {db_mib(data):.0f} MiB"
        )


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sp-hostile-mem-"))
    data = tmp / "data"
    server = ServerProcess(data, ["--insecure-http"])
    try:
        with phase("starting the API server"):
            server.start()
        await scenario(server, data)
        with phase("restarting the API server"):
            server.stop()
            started = time.monotonic()
            server.start()
            took = time.monotonic() - started
        assert server.proc is not None
        print(
            f"restart: ready in {took:.1f} s, RSS {rss_mib(server.proc.pid):.0f} MiB "
            f"(peak {rss_mib(server.proc.pid, 'VmHWM:'):.0f} MiB)"
        )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
