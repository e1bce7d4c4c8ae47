"""Deployment planner: upstream's fencepost arithmetic (``deployment_util_test.go``
``TestResolveFenceposts``, ``TestMaxUnavailable``, ``TestNewRSNewReplicas``), the pod
template hash, and whole rollouts driven step by step against a simulated ReplicaSet
controller (RollingUpdate within its surge/unavailability bounds, Recreate, scaling,
revision history, conditions)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sliceplane.api.meta import format_time
from sliceplane.workloads.apps.deployment.planner import plan_deployment
from sliceplane.workloads.apps.deployment.progress import calculate_status
from sliceplane.workloads.apps.deployment.sync import DeploymentPlan
from sliceplane.workloads.apps.deployment.util import (
    IntOrStringError,
    equal_ignore_hash,
    get_proportion,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    resolve_fenceposts,
    scaled_value,
)
from sliceplane.workloads.apps.podtemplatehash import (
    compute_hash,
    fnv32a,
    safe_encode_string,
)

Obj = dict[str, Any]
T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def template(image: str = "nginx:1") -> Obj:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }


def deployment(
    replicas: int = 10,
    *,
    strategy: str = "RollingUpdate",
    surge: int | str | None = "25%",
    unavailable: int | str | None = "25%",
    image: str = "nginx:1",
    generation: int = 1,
    history: int = 10,
    deadline: int | None = 600,
) -> Obj:
    strat: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        ru: Obj = {}
        if surge is not None:
            ru["maxSurge"] = surge
        if unavailable is not None:
            ru["maxUnavailable"] = unavailable
        strat["rollingUpdate"] = ru
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": template(image),
        "strategy": strat,
        "revisionHistoryLimit": history,
    }
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "uid": "d-uid",
            "generation": generation,
            "creationTimestamp": format_time(T0),
        },
        "spec": spec,
        "status": {},
    }


# ---------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        pytest.param("0%", "0%", 0, (0, 1), id="both-zero-percent"),
        pytest.param("39%", "39%", 10, (4, 3), id="percent-rounding"),
        pytest.param(None, "39%", 10, (0, 3), id="nil-surge"),
        pytest.param("39%", None, 10, (4, 0), id="nil-unavailable"),
        pytest.param(None, None, 10, (0, 1), id="both-nil"),
        pytest.param("25%", "25%", 10, (3, 2), id="defaults-10"),
        pytest.param("25%", "25%", 3, (1, 0), id="defaults-3"),
        pytest.param("25%", "25%", 1, (1, 0), id="defaults-1"),
        pytest.param(2, 1, 5, (2, 1), id="ints"),
        pytest.param(0, 0, 5, (0, 1), id="both-zero-int"),
        pytest.param("100%", "100%", 7, (7, 7), id="full"),
    ],
)
def test_resolve_fenceposts(
    surge: int | str | None, unavailable: int | str | None, desired: int, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(
    ("surge", "unavailable"),
    [pytest.param("oops", "39%", id="bad-surge"), pytest.param("55%", "urg", id="bad-unav")],
)
def test_resolve_fenceposts_errors(surge: str, unavailable: str) -> None:
    with pytest.raises(IntOrStringError):
        resolve_fenceposts(surge, unavailable, 10)


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        pytest.param(5, 10, True, 5, id="int"),
        pytest.param("10%", 25, True, 3, id="up"),
        pytest.param("10%", 25, False, 2, id="down"),
        pytest.param("33%", 3, True, 1, id="fraction-up"),
        pytest.param("33%", 3, False, 0, id="fraction-down"),
    ],
)
def test_scaled_value(value: int | str, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, up) == expected


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        pytest.param(deployment(10, surge=0, unavailable=10), 10, id="unav-10"),
        pytest.param(deployment(10, surge=0, unavailable=20), 10, id="capped-at-replicas"),
        pytest.param(deployment(10, surge=0, unavailable=0), 1, id="both-zero"),
        pytest.param(deployment(0, surge=0, unavailable=2), 0, id="zero-replicas"),
        pytest.param(deployment(10, strategy="Recreate"), 0, id="recreate"),
        pytest.param(deployment(10), 2, id="default-percent"),
    ],
)
def test_max_unavailable(d: Obj, expected: int) -> None:
    assert max_unavailable(d) == expected


@pytest.mark.parametrize(
    ("strategy", "replicas", "surge", "new", "old", "expected"),
    [
        pytest.param("RollingUpdate", 1, 1, 0, 1, 1, id="can-surge"),
        pytest.param("RollingUpdate", 10, 1, 0, 11, 0, id="at-max-total"),
        pytest.param("RollingUpdate", 10, "25%", 0, 10, 3, id="surge-percent-up"),
        pytest.param("RollingUpdate", 10, 3, 8, 4, 9, id="up-to-fill-surge"),
        pytest.param("RollingUpdate", 10, 5, 8, 0, 10, id="never-past-replicas"),
        pytest.param("Recreate", 10, 0, 0, 10, 10, id="recreate-all"),
    ],
)
def test_new_rs_new_replicas(
    strategy: str, replicas: int, surge: int | str, new: int, old: int, expected: int
) -> None:
    d = deployment(replicas, strategy=strategy, surge=surge, unavailable=0)
    new_rs = {"spec": {"replicas": new}}
    old_rs = {"spec": {"replicas": old}}
    assert new_rs_new_replicas(d, [new_rs, old_rs], new_rs) == expected
    assert max_surge(d) == (0 if strategy == "Recreate" else scaled_value(surge, replicas, True))


# ---------------------------------------------------------------------------- hash


def test_fnv32a_known_vectors() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_string_alphabet() -> None:
    # Digits 0-9 are code points 48-57: modulo 27 gives 21..26, then wraps to 0..3.
    assert safe_encode_string("0123456789") == "456789bcdf"
    assert safe_encode_string("") == ""


def test_hash_is_stable_and_ignores_key_order() -> None:
    a = template("nginx:1")
    b = {"spec": {"containers": [{"image": "nginx:1", "name": "c"}]}, "metadata": a["metadata"]}
    h = compute_hash(a)
    assert h == compute_hash(b)
    assert h == compute_hash(copy.deepcopy(a))
    assert 1 <= len(h) <= 10
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_hash_changes_with_template_and_collision_count() -> None:
    base = compute_hash(template("nginx:1"))
    assert compute_hash(template("nginx:2")) != base
    assert compute_hash(template("nginx:1"), 0) != base
    assert compute_hash(template("nginx:1"), 1) != compute_hash(template("nginx:1"), 0)


def test_equal_ignore_hash() -> None:
    a = template()
    b = copy.deepcopy(a)
    b["metadata"]["labels"]["pod-template-hash"] = "abc"
    assert equal_ignore_hash(a, b)
    b["spec"]["containers"][0]["image"] = "other"
    assert not equal_ignore_hash(a, b)
    # Empty and absent are the same thing (Semantic.DeepEqual).
    assert equal_ignore_hash({"metadata": {"labels": {}}, "spec": {}}, {"spec": {}})


# ---------------------------------------------------------------------------- simulation


class Cluster:
    """Applies plans and plays an instant ReplicaSet controller whose new pods become
    available one step after they are created."""

    def __init__(self, d: Obj) -> None:
        self.d = d
        self.rses: list[Obj] = []
        self.now = T0
        self._uids = itertools.count(1)
        self.plans: list[DeploymentPlan] = []

    def sync(self) -> DeploymentPlan:
        plan = plan_deployment(self.d, self.rses, [], self.now)
        self.plans.append(plan)
        if plan.create is not None:
            rs = copy.deepcopy(plan.create)
            rs["metadata"]["uid"] = f"rs-{next(self._uids)}"
            rs["metadata"]["creationTimestamp"] = format_time(self.now)
            rs["metadata"]["generation"] = 1
            rs["status"] = {}
            assert all(r["metadata"]["name"] != rs["metadata"]["name"] for r in self.rses)
            self.rses.append(rs)
        for upd in plan.updates:
            i = next(
                i
                for i, r in enumerate(self.rses)
                if r["metadata"]["name"] == upd["metadata"]["name"]
            )
            new = copy.deepcopy(upd)
            if new["spec"] != self.rses[i]["spec"]:
                new["metadata"]["generation"] = self.rses[i]["metadata"]["generation"] + 1
            self.rses[i] = new
            # Scaling down is instant: deleted pods stop counting at once.
            st = new.setdefault("status", {})
            want = new["spec"]["replicas"]
            for k in ("replicas", "readyReplicas", "availableReplicas"):
                st[k] = min(st.get(k, 0), want)
        gone = {r["metadata"]["name"] for r in plan.deletes}
        self.rses = [r for r in self.rses if r["metadata"]["name"] not in gone]
        if plan.status is not None:
            self.d = {**self.d, "status": plan.status}
        if plan.revision is not None:
            meta = self.d["metadata"]
            self.d = {
                **self.d,
                "metadata": {
                    **meta,
                    "annotations": {
                        **meta.get("annotations", {}),
                        "deployment.kubernetes.io/revision": plan.revision,
                    },
                },
            }
        return plan

    def kubelet(self) -> None:
        """Pods that existed at the last step are now available; new ones appear."""
        for rs in self.rses:
            st = rs.setdefault("status", {})
            want = rs["spec"]["replicas"]
            st["availableReplicas"] = st["readyReplicas"] = min(want, st.get("replicas", 0))
            st["replicas"] = want
            st["observedGeneration"] = rs["metadata"]["generation"]
        self.now += timedelta(seconds=5)

    def total(self) -> int:
        return sum(r["spec"]["replicas"] for r in self.rses)

    def available(self) -> int:
        return sum(r.get("status", {}).get("availableReplicas", 0) for r in self.rses)

    def by_image(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rses:
            image = r["spec"]["template"]["spec"]["containers"][0]["image"]
            out[image] = out.get(image, 0) + r["spec"]["replicas"]
        return out

    def converge(self, check: Callable[[Cluster], None] | None = None, steps: int = 60) -> int:
        for i in range(steps):
            plan = self.sync()
            if check is not None:
                check(self)
            self.kubelet()
            if plan.writes() == 0 and i > 0:
                return i
        raise AssertionError("did not converge")

    def change(self, **spec: Any) -> None:
        self.d = copy.deepcopy(self.d)
        self.d["spec"].update(spec)
        self.d["metadata"]["generation"] += 1


def test_first_sync_creates_the_new_replicaset() -> None:
    d = deployment(3)
    plan = plan_deployment(d, [], [], T0)
    rs = plan.create
    assert rs is not None
    h = compute_hash(d["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": "d-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
    }
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": h}}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert rs["spec"]["replicas"] == 3
    assert plan.revision == "1"
    assert plan.status is not None
    conds = {c["type"]: c for c in plan.status["conditions"]}
    assert conds["Progressing"]["reason"] == "NewReplicaSetCreated"
    assert conds["Progressing"]["message"] == f'Created new replica set "web-{h}"'
    assert conds["Available"]["status"] == "False"
    assert conds["Available"]["reason"] == "MinimumReplicasUnavailable"
    assert plan.status["observedGeneration"] == 1
    assert plan.events == [
        ("Normal", "ScalingReplicaSet", f"Scaled up replica set web-{h} from 0 to 3")
    ]


def test_fresh_deployment_converges_with_upstream_conditions() -> None:
    c = Cluster(deployment(6))
    c.converge()
    st = c.d["status"]
    assert {
        k: st.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    } == {
        "replicas": 6,
        "updatedReplicas": 6,
        "readyReplicas": 6,
        "availableReplicas": 6,
    }
    assert "unavailableReplicas" not in st  # zero: omitted
    conds = {x["type"]: x for x in st["conditions"]}
    name = c.rses[0]["metadata"]["name"]
    assert (
        conds["Available"]["status"],
        conds["Available"]["reason"],
        conds["Available"]["message"],
    ) == (
        "True",
        "MinimumReplicasAvailable",
        "Deployment has minimum availability.",
    )
    assert (
        conds["Progressing"]["status"],
        conds["Progressing"]["reason"],
        conds["Progressing"]["message"],
    ) == (
        "True",
        "NewReplicaSetAvailable",
        f'ReplicaSet "{name}" has successfully progressed.',
    )
    # Steady state: nothing more to write.
    assert plan_deployment(c.d, c.rses, [], c.now).writes() == 0


def test_rolling_update_stays_within_surge_and_unavailability() -> None:
    c = Cluster(deployment(10, surge="25%", unavailable="25%"))
    c.converge()
    c.change(template=template("nginx:2"))
    seen: list[dict[str, int]] = []

    def check(cl: Cluster) -> None:
        assert cl.total() <= 13, cl.by_image()
        assert cl.available() >= 8, (cl.available(), cl.by_image())
        seen.append(cl.by_image())

    c.converge(check)
    assert c.by_image() == {"nginx:1": 0, "nginx:2": 10}
    # First step: surge 3 new pods and drop 2 old (10 available - minimum 8).
    assert seen[0] == {"nginx:1": 8, "nginx:2": 3}
    assert len(seen) > 3  # it really went step by step
    st = c.d["status"]
    assert st["updatedReplicas"] == 10 and st["availableReplicas"] == 10
    assert st["observedGeneration"] == 2
    revisions = sorted(
        (
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            r["spec"]["template"]["spec"]["containers"][0]["image"],
        )
        for r in c.rses
    )
    assert revisions == [("1", "nginx:1"), ("2", "nginx:2")]
    assert c.d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_rolling_update_with_max_unavailable_zero_never_drops_below_replicas() -> None:
    c = Cluster(deployment(3, surge=1, unavailable=0))
    c.converge()
    c.change(template=template("nginx:2"))

    def check(cl: Cluster) -> None:
        assert cl.total() <= 4
        assert cl.available() >= 3

    c.converge(check)
    assert c.by_image() == {"nginx:1": 0, "nginx:2": 3}


def test_recreate_scales_old_to_zero_before_creating_new() -> None:
    c = Cluster(deployment(4, strategy="Recreate"))
    c.converge()
    c.change(template=template("nginx:2"))
    plan = c.sync()
    assert plan.create is None
    assert [u["spec"]["replicas"] for u in plan.updates] == [0]
    assert c.by_image() == {"nginx:1": 0}
    c.kubelet()  # the old pods are gone now
    plan = c.sync()
    assert plan.create is not None and plan.create["spec"]["replicas"] == 4

    def check(cl: Cluster) -> None:
        images = {i for i, n in cl.by_image().items() if n}
        assert len(images) <= 1  # never both versions at once

    c.converge(check)
    assert c.by_image() == {"nginx:1": 0, "nginx:2": 4}


def test_recreate_waits_for_old_pods_to_terminate() -> None:
    d = deployment(2, strategy="Recreate")
    c = Cluster(d)
    c.converge()
    old = c.rses[0]
    c.change(template=template("nginx:2"))
    c.sync()  # old scaled to 0
    pod = {
        "metadata": {
            "name": "p",
            "ownerReferences": [{"controller": True, "uid": old["metadata"]["uid"]}],
        },
        "status": {"phase": "Running"},
    }
    plan = plan_deployment(c.d, c.rses, [pod], c.now)
    assert plan.create is None
    plan = plan_deployment(c.d, c.rses, [], c.now)
    assert plan.create is not None


@pytest.mark.parametrize(
    ("start", "to"),
    [pytest.param(6, 3, id="down"), pytest.param(3, 8, id="up"), pytest.param(4, 0, id="zero")],
)
def test_scaling_a_settled_deployment(start: int, to: int) -> None:
    c = Cluster(deployment(start))
    c.converge()
    c.change(replicas=to)
    plan = c.sync()
    assert [u["spec"]["replicas"] for u in plan.updates] == [to]
    assert plan.updates[0]["metadata"]["annotations"][
        "deployment.kubernetes.io/desired-replicas"
    ] == str(to)
    c.kubelet()
    c.converge()
    assert c.d["status"].get("replicas", 0) == to
    assert c.d["status"]["observedGeneration"] == c.d["metadata"]["generation"]


def test_proportional_scaling_mid_rollout() -> None:
    # 10 replicas mid-rollout (8 old + 3 new, both annotated max-replicas 13), scaled to 15.
    c = Cluster(deployment(10, surge=3, unavailable=2))
    c.converge()
    c.change(template=template("nginx:2"))
    c.sync()
    assert c.by_image() == {"nginx:1": 8, "nginx:2": 3}
    c.change(replicas=15)
    plan = c.sync()
    # allowed = 15 + 3 = 18, so 7 to add: old gets round(8 * 18 / 13) - 8 = 3, new
    # round(3 * 18 / 13) - 3 = 1, and the 3 left over go to the largest (old).
    assert c.total() == 18
    assert c.by_image() == {"nginx:1": 8 + 3 + 3, "nginx:2": 3 + 1}
    assert {e[2].split(" ")[1] for e in plan.events} == {"up"}


def test_get_proportion_rounds_and_caps() -> None:
    d = deployment(15, surge=3, unavailable=2)
    rs = {
        "metadata": {"annotations": {"deployment.kubernetes.io/max-replicas": "13"}},
        "spec": {"replicas": 8},
    }
    assert get_proportion(rs, d, 7, 0) == 3  # round(8 * 18 / 13) - 8 = round(11.08) - 8
    assert get_proportion(rs, d, 7, 5) == 2  # capped by what is left to add
    smaller = deployment(5, surge=3, unavailable=2)  # 8 allowed
    assert get_proportion(rs, smaller, -7, 0) == -3  # round(8 * 8 / 13) - 8 = 5 - 8
    assert get_proportion(rs, smaller, -7, -5) == -2  # no more than is left to remove
    assert get_proportion({"spec": {"replicas": 0}}, d, 7, 0) == 0


def test_revision_history_limit_deletes_oldest_scaled_down() -> None:
    c = Cluster(deployment(2, history=1))
    c.converge()
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        c.change(template=template(image))
        c.converge()
    images = sorted(r["spec"]["template"]["spec"]["containers"][0]["image"] for r in c.rses)
    assert images == ["nginx:3", "nginx:4"]
    deleted = [
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for p in c.plans
        for r in p.deletes
    ]
    assert deleted == ["1", "2"]


def test_rollback_to_an_old_template_reuses_its_replicaset() -> None:
    c = Cluster(deployment(2))
    c.converge()
    first = c.rses[0]["metadata"]["name"]
    c.change(template=template("nginx:2"))
    c.converge()
    c.change(template=template("nginx:1"))
    c.converge()
    assert len(c.rses) == 2
    rs = next(r for r in c.rses if r["metadata"]["name"] == first)
    assert rs["spec"]["replicas"] == 2
    ann = rs["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == "3"
    assert ann["deployment.kubernetes.io/revision-history"] == "1"


def test_progress_deadline_exceeded() -> None:
    c = Cluster(deployment(2, deadline=30))
    c.sync()  # created, but pods never become available
    plan = plan_deployment(c.d, c.rses, [], c.now + timedelta(seconds=10))
    assert plan.requeue_after is not None and 20 <= plan.requeue_after <= 22
    plan = plan_deployment(c.d, c.rses, [], c.now + timedelta(seconds=31))
    assert plan.status is not None
    cond = next(x for x in plan.status["conditions"] if x["type"] == "Progressing")
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"].endswith("has timed out progressing.")


def test_paused_deployment_only_scales() -> None:
    c = Cluster(deployment(2))
    c.converge()
    d = copy.deepcopy(c.d)
    d["spec"]["paused"] = True
    d["spec"]["template"] = template("nginx:2")
    plan = plan_deployment(d, c.rses, [], c.now)
    assert plan.create is None
    assert plan.status is not None
    cond = next(x for x in plan.status["conditions"] if x["type"] == "Progressing")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "Unknown",
        "DeploymentPaused",
        "Deployment is paused",
    )


def test_selecting_everything_is_refused() -> None:
    d = deployment(2, generation=3)
    d["spec"]["selector"] = {}
    plan = plan_deployment(d, [], [], T0)
    assert plan.create is None and plan.updates == []
    assert plan.status == {"observedGeneration": 3}
    assert plan.events[0][1] == "SelectingAll"


def test_status_counts_and_unavailable() -> None:
    d = deployment(5)
    new = {
        "spec": {"replicas": 3},
        "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 1},
    }
    old = {
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
    }
    st = calculate_status([old, new], new, d, T0)
    assert {k: v for k, v in st.items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 5,
        "updatedReplicas": 3,
        "readyReplicas": 4,
        "availableReplicas": 3,
        "unavailableReplicas": 2,
    }
    (avail,) = st["conditions"]
    assert (avail["type"], avail["status"]) == ("Available", "False")  # 3 < 5 - 1


def test_planning_does_not_mutate_inputs() -> None:
    c = Cluster(deployment(4))
    c.converge()
    c.change(template=template("nginx:2"), replicas=7)
    before = copy.deepcopy((c.d, c.rses))
    plan_deployment(c.d, c.rses, [], c.now)
    assert (c.d, c.rses) == before
