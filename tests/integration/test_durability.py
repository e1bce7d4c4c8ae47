"""Crash safety of the real server: acknowledged writes survive ``kill -9`` and restarts."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client

Obj = dict[str, Any]
NS = "storm"
SLICES = "endpointslices"


def slice_obj(name: str, n: int) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "s", "n": str(n)}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.9.{n // 250}.{n % 250 + 1}"]}],
    }


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(signal.SIGKILL)


async def connect(server: ServerProcess) -> Client:
    return await Client.connect(server.kubeconfig)


async def snapshot(client: Client) -> tuple[dict[str, str], int]:
    page = await client.list_all(SLICES, NS)
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in page.items}, int(
        page.resource_version
    )


async def test_acknowledged_writes_survive_kill_9(server: ServerProcess) -> None:
    client = await connect(server)
    acked: dict[str, tuple[int, int]] = {}  # name -> (resourceVersion, n) of the last 2xx
    max_rv = 0
    stop = asyncio.Event()
    enough = asyncio.Event()
    total = 0
    failed = 0
    try:
        await client.create("namespaces", {"metadata": {"name": NS}})

        async def worker(w: int) -> None:
            nonlocal max_rv, total, failed
            names = [f"d-{w:02d}-{j}" for j in range(5)]
            n = 0
            try:
                for name in names:
                    obj = await client.create(SLICES, slice_obj(name, n), NS)
                    rv = int(obj["metadata"]["resourceVersion"])
                    acked[name] = (rv, n)
                    max_rv = max(max_rv, rv)
                    total += 1
                while not stop.is_set():
                    n += 1
                    name = names[n % len(names)]
                    obj = await client.patch(
                        SLICES, name, {"metadata": {"labels": {"n": str(n)}}}, NS
                    )
                    rv = int(obj["metadata"]["resourceVersion"])
                    acked[name] = (rv, n)
                    max_rv = max(max_rv, rv)
                    total += 1
                    if total >= 1000:
                        enough.set()
                    if total >= 2000:
                        stop.set()
            except (aiohttp.ClientError, errors.StatusError, OSError, TimeoutError):
                failed += 1  # the server died under us: this write was never acknowledged

        workers = [asyncio.create_task(worker(w)) for w in range(40)]
        await asyncio.wait_for(enough.wait(), 60)
        # Mid-storm: requests are in flight and batches are being committed.
        rc = await asyncio.get_running_loop().run_in_executor(None, server.stop, signal.SIGKILL)
        assert rc == -signal.SIGKILL
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 30)
    finally:
        await client.close()
    assert 1000 <= total < 2000 + 40, total  # killed mid-storm, not after it
    assert failed > 0  # some writes were in flight when the server died
    assert len(acked) == 200

    server.start()
    client = await connect(server)
    try:
        stored, list_rv = await snapshot(client)
        missing = [name for name in acked if name not in stored]
        assert not missing, f"acknowledged creates lost: {missing[:10]}"
        older = {
            name: (rv, stored[name]) for name, (rv, _) in acked.items() if int(stored[name]) < rv
        }
        assert not older, f"acknowledged updates lost: {list(older.items())[:10]}"
        for name, (rv, n) in acked.items():
            obj = await client.get(SLICES, name, NS)
            got_n = int(obj["metadata"]["labels"]["n"])
            if int(obj["metadata"]["resourceVersion"]) == rv:
                assert got_n == n, name
            else:
                assert got_n > n, name
        assert list_rv >= max_rv

        # Revisions keep growing across the restart.
        fresh = await client.create(SLICES, slice_obj("after-crash", 0), NS)
        assert int(fresh["metadata"]["resourceVersion"]) > max(list_rv, max_rv)
        patched = await client.patch(SLICES, "d-00-0", {"metadata": {"labels": {"n": "x"}}}, NS)
        assert int(patched["metadata"]["resourceVersion"]) > int(
            fresh["metadata"]["resourceVersion"]
        )
    finally:
        await client.close()


async def test_clean_restart_keeps_everything_and_exits_0(server: ServerProcess) -> None:
    client = await connect(server)
    try:
        await client.create("namespaces", {"metadata": {"name": NS}})
        await asyncio.gather(
            *(client.create(SLICES, slice_obj(f"c-{i}", i), NS) for i in range(50))
        )
        await client.delete(SLICES, "c-7", NS)
        await client.patch(SLICES, "c-8", {"metadata": {"labels": {"n": "patched"}}}, NS)
        before, before_rv = await snapshot(client)
        svc = await client.create(
            "services",
            {"metadata": {"name": "kept"}, "spec": {"ports": [{"port": 80}]}},
            NS,
        )
    finally:
        await client.close()
    assert len(before) == 49

    assert server.stop(signal.SIGTERM) == 0
    server.start()
    client = await connect(server)
    try:
        after, after_rv = await snapshot(client)
        assert after == before
        assert after_rv >= before_rv
        got = await client.get(SLICES, "c-8", NS)
        assert got["metadata"]["labels"]["n"] == "patched"
        kept = await client.get("services", "kept", NS)
        assert kept["spec"]["clusterIP"] == svc["spec"]["clusterIP"]
        assert kept["metadata"]["uid"] == svc["metadata"]["uid"]
        # The allocator was rebuilt: the same clusterIP cannot be taken twice.
        with pytest.raises(errors.Invalid):
            await client.create(
                "services",
                {
                    "metadata": {"name": "dup"},
                    "spec": {"clusterIP": svc["spec"]["clusterIP"], "ports": [{"port": 80}]},
                },
                NS,
            )
        nxt = await client.create(SLICES, slice_obj("c-new", 99), NS)
        assert int(nxt["metadata"]["resourceVersion"]) > int(svc["metadata"]["resourceVersion"])
        # A watch from a pre-restart resourceVersion still replays what came after it.
        events = []
        async for ev in client.watch(
            SLICES, NS, resource_version=str(before_rv), timeout_seconds=1
        ):
            events.append(ev)
            if ev.type == "ADDED":
                break
        assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "c-new")]
    finally:
        await client.close()
    assert server.stop(signal.SIGTERM) == 0
