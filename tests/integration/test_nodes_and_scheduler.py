"""The local scheduler and the simulated nodes against the embedded API server.

Both run in this event loop on RealClock with short intervals. The session server is
shared with other test files, so every test uses its own node names, a node label its
pods select, and its own scheduler name: nothing here schedules or runs other tests'
pods, and other tests' nodes never receive ours. Convergence is awaited by polling the
API, never by sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from harness import ServerProcess
from waiting import eventually

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.workloads.kubelet.nodes import NodesOptions, SimulatedNodes
from sliceplane.workloads.scheduler.scheduler import Scheduler, SchedulerOptions

Obj = dict[str, Any]
T = TypeVar("T")
TEST_LABEL = "sliceplane.io/test"


@dataclass
class Cluster:
    client: Client
    ns: str
    tag: str
    nodes: SimulatedNodes
    scheduler: Scheduler

    @property
    def node_names(self) -> list[str]:
        return list(self.nodes.nodes)

    def pod(self, name: str, **extra: Any) -> Obj:
        annotations = extra.pop("annotations", None)
        meta: Obj = {"name": name, "namespace": self.ns, "labels": {"app": "web"}}
        if annotations:
            meta["annotations"] = annotations
        return {
            "metadata": meta,
            "spec": {
                "schedulerName": self.scheduler.options.scheduler_name,
                "nodeSelector": {TEST_LABEL: self.tag},
                "containers": [{"name": "app", "image": "app:1"}],
                **extra,
            },
        }

    async def pods(self) -> list[Obj]:
        return (await self.client.list_all("pods", self.ns)).items

    async def get_pod(self, name: str) -> Obj:
        pod: Obj = await self.client.get("pods", name, self.ns)
        return pod


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


@pytest.fixture
async def client(apiserver: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(apiserver.kubeconfig)
    yield c
    await c.close()


@contextlib.asynccontextmanager
async def start_cluster(client: Client, **node_opts: Any) -> AsyncIterator[Cluster]:
    tag = uuid.uuid4().hex[:8]
    ns = f"sim-{tag}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    count = node_opts.pop("count", 3)
    opts = NodesOptions(
        names=tuple(f"sim-{tag}-{i}" for i in range(1, count + 1)),
        zones=(f"zone-{tag}-a", f"zone-{tag}-b", f"zone-{tag}-c"),
        labels={TEST_LABEL: tag},
        heartbeat_interval=0.2,
        readiness_delay=0.3,
        terminate_after=1.0,
        **node_opts,
    )
    clock = RealClock()
    factory = InformerFactory(client, clock)
    nodes = SimulatedNodes(client, factory, clock, opts)
    scheduler = Scheduler(client, factory, clock, SchedulerOptions(scheduler_name=f"sched-{tag}"))
    factory.start()
    tasks = [asyncio.create_task(nodes.run()), asyncio.create_task(scheduler.run())]
    try:
        await eventually(lambda: _all_registered(nodes), what="nodes registered")
        yield Cluster(client, ns, tag, nodes, scheduler)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await factory.stop()
        # Pods bound to nodes wait for their node to confirm deletion, and these nodes
        # are gone now: force-delete them so the namespace does not stay Terminating.
        for pod in (await client.list_all("pods", ns)).items:
            with contextlib.suppress(errors.NotFound):
                await client.delete("pods", pod["metadata"]["name"], ns, grace_period_seconds=0)
        for name in opts.node_names():
            with contextlib.suppress(errors.NotFound):
                await client.delete("nodes", name)
            with contextlib.suppress(errors.NotFound):
                await client.delete("leases", name, opts.lease_namespace)
        with contextlib.suppress(Exception):
            await client.delete("namespaces", ns)


async def _all_registered(nodes: SimulatedNodes) -> bool:
    return all(n.registered for n in nodes.nodes.values())


@pytest.fixture
async def cluster(client: Client) -> AsyncIterator[Cluster]:
    async with start_cluster(client) as c:
        yield c


async def create_pods(cluster: Cluster, names: list[str], **extra: Any) -> None:
    sem = asyncio.Semaphore(16)

    async def one(name: str) -> None:
        async with sem:
            await cluster.client.create("pods", cluster.pod(name, **extra), cluster.ns)

    await asyncio.gather(*(one(n) for n in names))


async def test_nodes_are_registered_like_a_kubelet_would(cluster: Cluster) -> None:
    zones = set()
    for i, name in enumerate(cluster.node_names):
        node = await cluster.client.get("nodes", name)
        labels = node["metadata"]["labels"]
        zones.add(labels["topology.kubernetes.io/zone"])
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux"
        assert node["spec"]["podCIDRs"] == [f"10.244.{i}.0/24"]
        ready = condition(node, "Ready")
        assert ready is not None
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        )
        assert node["status"]["allocatable"]["pods"] == "110"
        assert {"type": "InternalIP", "address": f"172.18.0.{2 + i}"} in node["status"]["addresses"]
    assert len(zones) == 3


async def test_thirty_pods_spread_get_ips_and_become_ready(cluster: Cluster) -> None:
    names = [f"web-{i}" for i in range(30)]
    await create_pods(cluster, names)

    async def all_ready() -> list[Obj] | None:
        pods = await cluster.pods()
        return pods if len(pods) == 30 and all(is_ready(p) for p in pods) else None

    pods = await eventually(all_ready, what="30 ready pods")
    # Running, then Ready: about two status writes per pod, and none once settled.
    writes = cluster.nodes.status_writes
    assert writes <= 2 * 30 + 5, writes
    await asyncio.sleep(0.5)
    assert cluster.nodes.status_writes == writes
    per_node = Counter(p["spec"]["nodeName"] for p in pods)
    assert set(per_node) == set(cluster.node_names)
    assert max(per_node.values()) - min(per_node.values()) <= 1, per_node

    nodes = {n: await cluster.client.get("nodes", n) for n in cluster.node_names}
    seen_ips = set()
    for p in pods:
        status = p["status"]
        node = nodes[p["spec"]["nodeName"]]
        cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
        assert ipaddress.ip_address(status["podIP"]) in cidr
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        assert status["hostIP"] == node["status"]["addresses"][0]["address"]
        assert status["phase"] == "Running"
        assert status["startTime"]
        (cs,) = status["containerStatuses"]
        assert cs["ready"] and cs["started"] and "running" in cs["state"]
        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            c = condition(p, t)
            assert c is not None and c["status"] == "True" and c["lastTransitionTime"], t
        seen_ips.add(status["podIP"])
    assert len(seen_ips) == 30

    events = (await cluster.client.list_all("events", cluster.ns)).items
    scheduled = [e for e in events if e.get("reason") == "Scheduled"]
    assert scheduled and scheduled[0]["message"].startswith(f"Successfully assigned {cluster.ns}/")


async def test_ready_annotation_flips_readiness(cluster: Cluster) -> None:
    await create_pods(cluster, ["flip"])

    async def ready() -> bool:
        return is_ready(await cluster.get_pod("flip"))

    async def not_ready() -> bool:
        return not is_ready(await cluster.get_pod("flip"))

    await eventually(ready, what="ready")
    await cluster.client.patch(
        "pods", "flip", {"metadata": {"annotations": {"sliceplane.io/ready": "false"}}}, cluster.ns
    )
    await eventually(not_ready, what="not ready after annotation false")
    pod = await cluster.get_pod("flip")
    c = condition(pod, "Ready")
    assert c is not None and c["reason"] == "ContainersNotReady"
    await cluster.client.patch(
        "pods", "flip", {"metadata": {"annotations": {"sliceplane.io/ready": "true"}}}, cluster.ns
    )
    await eventually(ready, what="ready again after annotation true")


async def test_ready_false_annotation_keeps_a_new_pod_not_ready(cluster: Cluster) -> None:
    await create_pods(cluster, ["held"], annotations={"sliceplane.io/ready": "false"})

    async def running() -> Obj | None:
        pod = await cluster.get_pod("held")
        return pod if pod["status"].get("phase") == "Running" else None

    pod = await eventually(running, what="running")
    await asyncio.sleep(0.6)  # twice the readiness delay: it must still not be ready
    pod = await cluster.get_pod("held")
    assert not is_ready(pod)
    assert pod["status"]["podIP"]


async def test_delete_goes_terminating_then_gone(cluster: Cluster) -> None:
    await create_pods(cluster, ["bye"])

    async def ready() -> bool:
        return is_ready(await cluster.get_pod("bye"))

    await eventually(ready, what="ready")
    await cluster.client.delete("pods", "bye", cluster.ns)
    pod = await cluster.get_pod("bye")  # still there: its node finishes the deletion
    assert pod["metadata"]["deletionTimestamp"]
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30

    async def gone() -> bool:
        try:
            await cluster.get_pod("bye")
        except errors.NotFound:
            return True
        return False

    await eventually(gone, timeout=10, what="pod deleted by its node")
    assert cluster.nodes.deletions >= 1


async def test_stop_node_marks_node_unknown_and_pods_not_ready(cluster: Cluster) -> None:
    await create_pods(cluster, [f"p-{i}" for i in range(6)])

    async def all_ready() -> list[Obj] | None:
        pods = await cluster.pods()
        return pods if len(pods) == 6 and all(is_ready(p) for p in pods) else None

    pods = await eventually(all_ready, what="ready pods")
    victim = cluster.node_names[0]
    on_victim = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}
    assert on_victim

    await cluster.nodes.stop_node(victim)
    node = await cluster.client.get("nodes", victim)
    ready = condition(node, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    for p in await cluster.pods():
        expect_ready = p["metadata"]["name"] not in on_victim
        assert is_ready(p) is expect_ready, p["metadata"]["name"]
    lease = await cluster.client.get("leases", victim, "kube-node-lease")
    renew = lease["spec"]["renewTime"]
    await asyncio.sleep(0.6)  # three heartbeat intervals
    lease = await cluster.client.get("leases", victim, "kube-node-lease")
    assert lease["spec"]["renewTime"] == renew  # heartbeats stopped

    # New pods avoid the unreachable node.
    await create_pods(cluster, ["late-1", "late-2", "late-3"])

    async def late_bound() -> list[Obj] | None:
        pods = [p for p in await cluster.pods() if p["metadata"]["name"].startswith("late-")]
        return pods if all(p["spec"].get("nodeName") for p in pods) else None

    late = await eventually(late_bound, what="late pods bound")
    assert all(p["spec"]["nodeName"] != victim for p in late)

    events = (await cluster.client.list_all("events", cluster.ns)).items
    assert any(
        e["reason"] == "NodeNotReady" and e["message"] == "Node is not ready" for e in events
    )

    await cluster.nodes.start_node(victim)

    async def back() -> bool:
        node = await cluster.client.get("nodes", victim)
        pods = [p for p in await cluster.pods() if p["metadata"]["name"] in on_victim]
        c = condition(node, "Ready")
        return bool(c and c["status"] == "True" and all(is_ready(p) for p in pods))

    await eventually(back, what="node and its pods ready again")


async def test_lease_renew_time_advances(cluster: Cluster) -> None:
    name = cluster.node_names[1]

    async def created() -> Obj | None:
        # The node registers its Node before its Lease: the Lease may still be on its way.
        try:
            lease: Obj = await cluster.client.get("leases", name, "kube-node-lease")
        except errors.NotFound:
            return None
        return lease

    lease = await eventually(created, what="the node's Lease")
    assert lease["spec"]["holderIdentity"] == name
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    first = lease["spec"]["renewTime"]

    async def advanced() -> bool:
        now = await cluster.client.get("leases", name, "kube-node-lease")
        return bool(now["spec"]["renewTime"] > first)

    await eventually(advanced, timeout=5, what="renewTime advanced")


async def test_unschedulable_pod_waits_then_schedules(cluster: Cluster) -> None:
    pod = cluster.pod("picky")
    pod["spec"]["nodeSelector"]["disk"] = "ssd"
    await cluster.client.create("pods", pod, cluster.ns)

    async def unschedulable() -> Obj | None:
        c = condition(await cluster.get_pod("picky"), "PodScheduled")
        return c if c and c["status"] == "False" else None

    c = await eventually(unschedulable, what="PodScheduled=False")
    assert c["reason"] == "Unschedulable"
    assert c["message"].startswith("0/")
    assert "nodes are available:" in c["message"]
    assert "node(s) didn't match Pod's node affinity/selector" in c["message"]

    async def failed_scheduling() -> list[Obj] | None:
        # The Event is recorded asynchronously: it may land just after the condition.
        events = (await cluster.client.list_all("events", cluster.ns)).items
        return [e for e in events if e["reason"] == "FailedScheduling"] or None

    failed = await eventually(failed_scheduling, what="a FailedScheduling Event")
    assert failed and failed[0]["type"] == "Warning" and failed[0]["message"] == c["message"]

    target = cluster.node_names[2]
    await cluster.client.patch("nodes", target, {"metadata": {"labels": {"disk": "ssd"}}})

    async def bound() -> str | None:
        node: str | None = (await cluster.get_pod("picky"))["spec"].get("nodeName")
        return node

    assert await eventually(bound, what="scheduled after a node matched") == target


async def test_pods_created_with_node_name_are_run_and_counted(cluster: Cluster) -> None:
    pinned = cluster.node_names[0]
    await create_pods(cluster, ["pinned"], nodeName=pinned)

    async def ready() -> bool:
        return is_ready(await cluster.get_pod("pinned"))

    await eventually(ready, what="pinned pod ready")
    await create_pods(cluster, ["next-1", "next-2"])

    async def bound() -> list[str] | None:
        nodes = [(await cluster.get_pod(n))["spec"].get("nodeName") for n in ("next-1", "next-2")]
        return nodes if all(nodes) else None

    assert pinned not in await eventually(bound, what="next pods bound")


async def test_dual_stack_pods(client: Client) -> None:
    async with start_cluster(client, count=1, ip_families=("IPv4", "IPv6")) as cluster:
        await create_pods(cluster, ["dual"])

        async def ready() -> Obj | None:
            pod = await cluster.get_pod("dual")
            return pod if is_ready(pod) else None

        pod = await eventually(ready, what="dual-stack pod ready")
        ips = [p["ip"] for p in pod["status"]["podIPs"]]
        assert len(ips) == 2
        assert ipaddress.ip_address(ips[0]).version == 4
        assert ipaddress.ip_address(ips[1]) in ipaddress.ip_network("fd00:10:244::/64")
        node = await client.get("nodes", cluster.node_names[0])
        assert node["spec"]["podCIDRs"] == ["10.244.0.0/24", "fd00:10:244::/64"]
