"""A full disk under the real server: writes answer 5xx, nothing acknowledged is lost, the
state is not damaged, and writes work again once there is space (issue 16, part 4).

The data directory is a small tmpfs this test mounts (we run as root) and unmounts in
``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from harness import BIN, ServerProcess

NS = "full"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def endpoints(name: str) -> bytes:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "annotations": {"pad": "x" * 200_000}},
        }
    ).encode()


async def test_disk_full_refuses_writes_and_recovers(small_disk: Path) -> None:
    data = small_disk / "data"
    server = ServerProcess(data, ["--insecure-http"])
    server.start()
    acked: dict[str, str] = {}
    refused = 0
    codes: dict[int, int] = {}
    try:
        async with aiohttp.ClientSession(server.url) as http:
            async with http.post("/api/v1/namespaces", json={"metadata": {"name": NS}}) as r:
                assert r.status == 201
            path = f"/api/v1/namespaces/{NS}/endpoints"
            for i in range(80):
                async with http.post(
                    path, data=endpoints(f"e{i}"), headers={"Content-Type": "application/json"}
                ) as r:
                    codes[r.status] = codes.get(r.status, 0) + 1
                    body = await r.json(content_type=None)
                    if r.status == 201:
                        acked[f"e{i}"] = body["metadata"]["resourceVersion"]
                    else:
                        assert r.status >= 500, body
                        assert body["kind"] == "Status"
                        assert "Traceback" not in body["message"]
                        refused += 1
            assert refused > 0, codes  # the disk did fill
            assert acked, codes
            # Reads still work and show exactly the acknowledged writes.
            async with http.get(path) as r:
                listed = {
                    o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                    for o in (await r.json())["items"]
                }
            assert listed == acked
            # Space comes back: writes work again without a restart.
            subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
            async with http.post(
                path, data=endpoints("after"), headers={"Content-Type": "application/json"}
            ) as r:
                assert r.status == 201, await r.text()
                acked["after"] = (await r.json())["metadata"]["resourceVersion"]
        assert server.stop(signal.SIGTERM) == 0
        check = subprocess.run(
            [str(BIN / "sliceplane"), "apiserver", "--data-dir", str(data), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0 and ": ok (" in check.stdout, check
        server.start()
        async with (
            aiohttp.ClientSession(server.url) as http,
            http.get(f"/api/v1/namespaces/{NS}/endpoints") as r,
        ):
            listed = {
                o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                for o in (await r.json())["items"]
            }
        assert listed == acked
        print(f"disk full: {len(acked)} acknowledged, {refused} refused {codes}, all found")
    finally:
        server.stop(signal.SIGKILL)
