"""Dual-stack: a server with an IPv4 and an IPv6 service range, and the controller
publishing one slice set per family."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.endpointslice.controller import EndpointSliceController
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory


@pytest.fixture(scope="module")
def dual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        Path(tmp_path_factory.mktemp("dual")),
        extra_args=["--service-cidr", "10.96.0.0/12,fd00:10:96::/108"],
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(dual: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(dual.kubeconfig)
    yield c
    await c.close()


async def test_family_defaulting(client: Client) -> None:
    single = await client.create(
        "services",
        {
            "metadata": {"name": "single"},
            "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}},
        },
        "default",
    )
    assert single["spec"]["ipFamilyPolicy"] == "SingleStack"
    assert single["spec"]["ipFamilies"] == ["IPv4"]
    both = await client.create(
        "services",
        {
            "metadata": {"name": "both"},
            "spec": {
                "ipFamilyPolicy": "PreferDualStack",
                "ports": [{"port": 80}],
                "selector": {"a": "b"},
            },
        },
        "default",
    )
    assert both["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    v4, v6 = both["spec"]["clusterIPs"]
    assert v4.startswith("10.") and v6.startswith("fd00:10:96::")
    v6only = await client.create(
        "services",
        {
            "metadata": {"name": "v6"},
            "spec": {"ipFamilies": ["IPv6"], "ports": [{"port": 80}], "selector": {"a": "b"}},
        },
        "default",
    )
    assert ":" in v6only["spec"]["clusterIP"]


async def test_single_stack_server_refuses_dual_stack(apiserver: ServerProcess) -> None:
    async with await Client.connect(apiserver.kubeconfig) as c:
        with pytest.raises(errors.Invalid) as exc:
            await c.create(
                "services",
                {
                    "metadata": {"name": "needs-two"},
                    "spec": {"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]},
                },
                "default",
            )
        fields = {cause["field"] for cause in exc.value.causes}
        assert "spec.ipFamilyPolicy" in fields


async def test_controller_publishes_a_slice_per_family(client: Client) -> None:
    ns = "dual"
    await client.create("namespaces", {"metadata": {"name": ns}})
    await client.create("nodes", {"metadata": {"name": "n1"}})
    await client.create(
        "services",
        {
            "metadata": {"name": "web"},
            "spec": {
                "ipFamilyPolicy": "RequireDualStack",
                "selector": {"app": "web"},
                "ports": [{"port": 80}],
            },
        },
        ns,
    )
    for i in range(3):
        await client.create(
            "pods",
            {
                "metadata": {"name": f"web-{i}", "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x:1"}]},
            },
            ns,
        )
        ips = [f"10.244.0.{i + 2}", f"fd00:10:244::{i + 2}"]
        await client.patch(
            "pods",
            f"web-{i}",
            {
                "status": {
                    "phase": "Running",
                    "podIP": ips[0],
                    "podIPs": [{"ip": ip} for ip in ips],
                    "conditions": [{"type": "Ready", "status": "True"}],
                }
            },
            ns,
            subresource="status",
        )
    factory = InformerFactory(client, RealClock())
    controller = EndpointSliceController(client, factory, RealClock())
    factory.start()
    task = asyncio.create_task(controller.run())
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            items = (await client.list("endpointslices", ns)).items
            by_type = {s["addressType"]: s for s in items}
            if set(by_type) == {"IPv4", "IPv6"} and all(
                len(s["endpoints"] or []) == 3 for s in by_type.values()
            ):
                break
            assert asyncio.get_running_loop().time() < deadline, items
            await asyncio.sleep(0.2)
        assert sorted(e["addresses"][0] for e in by_type["IPv6"]["endpoints"]) == [
            "fd00:10:244::2",
            "fd00:10:244::3",
            "fd00:10:244::4",
        ]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await factory.stop()


async def test_headless_without_selector_on_a_single_stack_server(
    apiserver: ServerProcess,
) -> None:
    async with await Client.connect(apiserver.kubeconfig) as c:
        svc = await c.create(
            "services",
            {
                "metadata": {"name": "headless-manual"},
                "spec": {"clusterIP": "None", "ports": [{"port": 5432}]},
            },
            "default",
        )
        assert svc["spec"]["ipFamilyPolicy"] == "RequireDualStack"
        assert svc["spec"]["clusterIPs"] == ["None"]
        await c.delete("services", "headless-manual", "default")
