"""sliceplane's client and kubectl against the real kube-apiserver, and upstream's own
EndpointSlice controller as the oracle sliceplane is measured against.

One etcd + kube-apiserver + kube-controller-manager for the module (built by
``make k8s-bin``); each test works in a namespace of its own. Skipped, saying why, when the
binaries are not in the cache.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Kubectl

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.testenv import BinariesNotFound, ControlPlane, find_binaries

try:
    BINARIES = find_binaries()
    MISSING = ""
except BinariesNotFound as exc:
    MISSING = str(exc)

pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)

# The controllers this module needs: the endpointslice controller is the oracle under test;
# the rest keep namespaces and owner references behaving as in a cluster.
CONTROLLERS = (
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "garbage-collector-controller",
    "namespace-controller",
)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@pytest.fixture(scope="module")
def controlplane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("k8s"),
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=CONTROLLERS,
        unsafe_no_fsync=True,  # correctness tests; durability is not what they measure
    )
    with cp:
        yield cp


@pytest.fixture
async def client(controlplane: ControlPlane) -> AsyncIterator[Client]:
    c = await Client.connect(controlplane.kubeconfig)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def ns(client: Client) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    await client.delete("namespaces", name)


def service(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def endpoint_slice(name: str, service_name: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                SERVICE_NAME_LABEL: service_name,
                "endpointslice.kubernetes.io/managed-by": "sliceplane.test",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


async def test_readyz_and_version(controlplane: ControlPlane, client: Client) -> None:
    assert await client.request("GET", "/readyz") == b"ok"
    version = await client.request_json("GET", "/version")
    # build.sh's ldflags: without them the server would say v0.0.0-master.
    assert version["gitVersion"] == f"v{controlplane.version}"
    assert set(controlplane.pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}


async def test_create_list_watch(client: Client, ns: str) -> None:
    await client.create("services", service("web"), ns)
    await client.create("endpointslices", endpoint_slice("web-a", "web", "10.244.0.10"), ns)
    await client.create("endpointslices", endpoint_slice("other-a", "other", "10.244.0.11"), ns)

    page = await client.list("endpointslices", ns, label_selector=f"{SERVICE_NAME_LABEL}=web")
    assert [s["metadata"]["name"] for s in page.items] == ["web-a"]
    page = await client.list(
        "endpointslices", ns, label_selector=f"{SERVICE_NAME_LABEL} in (web,other)"
    )
    assert sorted(s["metadata"]["name"] for s in page.items) == ["other-a", "web-a"]

    # The watch cache sends a bookmark 2 s before a watch's deadline: 5 s gets one.
    seen: list[tuple[str, str]] = []
    bookmarks: list[str] = []

    async def consume() -> None:
        async for ev in client.watch(
            "endpointslices",
            ns,
            resource_version=page.resource_version,
            timeout_seconds=5,
            allow_bookmarks=True,
            label_selector=f"{SERVICE_NAME_LABEL}=web",
        ):
            if ev.type == "BOOKMARK":
                bookmarks.append(ev.object["metadata"]["resourceVersion"])
            else:
                seen.append((ev.type, ev.object["metadata"]["name"]))

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    await client.create("endpointslices", endpoint_slice("web-b", "web", "10.244.0.12"), ns)
    await client.create("endpointslices", endpoint_slice("other-b", "other", "10.244.0.13"), ns)
    await client.delete("endpointslices", "web-a", ns)
    await asyncio.wait_for(task, 20)
    assert seen == [("ADDED", "web-b"), ("DELETED", "web-a")]
    assert bookmarks, "no BOOKMARK before the watch timed out"
    assert int(bookmarks[-1]) >= int(page.resource_version)


async def test_error_classes(client: Client, ns: str) -> None:
    with pytest.raises(errors.NotFound):
        await client.get("services", "missing", ns)

    created = await client.create("services", service("dup"), ns)
    with pytest.raises(errors.AlreadyExists) as already:
        await client.create("services", service("dup"), ns)
    assert already.value.code == 409

    # A stale resourceVersion is a plain Conflict, not AlreadyExists.
    await client.patch("services", "dup", {"metadata": {"labels": {"a": "b"}}}, ns)
    stale = dict(created)
    stale["metadata"] = dict(created["metadata"], labels={"c": "d"})
    with pytest.raises(errors.Conflict) as conflict:
        await client.update("services", stale)
    assert type(conflict.value) is errors.Conflict
    assert conflict.value.code == 409

    bad = service("bad")
    bad["spec"]["ports"][0]["port"] = 0
    with pytest.raises(errors.Invalid) as invalid:
        await client.create("services", bad, ns)
    assert invalid.value.code == 422
    fields = {c.get("field") for c in invalid.value.causes}
    assert "spec.ports[0].port" in fields, invalid.value.causes


@pytest.mark.kubectl
async def test_kubectl_get_endpointslices(
    controlplane: ControlPlane, client: Client, ns: str, tmp_path: Path
) -> None:
    await client.create("endpointslices", endpoint_slice("kc-a", "kc", "10.244.1.1"), ns)
    kubectl = Kubectl(controlplane.kubeconfig, tmp_path / "kubecache")
    out = json.loads(kubectl("get", "endpointslices", "-n", ns, "-o", "json"))
    assert [s["metadata"]["name"] for s in out["items"]] == ["kc-a"]
    table = kubectl("get", "endpointslices", "-n", ns)
    assert "kc-a" in table and "10.244.1.1" in table


async def test_upstream_endpointslice_controller(client: Client, ns: str) -> None:
    """Service + a Running/Ready Pod (no kubelet: status written through the status
    subresource) -> kube-controller-manager writes the EndpointSlice."""
    node = f"node-{ns}"
    await client.create("nodes", {"metadata": {"name": node}})
    try:
        await client.patch(
            "nodes",
            node,
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            subresource="status",
        )
        await client.create("services", service("web", {"app": "web"}), ns)
        pod = {
            "metadata": {"name": "web-0", "labels": {"app": "web"}},
            "spec": {
                "nodeName": node,
                "containers": [
                    {
                        "name": "web",
                        "image": "registry.invalid/web:1",
                        "ports": [{"name": "http", "containerPort": 8080}],
                    }
                ],
            },
        }
        await client.create("pods", pod, ns)
        await client.patch(
            "pods",
            "web-0",
            {
                "status": {
                    "phase": "Running",
                    "podIP": "10.244.2.7",
                    "podIPs": [{"ip": "10.244.2.7"}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                }
            },
            ns,
            subresource="status",
        )

        deadline = asyncio.get_running_loop().time() + 30
        endpoints: list[dict[str, Any]] = []
        while asyncio.get_running_loop().time() < deadline:
            page = await client.list(
                "endpointslices", ns, label_selector=f"{SERVICE_NAME_LABEL}=web"
            )
            endpoints = [e for s in page.items for e in s.get("endpoints") or []]
            if endpoints and endpoints[0].get("conditions", {}).get("ready"):
                break
            await asyncio.sleep(0.2)
        assert len(page.items) == 1, page.items
        eps = page.items[0]
        assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
            "endpointslice-controller.k8s.io"
        )
        assert eps["addressType"] == "IPv4"
        assert eps["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert [e["addresses"] for e in endpoints] == [["10.244.2.7"]]
        assert endpoints[0]["conditions"]["ready"] is True
        assert endpoints[0]["nodeName"] == node
        assert endpoints[0]["targetRef"]["name"] == "web-0"
    finally:
        await client.delete("nodes", node)
