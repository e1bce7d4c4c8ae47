"""sliceplane's own async client and informer against the real server subprocess."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.api.watch import ListPage, WatchEvent
from sliceplane.client.client import Client, ResourceListWatcher
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.informer import Informer, InformerOptions, object_key

Obj = dict[str, Any]
SLICES = "endpointslices"


def slice_obj(name: str, ip: str = "10.0.0.1", svc: str = "svc") -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
    }


async def poll(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Wait until ``check()`` is true, failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def bounded(n: int, jobs: list[Awaitable[Any]]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def one(job: Awaitable[Any]) -> Any:
        async with sem:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


@pytest.fixture
async def kc(apiserver: ServerProcess) -> AsyncIterator[Client]:
    client = await Client.connect(apiserver.kubeconfig)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second server that keeps only 20 events of watch history."""
    server = ServerProcess(tmp_path_factory.mktemp("small-history"), ["--history-window", "20"])
    server.start()
    yield server
    assert server.stop() == 0


@pytest.fixture
async def small(small_history: ServerProcess) -> AsyncIterator[tuple[Client, str]]:
    """A client of the small-history server and a fresh namespace on it."""
    client = await Client.connect(small_history.kubeconfig)
    ns = f"t-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    try:
        yield client, ns
    finally:
        await client.close()


# ---------------------------------------------------------------------- list pagination


async def test_list_pagination_is_a_consistent_snapshot(kc: Client, namespace: str) -> None:
    names = [f"s-{i:04d}" for i in range(1200)]
    await bounded(64, [kc.create(SLICES, slice_obj(n), namespace) for n in names])

    first = await kc.list(SLICES, namespace, limit=500)
    assert len(first.items) == 500
    assert first.continue_
    assert first.remaining_item_count == 700

    # Written after the first page: a consistent snapshot never shows them.
    late = ["a-late", "s-0600x", "zz-late"]
    for n in late:
        await kc.create(SLICES, slice_obj(n), namespace)
    await kc.delete(SLICES, "s-1199", namespace)

    second = await kc.list(SLICES, namespace, limit=500, continue_=first.continue_)
    assert len(second.items) == 500 and second.continue_
    third = await kc.list(SLICES, namespace, limit=500, continue_=second.continue_)
    assert len(third.items) == 200
    assert not third.continue_

    pages = [first, second, third]
    assert {p.resource_version for p in pages} == {first.resource_version}
    got = [o["metadata"]["name"] for p in pages for o in p.items]
    assert got == names  # sorted, complete, no duplicates, none of the late writes
    assert all(
        int(o["metadata"]["resourceVersion"]) <= int(first.resource_version)
        for p in pages
        for o in p.items
    )

    # A fresh list sees the present.
    now = await kc.list_all(SLICES, namespace)
    now_names = {o["metadata"]["name"] for o in now.items}
    assert set(late) <= now_names
    assert "s-1199" not in now_names
    assert len(now_names) == 1200 + len(late) - 1
    assert int(now.resource_version) > int(first.resource_version)


async def test_a_long_list_is_streamed_whole(kc: Client, namespace: str) -> None:
    # Over the server's streaming threshold (apiserver.http.STREAM_LIST_ITEMS): written in
    # pieces with a Content-Length, it must be the very list the pages add up to.
    names = [f"s-{i:04d}" for i in range(2100)]
    await bounded(64, [kc.create(SLICES, slice_obj(n), namespace) for n in names])
    whole = await kc.list(SLICES, namespace)
    paged = await kc.list_all(SLICES, namespace)
    assert [o["metadata"]["name"] for o in whole.items] == names
    assert whole.items == paged.items


async def test_bad_continue_token_is_400(kc: Client, namespace: str) -> None:
    with pytest.raises(errors.BadRequest):
        await kc.list(SLICES, namespace, limit=1, continue_="not-a-token")


# ---------------------------------------------------------------------- errors


async def test_errors_map_to_classes(kc: Client, namespace: str) -> None:
    with pytest.raises(errors.NotFound) as nf:
        await kc.get(SLICES, "missing", namespace)
    assert nf.value.message == 'endpointslices.discovery.k8s.io "missing" not found'
    assert nf.value.code == 404

    created = await kc.create(SLICES, slice_obj("e-1"), namespace)
    with pytest.raises(errors.AlreadyExists):
        await kc.create(SLICES, slice_obj("e-1"), namespace)

    newer = dict(created, metadata=dict(created["metadata"], labels={"x": "1"}))
    await kc.update(SLICES, newer)
    stale = dict(created, metadata=dict(created["metadata"], labels={"x": "2"}))
    with pytest.raises(errors.Conflict) as conflict:
        await kc.update(SLICES, stale)
    assert not isinstance(conflict.value, errors.AlreadyExists)
    assert "the object has been modified" in conflict.value.message

    bad = slice_obj("e-2", ip="999.1.1.1")
    bad["addressType"] = "IPv4"
    bad["endpoints"].append({"addresses": [], "conditions": {}})
    with pytest.raises(errors.Invalid) as inv:
        await kc.create(SLICES, bad, namespace)
    fields = [c["field"] for c in inv.value.causes]
    assert "endpoints[0].addresses[0]" in fields
    assert "endpoints[1].addresses" in fields
    assert all(c["reason"] for c in inv.value.causes)
    assert inv.value.code == 422

    with pytest.raises(errors.NotFound):
        await kc.delete(SLICES, "missing", namespace)
    with pytest.raises(errors.Conflict):
        await kc.delete(SLICES, "e-1", namespace, preconditions={"uid": "not-the-uid"})


# ---------------------------------------------------------------------- expired history


async def test_watch_from_expired_resource_version_gets_410(
    small: tuple[Client, str],
) -> None:
    client, ns = small
    obj = await client.create(SLICES, slice_obj("old"), ns)
    old_rv = obj["metadata"]["resourceVersion"]
    for i in range(30):
        await client.patch(SLICES, "old", {"metadata": {"labels": {"n": str(i)}}}, ns)

    events: list[WatchEvent] = []
    async for ev in client.watch(SLICES, ns, resource_version=old_rv, timeout_seconds=5):
        events.append(ev)
    assert [e.type for e in events] == ["ERROR"]
    status = events[0].object
    assert status["kind"] == "Status"
    assert status["code"] == 410
    assert status["reason"] == "Expired"

    # A recent resourceVersion still works.
    latest = (await client.list(SLICES, ns)).resource_version
    watch = client.watch(SLICES, ns, resource_version=latest, timeout_seconds=5)
    await client.patch(SLICES, "old", {"metadata": {"labels": {"n": "last"}}}, ns)
    first = await anext(aiter(watch))
    await watch.aclose()  # type: ignore[attr-defined]
    assert first.type == "MODIFIED"
    assert first.object["metadata"]["labels"]["n"] == "last"


# ---------------------------------------------------------------------- informer


class GatedListWatcher:
    """The real list/watch over HTTP, with a gate the test closes to cut the watch (as a
    network partition would) and hold reconnects until it opens it again."""

    def __init__(self, inner: ResourceListWatcher) -> None:
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self.blocked = asyncio.Event()
        self.lists = 0
        self.error_events: list[Obj] = []

    async def list(
        self,
        *,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> ListPage:
        self.lists += 1
        return await self.inner.list(
            resource_version=resource_version, limit=limit, continue_=continue_
        )

    def watch(
        self, *, resource_version: str, timeout_seconds: int | None, allow_bookmarks: bool
    ) -> AsyncIterator[WatchEvent]:
        return self._watch(resource_version, timeout_seconds, allow_bookmarks)

    async def _watch(
        self, resource_version: str, timeout_seconds: int | None, allow_bookmarks: bool
    ) -> AsyncIterator[WatchEvent]:
        if not self.open.is_set():
            self.blocked.set()
            await self.open.wait()
        stream = self.inner.watch(
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
        )
        try:
            async for ev in stream:
                if not self.open.is_set():
                    return  # cut: this event (and the rest) never arrive
                if ev.type == "ERROR":
                    self.error_events.append(ev.object)
                yield ev
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


async def server_state(client: Client, ns: str) -> dict[str, str]:
    page = await client.list_all(SLICES, ns)
    return {object_key(o): o["metadata"]["resourceVersion"] for o in page.items}


def store_state(inf: Informer) -> dict[str, str]:
    return {
        k: o["metadata"]["resourceVersion"]
        for k, o in ((object_key(o), o) for o in inf.store.list())
    }


async def test_informer_converges_and_recovers_from_410(small: tuple[Client, str]) -> None:
    client, ns = small
    for i in range(5):
        await client.create(SLICES, slice_obj(f"pre-{i}", ip=f"10.0.0.{i + 1}"), ns)

    lw = GatedListWatcher(client.list_watcher(SLICES, ns))
    inf = Informer(
        lw,
        RealClock(),
        InformerOptions(page_size=2, watch_timeout_seconds=1, backoff_initial=0.05),
        name="slices",
    )
    added: list[str] = []
    updated: list[tuple[str, str, str]] = []
    deleted: list[str] = []
    inf.add_handler(
        on_add=lambda o: added.append(o["metadata"]["name"]),
        on_update=lambda old, new: updated.append(
            (
                new["metadata"]["name"],
                old["metadata"]["resourceVersion"],
                new["metadata"]["resourceVersion"],
            )
        ),
        on_delete=lambda o: deleted.append(o["metadata"]["name"]),
    )
    task = asyncio.create_task(inf.run())
    try:
        await asyncio.wait_for(inf.wait_for_sync(), 10)
        assert sorted(added) == [f"pre-{i}" for i in range(5)]

        async def converged() -> bool:
            return store_state(inf) == await server_state(client, ns)

        # Live changes through the watch.
        await client.create(SLICES, slice_obj("live"), ns)
        await client.patch(SLICES, "pre-0", {"metadata": {"labels": {"v": "2"}}}, ns)
        await client.delete(SLICES, "pre-1", ns)
        await poll(converged)
        assert "live" in added
        assert "pre-1" in deleted
        assert any(n == "pre-0" and int(new) > int(old) for n, old, new in updated)
        assert inf.store.get(f"{ns}/pre-0")["metadata"]["labels"]["v"] == "2"  # type: ignore[index]
        lists_before = lw.lists

        # Cut the watch and write more than the server's history window meanwhile.
        lw.open.clear()
        await asyncio.wait_for(lw.blocked.wait(), 10)
        await client.delete(SLICES, "pre-2", ns)
        await client.create(SLICES, slice_obj("during"), ns)
        for i in range(25):
            await client.patch(SLICES, "pre-3", {"metadata": {"labels": {"n": str(i)}}}, ns)
        lw.open.set()

        # The reconnect gets 410 Expired, the informer relists and converges.
        await poll(converged)
        assert any(e.get("code") == 410 and e.get("reason") == "Expired" for e in lw.error_events)
        assert lw.lists > lists_before
        assert "pre-2" in deleted
        assert "during" in added
        assert inf.store.get(f"{ns}/pre-3")["metadata"]["labels"]["n"] == "24"  # type: ignore[index]

        # And keeps following the watch afterwards.
        await client.create(SLICES, slice_obj("after"), ns)
        await client.delete(SLICES, "live", ns)
        await poll(converged)
        assert "after" in added and "live" in deleted
        assert int(inf.last_resource_version) >= int(
            inf.store.get(f"{ns}/after")["metadata"]["resourceVersion"]  # type: ignore[index]
        )
    finally:
        inf.stop()
        await asyncio.wait_for(task, 10)


async def test_watch_with_label_selector_sees_objects_enter_and_leave(
    kc: Client, namespace: str
) -> None:
    await kc.create(SLICES, slice_obj("moving", svc="a"), namespace)
    await kc.create(SLICES, slice_obj("elsewhere", svc="b"), namespace)
    start = (await kc.list(SLICES, namespace)).resource_version
    sel = "kubernetes.io/service-name=a"
    label = "kubernetes.io/service-name"
    await kc.patch(SLICES, "moving", {"metadata": {"labels": {label: "b"}}}, namespace)
    await kc.patch(SLICES, "elsewhere", {"metadata": {"labels": {"x": "1"}}}, namespace)
    await kc.patch(SLICES, "moving", {"metadata": {"labels": {label: "a"}}}, namespace)
    await kc.patch(SLICES, "moving", {"metadata": {"labels": {"x": "2"}}}, namespace)
    await kc.delete(SLICES, "moving", namespace)
    seen = []
    async for ev in kc.watch(
        SLICES, namespace, resource_version=start, timeout_seconds=1, label_selector=sel
    ):
        if ev.type != "BOOKMARK":
            seen.append((ev.type, ev.object["metadata"]["name"]))
    assert seen == [
        ("DELETED", "moving"),
        ("ADDED", "moving"),
        ("MODIFIED", "moving"),
        ("DELETED", "moving"),
    ]


async def test_throttled_view_spaces_requests_and_leaves_the_original_alone(
    kc: Client, namespace: str
) -> None:
    """``--kube-api-qps 20 --kube-api-burst 5``: 15 requests cannot finish before the 10
    beyond the burst have each waited their 50 ms turn; the unthrottled client is not
    slowed, and watches are never throttled."""
    from sliceplane.client.throttle import Throttle

    throttle = Throttle(20.0, 5)
    view = kc.throttled(throttle)
    assert kc.throttle is None
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.gather(*(view.list(SLICES, namespace) for _ in range(15)))
    assert loop.time() - t0 >= 0.45
    # 0.05 + 0.10 + ... + 0.50 s, less what refilled while the requests were being issued.
    waited = throttle.waited
    assert waited == pytest.approx(2.75, rel=0.1)
    await kc.list(SLICES, namespace)  # the original does not take tokens
    assert throttle.waited == waited


def _kubeconfig_with_tls_name(server: ServerProcess, tmp: Any, tls_name: str) -> str:
    """The server's kubeconfig with ``tls-server-name`` set."""
    import yaml

    cfg = yaml.safe_load(server.kubeconfig.read_text())
    cfg["clusters"][0]["cluster"]["tls-server-name"] = tls_name
    path = tmp / f"kubeconfig-{tls_name}"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


async def test_tls_server_name_is_what_the_certificate_is_checked_against(
    apiserver: ServerProcess, tmp_path: Any
) -> None:
    """The serving certificate names 127.0.0.1, ::1 and localhost. Dialling 127.0.0.1 with
    ``tls-server-name: elsewhere.invalid`` must be refused and with ``localhost`` accepted:
    the name checked is the kubeconfig's, not the URL's host (client-go's rule)."""
    import aiohttp

    wrong = await Client.connect(
        _kubeconfig_with_tls_name(apiserver, tmp_path, "elsewhere.invalid")
    )
    try:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await wrong.request("GET", "/version")
    finally:
        await wrong.close()
    named = await Client.connect(_kubeconfig_with_tls_name(apiserver, tmp_path, "localhost"))
    try:
        assert named.conn.tls_server_name == "localhost"
        assert b"gitVersion" in await named.request("GET", "/version")
    finally:
        await named.close()
