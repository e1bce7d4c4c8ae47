# ruff: noqa: E501  (one table row per line reads better than wrapped rows)
"""The DELETE planner (``apiserver.deletion``): kube-apiserver's BeforeDelete, pod
CheckGracefulDelete and generic-store rules as a table (read from
k8s.io/apiserver v0.37.2 ``registry/rest/delete.go`` and ``generic/registry/store.go``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sliceplane.api.meta import format_time
from sliceplane.apiserver.deletion import Action, plan_delete
from sliceplane.apiserver.kinds import DEFAULT, KindRules, PodRules

Obj = dict[str, Any]
NOW = datetime(2026, 12, 4, 12, 0, 0, 500000, tzinfo=UTC)  # half a second past
PODS = PodRules()


def at(seconds: int) -> str:
    return format_time(NOW + timedelta(seconds=seconds))


def pod(node: str | None = "node-1", phase: str = "Running", **meta: Any) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "x"}], "terminationGracePeriodSeconds": 30}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": "p", "namespace": "default", "generation": 1, **meta},
        "spec": spec,
        "status": {"phase": phase},
    }


def deployment(**meta: Any) -> Obj:
    return {"metadata": {"name": "d", "namespace": "default", "generation": 3, **meta}}


def configmap(**meta: Any) -> Obj:
    return {"metadata": {"name": "c", "namespace": "default", **meta}}


def terminating(grace: int, stamp: int, **meta: Any) -> Obj:
    """A pod whose deletion started with ``grace``, due at NOW + ``stamp`` seconds."""
    return pod(deletionGracePeriodSeconds=grace, deletionTimestamp=at(stamp), generation=2, **meta)


KEEP, UPD, DEL, UPD_DEL = Action.UNCHANGED, Action.UPDATE, Action.DELETE, Action.UPDATE_THEN_DELETE
HOLD = ["x.io/hold"]
MARKED = {"finalizers": HOLD, "deletionTimestamp": at(-60), "deletionGracePeriodSeconds": 0}

CASES = [
    # (id, object, rules, requested grace, finalizers after the policy's,
    #  action, deletionGracePeriodSeconds, deletionTimestamp, generation)
    ("bound-pod-default-grace", pod(), PODS, None, [], UPD, 30, at(30), 2),
    ("bound-pod-grace-5", pod(), PODS, 5, [], UPD, 5, at(5), 2),
    ("negative-grace-is-one-second", pod(), PODS, -7, [], UPD, 1, at(1), 2),
    ("bound-pod-grace-0", pod(), PODS, 0, [], UPD_DEL, 0, at(0), 2),
    ("unbound-pod-goes-now", pod(node=None), PODS, 30, [], UPD_DEL, 0, at(0), 2),
    ("finished-pod-goes-now", pod(phase="Succeeded"), PODS, None, [], UPD_DEL, 0, at(0), 2),
    ("finalizer-holds-a-graceless-pod", pod(), PODS, 0, HOLD, UPD, 0, at(0), 2),
    # A second DELETE may only shorten, moving the existing deadline back.
    ("shorter-moves-deadline-back", terminating(30, 30), PODS, 10, [], UPD, 10, at(10), 2),
    ("shorter-but-past-is-one-second", terminating(30, 10), PODS, 5, [], UPD, 1, at(0), 2),
    ("shortened-to-zero-goes", terminating(30, 10), PODS, 0, [], UPD_DEL, 0, at(0), 2),
    ("no-grace-given-changes-nothing", terminating(10, 10), PODS, None, [], KEEP, 10, at(10), 2),
    ("longer-changes-nothing", terminating(10, 10), PODS, 60, [], KEEP, 10, at(10), 2),
    ("no-policy-finalizer-while-pending", terminating(10, 10), PODS, None, ["orphan"], KEEP, 10, at(10), 2),
    # Marked with no grace left: any DELETE removes it, unless finalizers hold it.
    ("marked-graceless-goes", terminating(0, -5), PODS, None, [], DEL, 0, at(-5), 2),
    ("marked-graceless-held", terminating(0, -5, finalizers=HOLD), PODS, None, HOLD, KEEP, 0, at(-5), 2),
    # Kinds without graceful deletion: finalizers mark them deleting now.
    ("configmap-goes", configmap(), DEFAULT, 30, [], DEL, None, None, None),
    ("held-deployment-marked-now", deployment(finalizers=HOLD), DEFAULT, None, HOLD, UPD, 0, at(0), 4),
    ("foreground-adds-finalizer", deployment(), DEFAULT, None, ["foregroundDeletion"], UPD, 0, at(0), 4),
    ("held-again-unchanged", deployment(**MARKED), DEFAULT, None, HOLD, KEEP, 0, at(-60), 3),
    ("orphan-keeps-the-mark", deployment(**MARKED), DEFAULT, None, [*HOLD, "orphan"], UPD, 0, at(-60), 3),
]  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "rules", "requested", "finalizers", "action", "grace", "stamp", "generation"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_plan_delete(
    obj: Obj,
    rules: KindRules,
    requested: int | None,
    finalizers: list[str],
    action: Action,
    grace: int | None,
    stamp: str | None,
    generation: int | None,
) -> None:
    before = repr(obj)
    plan = plan_delete(obj, rules, requested, finalizers, NOW)
    assert plan.action is action
    meta = plan.obj["metadata"]
    assert meta.get("deletionGracePeriodSeconds") == grace
    assert meta.get("deletionTimestamp") == stamp
    assert meta.get("generation") == generation
    if action in (Action.UPDATE, Action.UPDATE_THEN_DELETE):
        assert meta.get("finalizers", []) == finalizers
    assert repr(obj) == before  # the stored object is never changed in place
