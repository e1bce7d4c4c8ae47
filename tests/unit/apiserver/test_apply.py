"""Server-side apply as pure functions: merge, removal, conflicts and their Status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.api.fieldsets import MISSING
from sliceplane.api.fieldtypes import StructType, type_for
from sliceplane.apiserver import apply as ssa
from sliceplane.apiserver import managedfields as mf

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:00:01Z"


def typ(group: str, version: str, kind: str) -> StructType:
    t = type_for(group, version, kind)
    assert t is not None
    return t


SVC = typ("", "v1", "Service")
DEP = typ("apps", "v1", "Deployment")


def svc(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    if labels is not None:
        obj["metadata"]["labels"] = labels
    if spec:
        obj["spec"] = spec
    return obj


def run(
    live: Any,
    config: Any,
    entries: list[mf.Entry],
    manager: str,
    *,
    force: bool = False,
    now: str = T0,
) -> ssa.ApplyOutcome:
    return ssa.apply(
        SVC,
        "Service",
        live,
        config,
        entries,
        manager,
        "v1",
        mf.ignored_fields("services", ""),
        now,
        force=force,
    )


MERGES = [
    ("scalar replaced", {"type": "A"}, {"type": "B"}, {"type": "B"}),
    (
        "granular map unions",
        {"selector": None, "x": 1},
        {"y": 2},
        {"selector": None, "x": 1, "y": 2},
    ),
    (
        "list-map merges by key, live order kept, new items appended",
        {"ports": [{"port": 1, "name": "a"}, {"port": 2}]},
        {"ports": [{"port": 2, "name": "b"}, {"port": 3}]},
        {"ports": [{"port": 1, "name": "a"}, {"port": 2, "name": "b"}, {"port": 3}]},
    ),
    (
        "atomic list replaced",
        {"clusterIPs": ["1.1.1.1"]},
        {"clusterIPs": ["2.2.2.2"]},
        {"clusterIPs": ["2.2.2.2"]},
    ),
    (
        "atomic map replaced",
        {"selector": {"a": "1"}},
        {"selector": {"b": "2"}},
        {"selector": {"b": "2"}},
    ),
]


@pytest.mark.parametrize(("name", "live", "config", "want"), MERGES)
def test_merge(name: str, live: Any, config: Any, want: Any) -> None:
    spec_t = SVC.fields["spec"]
    assert ssa.merge(spec_t, live, config) == want, name


def test_merge_missing_sides() -> None:
    assert ssa.merge(SVC, MISSING, {"a": 1}) == {"a": 1}
    assert ssa.merge(SVC, {"a": 1}, MISSING) == {"a": 1}


def test_apply_creates_and_owns_exactly_what_it_applied() -> None:
    out = run(None, svc({"a": "1"}, ports=[{"port": 80}]), [], "a")
    assert out.changed
    (entry,) = mf.encode(out.entries)
    assert entry["operation"] == "Apply" and entry["time"] == T0
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:a": {}}},
        "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}},
    }


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them() -> None:
    first = run(None, svc({"a": "1", "b": "2"}), [], "a")
    shared = run(first.obj, svc({"b": "2"}), first.entries, "other", now=T1)
    released = run(shared.obj, svc(), shared.entries, "a", now=T1)
    assert released.obj["metadata"]["labels"] == {"b": "2"}
    assert {e["manager"] for e in mf.encode(released.entries)} == {"other"}


def test_conflict_is_upstreams_409_and_force_takes_over() -> None:
    first = run(None, svc(sessionAffinity="None", type="ClusterIP"), [], "a")
    with pytest.raises(errors.Conflict) as info:
        run(first.obj, svc(sessionAffinity="ClientIP", type="NodePort"), first.entries, "b")
    status = info.value.to_status()
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.sessionAffinity\n- .spec.type'
    )
    assert status["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "a"',
                "field": ".spec.sessionAffinity",
            },
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "a"',
                "field": ".spec.type",
            },
        ]
    }
    forced = run(first.obj, svc(type="NodePort"), first.entries, "b", force=True, now=T1)
    got = {e["manager"]: e["fieldsV1"] for e in mf.encode(forced.entries)}
    assert got == {"a": {"f:spec": {"f:sessionAffinity": {}}}, "b": {"f:spec": {"f:type": {}}}}


def test_conflict_with_an_update_manager_names_its_version() -> None:
    live = svc(type="ClusterIP")
    entries = mf.record_update(
        SVC,
        "Service",
        None,
        live,
        [],
        "kubectl-create",
        "v1",
        "",
        mf.ignored_fields("services", ""),
        T0,
    )
    with pytest.raises(errors.Conflict) as info:
        run(live, svc(type="NodePort"), entries, "a")
    assert info.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .spec.type'
    )


def test_kubectl_migration_forces_fields_equal_to_last_applied() -> None:
    last = svc({"app": "web"}, type="ClusterIP")
    live = svc({"app": "web"}, type="ClusterIP")
    live["metadata"]["annotations"] = {ssa.LAST_APPLIED: json.dumps(last)}
    entries = mf.record_update(
        SVC,
        "Service",
        None,
        live,
        [],
        "kubectl-client-side-apply",
        "v1",
        "",
        mf.ignored_fields("services", ""),
        T0,
    )
    out = ssa.apply(
        SVC,
        "Service",
        live,
        svc({"app": "web"}, type="NodePort"),
        entries,
        "kubectl",
        "v1",
        mf.ignored_fields("services", ""),
        T1,
        force=False,
    )
    assert out.obj["spec"]["type"] == "NodePort"
    # the annotation now records the server-side applied configuration
    text = out.obj["metadata"]["annotations"][ssa.LAST_APPLIED]
    assert text.endswith("\n") and '"NodePort"' in text
    with pytest.raises(errors.Conflict):  # any other manager still conflicts
        ssa.apply(
            SVC,
            "Service",
            live,
            svc(type="NodePort"),
            entries,
            "helm",
            "v1",
            mf.ignored_fields("services", ""),
            T1,
            force=False,
        )


def test_identical_reapply_changes_nothing() -> None:
    first = run(None, svc({"a": "1"}), [], "a")
    again = run(first.obj, svc({"a": "1"}), first.entries, "a", now=T1)
    assert not again.changed
    assert mf.encode(again.entries) == mf.encode(first.entries)


@pytest.mark.parametrize(
    ("ptype", "manager", "force", "message"),
    [
        ("apply", None, None, "fieldManager: Required value: is required for apply patch"),
        ("merge", "m", "true", "force: Forbidden: may not be specified for non-apply patch"),
    ],
)
def test_patch_options(ptype: str, manager: str | None, force: str | None, message: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        ssa.check_patch_options(ptype, manager, force)
    assert info.value.message == f'PatchOptions.meta.k8s.io "" is invalid: {message}'
    assert ssa.check_patch_options("apply", "m", "true") is True


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"apiVersion": "v2", "kind": "Service"}, "invalid object type: /v2, Kind=Service"),
        ({"apiVersion": "v1", "kind": "Pod"}, "invalid object type: /v1, Kind=Pod"),
        ({}, "invalid object type: /, Kind="),
        (
            {"apiVersion": "v1", "kind": "Service", "metadata": {"managedFields": []}},
            "metadata.managedFields must be nil",
        ),
    ],
)
def test_bad_configs(config: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        ssa.check_config(config, "", "v1", "Service", "default", "web")
    assert info.value.message == message
