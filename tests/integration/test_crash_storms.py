"""``kill -9`` during write storms of every kind, repeated, with acknowledged-write
accounting (issue 16, part 4): creates, patches, deletes that wait on finalizers, finalizer
removals, and deletes of owners whose dependents the garbage collector removes.

Each round runs the storm against the real server, kills it mid-storm with SIGKILL,
restarts it on the same data directory and checks every acknowledged write: created
objects exist (unless an acknowledged delete removed them), patched ones carry their last
acknowledged label or a later one, terminating ones still have their deletion timestamp,
removed ones stay removed, and the dependents of every deleted owner are eventually gone
(the collector picks up after the restart). Revisions never go below the highest one
acknowledged. The figures are printed (run with ``-s``) and kept in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client

NS = "storm"
ROUNDS = 3
FAILURES = (aiohttp.ClientError, errors.StatusError, OSError, TimeoutError)


@dataclass
class Ledger:
    """What the server acknowledged, object by object."""

    label: dict[str, int] = field(default_factory=dict)
    """pod name -> last acknowledged value of its ``n`` label."""
    terminating: set[str] = field(default_factory=set)
    """pods whose delete was acknowledged while a finalizer held them."""
    gone: set[str] = field(default_factory=set)
    """pods acknowledged as removed (finalizer dropped after the delete)."""
    removing: set[str] = field(default_factory=set)
    """pods whose finalizer removal was sent: if the kill cut off its answer, the write may
    still have committed, so the pod may be gone without an acknowledgement."""
    owners_deleted: dict[str, list[str]] = field(default_factory=dict)
    """service name -> its slices, for services whose delete was acknowledged."""
    owners_deleting: set[str] = field(default_factory=set)
    """services whose delete was sent (possibly committed without an answer, so the
    collector may rightly have removed their slices)."""
    slices: dict[str, str] = field(default_factory=dict)
    """slice name -> owning service, for acknowledged slice creates."""
    max_rv: int = 0
    acked: int = 0
    failed: int = 0

    def rv(self, obj: dict[str, Any]) -> None:
        self.max_rv = max(self.max_rv, int(obj["metadata"]["resourceVersion"]))
        self.acked += 1


def pod(name: str, n: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"n": str(n)}, "finalizers": ["storm.test/hold"]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


def slice_for(name: str, svc: dict[str, Any], i: int) -> dict[str, Any]:
    meta = svc["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/service-name": meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.7.{i // 250}.{i % 250 + 1}"]}],
        "ports": [{"port": 80, "protocol": "TCP"}],
    }


async def pod_worker(client: Client, ledger: Ledger, w: int, r: int, stop: asyncio.Event) -> None:
    """create → patch x3 → delete (held by a finalizer) → drop the finalizer, in a loop."""
    k = 0
    try:
        while not stop.is_set():
            name = f"p-{r}-{w}-{k}"
            k += 1
            ledger.rv(await client.create("pods", pod(name, 0), NS))
            ledger.label[name] = 0
            for n in range(1, 4):
                obj = await client.patch("pods", name, {"metadata": {"labels": {"n": str(n)}}}, NS)
                ledger.rv(obj)
                ledger.label[name] = n
            obj = await client.delete("pods", name, NS)
            ledger.rv(obj)
            ledger.terminating.add(name)
            ledger.removing.add(name)
            obj = await client.patch("pods", name, {"metadata": {"finalizers": None}}, NS)
            ledger.acked += 1
            ledger.gone.add(name)
    except FAILURES:
        ledger.failed += 1


async def owner_worker(client: Client, ledger: Ledger, w: int, r: int, stop: asyncio.Event) -> None:
    """A Service with three owned slices, then the Service deleted (the GC cascade)."""
    k = 0
    try:
        while not stop.is_set():
            sname = f"s-{r}-{w}-{k}"
            k += 1
            svc = await client.create(
                "services", {"metadata": {"name": sname}, "spec": {"ports": [{"port": 80}]}}, NS
            )
            ledger.rv(svc)
            names = []
            for i in range(3):
                sl = f"{sname}-{i}"
                ledger.rv(await client.create("endpointslices", slice_for(sl, svc, i), NS))
                ledger.slices[sl] = sname
                names.append(sl)
            ledger.owners_deleting.add(sname)
            obj = await client.delete("services", sname, NS)
            ledger.rv(obj)
            ledger.owners_deleted[sname] = names
    except FAILURES:
        ledger.failed += 1


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(signal.SIGKILL)


async def eventually_gone(client: Client, names: list[str], timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = names
    while True:
        existing = {
            o["metadata"]["name"] for o in (await client.list_all("endpointslices", NS)).items
        }
        left = [n for n in names if n in existing]
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)


async def test_kill_9_during_every_kind_of_write_storm(server: ServerProcess) -> None:
    client = await Client.connect(server.kubeconfig)
    await client.create("namespaces", {"metadata": {"name": NS}})
    await client.close()
    ledger = Ledger()
    figures = []
    for r in range(ROUNDS):
        client = await Client.connect(server.kubeconfig)
        stop = asyncio.Event()
        before = ledger.acked
        try:
            tasks = [asyncio.create_task(pod_worker(client, ledger, w, r, stop)) for w in range(16)]
            tasks += [
                asyncio.create_task(owner_worker(client, ledger, w, r, stop)) for w in range(8)
            ]
            while ledger.acked - before < 600:
                await asyncio.sleep(0.05)
            rc = await asyncio.get_running_loop().run_in_executor(None, server.stop, signal.SIGKILL)
            assert rc == -signal.SIGKILL
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
        finally:
            await client.close()
        started = time.monotonic()
        server.start()
        ready = time.monotonic() - started
        client = await Client.connect(server.kubeconfig)
        try:
            lost = await audit(client, ledger)
        finally:
            await client.close()
        figures.append((r + 1, ledger.acked - before, ledger.acked, lost, ready))
        assert not lost, lost[:10]
    assert ledger.failed > 0  # writes were in flight at every kill
    for rnd, this_round, total, lost, ready in figures:
        print(
            f"round {rnd}: {this_round} writes acknowledged ({total} in all), "
            f"{len(lost)} lost, ready again in {ready:.1f}s"
        )


async def audit(client: Client, ledger: Ledger) -> list[str]:
    lost: list[str] = []
    page = await client.list_all("pods", NS)
    if int(page.resource_version) < ledger.max_rv:
        lost.append(f"revision rewound: {page.resource_version} < {ledger.max_rv}")
    pods = {o["metadata"]["name"]: o for o in page.items}
    for name, n in ledger.label.items():
        if name in ledger.gone:
            if name in pods:
                lost.append(f"{name}: removal lost")
            continue
        obj = pods.get(name)
        if obj is None and name in ledger.removing:
            continue  # the finalizer removal was in flight at the kill and committed
        if obj is None:
            lost.append(f"{name}: acknowledged create lost")
            continue
        if int(obj["metadata"]["labels"]["n"]) < n:
            lost.append(f"{name}: acknowledged patch lost")
        if name in ledger.terminating and not obj["metadata"].get("deletionTimestamp"):
            lost.append(f"{name}: acknowledged delete lost")
    slices = {o["metadata"]["name"] for o in (await client.list_all("endpointslices", NS)).items}
    services = {o["metadata"]["name"] for o in (await client.list_all("services", NS)).items}
    deleted = set(ledger.owners_deleted)
    for sname in deleted & services:
        lost.append(f"service {sname}: acknowledged delete lost")
    for sl, owner in ledger.slices.items():
        if owner not in ledger.owners_deleting and sl not in slices:  # holds every deleted owner
            lost.append(f"slice {sl}: acknowledged create lost")
    dependents = [sl for names in ledger.owners_deleted.values() for sl in names]
    for sl in await eventually_gone(client, dependents):
        lost.append(f"slice {sl}: its owner was deleted but the collector never removed it")
    return lost
