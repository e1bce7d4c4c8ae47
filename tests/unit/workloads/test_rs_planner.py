"""ReplicaSet planner: pod creation from the template, upstream's surplus-pod ranking
(``controller_utils_test.go`` ``TestSortingActivePodsWithRanks`` order), status counting
(``replica_set_utils_test.go`` ``TestCalculateStatus``) and expectations."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sliceplane.api.meta import format_time
from sliceplane.machinery.clock import FakeClock
from sliceplane.workloads.apps.expectations import ControllerExpectations, WrittenVersions
from sliceplane.workloads.apps.replicaset.planner import (
    plan_replicaset,
    pods_to_delete,
    rank_pods_for_deletion,
    replicaset_status,
    status_differs,
)
from sliceplane.workloads.podstate import is_pod_available

Obj = dict[str, Any]
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds_ago: float) -> str:
    return format_time(NOW - timedelta(seconds=seconds_ago))


def rs(replicas: int = 3, *, min_ready: int = 0, generation: int = 2, **extra: Any) -> Obj:
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {
                "labels": {"app": "web", "tier": "front"},
                "annotations": {"team": "a"},
            },
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
        },
    }
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-abc",
            "namespace": "ns",
            "uid": "rs-uid",
            "generation": generation,
            **extra,
        },
        "spec": spec,
        "status": {},
    }


def pod(
    name: str,
    *,
    node: str = "n1",
    phase: str = "Running",
    ready: bool = True,
    ready_ago: float = 600,
    created_ago: float = 1000,
    restarts: int = 0,
    cost: int | None = None,
    labels: dict[str, str] | None = None,
    deleting: bool = False,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "creationTimestamp": ts(created_ago),
        "labels": labels if labels is not None else {"app": "web", "tier": "front"},
    }
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    status: Obj = {
        "phase": phase,
        "containerStatuses": [{"name": "c", "restartCount": restarts}],
    }
    if phase == "Running":
        status["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": ts(ready_ago),
            }
        ]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


# ---------------------------------------------------------------------------- creation


def test_creates_missing_pods_from_the_template() -> None:
    owner = rs(3)
    creates, deletes, status = plan_replicaset(owner, [pod("a")], NOW)
    assert deletes == []
    assert len(creates) == 2
    p = creates[0]
    assert p["metadata"]["generateName"] == "web-abc-"
    assert "name" not in p["metadata"]
    assert p["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert p["metadata"]["annotations"] == {"team": "a"}
    assert p["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-abc",
            "uid": "rs-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert p["spec"] == {"containers": [{"name": "c", "image": "nginx:1"}]}
    # The pod spec is a copy: changing it leaves the ReplicaSet alone.
    p["spec"]["containers"][0]["image"] = "changed"
    assert owner["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    assert status["replicas"] == 1


@pytest.mark.parametrize(
    ("have", "want", "burst", "creates", "deletes"),
    [
        pytest.param(0, 5, 500, 5, 0, id="from-zero"),
        pytest.param(0, 700, 500, 500, 0, id="burst-caps-creates"),
        pytest.param(4, 4, 500, 0, 0, id="steady"),
        pytest.param(6, 2, 500, 0, 4, id="scale-down"),
        pytest.param(6, 2, 3, 0, 3, id="burst-caps-deletes"),
        pytest.param(3, 0, 500, 0, 3, id="to-zero"),
    ],
)
def test_create_and_delete_counts(
    have: int, want: int, burst: int, creates: int, deletes: int
) -> None:
    pods = [pod(f"p{i}") for i in range(have)]
    c, d, _ = plan_replicaset(rs(want), pods, NOW, burst_replicas=burst)
    assert (len(c), len(d)) == (creates, deletes)


def test_inactive_pods_are_replaced_not_counted() -> None:
    pods = [
        pod("ok"),
        pod("done", phase="Succeeded"),
        pod("failed", phase="Failed"),
        pod("going", deleting=True),
    ]
    c, d, status = plan_replicaset(rs(3), pods, NOW)
    assert (len(c), len(d)) == (2, 0)
    assert status["replicas"] == 1


def test_no_writes_while_expectations_pending_or_deleting() -> None:
    assert plan_replicaset(rs(3), [], NOW, manage=False)[:2] == ([], [])
    deleting = rs(3, deletionTimestamp=ts(0))
    assert plan_replicaset(deleting, [], NOW)[:2] == ([], [])


def test_planning_does_not_mutate_inputs() -> None:
    owner = rs(1)
    pods = [pod(f"p{i}", created_ago=i) for i in range(4)]
    before = copy.deepcopy((owner, pods))
    plan_replicaset(owner, pods, NOW)
    plan_replicaset(rs(9), pods, NOW)
    assert (owner, pods) == before


# ---------------------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(pod("x", node=""), pod("y"), id="unscheduled-before-scheduled"),
        pytest.param(pod("x", phase="Pending"), pod("y"), id="pending-before-running"),
        pytest.param(pod("x", phase="Unknown"), pod("y"), id="unknown-before-running"),
        pytest.param(pod("x", phase="Pending"), pod("y", phase="Unknown"), id="pending-unknown"),
        pytest.param(pod("x", ready=False), pod("y"), id="not-ready-before-ready"),
        pytest.param(pod("x", cost=-10), pod("y", cost=5), id="lower-deletion-cost"),
        pytest.param(pod("x", ready_ago=10), pod("y", ready_ago=10_000), id="ready-for-less-time"),
        pytest.param(pod("x", restarts=5), pod("y", restarts=1), id="more-restarts"),
        pytest.param(pod("x", created_ago=10), pod("y", created_ago=10_000), id="newer"),
    ],
)
def test_deletion_ranking_pairs(first: Obj, second: Obj) -> None:
    assert [p["metadata"]["name"] for p in rank_pods_for_deletion([second, first], None, NOW)] == [
        "x",
        "y",
    ]
    assert [p["metadata"]["name"] for p in rank_pods_for_deletion([first, second], None, NOW)] == [
        "x",
        "y",
    ]


def test_doubled_up_pods_go_first() -> None:
    lonely = pod("lonely", node="n2")
    crowded = pod("crowded", node="n1")
    related = [crowded, pod("sibling-1", node="n1"), pod("sibling-2", node="n1"), lonely]
    ranked = rank_pods_for_deletion([lonely, crowded], related, NOW)
    assert [p["metadata"]["name"] for p in ranked] == ["crowded", "lonely"]


def test_ages_in_the_same_log2_bucket_tie_break_on_uid() -> None:
    # 1000 s and 1001 s old share a log2(ns) bucket: the UID decides, not the exact age.
    a = pod("b-pod", created_ago=1000)
    b = pod("a-pod", created_ago=1001)
    ranked = rank_pods_for_deletion([a, b], None, NOW)
    assert [p["metadata"]["name"] for p in ranked] == ["a-pod", "b-pod"]


def test_full_ranking_order() -> None:
    pods = [
        pod("old-ready", created_ago=100_000, ready_ago=90_000),
        pod("unscheduled", node="", phase="Pending"),
        pod("new-ready", created_ago=100, ready_ago=50),
        pod("pending", phase="Pending"),
        pod("not-ready", ready=False),
        pod("expensive", cost=100, created_ago=10),
    ]
    ranked = [p["metadata"]["name"] for p in rank_pods_for_deletion(pods, None, NOW)]
    assert ranked == ["unscheduled", "pending", "not-ready", "new-ready", "old-ready", "expensive"]
    surplus = pods_to_delete(pods, None, 2, NOW)
    assert [p["metadata"]["name"] for p in surplus] == ["unscheduled", "pending"]


def test_scale_down_deletes_the_worst_pods() -> None:
    pods = [pod("good-1"), pod("bad", ready=False), pod("good-2", created_ago=5_000_000)]
    _, deletes, _ = plan_replicaset(rs(1), pods, NOW)
    assert [p["metadata"]["name"] for p in deletes] == ["bad", "good-1"]


# ---------------------------------------------------------------------------- status


def test_status_counts() -> None:
    pods = [
        pod("a"),  # ready for 600 s: available with minReadySeconds 60
        pod("b", ready_ago=30),  # ready, not yet available
        pod("c", ready=False),
        pod("d", labels={"app": "web"}),  # matches the selector, not the template
    ]
    status = replicaset_status(rs(4, min_ready=60, generation=7), pods, NOW)
    assert status == {
        "replicas": 4,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 2,
        "observedGeneration": 7,
    }


def test_status_omits_zero_counts_but_not_replicas() -> None:
    assert replicaset_status(rs(2, generation=1), [], NOW) == {
        "replicas": 0,
        "observedGeneration": 1,
    }


def test_failure_condition_added_then_removed() -> None:
    owner = rs(3)
    failed = replicaset_status(owner, [], NOW, manage_error="quota exceeded")
    assert failed["conditions"] == [
        {
            "type": "ReplicaFailure",
            "status": "True",
            "lastTransitionTime": format_time(NOW),
            "reason": "FailedCreate",
            "message": "quota exceeded",
        }
    ]
    owner["status"] = failed
    assert "conditions" not in replicaset_status(owner, [], NOW)


def test_available_needs_min_ready_seconds_strictly_passed() -> None:
    p = pod("a", ready_ago=60)
    assert not is_pod_available(p, 60, NOW)
    assert is_pod_available(p, 59, NOW)
    assert is_pod_available(p, 0, NOW)


def test_status_differs_ignores_omitted_zeros() -> None:
    assert not status_differs({"replicas": 0, "readyReplicas": 0}, {"replicas": 0})
    assert status_differs({"replicas": 1}, {"replicas": 2})
    assert status_differs(None, {"replicas": 1})


# ---------------------------------------------------------------------------- expectations


async def test_expectations_gate_until_observed_or_expired() -> None:
    clock = FakeClock()
    exp = ControllerExpectations(clock, timeout=300)
    assert exp.satisfied("ns/rs")
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    exp.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/rs", "ns/a")
    exp.deletion_observed("ns/rs", "ns/a")  # seen twice (terminating, then gone): once
    assert exp.pending("ns/rs") == (0, 1)
    assert not exp.satisfied("ns/rs")
    await clock.advance(301)
    assert exp.satisfied("ns/rs")  # expired: something was missed, manage again


def test_written_versions() -> None:
    w = WrittenVersions()
    w.wrote("ns/x", "120")
    assert w.lagging("ns/x", "119")
    assert not w.lagging("ns/x", "120")
    assert not w.lagging("ns/x", "121")
    assert not w.lagging("ns/other", "1")
