"""Upstream kube-scheduler, unchanged, placing pods on sliceplane's API server (issue 10).

The real kube-scheduler (``sliceplane.testenv.scheduler``: the default profile without
the plugins that need volume, disruption-budget and workload kinds sliceplane does not
serve) runs against ``sliceplane apiserver`` and, as the reference, against the real
kube-apiserver, with the same configuration. The same Nodes and pending Pods are created
on both (there is no kubelet; Nodes get their Ready condition and capacity through the
status subresource). Then:

* every schedulable Pod is bound through ``pods/binding`` (``spec.nodeName`` set) to a node
  that fits it, has ``PodScheduled=True`` and a ``Scheduled`` Event;
* a Pod whose nodeSelector no node matches, and one that asks for more CPU than any node
  has, stay pending with upstream's ``PodScheduled=False``/``Unschedulable`` condition and
  a ``FailedScheduling`` Warning Event, whose messages equal kube-apiserver's word for word.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from diffkit import BINARIES, MISSING

from sliceplane.client.client import Client
from sliceplane.testenv import ControlPlane
from sliceplane.testenv.scheduler import Scheduler
from sliceplane.testenv.sliceplane_apiserver import SliceplaneAPIServer

NO_SCHEDULER = "" if MISSING or BINARIES.kube_scheduler else "kube-scheduler not built"
pytestmark = [
    pytest.mark.skipif(bool(MISSING or NO_SCHEDULER), reason=MISSING or NO_SCHEDULER),
    pytest.mark.timeout(300),
]

Obj = dict[str, Any]
SERVERS = ("kube-apiserver", "sliceplane")


@dataclass
class Side:
    client: Client
    scheduler: Scheduler


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[Any, Scheduler]]]:
    workdir = tmp_path_factory.mktemp("upstreamsched")
    # kube-apiserver's TaintNodesByCondition admission gives every new Node the
    # node.kubernetes.io/not-ready taint, which kube-controller-manager's node lifecycle
    # controller removes once the Node is Ready; neither runs on sliceplane's side
    # (docs/upstream-differences.md), so the reference runs without the admission too.
    upstream = ControlPlane(
        workdir / "kube-apiserver",
        binaries=BINARIES,
        unsafe_no_fsync=True,
        disable_admission_plugins=("ServiceAccount", "TaintNodesByCondition"),
    )
    sp = SliceplaneAPIServer(workdir / "sliceplane")
    started: list[Any] = []
    try:
        for server in (upstream, sp):
            server.start()
            started.append(server)
        out = {}
        for name, server in zip(SERVERS, (upstream, sp), strict=True):
            sched = Scheduler(server.kubeconfig, workdir / name, binaries=BINARIES)
            sched.start()
            started.append(sched)
            out[name] = (server, sched)
        yield out
    finally:
        for thing in reversed(started):
            thing.stop()


@pytest.fixture
async def sides(servers: dict[str, tuple[Any, Scheduler]]) -> AsyncIterator[dict[str, Side]]:
    out = {}
    try:
        for name, (server, sched) in servers.items():
            out[name] = Side(await Client.connect(server.kubeconfig), sched)
        yield out
    finally:
        for side in out.values():
            await side.client.close()


def node(name: str, cpu: str, labels: dict[str, str]) -> tuple[Obj, Obj]:
    obj = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}}}
    status = {
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    return obj, status


def pod(name: str, *, cpu: str = "100m", selector: dict[str, str] | None = None) -> Obj:
    spec: Obj = {
        "containers": [
            {
                "name": "app",
                "image": "registry.invalid/app:1",
                "resources": {"requests": {"cpu": cpu}},
            }
        ]
    }
    if selector:
        spec["nodeSelector"] = selector
    return {"metadata": {"name": name, "labels": {"app": "sched"}}, "spec": spec}


def condition(p: Obj) -> Obj | None:
    for c in (p.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled":
            return {k: c.get(k) for k in ("status", "reason", "message")}
    return None


async def events_of(c: Client, ns: str) -> dict[str, set[tuple[str, str, str]]]:
    """(type, reason, message) of the Events of each Pod, as core/v1 Events (the scheduler
    writes events.k8s.io/v1 Events where that group is served, core/v1 Events otherwise;
    kube-apiserver serves both views of the same objects)."""
    out: dict[str, set[tuple[str, str, str]]] = {}
    for e in (await c.list("events", ns)).items:
        ref = e.get("involvedObject") or e.get("regarding") or {}
        out.setdefault(ref.get("name", ""), set()).add(
            (e.get("type", ""), e.get("reason", ""), e.get("message") or e.get("note") or "")
        )
    return out


async def settle(c: Client, ns: str, names: list[str], pending: set[str]) -> dict[str, Obj]:
    """Wait until every pod outside ``pending`` is bound and every pod has its PodScheduled
    condition and an Event (bounded)."""
    pods: dict[str, Obj] = {}
    for _ in range(300):
        pods = {p["metadata"]["name"]: p for p in (await c.list("pods", ns)).items}
        events = await events_of(c, ns)
        done = all(
            condition(pods[n]) is not None
            and n in events
            and (n in pending or pods[n]["spec"].get("nodeName"))
            for n in names
        )
        if done:
            return pods
        await asyncio.sleep(0.2)
    return pods


NODES = {
    "n1": ("4", {"topology.kubernetes.io/zone": "zone-a"}),
    "n2": ("4", {"topology.kubernetes.io/zone": "zone-b", "disk": "ssd"}),
    "n3": ("2", {"topology.kubernetes.io/zone": "zone-c"}),
}
PLACEABLE = ["web-0", "web-1", "web-2", "web-3", "ssd-0"]
PENDING = {"nowhere-0", "huge-0"}


async def test_scheduler_binds_pods_on_sliceplane(sides: dict[str, Side]) -> None:
    suffix = uuid.uuid4().hex[:5]
    ns = f"s-{suffix}"
    results: dict[str, dict[str, Obj]] = {}
    events: dict[str, dict[str, set[tuple[str, str, str]]]] = {}
    node_names = {n: f"{n}-{suffix}" for n in NODES}
    for side in sides.values():
        c = side.client
        await c.create("namespaces", {"metadata": {"name": ns}})
        for short, (cpu, labels) in NODES.items():
            obj, status = node(node_names[short], cpu, labels)
            await c.create("nodes", obj)
            await c.patch("nodes", node_names[short], {"status": status}, subresource="status")
        for n in PLACEABLE[:4]:
            await c.create("pods", pod(n), ns)
        await c.create("pods", pod("ssd-0", selector={"disk": "ssd"}), ns)
        await c.create("pods", pod("nowhere-0", selector={"disk": "tape"}), ns)
        await c.create("pods", pod("huge-0", cpu="64"), ns)
    for name, side in sides.items():
        results[name] = await settle(side.client, ns, [*PLACEABLE, *PENDING], PENDING)
        events[name] = await events_of(side.client, ns)
        side.scheduler.check_running()

    sp, up = results["sliceplane"], results["kube-apiserver"]
    ours = set(node_names.values())
    for n in PLACEABLE:
        assert up[n]["spec"].get("nodeName") in ours, f"reference: {condition(up[n])}"
        where = sp[n]["spec"].get("nodeName")
        assert where in ours, f"{n} not bound on sliceplane: {condition(sp[n])}"
        assert condition(sp[n]) == {"status": "True", "reason": None, "message": None}
        assert ("Normal", "Scheduled", f"Successfully assigned {ns}/{n} to {where}") in events[
            "sliceplane"
        ][n]
    assert sp["ssd-0"]["spec"]["nodeName"] == node_names["n2"]
    for n in sorted(PENDING):
        cond = condition(sp[n])
        assert cond is not None and cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert not sp[n]["spec"].get("nodeName")
        # Word for word what the same scheduler writes to kube-apiserver.
        assert cond == condition(up[n])
        warnings = {e for e in events["sliceplane"][n] if e[1] == "FailedScheduling"}
        assert warnings == {e for e in events["kube-apiserver"][n] if e[1] == "FailedScheduling"}
        assert warnings and all(e[0] == "Warning" for e in warnings)
    assert "didn't match Pod's node affinity/selector" in condition(sp["nowhere-0"])["message"]
    assert "Insufficient cpu" in condition(sp["huge-0"])["message"]
    for side in sides.values():
        for short in NODES:
            await side.client.delete("nodes", node_names[short])
        await side.client.delete("namespaces", ns)


def _comparable_cidr(obj: Obj) -> Obj:
    """A ServiceCIDR without what differs between any two servers (identity, times)."""
    meta = obj["metadata"]
    conditions = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in (obj.get("status") or {}).get("conditions") or []
    ]
    return {
        "kind": obj.get("kind"),
        "apiVersion": obj.get("apiVersion"),
        "name": meta["name"],
        "labels": meta.get("labels"),
        "finalizers": meta.get("finalizers"),
        "spec": obj["spec"],
        "conditions": conditions,
    }


async def test_read_only_kinds_as_kube_apiserver_serves_them(sides: dict[str, Side]) -> None:
    """What the scheduler and kube-proxy list from the kinds sliceplane serves read-only:
    the default ServiceCIDR equals kube-apiserver's (a fresh cluster's, without the
    finalizer kube-controller-manager's servicecidrs controller adds), the rest are empty
    on both, and discovery names them alike (sliceplane's verbs are get, list, watch)."""
    from sliceplane.api.resources import READ_ONLY_RESOURCES

    raw = {}
    for name, side in sides.items():
        c = side.client
        cidr = await c.request("GET", "/apis/networking.k8s.io/v1/servicecidrs/kubernetes")
        raw[name] = json.loads(cidr)
        for info in READ_ONLY_RESOURCES:
            if info.plural != "servicecidrs":
                path = f"{info.url_prefix()}/{info.plural}"
                listed = json.loads(await c.request("GET", path))
                assert listed["kind"] == f"{info.kind}List", (name, path)
                assert listed["items"] == [], (name, path)
    assert _comparable_cidr(raw["sliceplane"]) == _comparable_cidr(raw["kube-apiserver"])
    for info in READ_ONLY_RESOURCES:
        docs = {}
        for name, side in sides.items():
            doc = json.loads(await side.client.request("GET", info.url_prefix()))
            docs[name] = next(r for r in doc["resources"] if r["name"] == info.plural)
        keys = ("name", "singularName", "namespaced", "kind")
        assert {k: docs["sliceplane"].get(k) for k in keys} == {
            k: docs["kube-apiserver"].get(k) for k in keys
        }
        assert set(docs["sliceplane"]["verbs"]) == {"get", "list", "watch"}
        assert {"get", "list", "watch"} <= set(docs["kube-apiserver"]["verbs"])
