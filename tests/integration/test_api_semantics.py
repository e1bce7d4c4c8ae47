"""REST semantics of the real server over HTTP: garbage collection, graceful deletion,
finalizers, server-set fields, request limits, metrics and discovery."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client

Obj = dict[str, Any]
SLICES = "endpointslices"
KUBECTL_DISCOVERY_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


class Raw:
    """Bare aiohttp against the server, for what a typed client would not send."""

    def __init__(self, client: Client) -> None:
        conn = client.conn
        ctx = ssl.create_default_context(cafile=conn.ca_file)
        self.base = conn.server
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {conn.token}"},
            connector=aiohttp.TCPConnector(ssl=ctx),
        )

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, str, bytes]:
        async with self.session.request(
            method, self.base + path, data=data, headers=headers, params=params
        ) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


@pytest.fixture
async def kc(apiserver: ServerProcess) -> AsyncIterator[Client]:
    client = await Client.connect(apiserver.kubeconfig)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def raw(kc: Client) -> AsyncIterator[Raw]:
    r = Raw(kc)
    try:
        yield r
    finally:
        await r.session.close()


async def poll(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def exists(client: Client, resource: str, name: str, ns: str) -> bool:
    try:
        await client.get(resource, name, ns)
    except errors.NotFound:
        return False
    return True


def svc_obj(name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }


def slice_obj(name: str, owner: Obj | None = None, *, block: bool = False) -> Obj:
    meta: Obj = {"name": name, "labels": {"kubernetes.io/service-name": "svc"}}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": block,
            }
        ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
    }


def pod_obj(name: str, node: str | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "registry.example/app:1"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# ---------------------------------------------------------------------- garbage collection


async def test_gc_background_deletes_dependents(kc: Client, namespace: str) -> None:
    svc = await kc.create("services", svc_obj("owner"), namespace)
    await kc.create(SLICES, slice_obj("owned", svc), namespace)
    await kc.create(SLICES, slice_obj("bystander"), namespace)
    await kc.delete("services", "owner", namespace)  # default policy: Background
    assert not await exists(kc, "services", "owner", namespace)

    async def gone() -> bool:
        return not await exists(kc, SLICES, "owned", namespace)

    await poll(gone)
    assert await exists(kc, SLICES, "bystander", namespace)


async def test_gc_orphan_keeps_dependents_without_owner_ref(kc: Client, namespace: str) -> None:
    svc = await kc.create("services", svc_obj("owner"), namespace)
    await kc.create(SLICES, slice_obj("owned", svc), namespace)
    await kc.delete("services", "owner", namespace, propagation_policy="Orphan")

    async def owner_gone() -> bool:
        return not await exists(kc, "services", "owner", namespace)

    await poll(owner_gone)
    dep = await kc.get(SLICES, "owned", namespace)
    assert not dep["metadata"].get("ownerReferences")
    assert not dep["metadata"].get("deletionTimestamp")


async def test_gc_foreground_waits_for_blocking_dependents(kc: Client, namespace: str) -> None:
    svc = await kc.create("services", svc_obj("owner"), namespace)
    dep = slice_obj("owned", svc, block=True)
    dep["metadata"]["finalizers"] = ["example.com/hold"]
    await kc.create(SLICES, dep, namespace)
    await kc.delete("services", "owner", namespace, propagation_policy="Foreground")

    # The dependent is being deleted but its finalizer holds it...
    async def dependent_terminating() -> bool:
        d = await kc.get(SLICES, "owned", namespace)
        return bool(d["metadata"].get("deletionTimestamp"))

    await poll(dependent_terminating)
    owner = await kc.get("services", "owner", namespace)
    assert owner["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in owner["metadata"]["finalizers"]

    # ...so the owner stays until the dependent is really gone.
    await kc.patch(SLICES, "owned", {"metadata": {"finalizers": None}}, namespace)

    async def both_gone() -> bool:
        return not await exists(kc, SLICES, "owned", namespace) and not await exists(
            kc, "services", "owner", namespace
        )

    await poll(both_gone)


# ---------------------------------------------------------------------- deletion


async def test_graceful_pod_deletion(kc: Client, namespace: str) -> None:
    await kc.create("pods", pod_obj("bound", node="node-1"), namespace)
    first = await kc.delete("pods", "bound", namespace)
    assert first["metadata"]["deletionGracePeriodSeconds"] == 30
    assert first["metadata"]["deletionTimestamp"]
    still = await kc.get("pods", "bound", namespace)
    assert still["metadata"]["deletionGracePeriodSeconds"] == 30
    assert still["metadata"]["deletionTimestamp"] == first["metadata"]["deletionTimestamp"]

    # A shorter grace period shortens it; a longer one does not extend it.
    shorter = await kc.delete("pods", "bound", namespace, grace_period_seconds=5)
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 5
    longer = await kc.delete("pods", "bound", namespace, grace_period_seconds=60)
    assert longer["metadata"]["deletionGracePeriodSeconds"] == 5

    await kc.delete("pods", "bound", namespace, grace_period_seconds=0)
    assert not await exists(kc, "pods", "bound", namespace)

    await kc.create("pods", pod_obj("given", node="node-1"), namespace)
    given = await kc.delete("pods", "given", namespace, grace_period_seconds=7)
    assert given["metadata"]["deletionGracePeriodSeconds"] == 7
    # No kubelet confirms here: force it, or the namespace could never finish deleting.
    await kc.delete("pods", "given", namespace, grace_period_seconds=0)
    assert not await exists(kc, "pods", "given", namespace)

    await kc.create("pods", pod_obj("unbound"), namespace)
    await kc.delete("pods", "unbound", namespace)
    assert not await exists(kc, "pods", "unbound", namespace)


async def test_finalizer_holds_object_until_removed(kc: Client, namespace: str) -> None:
    obj = slice_obj("held")
    obj["metadata"]["finalizers"] = ["example.com/keep"]
    await kc.create(SLICES, obj, namespace)
    await kc.delete(SLICES, "held", namespace)
    held = await kc.get(SLICES, "held", namespace)
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["finalizers"] == ["example.com/keep"]

    # Other updates are fine meanwhile; the deletion timestamp is kept.
    relabeled = await kc.patch(SLICES, "held", {"metadata": {"labels": {"x": "y"}}}, namespace)
    assert relabeled["metadata"]["deletionTimestamp"] == held["metadata"]["deletionTimestamp"]

    current = await kc.get(SLICES, "held", namespace)
    current = dict(current, metadata=dict(current["metadata"], finalizers=[]))
    await kc.update(SLICES, current)
    assert not await exists(kc, SLICES, "held", namespace)


# ---------------------------------------------------------------------- server-set fields


async def test_generate_name(kc: Client, namespace: str) -> None:
    names = set()
    for _ in range(5):
        obj = slice_obj("")
        del obj["metadata"]["name"]
        obj["metadata"]["generateName"] = "web-"
        created = await kc.create(SLICES, obj, namespace)
        name = created["metadata"]["name"]
        assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name), name
        assert created["metadata"]["generateName"] == "web-"
        names.add(name)
    assert len(names) == 5


async def test_endpoint_slice_generation(kc: Client, namespace: str) -> None:
    created = await kc.create(SLICES, slice_obj("gen"), namespace)
    assert created["metadata"]["generation"] == 1
    labeled = await kc.patch(SLICES, "gen", {"metadata": {"labels": {"a": "1"}}}, namespace)
    assert labeled["metadata"]["generation"] == 2
    annotated = await kc.patch(
        SLICES, "gen", {"metadata": {"annotations": {"note": "x"}}}, namespace
    )
    assert annotated["metadata"]["generation"] == 2
    assert int(annotated["metadata"]["resourceVersion"]) > int(
        labeled["metadata"]["resourceVersion"]
    )
    moved = await kc.patch(
        SLICES,
        "gen",
        {"endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}}]},
        namespace,
    )
    assert moved["metadata"]["generation"] == 3
    # Clients cannot set the generation themselves.
    forced = dict(moved, metadata=dict(moved["metadata"], generation=42))
    kept = await kc.update(SLICES, forced)
    assert kept["metadata"]["generation"] == 3


async def test_noop_update_keeps_resource_version(kc: Client, namespace: str) -> None:
    created = await kc.create(SLICES, slice_obj("same"), namespace)
    put = await kc.update(SLICES, created)
    assert put["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    patched = await kc.patch(
        SLICES, "same", {"metadata": {"labels": {"kubernetes.io/service-name": "svc"}}}, namespace
    )
    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    # The list resourceVersion does not move either (nothing was written).
    before = (await kc.list(SLICES, namespace)).resource_version
    await kc.update(SLICES, created)
    assert (await kc.list(SLICES, namespace)).resource_version == before


async def test_cluster_ip_allocation(kc: Client, namespace: str) -> None:
    net = ipaddress.ip_network("10.96.0.0/12")
    made = [await kc.create("services", svc_obj(f"s{i}"), namespace) for i in range(6)]
    ips = [m["spec"]["clusterIP"] for m in made]
    assert len(set(ips)) == len(ips)
    for m in made:
        ip = m["spec"]["clusterIP"]
        assert ipaddress.ip_address(ip) in net
        assert m["spec"]["clusterIPs"] == [ip]
        assert ip != "10.96.0.1"  # the kubernetes Service has it

    # Taken: refused with a field error.
    with pytest.raises(errors.Invalid) as taken:
        await kc.create("services", svc_obj("dup", clusterIP=ips[0]), namespace)
    assert [c["field"] for c in taken.value.causes] == ["spec.clusterIPs"]
    assert "already allocated" in taken.value.causes[0]["message"]
    with pytest.raises(errors.Invalid):
        await kc.create("services", svc_obj("outside", clusterIP="192.168.0.10"), namespace)

    # Released on delete: the same address can be asked for again.
    await kc.delete("services", "s0", namespace)
    again = await kc.create("services", svc_obj("again", clusterIP=ips[0]), namespace)
    assert again["spec"]["clusterIP"] == ips[0]

    headless = await kc.create("services", svc_obj("headless", clusterIP="None"), namespace)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["clusterIPs"] == ["None"]


# ---------------------------------------------------------------------- request errors


async def test_bad_requests(raw: Raw, kc: Client, namespace: str) -> None:
    path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    json_ct = {"Content-Type": "application/json"}

    status, _, body = await raw("POST", path, data=b'{"metadata": {', headers=json_ct)
    assert status == 400
    doc = msgspec.json.decode(body)
    assert doc["kind"] == "Status" and doc["reason"] == "BadRequest" and doc["code"] == 400

    big = msgspec.json.encode(slice_obj("big"))[:-1] + b',"x":"' + b"a" * (3 * 1024 * 1024) + b'"}'
    status, _, body = await raw("POST", path, data=big, headers=json_ct)
    assert status == 413
    assert msgspec.json.decode(body)["reason"] == "RequestEntityTooLarge"

    wrong = slice_obj("wrong-ns")
    wrong["metadata"]["namespace"] = "somewhere-else"
    status, _, body = await raw("POST", path, data=msgspec.json.encode(wrong), headers=json_ct)
    assert status == 400
    assert "does not match the namespace" in msgspec.json.decode(body)["message"]

    strict = slice_obj("strict")
    strict["bogusField"] = 1
    with pytest.raises(errors.BadRequest) as exc_info:
        await kc.create(SLICES, strict, namespace, field_validation="Strict")
    assert "bogusField" in exc_info.value.message
    assert not await exists(kc, SLICES, "strict", namespace)
    # Without Strict the unknown field is pruned and the object stored.
    status, _, body = await raw("POST", path, data=msgspec.json.encode(strict), headers=json_ct)
    assert status == 201
    assert "bogusField" not in msgspec.json.decode(body)
    assert not await exists(kc, SLICES, "big", namespace)


async def test_metrics_count_endpointslice_posts(raw: Raw, kc: Client, namespace: str) -> None:
    pattern = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)

    async def posts() -> float:
        status, _, body = await raw("GET", "/metrics")
        assert status == 200
        total = 0.0
        for labels, value in pattern.findall(body.decode()):
            if (
                'verb="POST"' in labels
                and 'resource="endpointslices"' in labels
                and 'code="201"' in labels
            ):
                total += float(value)
        return total

    before = await posts()
    for i in range(3):
        await kc.create(SLICES, slice_obj(f"m-{i}"), namespace)
    assert await posts() == before + 3


# ---------------------------------------------------------------------- discovery


async def test_aggregated_discovery(raw: Raw) -> None:
    for path, core in (("/api", True), ("/apis", False)):
        status, ct, body = await raw("GET", path, headers={"Accept": KUBECTL_DISCOVERY_ACCEPT})
        assert status == 200
        assert ct == AGGREGATED
        doc = msgspec.json.decode(body)
        assert doc["kind"] == "APIGroupDiscoveryList"
        resources = {
            r["resource"]: r
            for item in doc["items"]
            for v in item["versions"]
            for r in v["resources"]
        }
        if core:
            assert resources["services"]["scope"] == "Namespaced"
            assert resources["namespaces"]["scope"] == "Cluster"
        else:
            es = resources["endpointslices"]
            assert es["responseKind"] == {
                "group": "discovery.k8s.io",
                "version": "v1",
                "kind": "EndpointSlice",
            }
            assert "watch" in es["verbs"]


async def test_legacy_discovery(raw: Raw) -> None:
    async def get(path: str) -> Obj:
        status, ct, body = await raw("GET", path, headers={"Accept": "application/json"})
        assert status == 200, (path, body)
        assert ct.startswith("application/json") and "apidiscovery" not in ct
        doc: Obj = msgspec.json.decode(body)
        return doc

    assert (await get("/api"))["kind"] == "APIVersions"
    assert (await get("/api/"))["versions"] == ["v1"]
    groups = await get("/apis")
    assert groups["kind"] == "APIGroupList"
    assert "discovery.k8s.io" in {g["name"] for g in groups["groups"]}
    assert (await get("/apis/"))["kind"] == "APIGroupList"
    core = await get("/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    assert "services" in {r["name"] for r in core["resources"]}
    disc = await get("/apis/discovery.k8s.io/v1")
    assert disc["groupVersion"] == "discovery.k8s.io/v1"
    es = next(r for r in disc["resources"] if r["name"] == "endpointslices")
    assert es["kind"] == "EndpointSlice" and es["namespaced"] is True
    for path in ("/version", "/version/"):
        assert (await get(path))["major"] == "1"

    status, _, _ = await raw("GET", "/apis/nope.example.com/v1")
    assert status == 404
