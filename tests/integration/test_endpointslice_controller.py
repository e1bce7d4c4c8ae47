"""The EndpointSlice controller over real HTTP, against the embedded API server and, when
the binaries are built, the real kube-apiserver (its own endpoint controllers off, the
garbage collector on): the same scenarios must pass unchanged on both.

Pods get their IPs and readiness through the status subresource, as a kubelet would.
Each test waits for convergence by polling the API (never by sleeping a fixed time).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.client.throttle import Throttle
from sliceplane.endpointslice.controller import (
    WRITE_PERIOD_FULL_AT,
    ControllerOptions,
    EndpointSliceController,
)
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.testenv import BinariesNotFound, ControlPlane, find_binaries

Obj = dict[str, Any]
MANAGED = "endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"


@pytest.fixture(scope="module", params=["sliceplane", "kube-apiserver"])
def kubeconfig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    if request.param == "sliceplane":
        server: ServerProcess = request.getfixturevalue("apiserver")
        yield server.kubeconfig
        return
    try:
        binaries = find_binaries()
    except BinariesNotFound as exc:
        pytest.skip(str(exc))
    cp = ControlPlane(
        tmp_path_factory.mktemp("k8s"),
        binaries=binaries,
        with_controller_manager=True,
        controllers=("garbage-collector-controller", "namespace-controller"),
        unsafe_no_fsync=True,
    )
    with cp:
        yield cp.kubeconfig


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[Client]:
    c = await Client.connect(kubeconfig)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: Client) -> AsyncIterator[str]:
    name = f"es-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    # Pods on a node that does not exist are left out of slices (§2.5): have the node.
    with contextlib.suppress(errors.AlreadyExists):
        node = {
            "metadata": {"name": "es-node-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}
        }
        await client.create("nodes", node)
    yield name
    with contextlib.suppress(Exception):
        await client.delete("namespaces", name)


class Running:
    """A controller running in this event loop on its own informers."""

    def __init__(self, client: Client, options: ControllerOptions | None = None) -> None:
        self.factory = InformerFactory(client, RealClock())
        self.controller = EndpointSliceController(client, self.factory, RealClock(), options)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EndpointSliceController:
        self.factory.start()
        self.task = asyncio.create_task(self.controller.run())
        return self.controller

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.factory.stop()


def service(name: str, ns: str, selector: dict[str, str], **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": {"team": "payments"}},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            **spec,
        },
    }


def pod(name: str, ns: str, labels: dict[str, str], node: str = "es-node-1") -> Obj:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "ports": [{"name": "http", "containerPort": 8080}],
                }
            ],
        },
    }


async def make_ready(client: Client, ns: str, name: str, ip: str, ready: bool = True) -> None:
    await client.patch(
        "pods",
        name,
        {
            "status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        },
        ns,
        patch_type="merge",
        subresource="status",
    )


async def create_pods(
    client: Client, ns: str, labels: dict[str, str], names: list[str], base: int = 0
) -> None:
    sem = asyncio.Semaphore(32)

    async def one(i: int, name: str) -> None:
        async with sem:
            await client.create("pods", pod(name, ns, labels), ns)
            n = base + i
            await make_ready(client, ns, name, f"10.{1 + n // 65536}.{n // 256 % 256}.{n % 256}")

    await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))


async def slices_of(client: Client, ns: str, svc: str) -> list[Obj]:
    page = await client.list_all(
        "endpointslices", ns, label_selector=f"kubernetes.io/service-name={svc},{MANAGED}"
    )
    return page.items


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.1)


def endpoint_names(slices: list[Obj]) -> list[str]:
    return sorted(ep["targetRef"]["name"] for s in slices for ep in s["endpoints"] or [])


async def test_service_with_ready_pods_gets_one_slice(client: Client, ns: str) -> None:
    svc = await client.create("services", service("web", ns, {"app": "web"}), ns)
    await create_pods(client, ns, {"app": "web"}, ["web-0", "web-1", "web-2"])
    await client.create("pods", pod("other", ns, {"app": "other"}), ns)
    async with Running(client):

        async def converged() -> bool:
            s = await slices_of(client, ns, "web")
            return len(s) == 1 and len(s[0]["endpoints"] or []) == 3

        await eventually(converged)
    (es,) = await slices_of(client, ns, "web")
    assert es["metadata"]["generateName"] == "web-"
    assert es["metadata"]["name"].startswith("web-")
    assert es["addressType"] == "IPv4"
    assert es["metadata"]["labels"] == {
        "team": "payments",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    assert es["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": svc["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert endpoint_names([es]) == ["web-0", "web-1", "web-2"]
    for ep in es["endpoints"]:
        assert ep["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert ep["nodeName"] == "es-node-1"
        assert ep["zone"] == "zone-a"
        assert ep["targetRef"]["kind"] == "Pod" and ep["targetRef"]["namespace"] == ns
    assert "endpoints.kubernetes.io/last-change-trigger-time" in es["metadata"]["annotations"]


async def test_placeholder_then_readiness_changes_and_deletion(client: Client, ns: str) -> None:
    await client.create("services", service("api", ns, {"app": "api"}), ns)
    async with Running(client):

        async def placeholder() -> bool:
            s = await slices_of(client, ns, "api")
            return len(s) == 1 and s[0]["endpoints"] is None and s[0]["ports"] is None

        await eventually(placeholder)
        await create_pods(client, ns, {"app": "api"}, ["api-0", "api-1"])

        async def two() -> bool:
            s = await slices_of(client, ns, "api")
            return len(s) == 1 and len(s[0]["endpoints"] or []) == 2

        await eventually(two)
        await make_ready(client, ns, "api-1", "10.1.0.1", ready=False)

        async def not_ready() -> bool:
            s = await slices_of(client, ns, "api")
            conds = {e["targetRef"]["name"]: e["conditions"] for e in s[0]["endpoints"]}
            return conds.get("api-1") == {"ready": False, "serving": False, "terminating": False}

        await eventually(not_ready)
        await client.delete("pods", "api-0", ns)  # bound: terminating, not gone

        async def terminating() -> bool:
            s = await slices_of(client, ns, "api")
            conds = {e["targetRef"]["name"]: e["conditions"] for e in s[0]["endpoints"]}
            return conds.get("api-0") == {"ready": False, "serving": True, "terminating": True}

        await eventually(terminating)
        await client.delete("pods", "api-0", ns, grace_period_seconds=0)

        async def gone() -> bool:
            return endpoint_names(await slices_of(client, ns, "api")) == ["api-1"]

        await eventually(gone)


async def test_rolling_replacement_of_500_pods(client: Client, ns: str) -> None:
    await client.create("services", service("big", ns, {"app": "big"}), ns)
    old = [f"old-{i}" for i in range(500)]
    await create_pods(client, ns, {"app": "big"}, old)
    async with Running(client, ControllerOptions(batch_period=0.5)):

        async def all_old() -> bool:
            return endpoint_names(await slices_of(client, ns, "big")) == sorted(old)

        await eventually(all_old, 120)
        first = await slices_of(client, ns, "big")
        assert sorted(len(s["endpoints"]) for s in first) == [100, 100, 100, 100, 100]
        new = [f"new-{i}" for i in range(500)]
        sem = asyncio.Semaphore(32)

        async def drop(name: str) -> None:
            async with sem:
                await client.delete("pods", name, ns, grace_period_seconds=0)

        for start in range(0, 500, 100):  # replace in waves, like a rolling update
            await create_pods(client, ns, {"app": "big"}, new[start : start + 100], base=1000)
            await asyncio.gather(*(drop(n) for n in old[start : start + 100]))

        async def all_new() -> bool:
            return endpoint_names(await slices_of(client, ns, "big")) == sorted(new)

        await eventually(all_new, 180)
    final = await slices_of(client, ns, "big")
    names = endpoint_names(final)
    assert len(names) == len(set(names)) == 500  # no duplicates
    assert all(len(s["endpoints"]) <= 100 for s in final)


async def test_selector_change_namespace_isolation_and_gc(client: Client, ns: str) -> None:
    other = f"{ns}-b"
    await client.create("namespaces", {"metadata": {"name": other}})
    await client.create("services", service("svc", ns, {"app": "blue"}), ns)
    await create_pods(client, ns, {"app": "blue"}, ["blue-0", "blue-1"])
    await create_pods(client, ns, {"app": "green"}, ["green-0"], base=10)
    await create_pods(client, other, {"app": "blue"}, ["elsewhere"], base=20)
    async with Running(client):

        async def blue() -> bool:
            return endpoint_names(await slices_of(client, ns, "svc")) == ["blue-0", "blue-1"]

        await eventually(blue)
        await client.patch("services", "svc", {"spec": {"selector": {"app": "green"}}}, ns)

        async def green() -> bool:
            return endpoint_names(await slices_of(client, ns, "svc")) == ["green-0"]

        await eventually(green)
        await client.delete("services", "svc", ns)

        async def collected() -> bool:
            return await slices_of(client, ns, "svc") == []

        await eventually(collected)
    await client.delete("namespaces", other)


async def test_restart_mid_sync_converges_without_duplicates(client: Client, ns: str) -> None:
    await client.create("services", service("r", ns, {"app": "r"}), ns)
    names = [f"r-{i}" for i in range(250)]
    await create_pods(client, ns, {"app": "r"}, names)
    runner = Running(client)
    await runner.__aenter__()
    # Stop it as soon as it has written something, whatever state it is in.
    await eventually(lambda: _any_slice(client, ns, "r"), 60)
    await runner.__aexit__(None, None, None)
    async with Running(client):

        async def converged() -> bool:
            s = await slices_of(client, ns, "r")
            return endpoint_names(s) == sorted(names) and len(s) == 3

        await eventually(converged, 120)
    final = await slices_of(client, ns, "r")
    assert sorted(len(s["endpoints"]) for s in final) == [50, 100, 100]


async def _any_slice(client: Client, ns: str, svc: str) -> bool:
    return bool(await slices_of(client, ns, svc))


async def test_stale_cache_is_retried_through_the_back_off(client: Client, ns: str) -> None:
    """A sync refused because the slice cache lags behind this controller's own writes is a
    failed sync, as upstream's stale-informer-cache error is: it is counted as ``stale``,
    charged to the key's exponential back-off, and the slice event that brings the cache up
    to date (here a label someone adds, which bumps the slice's generation to the one the
    tracker was told to expect) does not itself sync the Service: the back-off's retry
    does, and then the failure history is forgotten."""
    await client.create("services", service("lag", ns, {"app": "lag"}), ns)
    await create_pods(client, ns, {"app": "lag"}, ["lag-0"])
    async with Running(client) as ctl:

        async def has(n: int) -> bool:
            s = await slices_of(client, ns, "lag")
            return len(s) == 1 and len(s[0]["endpoints"] or []) == n

        await eventually(lambda: has(1))
        (es,) = await slices_of(client, ns, "lag")
        # Pretend the controller wrote the next generation and its watch has not seen it.
        ahead = {
            **es,
            "metadata": {**es["metadata"], "generation": es["metadata"]["generation"] + 1},
        }
        ctl.tracker.update(ahead)
        key = f"{ns}/lag"

        def stale_syncs() -> float:
            return (
                ctl.metrics.registry.get_sample_value(
                    "endpoint_slice_controller_syncs_total", {"result": "stale"}
                )
                or 0.0
            )

        stale_before = stale_syncs()
        await create_pods(client, ns, {"app": "lag"}, ["lag-1"], base=1)

        async def refused() -> bool:
            return ctl.queue.num_requeues(key) >= 1

        await eventually(refused)
        assert stale_syncs() > stale_before
        assert not await has(2)
        await client.patch(
            "endpointslices",
            es["metadata"]["name"],
            {"metadata": {"labels": {"touched": "yes"}}},
            ns,
            patch_type="merge",
        )
        (patched,) = await slices_of(client, ns, "lag")
        assert not ctl.tracker.should_sync(patched)  # the echo alone queues nothing
        await eventually(lambda: has(2))

        async def forgotten() -> bool:
            return ctl.queue.num_requeues(key) == 0

        await eventually(forgotten)


async def test_pod_changes_after_a_write_wait_for_the_write_period(client: Client, ns: str) -> None:
    """After a sync that wrote, pod-driven syncs of the Service wait until its write period
    has passed (made an hour here: the period is scaled by endpoints over
    ``WRITE_PERIOD_FULL_AT``), so changes coming meanwhile share one later write; a Service
    event is not held back."""
    await client.create("services", service("held", ns, {"app": "held"}), ns)
    await create_pods(client, ns, {"app": "held"}, ["held-0"])
    options = ControllerOptions(write_period=3600.0 * WRITE_PERIOD_FULL_AT)
    async with Running(client, options) as ctl:
        key = f"{ns}/held"

        async def has(n: int) -> bool:
            s = await slices_of(client, ns, "held")
            return len(s) == 1 and len(s[0]["endpoints"] or []) == n

        await eventually(lambda: has(1))
        assert ctl._hold_until[key] - ctl.clock.now() > 3000
        await create_pods(client, ns, {"app": "held"}, ["held-1"], base=1)

        async def seen_ready() -> bool:
            p = ctl.pods.store.get(f"{ns}/held-1")
            return p is not None and bool((p.get("status") or {}).get("podIP"))

        await eventually(seen_ready)
        assert not ctl.queue.is_waiting(key) and not ctl.queue.is_processing(key)
        assert await has(1)
        await client.patch(
            "services",
            "held",
            {"metadata": {"labels": {"touched": "yes"}}},
            ns,
            patch_type="merge",
        )
        await eventually(lambda: has(2))


async def test_writes_held_by_the_client_limit_carry_what_changed_meanwhile(
    client: Client, ns: str
) -> None:
    """A sync whose writes must wait for the client limit (``--kube-api-qps``) plans again
    once they may go: the pods made ready while it waited are in that same write, not in
    another one after it (the slice's generation counts the writes)."""
    await client.create("services", service("lim", ns, {"app": "lim"}), ns)
    throttle = Throttle(1.0, 1)
    async with Running(client.throttled(throttle)) as ctl:
        key = f"{ns}/lim"

        async def endpoints(n: int) -> bool:
            s = await slices_of(client, ns, "lim")
            return len(s) == 1 and len(s[0]["endpoints"] or []) == n

        await eventually(lambda: endpoints(0))
        for _ in range(3):
            throttle.reserve()  # the next request waits about three seconds
        await create_pods(client, ns, {"app": "lim"}, ["lim-0"])

        async def waiting_to_write() -> bool:
            p = ctl.pods.store.get(f"{ns}/lim-0")
            ready = p is not None and bool((p.get("status") or {}).get("podIP"))
            return ready and ctl.queue.is_processing(key)

        await eventually(waiting_to_write, timeout=2.0)
        await create_pods(client, ns, {"app": "lim"}, ["lim-1", "lim-2"], base=1)
        await eventually(lambda: endpoints(3))
        (es,) = await slices_of(client, ns, "lim")
        assert es["metadata"]["generation"] == 2  # the placeholder, then one update
        assert endpoint_names([es]) == ["lim-0", "lim-1", "lim-2"]
