"""Simulated nodes: Node objects, Lease heartbeats and a kubelet-like agent for their pods.

Why: the local cluster (``sliceplane up``) needs nodes that look real to every reader —
``kubectl get nodes``, the scheduler, the EndpointSlice controller's zone and hint logic —
and pods that go Pending → Running → Ready → Terminating → gone as on a real kubelet, for
thousands of pods on a laptop. Nothing runs: pods get addresses from their node's pod
CIDR and statuses computed by :mod:`sliceplane.workloads.kubelet.kubeletstatus`.

Cost model (what "cheap" means here):

* one :class:`SimulatedNodes` serves every simulated node: one pods informer, one work
  queue of pod keys, a fixed pool of ``workers`` writing statuses (bounded concurrency);
* no task or timer per pod: every future moment (readiness due, termination due) is a
  delayed add on the work queue, whose single heap and timer run on the injected clock;
  the sync is level-triggered, so an early or repeated wake-up is harmless;
* a status write happens only when the computed status differs from the stored one
  (normally twice per pod: Running, then Ready), with the pod's resourceVersion as a
  precondition so a stale cache never overwrites a newer status;
* one heartbeat loop renews every node's Lease every ``heartbeat_interval`` (upstream
  kubelet: 10 s, ``leaseDurationSeconds`` 40) and re-posts node status only every
  ``status_report_interval`` (upstream's ``nodeStatusReportFrequency``, 5 min).

Graceful deletion: a pod that gets a ``deletionTimestamp`` stays Terminating for
``min(deletionGracePeriodSeconds, terminate_after)`` seconds from when the agent sees it,
then the agent DELETEs it with ``gracePeriodSeconds=0`` and a UID precondition, as a
kubelet does once its containers have stopped. Simulated containers exit promptly on
SIGTERM, like most real ones, so the default ``terminate_after`` is 2 s; set it to None to
hold every pod for its whole grace period (e.g. to study terminating endpoints).

Node failure: :meth:`SimulatedNodes.stop_node` stops the node's heartbeats and its agent
(its pods' statuses freeze, Terminating pods stay so — as with a dead kubelet) and, playing
the node lifecycle controller without its 40 s grace period, marks the Node's conditions
``Unknown`` ("Kubelet stopped posting node status.") and its pods' Ready condition False
(``MarkPodsNotReady``), with upstream's events. The unreachable/not-ready taints are not
written; the scheduler derives them from the Ready condition. :meth:`start_node` brings
the node back; its pods become Ready again by the usual rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sliceplane.api import errors
from sliceplane.api.meta import Obj, format_micro_time, meta_of
from sliceplane.api.wellknown import LABEL_ARCH, LABEL_HOSTNAME, LABEL_OS, LABEL_ZONE
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.workloads.kubelet.kubeletstatus import (
    mark_pod_not_ready,
    node_ready_conditions,
    node_unknown_conditions,
    readiness_override,
    ready_delay,
    running_status,
    same_ignoring_nulls,
)
from sliceplane.workloads.kubelet.podcidr import (
    IPV4,
    AddressesExhausted,
    ClusterCIDRs,
    NodeIPAM,
    check_families,
    node_address,
    node_pod_cidrs,
    usable_hosts,
)
from sliceplane.workloads.podstate import pod_ips

log = logging.getLogger(__name__)

NODE_INDEX: Final = "sliceplane.workloads/nodeName"
LABEL_SIMULATED: Final = "sliceplane.io/simulated"
EVENT_COMPONENT: Final = "kubelet"
NODE_CONTROLLER_COMPONENT: Final = "node-controller"


@dataclass(slots=True)
class NodesOptions:
    """Settings of the simulated nodes (upstream defaults where a kubelet has one)."""

    count: int = 3
    """How many nodes (``node-1`` … ``node-N``) when ``names`` is empty."""
    names: tuple[str, ...] = ()
    """Explicit node names; overrides ``count``."""
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c")
    """``topology.kubernetes.io/zone`` values, assigned round-robin; empty: no zone label."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on every node."""
    cpu: str = "4"
    """``capacity``/``allocatable`` cpu (the topology-aware-hints logic weighs zones by it)."""
    memory: str = "8Gi"
    """``capacity``/``allocatable`` memory."""
    max_pods: int = 110
    """``capacity``/``allocatable`` pods (kubelet's ``--max-pods`` default)."""
    ip_families: tuple[str, ...] = (IPV4,)
    """Pod and node address families, primary first; ``("IPv4", "IPv6")`` for dual-stack."""
    cidrs: ClusterCIDRs = field(default_factory=ClusterCIDRs)
    """Cluster pod CIDRs and per-node mask sizes (per-node /24 of 10.244.0.0/14, /64 of
    fd00:10:244::/48)."""
    node_addresses_ipv4: str = "172.18.0.0/16"
    """Range of the display-only node InternalIPs (kind's docker network); node i gets
    ``.2 + i``. Nothing ever sends traffic to them."""
    node_addresses_ipv6: str = "fc00:f853:ccd:e793::/64"
    """IPv6 counterpart of ``node_addresses_ipv4``."""
    lease_namespace: str = "kube-node-lease"
    """Where node Leases live."""
    lease_duration_seconds: int = 40
    """``spec.leaseDurationSeconds`` of node Leases (kubelet's ``nodeLeaseDurationSeconds``)."""
    heartbeat_interval: float = 10.0
    """Seconds between Lease renewals (kubelet renews every 10 s)."""
    status_report_interval: float = 300.0
    """Seconds between unchanged node-status posts (``nodeStatusReportFrequency``)."""
    readiness_delay: float = 0.5
    """Seconds from a pod's start to Ready (container start-up); a readiness probe's
    ``initialDelaySeconds`` lengthens it. Annotation ``sliceplane.io/ready`` overrides."""
    terminate_after: float | None = 2.0
    """Cap on how long a deleted pod stays Terminating (see the module docstring);
    None: the full grace period."""
    workers: int = 16
    """Concurrent status writes / deletions (and concurrent heartbeat requests)."""
    kubelet_version: str = "v1.37.0-sliceplane"
    """``status.nodeInfo.kubeletVersion`` (``kubectl get nodes`` VERSION column)."""
    record_events: bool = True
    """Write node and pod Events (NodeReady, NodeNotReady)."""
    manage_pods: bool = True
    """Run the simulated kubelet for pods (statuses, IPs, graceful deletion). False when
    another agent owns the pods of these nodes (the process runtime): the nodes still
    register, heartbeat, stop and start, and a stopped node still marks its pods
    NotReady (that is the node lifecycle controller's part)."""

    def node_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        return [f"node-{i}" for i in range(1, self.count + 1)]


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def node_object(name: str, index: int, options: NodesOptions, conditions: list[Obj]) -> Obj:
    """The Node a kubelet would register for simulated node ``index`` (0-based)."""
    cidrs = node_pod_cidrs(index, options.ip_families, options.cidrs)
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        LABEL_ARCH: "amd64",
        LABEL_HOSTNAME: name,
        LABEL_OS: "linux",
        LABEL_SIMULATED: "true",
    }
    if options.zones:
        labels[LABEL_ZONE] = options.zones[index % len(options.zones)]
    labels.update(options.labels)
    addresses = [
        {
            "type": "InternalIP",
            "address": node_address(
                index, family, options.node_addresses_ipv4, options.node_addresses_ipv6
            ),
        }
        for family in options.ip_families
    ]
    addresses.append({"type": "Hostname", "address": name})
    resources = {
        "cpu": options.cpu,
        "memory": options.memory,
        "pods": str(options.max_pods),
        "ephemeral-storage": "100Gi",
    }
    machine = _digest("machine", name)[:32]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs, "providerID": f"sliceplane://{name}"},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": conditions,
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": machine,
                "systemUUID": f"{machine[:8]}-{machine[8:12]}-{machine[12:16]}-"
                f"{machine[16:20]}-{machine[20:32]}",
                "bootID": _digest("boot", name)[:32],
                "kernelVersion": "6.8.0-sliceplane",
                "osImage": "sliceplane simulated node",
                "containerRuntimeVersion": "sliceplane://0.1.0",
                "kubeletVersion": options.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def lease_object(name: str, node_uid: str, renew_time: str, options: NodesOptions) -> Obj:
    """The node's Lease in ``kube-node-lease``, owned by the Node like a kubelet's."""
    meta: Obj = {"name": name, "namespace": options.lease_namespace}
    if node_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
        ]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": options.lease_duration_seconds,
            "renewTime": renew_time,
        },
    }


def _pod_node_index(pod: Obj) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


@dataclass(slots=True)
class SimNode:
    """What the agent knows about one of its nodes."""

    name: str
    index: int
    ipam: NodeIPAM
    view: Obj
    """A minimal Node (addresses) for :func:`running_status`."""
    uid: str = ""
    running: bool = True
    conditions: list[Obj] = field(default_factory=list)
    last_report: float = 0.0
    registered: bool = False


class SimulatedNodes:
    """Registers the simulated nodes, heartbeats for them and runs their pods; see the
    module docstring. ``await run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: NodesOptions | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.options = opts = options or NodesOptions()
        check_families(opts.ip_families)
        if opts.workers < 1:
            raise ValueError("workers must be at least 1")
        names = opts.node_names()
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate node names in {names!r}")
        self.nodes: dict[str, SimNode] = {}
        for i, name in enumerate(names):
            cidrs = node_pod_cidrs(i, opts.ip_families, opts.cidrs)
            room = min(usable_hosts(c) for c in cidrs)
            if opts.max_pods > room:
                raise ValueError(
                    f"max_pods={opts.max_pods} does not fit in a node CIDR of {room} addresses"
                )
            view = node_object(name, i, opts, [])
            self.nodes[name] = SimNode(
                name, i, NodeIPAM(cidrs), {"status": {"addresses": view["status"]["addresses"]}}
            )
        self.recorder = EventRecorder(client, clock, EVENT_COMPONENT)
        self.node_controller_recorder = EventRecorder(client, clock, NODE_CONTROLLER_COMPONENT)
        self.pods = factory.informer("pods")
        self.pods.ensure_index(NODE_INDEX, _pod_node_index)
        self.queue: WorkQueue[str] = WorkQueue(clock, name="simulated-nodes")
        self._started: dict[str, float] = {}
        self._terminating: dict[str, float] = {}
        self._sem = asyncio.Semaphore(opts.workers)
        self.status_writes = 0
        self.deletions = 0
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod_delete)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        await self.register()
        await self.pods.wait_for_sync()
        heartbeat = asyncio.create_task(self._heartbeat_loop(), name="simulated-nodes-heartbeat")
        try:
            await run_workers(self.queue, self.options.workers, self.sync_pod, logger=log)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self.queue.shut_down()
            await self.recorder.flush()
            await self.node_controller_recorder.flush()

    async def register(self) -> None:
        """Create (or take over) every Node and its Lease; nodes start Ready."""
        await self._bounded(self._register_one(n) for n in self.nodes.values())

    async def _register_one(self, node: SimNode) -> None:
        now = self.clock.wall()
        node.conditions = node_ready_conditions(node.conditions, now)
        wanted = node_object(node.name, node.index, self.options, node.conditions)
        try:
            created = await self.client.create("nodes", wanted)
            node.uid = str(created["metadata"].get("uid") or "")
        except errors.AlreadyExists:
            current = await self.client.get("nodes", node.name)
            meta = current.setdefault("metadata", {})
            meta["labels"] = {**(meta.get("labels") or {}), **wanted["metadata"]["labels"]}
            current["spec"] = {**(current.get("spec") or {}), **wanted["spec"]}
            updated = await self.client.update("nodes", current)
            await self.client.patch(
                "nodes", node.name, {"status": wanted["status"]}, subresource="status"
            )
            node.uid = str(updated["metadata"].get("uid") or "")
        node.last_report = self.clock.now()
        node.registered = True
        await self._renew_lease(node)
        if self.options.record_events:
            self.recorder.event(
                _node_ref(node), "Normal", "NodeReady", f"Node {node.name} status is now: NodeReady"
            )

    async def _bounded(self, coros: Iterable[Coroutine[Any, Any, None]]) -> None:
        """Run ``coros`` at most ``workers`` at a time; failures are logged, not raised.

        A coroutine still waiting for the semaphore when the batch is cancelled (at
        shutdown) is closed unstarted, so Python does not warn that it was never awaited."""

        async def one(c: Coroutine[Any, Any, None]) -> None:
            try:
                async with self._sem:
                    await c
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("simulated nodes: %s", exc)
            finally:
                c.close()  # a no-op once it has run

        await asyncio.gather(*(one(c) for c in coros))

    # ------------------------------------------------------------------ heartbeats

    async def _heartbeat_loop(self) -> None:
        while True:
            await self.clock.sleep(self.options.heartbeat_interval)
            await self.heartbeat()

    async def heartbeat(self) -> None:
        """Renew every running node's Lease; re-post node status when it is due."""
        running = [n for n in self.nodes.values() if n.running and n.registered]
        await self._bounded(self._renew_lease(n) for n in running)
        now = self.clock.now()
        due = [n for n in running if now - n.last_report >= self.options.status_report_interval]
        await self._bounded(self._post_ready(n) for n in due)

    async def _renew_lease(self, node: SimNode) -> None:
        renew = format_micro_time(self.clock.wall())
        try:
            await self.client.patch(
                "leases",
                node.name,
                {"spec": {"renewTime": renew, "holderIdentity": node.name}},
                self.options.lease_namespace,
            )
        except errors.NotFound:
            lease = lease_object(node.name, node.uid, renew, self.options)
            with contextlib.suppress(errors.AlreadyExists):
                await self.client.create("leases", lease, self.options.lease_namespace)

    async def _post_ready(self, node: SimNode) -> None:
        node.conditions = node_ready_conditions(node.conditions, self.clock.wall())
        node.last_report = self.clock.now()
        await self._patch_node_conditions(node)

    async def _patch_node_conditions(self, node: SimNode) -> None:
        await self.client.patch(
            "nodes", node.name, {"status": {"conditions": node.conditions}}, subresource="status"
        )

    # ------------------------------------------------------------------ node failure

    async def stop_node(self, name: str) -> None:
        """Simulate a dead kubelet on ``name``, detected at once by the node controller."""
        node = self.nodes[name]
        if not node.running:
            return
        node.running = False
        node.conditions = node_unknown_conditions(node.conditions, self.clock.wall())
        await self._patch_node_conditions(node)
        if self.options.record_events:
            self.node_controller_recorder.event(
                _node_ref(node),
                "Normal",
                "NodeNotReady",
                f"Node {name} status is now: NodeNotReady",
            )
        await self._bounded(
            self._mark_not_ready(pod) for pod in self.pods.store.by_index(NODE_INDEX, name)
        )

    async def _mark_not_ready(self, pod: Obj) -> None:
        cond = mark_pod_not_ready(pod, self.clock.wall())
        if cond is None:
            return
        meta = meta_of(pod)
        try:
            await self.client.patch(
                "pods",
                str(meta.get("name")),
                {"status": {"conditions": [cond]}},
                str(meta.get("namespace")),
                patch_type="strategic",
                subresource="status",
            )
        except errors.NotFound:
            return
        if self.options.record_events:
            await self.node_controller_recorder.record(
                pod, "Warning", "NodeNotReady", "Node is not ready"
            )

    async def start_node(self, name: str) -> None:
        """Bring ``name``'s kubelet back: Ready node, fresh Lease, its pods resynced."""
        node = self.nodes[name]
        if node.running:
            return
        node.running = True
        await self._post_ready(node)
        await self._renew_lease(node)
        if self.options.record_events:
            self.recorder.event(
                _node_ref(node), "Normal", "NodeReady", f"Node {name} status is now: NodeReady"
            )
        for key in self.pods.store.index_keys(NODE_INDEX, name):
            self.queue.add(key)

    # ------------------------------------------------------------------ pod handlers

    def _node_for(self, pod: Mapping[str, Any]) -> SimNode | None:
        name = (pod.get("spec") or {}).get("nodeName")
        return self.nodes.get(str(name)) if name else None

    def _on_pod(self, pod: Obj) -> None:
        node = self._node_for(pod)
        if node is None or not self.options.manage_pods:
            return
        key = object_key(pod)
        ips = pod_ips(pod)
        if ips and node.ipam.get(key) is None:
            node.ipam.reserve(key, ips)  # learned from a previous run, or our own write
        self.queue.add(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        self._on_pod(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = object_key(pod)
        node = self._node_for(pod)
        if node is not None:
            node.ipam.release(key)
        self._started.pop(key, None)
        self._terminating.pop(key, None)

    # ------------------------------------------------------------------ pod sync

    async def sync_pod(self, key: str) -> None:
        """Bring one pod's status in line with the simulated kubelet (level-triggered)."""
        pod = self.pods.store.get(key)
        if pod is None or not self.options.manage_pods:
            return
        node = self._node_for(pod)
        if node is None or not node.running:
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        meta = meta_of(pod)
        now = self.clock.now()
        if meta.get("deletionTimestamp"):
            await self._terminate(key, pod, now)
            return
        try:
            ips = node.ipam.allocate(key)
        except AddressesExhausted as exc:
            log.warning("pod %s: %s", key, exc)
            return
        delay = ready_delay(pod, self.options.readiness_delay)
        started = self._started.get(key)
        if started is None:
            # A pod found Running was started by an earlier run of the agent: long ago.
            started = now - delay if status.get("phase") == "Running" else now
            self._started[key] = started
        override = readiness_override(pod)
        ready_at = started + delay
        ready = override if override is not None else now >= ready_at
        wanted = running_status(pod, node.view, ips, self.clock.wall(), ready)
        if not same_ignoring_nulls(wanted, status):
            try:
                await self.client.patch(
                    "pods",
                    str(meta.get("name")),
                    {
                        "metadata": {"resourceVersion": meta.get("resourceVersion")},
                        "status": wanted,
                    },
                    str(meta.get("namespace")),
                    subresource="status",
                )
            except errors.NotFound:
                return
            self.status_writes += 1
        if override is None and not ready:
            self.queue.add_after(key, ready_at - now)

    async def _terminate(self, key: str, pod: Obj, now: float) -> None:
        meta = meta_of(pod)
        since = self._terminating.setdefault(key, now)
        grace = float(meta.get("deletionGracePeriodSeconds") or 0)
        cap = self.options.terminate_after
        due = since + (grace if cap is None else min(grace, cap))
        if now < due:
            self.queue.add_after(key, due - now)
            return
        try:
            await self.client.delete(
                "pods",
                str(meta.get("name")),
                str(meta.get("namespace")),
                grace_period_seconds=0,
                preconditions={"uid": str(meta.get("uid") or "")},
            )
        except errors.NotFound:
            return
        except errors.Conflict:
            return  # a new pod with the same name: not ours to delete
        self.deletions += 1


def _node_ref(node: SimNode) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "uid": node.uid, "namespace": ""},
    }
