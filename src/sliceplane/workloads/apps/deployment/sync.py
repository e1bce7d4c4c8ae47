"""The working state of one planning pass, and the steps every strategy shares
(upstream ``sync.go``): finding or creating the new ReplicaSet, proportional scaling on a
scaling event or while paused, revision-history cleanup and the paused conditions.

:class:`DeploymentSync` holds copies of the cached Deployment and ReplicaSets that those
steps mutate, plus the :class:`DeploymentPlan` being built; nothing cached is modified.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sliceplane.api.meta import Obj, meta_of
from sliceplane.workloads.apps.deployment.progress import (
    calculate_status,
    get_condition,
    has_progress_deadline,
    new_condition,
    set_condition,
)
from sliceplane.workloads.apps.deployment.util import (
    DESIRED_REPLICAS,
    FOUND_NEW_RS,
    HASH_LABEL,
    MAX_INT32,
    NEW_RS_CREATED,
    PAUSED,
    RESUMED,
    REVISION,
    TIMED_OUT,
    as_int,
    creation_key,
    find_active_or_latest,
    find_new_replicaset,
    get_proportion,
    is_rolling_update,
    is_saturated,
    max_surge,
    new_rs_new_replicas,
    norm_status,
    replica_count,
    replicas,
    revision,
    rs_replicas,
    set_new_replicaset_annotations,
    set_replicas_annotations,
    spec_of,
    status_of,
)
from sliceplane.workloads.apps.ownership import controller_ref
from sliceplane.workloads.apps.podtemplatehash import compute_hash

Event = tuple[str, str, str]
"""(type, reason, message) recorded on the Deployment."""


@dataclass(slots=True)
class DeploymentPlan:
    """Every write one sync of a Deployment makes, in the order to make them."""

    create: Obj | None = None
    """A new ReplicaSet to create first (named ``<deployment>-<hash>``)."""
    updates: list[Obj] = field(default_factory=list)
    """ReplicaSets to PUT (final state; each carries the cached resourceVersion)."""
    deletes: list[Obj] = field(default_factory=list)
    """Old ReplicaSets to delete (revision history cleanup)."""
    status: Obj | None = None
    """The Deployment's new status, or ``None`` when it would not change."""
    revision: str | None = None
    """A new value for the Deployment's revision annotation, or ``None``."""
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    """Sync again after this many seconds (progress deadline or minReadySeconds)."""

    def writes(self) -> int:
        return (
            (self.create is not None)
            + len(self.updates)
            + len(self.deletes)
            + (self.status is not None)
            + (self.revision is not None)
        )


class DeploymentSync:
    """Working state of one planning pass: copies of the Deployment and its ReplicaSets
    that upstream's steps mutate, plus the record of what to write."""

    def __init__(
        self, d: Mapping[str, Any], rses: Sequence[Mapping[str, Any]], pods: Sequence[Obj]
    ) -> None:
        self.orig = d
        self.d: Obj = copy.deepcopy(dict(d))
        self.d.setdefault("metadata", {})
        self.d.setdefault("status", {})
        self.rses: list[Obj] = [copy.deepcopy(dict(rs)) for rs in rses]
        self.pods = pods
        self.plan = DeploymentPlan()
        self._dirty: list[int] = []  # ids of updated ReplicaSets, in first-touch order
        self.created: Obj | None = None

    @property
    def name(self) -> str:
        return str(self.d["metadata"].get("name") or "")

    def event(self, type_: str, reason: str, message: str) -> None:
        self.plan.events.append((type_, reason, message))

    def touch(self, rs: Obj) -> None:
        if rs is self.created:
            return
        if id(rs) not in self._dirty:
            self._dirty.append(id(rs))

    def scale_rs(self, rs: Obj, new_scale: int, operation: str | None = None) -> bool:
        """``scaleReplicaSet`` (``scaleReplicaSetAndRecordEvent`` when no operation is
        given): resize and refresh the replicas annotations. Returns whether resized."""
        old_scale = rs_replicas(rs)
        if operation is None:
            if old_scale == new_scale:
                return False
            operation = "up" if old_scale < new_scale else "down"
        d = self.d
        size_changed = old_scale != new_scale
        annotations_changed = set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d))
        if size_changed or annotations_changed:
            rs.setdefault("spec", {})["replicas"] = new_scale
            self.touch(rs)
            if size_changed:
                self.event(
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled {operation} replica set {meta_of(rs).get('name')} "
                    f"from {old_scale} to {new_scale}",
                )
        return size_changed

    def finish(self, status: Obj | None) -> DeploymentPlan:
        by_id = {id(rs): rs for rs in self.rses}
        self.plan.updates = [by_id[i] for i in self._dirty if i in by_id]
        if status is not None and norm_status(status) != norm_status(status_of(self.orig)):
            self.plan.status = status
        want_rev = (self.d["metadata"].get("annotations") or {}).get(REVISION)
        have_rev = (meta_of(self.orig).get("annotations") or {}).get(REVISION)
        if want_rev is not None and want_rev != have_rev:
            self.plan.revision = str(want_rev)
        return self.plan

    def all_rses_and_sync_revision(
        self, create: bool, now: datetime
    ) -> tuple[Obj | None, list[Obj]]:
        """``getAllReplicaSetsAndSyncRevision``: (new RS or None, all old RSes)."""
        new_rs = find_new_replicaset(self.d, self.rses)
        old = [rs for rs in self.rses if rs is not new_rs]
        return self.new_replicaset(new_rs, old, create, now), old

    def new_replicaset(
        self, existing: Obj | None, old: list[Obj], create: bool, now: datetime
    ) -> Obj | None:
        """``getNewReplicaSet``."""
        d = self.d
        new_revision = max((revision(rs) for rs in old), default=0) + 1
        if existing is not None:
            annotations_updated = set_new_replicaset_annotations(d, existing, new_revision, True)
            mrs = as_int(spec_of(d).get("minReadySeconds"))
            if annotations_updated or as_int(spec_of(existing).get("minReadySeconds")) != mrs:
                spec = existing.setdefault("spec", {})
                if mrs:
                    spec["minReadySeconds"] = mrs
                else:
                    spec.pop("minReadySeconds", None)
                self.touch(existing)
            rev = (existing["metadata"].get("annotations") or {}).get(REVISION)
            if rev is not None:
                d["metadata"].setdefault("annotations", {})[REVISION] = rev
            if has_progress_deadline(d) and get_condition(d["status"], "Progressing") is None:
                set_condition(
                    d["status"],
                    new_condition(
                        "Progressing",
                        "True",
                        FOUND_NEW_RS,
                        f'Found new replica set "{meta_of(existing).get("name")}"',
                        now,
                    ),
                )
            return existing
        if not create:
            return None
        template = copy.deepcopy(dict(spec_of(d).get("template") or {}))
        collision = status_of(d).get("collisionCount")
        pod_hash = compute_hash(template, collision if isinstance(collision, int) else None)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash}
        selector = copy.deepcopy(dict(spec_of(d).get("selector") or {}))
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        meta = meta_of(d)
        rs_spec: Obj = {"replicas": 0, "selector": selector, "template": template}
        if as_int(spec_of(d).get("minReadySeconds")):
            rs_spec["minReadySeconds"] = as_int(spec_of(d).get("minReadySeconds"))
        new_rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta.get('name')}-{pod_hash}",
                "namespace": meta.get("namespace"),
                "labels": dict(tmeta["labels"]),
                "ownerReferences": [controller_ref(d, "apps/v1", "Deployment")],
            },
            "spec": rs_spec,
        }
        count = new_rs_new_replicas(d, [*old, new_rs], new_rs)
        rs_spec["replicas"] = count
        set_new_replicaset_annotations(d, new_rs, new_revision, False)
        self.plan.create = new_rs
        self.created = new_rs
        self.rses.append(new_rs)
        if count > 0:
            self.event(
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {count}",
            )
        d["metadata"].setdefault("annotations", {})[REVISION] = str(new_revision)
        if has_progress_deadline(d):
            set_condition(
                d["status"],
                new_condition(
                    "Progressing",
                    "True",
                    NEW_RS_CREATED,
                    f'Created new replica set "{new_rs["metadata"]["name"]}"',
                    now,
                ),
            )
        return new_rs

    def scale(self, new_rs: Obj | None, old: list[Obj]) -> None:
        """``scale``: a scaling event (or a paused Deployment) resizes ReplicaSets."""
        d = self.d
        want = replicas(d)
        active_or_latest = find_active_or_latest(new_rs, old)
        if active_or_latest is not None:
            if rs_replicas(active_or_latest) != want:
                self.scale_rs(active_or_latest, want)
            return
        if is_saturated(d, new_rs):
            for rs in old:
                if rs_replicas(rs) > 0:
                    self.scale_rs(rs, 0)
            return
        if not is_rolling_update(d):
            return
        active = [rs for rs in [*old, new_rs] if rs is not None and rs_replicas(rs) > 0]
        allowed = want + max_surge(d) if want > 0 else 0
        to_add = allowed - replica_count(active)
        operation = ""
        if to_add > 0:
            # Largest first; newer first among equals.
            active.sort(key=creation_key, reverse=True)
            active.sort(key=rs_replicas, reverse=True)
            operation = "up"
        elif to_add < 0:
            # Largest first; older first among equals.
            active.sort(key=creation_key)
            active.sort(key=rs_replicas, reverse=True)
            operation = "down"
        sizes: list[int] = []
        added = 0
        for rs in active:
            if to_add != 0:
                proportion = get_proportion(rs, d, to_add, added)
                sizes.append(rs_replicas(rs) + proportion)
                added += proportion
            else:
                sizes.append(rs_replicas(rs))
        for i, rs in enumerate(active):
            size = sizes[i]
            if i == 0 and to_add != 0:
                size = max(0, size + to_add - added)
            self.scale_rs(rs, size, operation)

    def cleanup(self, old: list[Obj]) -> None:
        """``cleanupDeployment``: delete the oldest scaled-down ReplicaSets beyond
        ``revisionHistoryLimit``."""
        limit = spec_of(self.d).get("revisionHistoryLimit")
        if not isinstance(limit, int) or limit == MAX_INT32:
            return
        alive = [rs for rs in old if not meta_of(rs).get("deletionTimestamp")]
        diff = len(alive) - limit
        if diff <= 0:
            return
        alive.sort(key=creation_key)
        alive.sort(key=revision)
        for rs in alive[:diff]:
            st = status_of(rs)
            if (
                as_int(st.get("replicas")) != 0
                or rs_replicas(rs) != 0
                or as_int(meta_of(rs).get("generation")) > as_int(st.get("observedGeneration"))
            ):
                continue
            self.plan.deletes.append(rs)

    def check_paused_conditions(self, now: datetime) -> None:
        d = self.d
        if not has_progress_deadline(d):
            return
        cond = get_condition(d["status"], "Progressing")
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == PAUSED
        paused = bool(spec_of(d).get("paused"))
        if paused and not paused_cond:
            set_condition(
                d["status"],
                new_condition("Progressing", "Unknown", PAUSED, "Deployment is paused", now),
            )
        elif not paused and paused_cond:
            set_condition(
                d["status"],
                new_condition("Progressing", "Unknown", RESUMED, "Deployment is resumed", now),
            )

    def is_scaling_event(self, now: datetime) -> bool:
        new_rs, old = self.all_rses_and_sync_revision(False, now)
        for rs in [*old, new_rs]:
            if rs is None or rs_replicas(rs) <= 0:
                continue
            raw = (meta_of(rs).get("annotations") or {}).get(DESIRED_REPLICAS)
            try:
                desired = int(str(raw)) if raw is not None else None
            except ValueError:
                desired = None
            if desired is not None and desired != replicas(self.d):
                return True
        return False

    def sync_scaling(self, now: datetime) -> Obj:
        """``sync``: scale (paused or scaling event), then plain status."""
        new_rs, old = self.all_rses_and_sync_revision(False, now)
        self.scale(new_rs, old)
        if spec_of(self.d).get("paused"):
            self.cleanup(old)
        return calculate_status([*old, new_rs], new_rs, self.d, now)
