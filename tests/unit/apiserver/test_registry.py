"""The registry called directly, without HTTP, over a real SQLite store in tmp_path.

What these pin down: a Service's addresses are claimed and given back as one transaction
(a failed, dry-run or conflicting write leaves nothing claimed, a stored one keeps what it
holds and releases what it dropped), and the per-kind hooks (pod grace and binding,
namespace termination, create-on-update, scale) behave as they do over HTTP.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.api.fieldselectors import parse_field_selector
from sliceplane.api.labelparser import parse_label_selector
from sliceplane.api.resources import BY_PLURAL
from sliceplane.apiserver.registry import DeleteOptions, Registry, WriteOptions
from sliceplane.storage.store import Store

Obj = dict[str, Any]
SVC = BY_PLURAL["services"]
PODS = BY_PLURAL["pods"]
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    store = Store(tmp_path / "state.sqlite")
    await store.start()
    reg = Registry(store, "10.96.0.0/24,fd00:10:96::/112", now=lambda: NOW)
    reg.rebuild_allocators()
    await reg.bootstrap()
    try:
        yield reg
    finally:
        await store.stop()


def service(name: str, **spec: Any) -> Obj:
    body: Obj = {"ports": [{"port": 80, "protocol": "TCP"}], "selector": {"app": name}}
    body.update(spec)
    return {"metadata": {"name": name}, "spec": body}


def pod(name: str, node: str | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "registry.example/app:1"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


def deployment(name: str, replicas: int) -> Obj:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}]},
            },
        },
    }


async def create(reg: Registry, plural: str, obj: Obj, *, dry_run: bool = False) -> Obj:
    res = await reg.create(
        BY_PLURAL[plural], "default", copy.deepcopy(obj), WriteOptions(dry_run=dry_run)
    )
    return res.obj


# Explicit addresses in these tests come from the low, static part of the range
# (10.96.0.2-16), which dynamic allocation leaves alone (``ipalloc``), so a randomly
# allocated address can never collide with them.


def ip_taken(reg: Registry, ip: str) -> bool:
    return any(a.contains(ip) and a.is_allocated(ip) for a in reg.services.allocators.values())


# ---------------------------------------------------------------------- Service allocation


async def test_created_service_holds_its_address_until_deleted(registry: Registry) -> None:
    svc = await create(registry, "services", service("web"))
    ip = svc["spec"]["clusterIP"]
    assert ip_taken(registry, ip)
    assert svc["spec"]["clusterIPs"] == [ip]
    assert svc["spec"]["ipFamilies"] == ["IPv4"]
    await registry.delete(SVC, "default", "web", DeleteOptions())
    assert not ip_taken(registry, ip)


async def test_null_spec_is_the_zero_spec(registry: Registry) -> None:
    # Go decodes "spec": null into the zero ServiceSpec: a 422 for the ports, never a 500
    # (found by the API fuzzer); a Deployment's null spec likewise defaults and validates.
    with pytest.raises(errors.Invalid, match=r"spec\.ports: Required value"):
        await create(registry, "services", {"metadata": {"name": "nul"}, "spec": None})
    with pytest.raises(errors.Invalid, match=r"spec\.selector: Required value"):
        await create(registry, "deployments", {"metadata": {"name": "nul"}, "spec": None})
    ns = await create(registry, "namespaces", {"metadata": {"name": "nul"}, "spec": None})
    assert ns["spec"] == {"finalizers": ["kubernetes"]}


@pytest.mark.parametrize(
    ("spec", "failure"),
    [
        pytest.param({"type": "Bogus"}, errors.Invalid, id="invalid-after-allocation"),
        pytest.param({}, None, id="dry-run"),
        pytest.param(
            {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 29999}]},
            errors.Invalid,
            id="node-port-out-of-range-after-ip",
        ),
    ],
)
async def test_a_create_that_is_not_stored_gives_its_address_back(
    registry: Registry, spec: Obj, failure: type[Exception] | None
) -> None:
    body = service("web", clusterIP="10.96.0.10", **spec)
    if failure is None:
        out = await create(registry, "services", body, dry_run=True)
        assert out["spec"]["clusterIP"] == "10.96.0.10"
    else:
        with pytest.raises(failure):
            await create(registry, "services", body)
    assert not ip_taken(registry, "10.96.0.10")
    again = await create(registry, "services", service("other", clusterIP="10.96.0.10"))
    assert again["spec"]["clusterIP"] == "10.96.0.10"


async def test_already_exists_gives_the_new_address_back(registry: Registry) -> None:
    await create(registry, "services", service("web"))
    with pytest.raises(errors.AlreadyExists):
        await create(registry, "services", service("web", clusterIP="10.96.0.11"))
    assert not ip_taken(registry, "10.96.0.11")


async def test_second_family_failure_gives_the_first_family_back(registry: Registry) -> None:
    taken = await create(
        registry,
        "services",
        service("a", ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"]),
    )
    v6 = taken["spec"]["clusterIPs"][1]
    body = service(
        "b",
        ipFamilyPolicy="RequireDualStack",
        ipFamilies=["IPv4", "IPv6"],
        clusterIPs=["10.96.0.12", v6],
    )
    with pytest.raises(errors.Invalid, match="already allocated"):
        await create(registry, "services", body)
    assert not ip_taken(registry, "10.96.0.12")


async def test_node_port_update_releases_the_dropped_port_only_when_stored(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = [{"port": 80, "protocol": "TCP", "nodePort": 30080}]
    svc = await create(registry, "services", service("np", type="NodePort", ports=ports))
    assert registry.services.node_ports.allocate(30080) is False  # held by the Service

    changed = copy.deepcopy(svc)
    changed["spec"]["ports"][0]["nodePort"] = 30081
    res = await registry.update(SVC, "default", "np", changed, WriteOptions())
    assert res.obj["spec"]["ports"][0]["nodePort"] == 30081
    assert registry.services.node_ports.allocate(30080) is True  # released on commit
    registry.services.node_ports.release(30080)

    # Another writer lands between this update's checks and its store write: the real
    # store refuses it, and the port it claimed is given back.
    store = registry.store
    real_update = store.update

    async def racing_update(resource: str, key: Any, obj: Obj, **kw: Any) -> Any:
        monkeypatch.setattr(store, "update", real_update)
        other = copy.deepcopy(store.current(resource, key).obj)  # type: ignore[union-attr]
        other["metadata"].setdefault("labels", {})["touched"] = "yes"
        await real_update(resource, key, other)
        return await real_update(resource, key, obj, **kw)

    monkeypatch.setattr(store, "update", racing_update)
    racing = copy.deepcopy(res.obj)
    racing["metadata"].pop("resourceVersion")
    racing["spec"]["ports"][0]["nodePort"] = 30082
    with pytest.raises(errors.Conflict):
        await registry.update(SVC, "default", "np", racing, WriteOptions())
    assert registry.services.node_ports.allocate(30082) is True  # reverted on conflict
    assert registry.services.node_ports.allocate(30081) is False  # still the Service's


async def test_dry_run_update_keeps_the_old_address(registry: Registry) -> None:
    svc = await create(registry, "services", service("web"))
    old_ip = svc["spec"]["clusterIP"]
    new = copy.deepcopy(svc)
    new["spec"]["clusterIP"] = "10.96.0.13"
    new["spec"]["clusterIPs"] = ["10.96.0.13"]
    with pytest.raises(errors.Invalid):  # clusterIP is immutable: refused after allocation
        await registry.update(SVC, "default", "web", new, WriteOptions())
    assert not ip_taken(registry, "10.96.0.13")
    assert ip_taken(registry, old_ip)


async def test_rebuild_marks_stored_addresses_taken(registry: Registry, tmp_path: Path) -> None:
    svc = await create(registry, "services", service("web"))
    fresh = Registry(registry.store, "10.96.0.0/24,fd00:10:96::/112")
    fresh.rebuild_allocators()
    assert ip_taken(fresh, svc["spec"]["clusterIP"])
    assert ip_taken(fresh, fresh.services.ips.nth(1))  # the kubernetes Service's


# ---------------------------------------------------------------------- per-kind hooks


@pytest.mark.parametrize(
    ("node", "grace", "deleted_now"),
    [
        pytest.param(None, None, True, id="unbound-goes-at-once"),
        pytest.param("node-1", None, False, id="bound-waits-30s"),
        pytest.param("node-1", 0, True, id="bound-grace-zero"),
        pytest.param("node-1", 5, False, id="bound-grace-five"),
    ],
)
async def test_pod_deletion_grace(
    registry: Registry, node: str | None, grace: int | None, deleted_now: bool
) -> None:
    await create(registry, "pods", pod("p", node))
    obj, now = await registry.delete(
        PODS, "default", "p", DeleteOptions(grace_period_seconds=grace)
    )
    assert now is deleted_now
    if not deleted_now:
        expected = 30 if grace is None else grace
        assert obj["metadata"]["deletionGracePeriodSeconds"] == expected
        assert registry.store.current("pods", ("default", "p")) is not None
    else:
        assert registry.store.current("pods", ("default", "p")) is None


async def test_binding_places_a_pod_once(registry: Registry) -> None:
    await create(registry, "pods", pod("p"))
    bound = await registry.bind("default", "p", {"target": {"name": "node-1"}}, WriteOptions())
    assert bound["spec"]["nodeName"] == "node-1"
    cond = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert cond == [
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": "2026-12-01T12:00:00Z",
        }
    ]
    with pytest.raises(errors.Conflict, match='already assigned to node "node-1"'):
        await registry.bind("default", "p", {"target": {"name": "node-2"}}, WriteOptions())
    with pytest.raises(errors.Invalid):
        await registry.bind("default", "p", {"target": {}}, WriteOptions())


async def test_namespace_delete_marks_it_terminating(registry: Registry) -> None:
    info = BY_PLURAL["namespaces"]
    await registry.create(info, "", {"metadata": {"name": "team"}}, WriteOptions())
    obj, now = await registry.delete(info, "", "team", DeleteOptions())
    assert now is False
    assert obj["status"]["phase"] == "Terminating"
    assert obj["metadata"]["deletionTimestamp"] == "2026-12-01T12:00:00Z"
    again, _ = await registry.delete(info, "", "team", DeleteOptions())
    assert again["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    with pytest.raises(errors.Forbidden, match="being terminated"):
        await registry.create(PODS, "team", pod("p"), WriteOptions())


@pytest.mark.parametrize(
    ("plural", "body", "creates"),
    [
        pytest.param("endpoints", {"metadata": {"name": "x"}}, True, id="endpoints"),
        pytest.param("pods", pod("x"), False, id="pods"),
    ],
)
async def test_put_of_a_missing_object(
    registry: Registry, plural: str, body: Obj, creates: bool
) -> None:
    info = BY_PLURAL[plural]
    if creates:
        res = await registry.update(info, "default", "x", body, WriteOptions())
        assert res.created
    else:
        with pytest.raises(errors.NotFound):
            await registry.update(info, "default", "x", body, WriteOptions())


async def test_scale_subresource(registry: Registry) -> None:
    info = BY_PLURAL["deployments"]
    await create(registry, "deployments", deployment("web", 2))
    scale = registry.get_scale(info, "default", "web")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}
    scale["spec"]["replicas"] = 5
    out = await registry.update_scale(info, "default", "web", scale, WriteOptions())
    assert out["spec"]["replicas"] == 5
    patched = await registry.patch(
        info,
        "default",
        "web",
        "merge",
        {"spec": {"replicas": 1}},
        WriteOptions(),
        subresource="scale",
    )
    assert patched.obj["spec"]["replicas"] == 1
    with pytest.raises(errors.Conflict):  # the Scale read before the two writes is stale
        await registry.update_scale(info, "default", "web", scale, WriteOptions())
    with pytest.raises(errors.Invalid, match="greater than or equal to 0"):
        await registry.update_scale(
            info, "default", "web", {"spec": {"replicas": -1}}, WriteOptions()
        )


async def test_list_pages_share_one_revision(registry: Registry) -> None:
    for n in "abcde":
        await create(registry, "pods", pod(n))
    first = registry.list_objects(PODS, "default", limit=2)
    assert [s.obj["metadata"]["name"] for s in first.items] == ["a", "b"]
    assert first.remaining == 3 and first.continue_token
    await create(registry, "pods", pod("f"))  # not in the snapshot
    names: list[str] = []
    page = first
    while page.continue_token:
        page = registry.list_objects(PODS, "default", limit=2, continue_token=page.continue_token)
        assert page.resource_version == first.resource_version
        names += [s.obj["metadata"]["name"] for s in page.items]
    assert names == ["c", "d", "e"]
    with pytest.raises(errors.BadRequest, match="continue key is not valid"):
        registry.list_objects(PODS, "default", continue_token="!!")


@pytest.mark.parametrize(
    "selector",
    [
        "app=web",
        "app==web,tier=b",
        "app in (web),tier!=b",
        "app=web,tier notin (a)",
        "app=web,app=db",  # contradicting: nothing
        "app=web,!tier",
        "tier",  # no equality: the scan
    ],
)
async def test_selected_lists_are_the_scans(registry: Registry, selector: str) -> None:
    for i in range(12):
        labels = {"app": "web" if i % 3 else "db"}
        if i % 4:
            labels["tier"] = "ab"[i % 2]
        body = pod(f"p{i:02d}", "node-1" if i % 5 else None)
        body["metadata"]["labels"] = labels
        await create(registry, "pods", body)
    # A label change moves a pod between the index's values.
    await registry.patch(
        PODS,
        "default",
        "p01",
        "merge",
        {"metadata": {"labels": {"app": "db"}}},
        WriteOptions(),
    )
    sel = parse_label_selector(selector)
    everything, rv = registry.store.list_objects("pods", "default")
    for fields in (None, parse_field_selector("spec.nodeName=node-1")):
        want = [
            s.obj["metadata"]["name"]
            for s in everything
            if sel.matches(s.labels)
            and (fields is None or s.obj["spec"].get("nodeName") == "node-1")
        ]
        got = registry.list_objects(PODS, "default", label_selector=sel, field_selector=fields)
        assert [s.obj["metadata"]["name"] for s in got.items] == want
        assert got.resource_version == rv
    if selector == "app=web":
        assert want and len(want) < len(everything)


@pytest.mark.parametrize(
    ("plural", "obj", "grace", "expected"),
    [
        pytest.param("pods", pod("p"), None, ["MODIFIED", "DELETED"], id="unbound-pod"),
        pytest.param("pods", pod("p", "node-1"), 0, ["MODIFIED", "DELETED"], id="bound-grace-0"),
        pytest.param("configmaps", {"metadata": {"name": "p"}}, None, ["DELETED"], id="configmap"),
    ],
)
async def test_pod_deleted_at_once_is_first_stored_terminating(
    registry: Registry, plural: str, obj: Obj, grace: int | None, expected: list[str]
) -> None:
    """As upstream's generic store does for a kind with a graceful delete strategy (pods),
    a DELETE with no grace left first stores the pod with deletionTimestamp and a zero
    deletionGracePeriodSeconds, then removes it: watchers (client-go informers, the
    endpoint controllers) see it terminating before it goes. client-go's conformance
    differential showed kube-apiserver sending that MODIFIED event."""
    created = await create(registry, plural, obj)
    watcher = registry.store.watch(plural, "default", int(created["metadata"]["resourceVersion"]))
    out, deleted_now = await registry.delete(
        BY_PLURAL[plural], "default", "p", DeleteOptions(grace_period_seconds=grace)
    )
    assert deleted_now
    events = watcher.drain()
    assert [str(e.type) for e in events] == expected
    if plural == "pods":
        terminating = events[0].item.obj["metadata"]
        assert terminating["deletionGracePeriodSeconds"] == 0
        assert terminating["deletionTimestamp"] == "2026-12-01T12:00:00Z"
        assert out["metadata"]["deletionTimestamp"] == "2026-12-01T12:00:00Z"
    assert registry.store.current(plural, ("default", "p")) is None


async def test_pod_dry_run_delete_with_no_grace_stores_nothing(registry: Registry) -> None:
    created = await create(registry, "pods", pod("p"))
    out, deleted_now = await registry.delete(PODS, "default", "p", DeleteOptions(dry_run=True))
    assert deleted_now
    assert out["metadata"]["deletionGracePeriodSeconds"] == 0
    still = registry.store.current("pods", ("default", "p"))
    assert still is not None and still.rv == int(created["metadata"]["resourceVersion"])


async def test_writes_never_change_the_versions_they_share_parts_with(registry: Registry) -> None:
    """Binding, status and spec writes share the unchanged parts of the stored object
    (spec on a status write, status on a spec write) instead of copying them: every
    version kept must still be what its bytes say."""
    from sliceplane.storage.store import decode_json

    await create(registry, "pods", pod("p"))
    versions = [registry.get(PODS, "default", "p")]
    await registry.bind("default", "p", {"target": {"name": "node-1"}}, WriteOptions())
    versions.append(registry.get(PODS, "default", "p"))
    for phase in ("Running", "Succeeded"):
        await registry.patch(
            PODS,
            "default",
            "p",
            "merge",
            {"status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}},
            WriteOptions(field_manager="kubelet"),
            subresource="status",
        )
        versions.append(registry.get(PODS, "default", "p"))
    await registry.patch(
        PODS,
        "default",
        "p",
        "merge",
        {"metadata": {"labels": {"a": "b"}}},
        WriteOptions(field_manager="kubectl"),
    )
    versions.append(registry.get(PODS, "default", "p"))
    assert versions[-1].obj["status"]["phase"] == "Succeeded"
    assert versions[-1].obj["spec"]["nodeName"] == "node-1"
    assert len({v.rv for v in versions}) == len(versions)
    for v in versions:
        assert decode_json(v.raw) == v.obj


def test_new_uids_are_version_4_uuids_in_their_canonical_text() -> None:
    import uuid

    from sliceplane.apiserver.registry import new_uid

    uids = [new_uid() for _ in range(1000)]  # past one 4 KiB refill
    assert len(set(uids)) == len(uids)
    for text in uids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
