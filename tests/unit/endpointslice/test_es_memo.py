"""Planning with the endpoint memo gives exactly the plans planning without it gives."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from fixtures import TRIGGER, new_node, new_pod, new_service

from sliceplane.endpointslice.hints import make_hints_pass
from sliceplane.endpointslice.memo import EndpointMemo
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.types import Obj, Plan

ZONES = ("zone-a", "zone-b", "zone-c")


def _apply(slices: dict[str, Obj], plan: Plan, counter: list[int]) -> None:
    for action in plan.actions:
        es = copy.deepcopy(action.slice)
        meta = es.setdefault("metadata", {})
        if action.verb == "create":
            counter[0] += 1
            meta["name"] = f"{meta.pop('generateName')}{counter[0]:05d}"
            slices[meta["name"]] = es
        elif action.verb == "update":
            slices[meta["name"]] = es
        else:
            slices.pop(meta["name"], None)


def _summary(plan: Plan) -> list[tuple[str, Any]]:
    return [(a.verb, a.slice) for a in plan.actions] + [("errors", plan.errors)]


@pytest.mark.parametrize("seed", range(12))
def test_memo_never_changes_a_plan(seed: int) -> None:
    rng = random.Random(seed)
    svc = new_service()
    if seed % 3 == 0:
        svc["spec"]["trafficDistribution"] = "PreferSameZone"
    node_map = {f"node-{i}": new_node(f"node-{i}", ZONES[i % 3]) for i in range(4)}
    pods: dict[int, Obj] = {}
    version = 1000
    memo = EndpointMemo()
    slices: dict[str, Obj] = {}
    counter = [0]
    opts = ReconcilerOptions(max_endpoints_per_slice=rng.choice((3, 10, 100)))
    hints = make_hints_pass(None)
    for _step in range(40):
        for _ in range(rng.randint(1, 6)):
            version += 1
            op = rng.random()
            n = rng.randrange(60)
            if op < 0.35 or n not in pods:
                pod = new_pod(n, ready=rng.random() < 0.7, node=f"node-{rng.randrange(5)}")
                pods[n] = pod
            elif op < 0.55:
                pods[n] = copy.deepcopy(pods[n])
                cond = pods[n]["status"]["conditions"][0]
                cond["status"] = "False" if cond["status"] == "True" else "True"
            elif op < 0.65:
                pods[n] = copy.deepcopy(pods[n])
                pods[n]["metadata"]["deletionTimestamp"] = "2026-11-28T00:00:00Z"
            elif op < 0.75:
                del pods[n]
            elif op < 0.85:
                name = f"node-{rng.randrange(5)}"
                if name in node_map and rng.random() < 0.3:
                    del node_map[name]  # pods there are skipped with an error
                else:
                    node_map[name] = new_node(name, rng.choice(ZONES))
            elif op < 0.92:
                svc = copy.deepcopy(svc)
                spec = svc["spec"]
                spec["publishNotReadyAddresses"] = not spec.get("publishNotReadyAddresses")
            else:
                pods[n] = copy.deepcopy(pods[n])
                pods[n]["spec"].update(hostname=f"h{n}", subdomain=rng.choice(("foo", "other")))
            if n in pods:
                pods[n]["metadata"]["resourceVersion"] = str(version)
        pod_list = [pods[k] for k in sorted(pods)]
        existing = list(slices.values())
        args = (svc, pod_list, node_map, existing, opts, TRIGGER, hints)
        without = plan_service(*copy.deepcopy(args))
        with_memo = plan_service(*args, memo)
        assert _summary(with_memo) == _summary(without)
        _apply(slices, with_memo, counter)
    assert memo.hits > 0


def test_memo_reuses_only_the_same_pod_objects_and_forgets_unused_ones() -> None:
    svc = new_service()
    node_map = {"node-1": new_node("node-1")}
    memo = EndpointMemo()
    opts = ReconcilerOptions()
    pods = [new_pod(i) for i in range(5)]
    plan_service(svc, pods, node_map, [], opts, TRIGGER, None, memo)
    plan_service(svc, pods[:1], node_map, [], opts, TRIGGER, None, memo)
    plan_service(svc, pods[:1], node_map, [], opts, TRIGGER, None, memo)
    assert (memo.misses, memo.hits) == (5, 2)
    # What only the previous plan used is let go of once a plan is done.
    assert len(memo._current) == 1 and not memo._previous
    # An updated pod is a new object (as the informer hands it out): computed again.
    plan_service(svc, [new_pod(0)], node_map, [], opts, TRIGGER, None, memo)
    assert (memo.misses, memo.hits) == (6, 2)
    # A zone change of its node, or a Service change, is seen too.
    node_map["node-1"] = new_node("node-1", "zone-x")
    same = memo._current
    plan_service(svc, pods[:1], node_map, [], opts, TRIGGER, None, memo)
    assert memo.misses == 7
    assert same is not memo._current


def test_memo_keeps_no_object_the_caches_have_replaced() -> None:
    """After a plan the memo holds only the pods it was given and the slices the plan
    leaves as they are: a pod replaced since the previous plan, and a slice about to be
    updated (the cache will hold the written object), are not kept until the next sync."""
    svc = new_service()
    node_map = {"node-1": new_node("node-1")}
    memo = EndpointMemo()
    opts = ReconcilerOptions(max_endpoints_per_slice=2)
    pods = [new_pod(i) for i in range(4)]
    slices: dict[str, Obj] = {}
    _apply(slices, plan_service(svc, pods, node_map, [], opts, TRIGGER, None, memo), [0])
    assert len(slices) == 2
    old_pod = pods[3]
    pods[3] = new_pod(3, ready=False)
    existing = list(slices.values())
    plan = plan_service(svc, pods, node_map, existing, opts, TRIGGER, None, memo)
    (update,) = [a.slice for a in plan.actions]
    assert [a.verb for a in plan.actions] == ["update"]

    def held() -> list[Any]:
        out: list[Any] = [e.pod for e in (*memo._current.values(), *memo._previous.values())]
        for table in (memo._slices_current, memo._slices_previous):
            out.extend(v[0] for v in table.values())
        return out

    assert not any(x is old_pod for x in held())
    kept = [es for es in existing if es["metadata"]["name"] != update["metadata"]["name"]]
    assert [x for x in held() if x in existing] == kept
    assert all(any(x is p for x in held()) for p in pods)


def test_hints_never_reach_the_remembered_endpoints() -> None:
    """The memo hands out its own endpoint objects; the hints pass works on the planner's
    copies, so the next plan still sees hint-free endpoints."""
    svc = new_service()
    svc["spec"]["trafficDistribution"] = "PreferSameZone"
    node_map = {"node-1": new_node("node-1", "zone-a")}
    memo = EndpointMemo()
    opts = ReconcilerOptions()
    hints = make_hints_pass(None)
    pods = [new_pod(i) for i in range(3)]
    plan = plan_service(svc, pods, node_map, [], opts, TRIGGER, hints, memo)
    (create,) = [a.slice for a in plan.actions]
    assert all(ep["hints"] == {"forZones": [{"name": "zone-a"}]} for ep in create["endpoints"])
    remembered = [found[1] for e in memo._current.values() for found in e.endpoints.values()]
    assert len(remembered) == 3 and all("hints" not in ep for ep in remembered)


def test_a_slice_is_compared_again_when_its_object_changes() -> None:
    """Equalities are remembered per slice object: a new object of the same slice (someone
    else wrote it) is compared afresh, and a drifted endpoint is rewritten."""
    svc = new_service()
    node_map = {"node-1": new_node("node-1")}
    memo = EndpointMemo()
    opts = ReconcilerOptions()
    pods = [new_pod(i) for i in range(3)]
    (create,) = [
        a.slice for a in plan_service(svc, pods, node_map, [], opts, None, None, memo).actions
    ]
    live = copy.deepcopy(create)
    live["metadata"].update(name="foo-abc", resourceVersion="5")
    del live["metadata"]["generateName"]
    for _ in range(2):
        assert plan_service(svc, pods, node_map, [live], opts, None, None, memo).actions == []
    drifted = copy.deepcopy(live)
    drifted["endpoints"][1]["conditions"]["ready"] = False
    plan = plan_service(svc, pods, node_map, [drifted], opts, None, None, memo)
    assert [a.verb for a in plan.actions] == ["update"]
    assert plan.actions[0].slice["endpoints"][1]["conditions"]["ready"] is True
