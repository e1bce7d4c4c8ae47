"""The simulated-node agent on a FakeClock, over an in-memory fake of the client.

The fake keeps pods in a dict and streams every change to the informer's watch, applying
status patches the way the server does for the parts the agent uses (merge patch of
``status``, strategic merge of ``status.conditions`` by type, resourceVersion
preconditions). Time only moves when a test advances the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.api.watch import ListPage, WatchEvent
from sliceplane.machinery.clock import FakeClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.workloads.kubelet.nodes import NodesOptions, SimulatedNodes

Obj = dict[str, Any]


class FakeLW:
    def __init__(self, api: FakeAPI, resource: str) -> None:
        self.api, self.resource = api, resource

    async def list(self, **_: Any) -> ListPage:
        items = [copy.deepcopy(o) for o in self.api.objects(self.resource).values()]
        return ListPage(items, str(self.api.rv))

    async def watch(self, **_: Any) -> AsyncIterator[WatchEvent]:
        q: asyncio.Queue[WatchEvent] = asyncio.Queue()
        self.api.watchers.setdefault(self.resource, []).append(q)
        while True:
            yield await q.get()


class FakeAPI:
    """Just enough of :class:`~sliceplane.client.client.Client` for SimulatedNodes."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Obj]] = {}
        self.watchers: dict[str, list[asyncio.Queue[WatchEvent]]] = {}
        self.rv = 1
        self.calls: list[tuple[str, str, str]] = []
        self.deletes: list[tuple[str, int | None, dict[str, str] | None]] = []

    def objects(self, resource: str) -> dict[str, Obj]:
        return self.store.setdefault(resource, {})

    def list_watcher(self, resource: str) -> FakeLW:
        return FakeLW(self, resource)

    def _key(self, name: str, namespace: str | None) -> str:
        return f"{namespace}/{name}" if namespace else name

    def _emit(self, resource: str, type_: str, obj: Obj) -> None:
        for q in self.watchers.get(resource, []):
            q.put_nowait(WatchEvent(type_, copy.deepcopy(obj)))  # type: ignore[arg-type]

    def put(self, resource: str, obj: Obj) -> Obj:
        self.rv += 1
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(self.rv)
        meta.setdefault("uid", f"uid-{meta['name']}")
        key = self._key(meta["name"], meta.get("namespace"))
        existed = key in self.objects(resource)
        self.objects(resource)[key] = obj
        self._emit(resource, "MODIFIED" if existed else "ADDED", obj)
        return copy.deepcopy(obj)

    async def create(self, resource: str, obj: Obj, namespace: str | None = None) -> Obj:
        self.calls.append(("create", resource, obj["metadata"]["name"]))
        if resource == "events":
            return obj
        key = self._key(obj["metadata"]["name"], namespace or obj["metadata"].get("namespace"))
        if key in self.objects(resource):
            raise errors.AlreadyExists("exists")
        return self.put(resource, copy.deepcopy(obj))

    async def patch(
        self,
        resource: str,
        name: str,
        patch: Obj,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str = "",
    ) -> Obj:
        self.calls.append(("patch", resource, name))
        if resource == "events":
            return {}
        key = self._key(name, namespace)
        current = self.objects(resource).get(key)
        if current is None:
            raise errors.NotFound("not found", {"name": name})
        new = copy.deepcopy(current)
        rv = (patch.get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv != current["metadata"]["resourceVersion"]:
            raise errors.Conflict("modified")
        for field, value in patch.items():
            if field == "metadata":
                for k, v in value.items():
                    if k != "resourceVersion":
                        new["metadata"][k] = {**(new["metadata"].get(k) or {}), **v}
            elif field == "status" and patch_type == "strategic":
                conds = {c["type"]: c for c in new["status"].get("conditions") or []}
                for c in value.get("conditions") or []:
                    conds[c["type"]] = c
                new["status"]["conditions"] = list(conds.values())
            else:
                new[field] = {**(new.get(field) or {}), **value}
        return self.put(resource, new)

    async def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, str] | None = None,
        **_: Any,
    ) -> Obj:
        self.deletes.append((name, grace_period_seconds, preconditions))
        obj = self.objects(resource).pop(self._key(name, namespace))
        self._emit(resource, "DELETED", obj)
        return obj

    async def get(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        return copy.deepcopy(self.objects(resource)[self._key(name, namespace)])

    def pod(self, name: str) -> Obj:
        return self.objects("pods")[f"default/{name}"]


def new_pod(name: str, node: str = "node-1", **meta: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x"}]},
        "status": {"phase": "Pending"},
    }


def ready(pod: Obj) -> str | None:
    for c in pod["status"].get("conditions") or []:
        if c["type"] == "Ready":
            return str(c["status"])
    return None


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeAPI, FakeClock, SimulatedNodes]]:
    api, clock = FakeAPI(), FakeClock()
    factory = InformerFactory(api, clock)  # type: ignore[arg-type]
    opts = NodesOptions(count=2, zones=("a", "b"), workers=4, record_events=False)
    nodes = SimulatedNodes(api, factory, clock, opts)  # type: ignore[arg-type]
    factory.start()
    task = asyncio.create_task(nodes.run())
    await clock.settle()
    yield api, clock, nodes
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await factory.stop()


async def test_registers_nodes_and_leases(env: tuple[FakeAPI, FakeClock, SimulatedNodes]) -> None:
    api, _, _ = env
    assert set(api.objects("nodes")) == {"node-1", "node-2"}
    assert set(api.objects("leases")) == {"kube-node-lease/node-1", "kube-node-lease/node-2"}
    lease = api.objects("leases")["kube-node-lease/node-1"]
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-node-1"


async def test_pod_runs_then_becomes_ready_after_the_delay(
    env: tuple[FakeAPI, FakeClock, SimulatedNodes],
) -> None:
    api, clock, nodes = env
    api.put("pods", new_pod("web"))
    await clock.settle()
    pod = api.pod("web")
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["podIP"] == "10.244.0.2"
    assert ready(pod) == "False"
    await clock.advance(0.4)
    assert ready(api.pod("web")) == "False"
    await clock.advance(0.1)
    assert ready(api.pod("web")) == "True"
    assert nodes.status_writes == 2
    await clock.advance(30)
    assert nodes.status_writes == 2  # settled: no more writes


async def test_readiness_probe_initial_delay(
    env: tuple[FakeAPI, FakeClock, SimulatedNodes],
) -> None:
    api, clock, _ = env
    pod = new_pod("slow")
    pod["spec"]["containers"][0]["readinessProbe"] = {"initialDelaySeconds": 5}
    api.put("pods", pod)
    await clock.advance(4.9)
    assert ready(api.pod("slow")) == "False"
    await clock.advance(0.1)
    assert ready(api.pod("slow")) == "True"


async def test_ready_annotation(env: tuple[FakeAPI, FakeClock, SimulatedNodes]) -> None:
    api, clock, _ = env
    api.put("pods", new_pod("p", annotations={"sliceplane.io/ready": "false"}))
    await clock.advance(10)
    assert ready(api.pod("p")) == "False"
    await api.patch(
        "pods", "p", {"metadata": {"annotations": {"sliceplane.io/ready": "true"}}}, "default"
    )
    await clock.settle()
    assert ready(api.pod("p")) == "True"


async def test_graceful_deletion_is_finished_by_the_node(
    env: tuple[FakeAPI, FakeClock, SimulatedNodes],
) -> None:
    api, clock, _ = env
    api.put("pods", new_pod("bye"))
    await clock.advance(1)
    pod = copy.deepcopy(api.pod("bye"))
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    api.put("pods", pod)
    await clock.advance(1.9)
    assert api.deletes == []  # Terminating for terminate_after = min(30, 2) seconds
    await clock.advance(0.1)
    assert api.deletes == [("bye", 0, {"uid": "uid-bye"})]


async def test_short_grace_period_wins(env: tuple[FakeAPI, FakeClock, SimulatedNodes]) -> None:
    api, clock, _ = env
    pod = new_pod("quick")
    pod["metadata"].update(deletionTimestamp="x", deletionGracePeriodSeconds=1)
    api.put("pods", pod)
    await clock.advance(0.9)
    assert api.deletes == []
    await clock.advance(0.1)
    assert [d[0] for d in api.deletes] == ["quick"]


async def test_stop_and_start_node(env: tuple[FakeAPI, FakeClock, SimulatedNodes]) -> None:
    api, clock, nodes = env
    api.put("pods", new_pod("a", "node-1"))
    api.put("pods", new_pod("b", "node-2"))
    await clock.advance(1)
    assert ready(api.pod("a")) == ready(api.pod("b")) == "True"
    renewed = api.objects("leases")["kube-node-lease/node-1"]["spec"]["renewTime"]

    await nodes.stop_node("node-1")
    await clock.settle()
    node = api.objects("nodes")["node-1"]
    (cond,) = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert (cond["status"], cond["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert ready(api.pod("a")) == "False"
    assert ready(api.pod("b")) == "True"

    # A dead kubelet neither heartbeats nor acts on its pods.
    await clock.advance(30)
    assert api.objects("leases")["kube-node-lease/node-1"]["spec"]["renewTime"] == renewed
    assert api.objects("leases")["kube-node-lease/node-2"]["spec"]["renewTime"] > renewed
    await api.patch(
        "pods", "a", {"metadata": {"annotations": {"sliceplane.io/ready": "true"}}}, "default"
    )
    await clock.settle()
    assert ready(api.pod("a")) == "False"

    await nodes.start_node("node-1")
    await clock.settle()
    (cond,) = [
        c for c in api.objects("nodes")["node-1"]["status"]["conditions"] if c["type"] == "Ready"
    ]
    assert cond["status"] == "True"
    assert ready(api.pod("a")) == "True"


async def test_many_pods_no_task_per_pod(env: tuple[FakeAPI, FakeClock, SimulatedNodes]) -> None:
    api, clock, nodes = env
    await clock.settle()
    tasks_before = len(asyncio.all_tasks())
    for i in range(300):
        api.put("pods", new_pod(f"p{i}", f"node-{1 + i % 2}"))
    await clock.settle()
    assert len(asyncio.all_tasks()) <= tasks_before + 1  # at most the queue's one timer
    await clock.advance(0.5)
    pods = api.objects("pods").values()
    assert all(ready(p) == "True" for p in pods)
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 300
    assert nodes.status_writes == 600


async def test_pods_of_other_nodes_are_ignored(
    env: tuple[FakeAPI, FakeClock, SimulatedNodes],
) -> None:
    api, clock, nodes = env
    api.put("pods", new_pod("elsewhere", "real-node"))
    await clock.advance(5)
    assert api.pod("elsewhere")["status"] == {"phase": "Pending"}
    assert nodes.status_writes == 0


async def test_cancelled_batch_leaves_no_unawaited_coroutine(
    env: tuple[FakeAPI, FakeClock, SimulatedNodes],
) -> None:
    """A heartbeat batch cancelled at shutdown closes the renewals still waiting for a
    worker: none is left for Python to report as never awaited."""
    _, _, nodes = env
    started: list[int] = []
    gate = asyncio.Event()

    async def renewal(i: int) -> None:
        started.append(i)
        await gate.wait()

    coros = [renewal(i) for i in range(10)]  # 4 workers: 6 wait for the semaphore
    batch = asyncio.create_task(nodes._bounded(iter(coros)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(started) == 4
    batch.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await batch
    assert all(c.cr_frame is None for c in coros)  # every one finished or closed
