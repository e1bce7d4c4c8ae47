"""sliceplane's client and informer against the real kube-apiserver: patch types, a 410 for
an expired resourceVersion, and an informer that converges (issue 4, check 1)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.informer import Informer
from sliceplane.testenv import BinariesNotFound, ControlPlane, find_binaries

try:
    BINARIES = find_binaries()
    MISSING = ""
except BinariesNotFound as exc:
    MISSING = str(exc)

pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)


@pytest.fixture(scope="module")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    # Compact etcd every few seconds, and watch straight from etcd (no watch cache holding
    # history), so that old resourceVersions really expire.
    with ControlPlane(
        tmp_path_factory.mktemp("k8s"),
        binaries=BINARIES,
        unsafe_no_fsync=True,
        apiserver_args=("--etcd-compaction-interval=3s", "--watch-cache=false"),
    ) as cp:
        yield cp


@pytest.fixture
async def client(controlplane: ControlPlane) -> AsyncIterator[Client]:
    c = await Client.connect(controlplane.kubeconfig)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: Client) -> AsyncIterator[str]:
    name = f"c-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    with contextlib.suppress(errors.StatusError):
        await client.delete("namespaces", name)


async def test_patch_types(client: Client, ns: str) -> None:
    svc: dict[str, Any] = {
        "metadata": {"name": "p", "labels": {"a": "1"}},
        "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"app": "p"}},
    }
    await client.create("services", svc, ns)
    merged = await client.patch(
        "services", "p", {"metadata": {"labels": {"a": None, "b": "2"}}}, ns, patch_type="merge"
    )
    assert merged["metadata"]["labels"] == {"b": "2"}
    strategic = await client.patch(
        "services",
        "p",
        {"spec": {"ports": [{"name": "https", "port": 443}]}},
        ns,
        patch_type="strategic",
    )
    assert sorted(p["port"] for p in strategic["spec"]["ports"]) == [80, 443]  # merged by port
    jsonp = await client.patch(
        "services",
        "p",
        [{"op": "replace", "path": "/spec/selector/app", "value": "q"}],
        ns,
        patch_type="json",
    )
    assert jsonp["spec"]["selector"] == {"app": "q"}
    with pytest.raises(errors.Invalid):
        await client.patch(
            "services",
            "p",
            [{"op": "test", "path": "/spec/selector/app", "value": "nope"}],
            ns,
            patch_type="json",
        )


async def test_watch_from_an_expired_resource_version_is_410(client: Client, ns: str) -> None:
    old = (await client.list("endpointslices", ns)).resource_version
    for i in range(5):  # move the revision on, then let two compactions pass
        await client.create(
            "services", {"metadata": {"name": f"w{i}"}, "spec": {"ports": [{"port": 80}]}}, ns
        )
    await asyncio.sleep(8)
    got: list[Any] = []
    try:
        async for ev in client.watch(
            "endpointslices", ns, resource_version=old, timeout_seconds=10
        ):
            got.append(ev)
            break
    except errors.Gone as exc:  # Expired is a Gone
        got.append(exc)
    assert got, "the server answered nothing"
    first = got[0]
    if isinstance(first, errors.Gone):
        assert first.code == 410
    else:
        assert first.type == "ERROR" and first.object["code"] == 410


async def test_informer_converges(client: Client, ns: str) -> None:
    lw = client.list_watcher("endpointslices", ns)
    informer = Informer(lw, RealClock(), name="es")
    seen: dict[str, list[str]] = {"add": [], "update": [], "delete": []}
    informer.add_handler(
        lambda o: seen["add"].append(o["metadata"]["name"]),
        lambda _o, n: seen["update"].append(n["metadata"]["name"]),
        lambda o: seen["delete"].append(o["metadata"]["name"]),
    )
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_for_sync(), 30)
        es = {
            "metadata": {"name": "s1", "labels": {"kubernetes.io/service-name": "x"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [],
        }
        created = await client.create("endpointslices", es, ns)
        created["endpoints"].append({"addresses": ["10.0.0.2"]})
        await client.update("endpointslices", created)
        await client.delete("endpointslices", "s1", ns)
        deadline = asyncio.get_running_loop().time() + 30
        while seen["delete"] != ["s1"]:
            assert asyncio.get_running_loop().time() < deadline, seen
            await asyncio.sleep(0.05)
        assert seen["add"] == ["s1"] and "s1" in seen["update"]
        assert informer.store.get(f"{ns}/s1") is None
    finally:
        informer.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
