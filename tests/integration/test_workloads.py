"""Deployments end to end: the ReplicaSet and Deployment controllers run in this event loop
against the session API server, driven by the real kubectl.

No node agent runs here: a tiny in-test "kubelet" watches the namespace's pods, marks each
new pod Running and Ready with an IP through the status subresource, and finishes the
deletion of terminating pods after a short grace. The pods' template pins them to a node
name so that deleting them is graceful (as for scheduled pods on a real cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from harness import Kubectl, ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import Informer
from sliceplane.workloads.apps.deployment.controller import DeploymentController
from sliceplane.workloads.apps.replicaset.controller import ReplicaSetController
from sliceplane.workloads.podstate import is_pod_ready

Obj = dict[str, Any]

pytestmark = pytest.mark.kubectl


@pytest.fixture
async def client(apiserver: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(apiserver.kubeconfig)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: Client) -> AsyncIterator[str]:
    name = f"wl-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    with contextlib.suppress(Exception):
        await client.delete("namespaces", name)


class Kubelet:
    """Marks new pods of one namespace Ready and removes terminating ones after ``grace``
    seconds. ``on_change`` is called after every pod event with the current pods."""

    def __init__(self, client: Client, ns: str, grace: float = 0.3) -> None:
        self.client = client
        self.ns = ns
        self.grace = grace
        self.informer = Informer(client.list_watcher("pods", ns), RealClock(), name="kubelet")
        self.informer.add_handler(self._on_pod, lambda _old, new: self._on_pod(new), None)
        self.on_change: Callable[[list[Obj]], None] | None = None
        self._ips = itertools.count(2)
        self._seen: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    def pods(self) -> list[Obj]:
        return self.informer.store.list()

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def wrapped() -> None:
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await coro

        task = asyncio.create_task(wrapped())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            if f"del-{uid}" not in self._seen:
                self._seen.add(f"del-{uid}")
                self._spawn(self._finish_deletion(meta["name"]))
        elif uid not in self._seen:
            self._seen.add(uid)
            self._spawn(self._start(meta["name"]))
        if self.on_change is not None:
            self.on_change(self.pods())

    async def _start(self, name: str) -> None:
        n = next(self._ips)
        ip = f"10.244.{n // 250}.{n % 250 + 1}"
        await self.client.patch(
            "pods",
            name,
            {
                "status": {
                    "phase": "Running",
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "conditions": [
                        {"type": "Ready", "status": "True"},
                        {"type": "ContainersReady", "status": "True"},
                    ],
                }
            },
            self.ns,
            patch_type="merge",
            subresource="status",
        )

    async def _finish_deletion(self, name: str) -> None:
        await asyncio.sleep(self.grace)
        await self.client.delete("pods", name, self.ns, grace_period_seconds=0)

    async def __aenter__(self) -> Kubelet:
        self._runner = asyncio.create_task(self.informer.run())
        await self.informer.wait_for_sync()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.informer.stop()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Controllers:
    """Both workload controllers on one informer factory, in this event loop."""

    def __init__(self, client: Client) -> None:
        clock = RealClock()
        self.factory = InformerFactory(client, clock)
        self.replicasets = ReplicaSetController(client, self.factory, clock)
        self.deployments = DeploymentController(client, self.factory, clock)
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Controllers:
        self.factory.start()
        self.tasks = [
            asyncio.create_task(self.replicasets.run()),
            asyncio.create_task(self.deployments.run()),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.factory.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.1)


def manifest(ns: str, replicas: int, image: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeName: node-1
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: {image}
"""


def live(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def image_of(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


async def kubectl_async(kubectl: Kubectl, *args: str, input: str | None = None) -> Any:
    """Run kubectl off the event loop, so the controllers keep working meanwhile."""
    return await asyncio.to_thread(kubectl.run, *args, input=input, check=False, timeout=90)


async def test_deployment_apply_scale_and_rolling_update(
    client: Client, ns: str, kubectl: Kubectl
) -> None:
    async with Kubelet(client, ns) as kubelet, Controllers(client):
        res = await kubectl_async(kubectl, "apply", "-f", "-", input=manifest(ns, 6, "nginx:1.25"))
        assert res.returncode == 0, res.stderr
        assert "deployment.apps/web created" in res.stdout

        async def ready(n: int) -> bool:
            pods = live(kubelet.pods())
            return len(pods) == n and all(is_pod_ready(p) for p in pods)

        await eventually(lambda: ready(6))

        async def printed(want: list[str]) -> bool:
            out = await kubectl_async(kubectl, "get", "deploy", "web", "-n", ns, "--no-headers")
            return bool(out.returncode == 0 and out.stdout.split()[1:4] == want)

        await eventually(lambda: printed(["6/6", "6", "6"]))
        pods = live(kubelet.pods())
        (rs,) = (await client.list_all("replicasets", ns)).items
        h = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"web-{h}"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        for p in pods:
            assert p["metadata"]["name"].startswith(f"web-{h}-")
            assert p["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
            (ref,) = p["metadata"]["ownerReferences"]
            assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
                "ReplicaSet",
                rs["metadata"]["name"],
                rs["metadata"]["uid"],
                True,
            )

        # kubectl scale goes through the scale subresource.
        res = await kubectl_async(kubectl, "scale", "deployment", "web", "-n", ns, "--replicas=3")
        assert res.returncode == 0, res.stderr
        await eventually(lambda: ready(3))
        await eventually(lambda: printed(["3/3", "3", "3"]))

        # A template change rolls out; watch every pod event for the availability floor
        # (3 replicas, 25% maxUnavailable rounds down to 0: never fewer than 3 ready).
        violations: list[str] = []
        mixed: list[bool] = []

        def watch(all_pods: list[Obj]) -> None:
            pods_now = live(all_pods)
            ready_now = sum(1 for p in pods_now if is_pod_ready(p))
            if ready_now < 3:
                violations.append(f"{ready_now} ready of {[image_of(p) for p in pods_now]}")
            if len({image_of(p) for p in pods_now}) > 1:
                mixed.append(True)

        kubelet.on_change = watch
        res = await kubectl_async(
            kubectl, "set", "image", "deployment/web", "web=nginx:1.26", "-n", ns
        )
        assert res.returncode == 0, res.stderr
        status = await kubectl_async(
            kubectl, "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s"
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert 'deployment "web" successfully rolled out' in status.stdout
        await eventually(lambda: ready(3))
        kubelet.on_change = None
        assert violations == []
        assert mixed, "old and new pods never ran side by side: not a rolling update"
        assert {image_of(p) for p in live(kubelet.pods())} == {"nginx:1.26"}
        await eventually(lambda: printed(["3/3", "3", "3"]))

        d = await client.get("deployments", "web", ns)
        conds = {c["type"]: c for c in d["status"]["conditions"]}
        assert (conds["Available"]["reason"], conds["Available"]["message"]) == (
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
        new_rs = next(
            r
            for r in (await client.list_all("replicasets", ns)).items
            if r["spec"]["replicas"] == 3
        )
        assert (conds["Progressing"]["reason"], conds["Progressing"]["message"]) == (
            "NewReplicaSetAvailable",
            f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.',
        )
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
        old = await client.get("replicasets", rs["metadata"]["name"], ns)
        assert old["spec"]["replicas"] == 0


async def test_recreate_never_runs_two_versions(client: Client, ns: str, kubectl: Kubectl) -> None:
    async with Kubelet(client, ns) as kubelet, Controllers(client):
        body = manifest(ns, 2, "app:1").replace(
            "spec:\n  replicas", "spec:\n  strategy:\n    type: Recreate\n  replicas"
        )
        res = await kubectl_async(kubectl, "apply", "-f", "-", input=body)
        assert res.returncode == 0, res.stderr

        async def running(image: str, n: int) -> bool:
            pods = kubelet.pods()
            return len(pods) == n and all(is_pod_ready(p) and image_of(p) == image for p in pods)

        await eventually(lambda: running("app:1", 2))
        both: list[set[str]] = []

        def watch(all_pods: list[Obj]) -> None:
            # Terminating pods count too: Recreate waits until old pods are gone.
            images = {image_of(p) for p in all_pods}
            if len(images) > 1:
                both.append(images)

        kubelet.on_change = watch
        res = await kubectl_async(kubectl, "set", "image", "deployment/web", "web=app:2", "-n", ns)
        assert res.returncode == 0, res.stderr
        status = await kubectl_async(
            kubectl, "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s"
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert 'deployment "web" successfully rolled out' in status.stdout
        await eventually(lambda: running("app:2", 2))
        assert both == []


async def test_deployment_adopts_only_matching_orphan_replicasets(client: Client, ns: str) -> None:
    """An orphan ReplicaSet that the Deployment's selector matches is adopted (found through
    the ReplicaSets' label index); one it does not match, and one another controller owns,
    are left alone."""

    def replicaset(name: str, app: str, owner: Obj | None = None) -> Obj:
        labels = {"app": app, "pod-template-hash": name}
        meta: Obj = {"name": name, "namespace": ns, "labels": labels}
        if owner is not None:
            meta["ownerReferences"] = [owner]
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": meta,
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.24"}]},
                },
            },
        }

    other = await client.create(
        "deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "other", "namespace": ns},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "other"}},
                "template": {
                    "metadata": {"labels": {"app": "other"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            },
        },
        ns,
    )
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "other",
        "uid": other["metadata"]["uid"],
        "controller": True,
    }
    await client.create("replicasets", replicaset("orphan", "web"), ns)
    await client.create("replicasets", replicaset("stranger", "db"), ns)
    await client.create("replicasets", replicaset("taken", "web", foreign), ns)
    async with Controllers(client):
        res = await client.create("deployments", deployment_object(ns, replicas=0), ns)
        uid = res["metadata"]["uid"]

        async def adopted() -> bool:
            rs = await client.get("replicasets", "orphan", ns)
            refs = rs["metadata"].get("ownerReferences") or []
            return [(r["kind"], r["uid"], r.get("controller")) for r in refs] == [
                ("Deployment", uid, True)
            ]

        await eventually(adopted)
        stranger = await client.get("replicasets", "stranger", ns)
        assert not stranger["metadata"].get("ownerReferences")
        taken = await client.get("replicasets", "taken", ns)
        assert [r["uid"] for r in taken["metadata"]["ownerReferences"]] == [
            other["metadata"]["uid"]
        ]


def deployment_object(ns: str, replicas: int) -> Obj:
    """The Deployment of :func:`manifest`, as an object."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }
