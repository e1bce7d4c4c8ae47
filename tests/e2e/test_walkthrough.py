"""End to end: ``sliceplane up`` driven by the real kubectl, the demo's steps as assertions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sliceplane.client.client import Client
from sliceplane.cluster.walkthrough import Walkthrough


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    w = Walkthrough(tmp_path_factory.mktemp("cluster"))
    w.start()
    yield w
    w.stop()


def ready_count(eps: list[dict[str, Any]]) -> int:
    return sum(1 for ep in eps if ep["conditions"].get("ready"))


def test_walkthrough(walk: Walkthrough) -> None:
    nodes = walk.step_nodes().splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "ZONE"]
    assert [line.split()[1] for line in nodes[1:]] == ["Ready"] * 3
    assert sorted(line.split()[-1] for line in nodes[1:]) == ["zone-a", "zone-b", "zone-c"]

    out = walk.step_deploy()
    assert 'deployment "payments-api" successfully rolled out' in out
    (es,) = walk.slices()
    assert len(es["endpoints"]) == 6 and ready_count(es["endpoints"]) == 6
    assert {ep["zone"] for ep in es["endpoints"]} == {"zone-a", "zone-b", "zone-c"}

    table = walk.step_slices().splitlines()
    assert table[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert table[1].split()[1:3] == ["IPv4", "8080"]
    described = walk.step_describe()
    assert "AddressType:  IPv4" in described and described.count("Ready:") == 6
    cluster_ip = walk.json("get", "service", "payments-api")["spec"]["clusterIP"]
    answer = walk.step_dns().split()
    assert answer[0] == "payments-api.default.svc.cluster.local." and answer[-2:] == [
        "A",
        cluster_ip,
    ]

    walk.step_scale(300)
    slices = walk.slices()
    sizes = sorted(len(s["endpoints"]) for s in slices)
    # At least three slices of at most 100; how many more depends on the bursts in which the
    # pods' readiness reaches the controller (upstream's reconciler packs the same way: it
    # fills a partly full slice only when it rewrites that slice anyway or the burst fits).
    assert sum(sizes) == 300 and all(n <= 100 for n in sizes) and len(sizes) >= 3

    failing = walk.step_fail_readiness(3)
    by_pod = {ep["targetRef"]["name"]: ep["conditions"] for ep in walk.endpoints()}
    for pod in failing:
        assert by_pod[pod] == {"ready": False, "serving": False, "terminating": False}

    pod, seen = walk.step_terminate()
    assert {"ready": False, "serving": True, "terminating": True} in seen
    assert pod not in {ep["targetRef"]["name"] for ep in walk.endpoints()}

    on_node = walk.step_node_stop("node-2")
    assert on_node > 0
    assert all(
        not ep["conditions"]["ready"] for ep in walk.endpoints() if ep["nodeName"] == "node-2"
    )

    walk.step_typo()
    (placeholder,) = walk.slices("payments-typo")
    assert placeholder["endpoints"] is None and placeholder["ports"] is None  # as upstream


@pytest.mark.timeout(600)  # ~20 runs of the doctor; slow on a loaded machine, not wrong
def test_doctor_explains_four_breaks(walk: Walkthrough) -> None:
    verdicts = walk.step_doctor()
    assert verdicts["healthy"]["exit"] == 0 and verdicts["healthy"]["findings"] == []
    for code in (
        "SelectorMatchesNoPods",
        "PodsNotReady",
        "NamedTargetPortMissing",
        "PodsInOtherNamespace",
    ):
        doc = verdicts[code]
        assert doc["exit"] == 1 and not doc["ok"]
        first = doc["findings"][0]
        assert (first["code"], first["severity"]) == (code, "error")  # the cause comes first
        assert any(o.startswith("pod/default/checkout-") for o in first["objects"])


def test_rolling_update_keeps_enough_ready_endpoints(walk: Walkthrough) -> None:
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: 8
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 2, maxUnavailable: 2}}
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      nodeSelector: {topology.kubernetes.io/zone: zone-a}
      containers: [{name: c, image: "app:1", ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: roll}
spec:
  selector: {app: roll}
  ports: [{port: 80}]
"""
    walk.kubectl("apply", "-f", "-", stdin=manifest)
    walk.kubectl("rollout", "status", "deployment/roll", "--timeout=120s")
    walk.wait(lambda: ready_count(walk.endpoints("roll")) == 8, "8 ready endpoints")
    observed: list[int] = []

    async def watch_slices(stop: asyncio.Event) -> None:
        async with await Client.connect(walk.data_dir / "kubeconfig") as client:
            state: dict[str, dict[str, Any]] = {}
            page = await client.list(
                "endpointslices", "default", label_selector="kubernetes.io/service-name=roll"
            )
            for s in page.items:
                state[s["metadata"]["name"]] = s
            observed.append(ready_count([e for s in state.values() for e in s["endpoints"] or []]))
            async for ev in client.watch(
                "endpointslices",
                "default",
                resource_version=page.resource_version,
                label_selector="kubernetes.io/service-name=roll",
                timeout_seconds=120,
            ):
                if ev.type in ("ADDED", "MODIFIED"):
                    state[ev.object["metadata"]["name"]] = ev.object
                elif ev.type == "DELETED":
                    state.pop(ev.object["metadata"]["name"], None)
                else:
                    continue
                observed.append(
                    ready_count([e for s in state.values() for e in s["endpoints"] or []])
                )
                if stop.is_set():
                    return

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watch_slices(stop))
        await asyncio.sleep(0.5)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            None, lambda: walk.kubectl("set", "image", "deployment/roll", "c=app:2")
        )
        await loop.run_in_executor(
            None, lambda: walk.kubectl("rollout", "status", "deployment/roll", "--timeout=120s")
        )
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert len(observed) > 5  # the rollout was seen event by event
    assert min(observed) >= 8 - 2, observed


def test_restart_preserves_state(walk: Walkthrough) -> None:
    before = walk.json("get", "deployments", "payments-api")
    walk.stop()
    walk.start()
    after = walk.json("get", "deployments", "payments-api")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["replicas"] == before["spec"]["replicas"]
    node2 = walk.json("get", "nodes", "node-2")
    assert node2["metadata"]["annotations"]["sliceplane.io/stopped"] == "true"  # still failed
    walk.kubectl("annotate", "node", "node-2", "sliceplane.io/stopped-")
    walk.wait(lambda: ready_count(walk.endpoints()) == 300 - 3, "ready endpoints again", 180)
    names = [ep["targetRef"]["name"] for ep in walk.endpoints()]
    assert len(names) == len(set(names))
    assert Path(walk.data_dir / "state.sqlite").exists()
