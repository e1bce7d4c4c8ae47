"""Tables for the local scheduler's pure placement: filters, spreading, FitError text,
spread groups, the assumed-pod counts and the spread index (same answers as the scan)."""

from __future__ import annotations

import copy
import random
from collections import Counter
from typing import Any

import pytest

from sliceplane.workloads.scheduler import placement
from sliceplane.workloads.scheduler.filters import (
    NO_NODES_MESSAGE,
    filter_node,
    needs_scheduling,
    unschedulable_message,
)
from sliceplane.workloads.scheduler.placement import (
    choose_node,
    index_node,
    place,
    place_indexed,
    spread_group,
)
from sliceplane.workloads.scheduler.podcounts import PodCounts
from sliceplane.workloads.scheduler.spreadindex import SpreadIndex

Obj = dict[str, Any]


def node(
    name: str,
    zone: str | None = "a",
    *,
    ready: str | None = "True",
    unschedulable: bool = False,
    taints: list[Obj] | None = None,
    labels: dict[str, str] | None = None,
    max_pods: int | None = 110,
) -> Obj:
    lab = {"kubernetes.io/hostname": name, **(labels or {})}
    if zone is not None:
        lab["topology.kubernetes.io/zone"] = zone
    status: Obj = {"conditions": []}
    if ready is not None:
        status["conditions"].append({"type": "Ready", "status": ready})
    if max_pods is not None:
        status["allocatable"] = {"pods": str(max_pods)}
    spec: Obj = {}
    if unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    return {"metadata": {"name": name, "labels": lab}, "spec": spec, "status": status}


def pod(
    name: str = "p",
    *,
    ns: str = "default",
    labels: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
    tolerations: list[Obj] | None = None,
    affinity: Obj | None = None,
    node_name: str | None = None,
    owner: str | None = None,
    deleting: bool = False,
    phase: str = "Pending",
    scheduler: str | None = None,
) -> Obj:
    meta: Obj = {"name": name, "namespace": ns, "labels": labels or {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": owner,
                "uid": owner,
                "controller": True,
            }
        ]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: Obj = {"containers": [{"name": "c", "image": "x"}]}
    if selector:
        spec["nodeSelector"] = selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if node_name:
        spec["nodeName"] = node_name
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


THREE = [node("n1", "a"), node("n2", "b"), node("n3", "c")]


@pytest.mark.parametrize(
    ("nodes", "counts", "group", "expected"),
    [
        pytest.param(THREE, {}, None, "n1", id="empty-cluster-name-breaks-ties"),
        pytest.param(THREE, {"n1": 1}, None, "n2", id="least-loaded-node"),
        pytest.param(THREE, {"n1": 1, "n2": 1}, None, "n3", id="round-robin"),
        pytest.param(
            [node("a1", "a"), node("a2", "a"), node("b1", "b")],
            {"a1": 2, "b1": 1},
            None,
            "b1",
            id="zone-first-even-if-its-node-is-busier",
        ),
        pytest.param(
            [node("a1", "a"), node("a2", "a"), node("b1", "b")],
            {"a1": 1, "b1": 2},
            None,
            "a2",
            id="then-least-loaded-node-in-the-zone",
        ),
        pytest.param(
            THREE,
            {"n1": 5, "n2": 0, "n3": 1},
            {"n1": 0, "n2": 1, "n3": 1},
            "n1",
            id="spread-group-beats-total-load",
        ),
        pytest.param(
            THREE,
            {"n1": 5, "n2": 0, "n3": 1},
            {"n1": 1, "n2": 1, "n3": 1},
            "n2",
            id="group-tie-total-load-decides",
        ),
        pytest.param([node("x", None), node("y", None)], {"x": 1}, None, "y", id="no-zone-labels"),
        pytest.param([], {}, None, None, id="no-nodes"),
    ],
)
def test_choose_node_spreads(
    nodes: list[Obj], counts: dict[str, int], group: dict[str, int] | None, expected: str | None
) -> None:
    p = pod()
    before = copy.deepcopy((p, nodes, counts))
    assert choose_node(p, nodes, counts, group_counts=group) == expected
    assert (p, nodes, counts) == before  # inputs untouched


def test_thirty_pods_land_ten_per_zone() -> None:
    counts: Counter[str] = Counter()
    for _ in range(30):
        chosen = choose_node(pod(), THREE, counts)
        assert chosen is not None
        counts[chosen] += 1
    assert counts == {"n1": 10, "n2": 10, "n3": 10}


NOT_READY = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
UNREACHABLE = "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"


@pytest.mark.parametrize(
    ("p", "n", "count", "reason"),
    [
        pytest.param(pod(), node("n"), 0, None, id="fits"),
        pytest.param(pod(), node("n", ready="False"), 0, NOT_READY, id="not-ready"),
        pytest.param(pod(), node("n", ready=None), 0, NOT_READY, id="no-ready-condition"),
        pytest.param(pod(), node("n", ready="Unknown"), 0, UNREACHABLE, id="unreachable"),
        pytest.param(
            pod(tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}]),
            node("n", ready="Unknown"),
            0,
            None,
            id="tolerates-unreachable",
        ),
        pytest.param(
            pod(), node("n", unschedulable=True), 0, "node(s) were unschedulable", id="cordoned"
        ),
        pytest.param(
            pod(
                tolerations=[
                    {
                        "key": "node.kubernetes.io/unschedulable",
                        "operator": "Exists",
                        "effect": "NoSchedule",
                    }
                ]
            ),
            node("n", unschedulable=True),
            0,
            None,
            id="tolerates-cordon",
        ),
        pytest.param(
            pod(),
            node("n", unschedulable=True, ready="False"),
            0,
            "node(s) were unschedulable",
            id="cordon-checked-before-taints",
        ),
        pytest.param(
            pod(),
            node("n", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
            0,
            "node(s) had untolerated taint {gpu: yes}",
            id="noschedule-taint",
        ),
        pytest.param(
            pod(),
            node("n", taints=[{"key": "gpu", "effect": "NoExecute"}]),
            0,
            "node(s) had untolerated taint {gpu: }",
            id="noexecute-taint",
        ),
        pytest.param(
            pod(),
            node("n", taints=[{"key": "gpu", "effect": "PreferNoSchedule"}]),
            0,
            None,
            id="prefer-noschedule-does-not-filter",
        ),
        pytest.param(
            pod(tolerations=[{"key": "gpu", "operator": "Equal", "value": "yes"}]),
            node("n", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
            0,
            None,
            id="equal-toleration",
        ),
        pytest.param(
            pod(tolerations=[{"key": "gpu", "value": "no"}]),
            node("n", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
            0,
            "node(s) had untolerated taint {gpu: yes}",
            id="equal-toleration-wrong-value",
        ),
        pytest.param(
            pod(tolerations=[{"operator": "Exists"}]),
            node("n", taints=[{"key": "gpu", "effect": "NoSchedule"}], ready="False"),
            0,
            None,
            id="wildcard-toleration",
        ),
        pytest.param(
            pod(tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}]),
            node("n", taints=[{"key": "gpu", "effect": "NoSchedule"}]),
            0,
            "node(s) had untolerated taint {gpu: }",
            id="toleration-effect-must-match",
        ),
        pytest.param(
            pod(selector={"disk": "ssd"}),
            node("n", labels={"disk": "ssd"}),
            0,
            None,
            id="node-selector-match",
        ),
        pytest.param(
            pod(selector={"disk": "ssd"}),
            node("n"),
            0,
            "node(s) didn't match Pod's node affinity/selector",
            id="node-selector-miss",
        ),
        pytest.param(
            pod(
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "topology.kubernetes.io/zone",
                                            "operator": "In",
                                            "values": ["b"],
                                        }
                                    ]
                                },
                                {
                                    "matchFields": [
                                        {"key": "metadata.name", "operator": "In", "values": ["n"]}
                                    ]
                                },
                            ]
                        }
                    }
                }
            ),
            node("n", "a"),
            0,
            None,
            id="affinity-terms-are-ored",
        ),
        pytest.param(
            pod(
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "topology.kubernetes.io/zone",
                                            "operator": "NotIn",
                                            "values": ["a"],
                                        },
                                    ]
                                }
                            ]
                        }
                    }
                }
            ),
            node("n", "a"),
            0,
            "node(s) didn't match Pod's node affinity/selector",
            id="affinity-notin",
        ),
        pytest.param(
            pod(
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{}]
                        }
                    }
                }
            ),
            node("n"),
            0,
            "node(s) didn't match Pod's node affinity/selector",
            id="empty-term-matches-nothing",
        ),
        pytest.param(pod(), node("n", max_pods=3), 2, None, id="last-pod-slot"),
        pytest.param(pod(), node("n", max_pods=3), 3, "Too many pods", id="node-full"),
    ],
)
def test_filter_node(p: Obj, n: Obj, count: int, reason: str | None) -> None:
    assert filter_node(p, n, count) == reason


def test_fit_error_message_is_upstreams() -> None:
    nodes = [
        node("n1", ready="False"),
        node("n2", unschedulable=True),
        node("n3"),
        node("n4", labels={"disk": "ssd"}, max_pods=1),
    ]
    result = place(pod(selector={"disk": "ssd"}), nodes, {"n4": 1})
    assert result.node is None
    assert result.message == (
        "0/4 nodes are available: 1 Too many pods, 1 node(s) didn't match Pod's node "
        "affinity/selector, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "1 node(s) were unschedulable."
    )


@pytest.mark.parametrize(
    ("num", "reasons", "message"),
    [
        pytest.param(0, {}, NO_NODES_MESSAGE, id="no-nodes"),
        pytest.param(
            3,
            {"node(s) didn't match Pod's node affinity/selector": 3},
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
            id="one-reason",
        ),
        pytest.param(
            12,
            {"b": 2, "a": 10},
            "0/12 nodes are available: 10 a, 2 b.",
            id="sorted-as-strings-like-upstream",
        ),
    ],
)
def test_unschedulable_message(num: int, reasons: dict[str, int], message: str) -> None:
    assert unschedulable_message(num, reasons) == message


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        pytest.param(pod(), True, id="pending"),
        pytest.param(pod(node_name="n1"), False, id="already-bound"),
        pytest.param(pod(deleting=True), False, id="terminating"),
        pytest.param(pod(phase="Succeeded"), False, id="finished"),
        pytest.param(pod(scheduler="other"), False, id="other-scheduler"),
        pytest.param(pod(scheduler="default-scheduler"), True, id="explicit-default"),
    ],
)
def test_needs_scheduling(p: Obj, expected: bool) -> None:
    assert needs_scheduling(p) is expected


def test_spread_group() -> None:
    assert spread_group(pod(owner="rs-1")) == spread_group(pod(owner="rs-1", labels={"x": "y"}))
    assert spread_group(pod(owner="rs-1")) != spread_group(pod(owner="rs-2"))
    assert spread_group(pod(labels={"a": "1", "b": "2"})) == spread_group(
        pod(labels={"b": "2", "a": "1"})
    )
    assert spread_group(pod(ns="x")) != spread_group(pod(ns="y"))


def test_pod_counts_assume_then_observe() -> None:
    c = PodCounts()
    p = pod("p1", owner="rs")
    group = spread_group(p)
    c.assume("default/p1", "n1", group)
    assert c.total == {"n1": 1} and c.group(group) == {"n1": 1}
    # A late echo of the pod still unbound must not drop the assumption.
    c.observe("default/p1", p)
    assert c.total == {"n1": 1} and c.is_assumed("default/p1")
    # The watch catches up: same count, no longer assumed.
    c.observe("default/p1", pod("p1", owner="rs", node_name="n1"))
    assert c.total == {"n1": 1} and not c.is_assumed("default/p1")
    # Terminating: still occupies the node, no longer counts for spreading.
    c.observe("default/p1", pod("p1", owner="rs", node_name="n1", deleting=True))
    assert c.total == {"n1": 1} and c.group(group) == {}
    c.delete("default/p1")
    assert c.total == {} and c.node_of("default/p1") is None


def test_pod_counts_forget_failed_binding() -> None:
    c = PodCounts()
    c.assume("default/p1", "n1", "g")
    c.forget("default/p1")
    assert c.total == {} and c.group("g") == {}
    c.observe("default/p2", pod("p2", node_name="n2"))
    c.forget("default/p2")  # not assumed: nothing to forget
    assert c.total == {"n2": 1}


def test_pod_counts_finished_pods_free_their_slot() -> None:
    c = PodCounts()
    c.observe("default/p1", pod("p1", node_name="n1"))
    c.observe("default/p1", pod("p1", node_name="n1", phase="Succeeded"))
    assert c.total == {}


# -- the spread index: place_indexed answers what place answers, without the full scan ----


class Nodes:
    """A NodeLookup over a dict, like the informer store."""

    def __init__(self) -> None:
        self.by_name: dict[str, Obj] = {}

    def get(self, key: str) -> Obj | None:
        return self.by_name.get(key)

    def list(self) -> list[Obj]:
        return [self.by_name[k] for k in sorted(self.by_name)]


def indexed(nodes: list[Obj], counts: dict[str, int]) -> tuple[SpreadIndex, Nodes]:
    index, lookup = SpreadIndex(), Nodes()
    for n in nodes:
        lookup.by_name[n["metadata"]["name"]] = n
        index_node(index, n, counts.get(n["metadata"]["name"], 0))
    return index, lookup


@pytest.mark.parametrize(
    ("nodes", "counts", "group", "expected"),
    [
        pytest.param(THREE, {}, {}, "n1", id="empty-cluster-name-breaks-ties"),
        pytest.param(THREE, {"n1": 1}, {"n1": 1}, "n2", id="least-loaded-node"),
        pytest.param(
            [node("a1", "a"), node("a2", "a"), node("b1", "b")],
            {"a1": 2, "b1": 1},
            {"a1": 2, "b1": 1},
            "b1",
            id="zone-first-even-if-its-node-is-busier",
        ),
        pytest.param(
            [node("a1", "a"), node("a2", "a"), node("b1", "b")],
            {"a1": 1, "b1": 2},
            {"a1": 1, "b1": 2},
            "a2",
            id="then-least-loaded-node-in-the-zone",
        ),
        pytest.param(
            THREE,
            {"n1": 5, "n2": 0, "n3": 1},
            {"n2": 1, "n3": 1},
            "n1",
            id="spread-group-beats-total-load",
        ),
        pytest.param(
            [node("a1", "a"), node("a2", "a"), node("b1", "b"), node("b2", "b")],
            {"a1": 1, "a2": 1, "b1": 3, "b2": 1},
            {"a1": 1, "a2": 1, "b1": 1, "b2": 1},
            "a1",
            id="group-everywhere-zone-total-decides",
        ),
        pytest.param(
            [node("a1", "a"), node("a2", "a", max_pods=2), node("b1", "b")],
            {"a1": 1, "a2": 2, "b1": 1},
            {"a2": 2},
            "a1",
            id="full-node-leaves-the-zone-sums",
        ),
        pytest.param(
            [node("a1", "a", ready="False"), node("a2", "a"), node("b1", "b")],
            {"a1": 9},
            {"a1": 9},
            "a2",
            id="not-ready-node-leaves-the-zone-sums",
        ),
        pytest.param(
            [node("a1", "a", unschedulable=True), node("b1", "b")],
            {},
            {},
            "b1",
            id="cordoned-node-skipped",
        ),
        pytest.param([node("x", None), node("y", None)], {"x": 1}, {"x": 1}, "y", id="no-zones"),
    ],
)
def test_place_indexed_spreads_like_place(
    nodes: list[Obj], counts: dict[str, int], group: dict[str, int], expected: str
) -> None:
    index, lookup = indexed(nodes, counts)
    p = pod()
    assert place(p, nodes, counts, group_counts=group).node == expected
    assert place_indexed(p, index, lookup, counts, group_counts=group).node == expected


def test_place_indexed_does_not_scan_for_plain_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    index, lookup = indexed([node(f"n{i}", "abc"[i % 3]) for i in range(30)], {})

    def no_scan(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("full scan")

    monkeypatch.setattr(placement, "place", no_scan)
    monkeypatch.setattr(placement, "filter_node", no_scan)
    assert place_indexed(pod(), index, lookup, {}, group_counts={}).node == "n0"


@pytest.mark.parametrize(
    ("p", "nodes", "expected"),
    [
        pytest.param(
            pod(selector={"disk": "ssd"}),
            [node("n1"), node("n2", labels={"disk": "ssd"})],
            "n2",
            id="node-selector-scans",
        ),
        pytest.param(
            pod(tolerations=[{"key": "gpu", "operator": "Exists"}]),
            [node("n1"), node("n2", taints=[{"key": "gpu", "effect": "NoSchedule"}])],
            "n1",
            id="tolerated-taint-scans-and-spreads-by-name",
        ),
        pytest.param(
            pod(tolerations=[{"key": "gpu", "operator": "Exists"}]),
            [node("n2"), node("n1", taints=[{"key": "gpu", "effect": "NoSchedule"}])],
            "n1",
            id="tolerated-taint-node-can-win",
        ),
        pytest.param(
            pod(),
            [node("n1", ready="False"), node("n2", unschedulable=True)],
            None,
            id="nothing-fits",
        ),
    ],
)
def test_place_indexed_falls_back(p: Obj, nodes: list[Obj], expected: str | None) -> None:
    index, lookup = indexed(nodes, {})
    got = place_indexed(p, index, lookup, {}, group_counts={})
    want = place(p, nodes, {}, group_counts={})
    assert got == want and got.node == expected


def test_place_indexed_fit_error_is_places() -> None:
    nodes = [node("n1", ready="False"), node("n2", max_pods=1)]
    index, lookup = indexed(nodes, {"n2": 1})
    got = place_indexed(pod(), index, lookup, {"n2": 1}, group_counts={})
    assert got.node is None
    assert got.message == (
        "0/2 nodes are available: 1 Too many pods, "
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."
    )


def random_node(rng: random.Random, name: str) -> Obj:
    taints = []
    if rng.random() < 0.1:
        taints.append({"key": "gpu", "effect": rng.choice(["NoSchedule", "PreferNoSchedule"])})
    return node(
        name,
        rng.choice(["a", "b", "c", None]),
        ready=rng.choices(["True", "False", "Unknown"], [8, 1, 1])[0],
        unschedulable=rng.random() < 0.05,
        taints=taints,
        labels={"disk": "ssd"} if rng.random() < 0.3 else {},
        max_pods=rng.choice([3, 5, 8, None]),
    )


def random_pod(rng: random.Random, i: int) -> Obj:
    tolerations = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]
    return pod(
        f"p{i}",
        owner=rng.choice(["rs-1", "rs-2", "rs-3", None]),
        labels={"app": rng.choice(["web", "db"])},
        selector={"disk": "ssd"} if rng.random() < 0.1 else None,
        tolerations=tolerations if rng.random() < 0.1 else None,
    )


@pytest.mark.parametrize("seed", range(8))
def test_scheduler_bookkeeping_agrees_with_place(seed: int) -> None:
    """Random clusters and histories (placements, deletions, terminating pods, nodes
    changing, leaving and coming back): the indexed answer is always place's."""
    rng = random.Random(seed)
    index = SpreadIndex()
    counts = PodCounts(on_total=index.set_total)
    lookup = Nodes()

    def put_node(n: Obj) -> None:
        lookup.by_name[n["metadata"]["name"]] = n
        index_node(index, n, counts.total.get(n["metadata"]["name"], 0))

    for i in range(rng.randint(1, 12)):
        put_node(random_node(rng, f"n{i}"))
    pods: dict[str, Obj] = {}
    for step in range(400):
        action = rng.random()
        if action < 0.6:
            p = random_pod(rng, step)
            group = spread_group(p)
            want = place(p, lookup.list(), counts.total, group_counts=counts.group(group))
            got = place_indexed(p, index, lookup, counts.total, group_counts=counts.group(group))
            assert got == want, step
            if got.node is not None:
                key = f"default/p{step}"
                counts.assume(key, got.node, group)
                pods[key] = p | {"spec": p["spec"] | {"nodeName": got.node}}
                if rng.random() < 0.5:
                    counts.observe(key, pods[key])  # the watch confirms it
        elif action < 0.75 and pods:
            key = rng.choice(sorted(pods))
            if rng.random() < 0.5:
                counts.delete(key)
                del pods[key]
            else:  # terminating: occupies the node, no longer spreads
                p = pods[key]
                counts.observe(key, p | {"metadata": p["metadata"] | {"deletionTimestamp": "x"}})
        elif action < 0.9:
            put_node(random_node(rng, f"n{rng.randint(0, 14)}"))
        elif lookup.by_name:
            name = rng.choice(sorted(lookup.by_name))
            del lookup.by_name[name]
            index.remove_node(name)
