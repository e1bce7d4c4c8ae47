"""What objects set and what changed between two, on the served types' merge rules."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api.fieldpath import to_fields_v1
from sliceplane.api.fieldsets import MISSING, compare, field_set
from sliceplane.api.fieldtypes import StructType, type_for


def svc_type() -> StructType:
    t = type_for("", "v1", "Service")
    assert t is not None
    return t


def deploy_type() -> StructType:
    t = type_for("apps", "v1", "Deployment")
    assert t is not None
    return t


PORT80 = 'k:{"port":80,"protocol":"TCP"}'


def test_field_set_of_an_applied_service() -> None:
    got = field_set(
        svc_type(),
        {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80}],
                "clusterIPs": ["1.2.3.4"],
            },
        },
    )
    assert to_fields_v1(got) == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            # the protocol key defaults to TCP; atomic map and list are leaves
            "f:ports": {PORT80: {".": {}, "f:port": {}}},
            "f:selector": {},
            "f:clusterIPs": {},
        },
    }


def test_field_set_empty_struct_and_null_are_members() -> None:
    got = field_set(deploy_type(), {"spec": {"strategy": {}, "template": None}})
    assert to_fields_v1(got) == {"f:spec": {"f:strategy": {}, "f:template": {}}}


def test_field_set_set_list_and_duplicate_keys() -> None:
    got = field_set(
        svc_type(),
        {"metadata": {"finalizers": ["a", "b"]}, "spec": {"ports": [{"port": 1}, {"port": 1}]}},
    )
    assert to_fields_v1(got) == {
        "f:metadata": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}},
        "f:spec": {"f:ports": {'k:{"port":1,"protocol":"TCP"}': {}}},
    }


CASES: list[tuple[str, Any, Any, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "label added to absent map: map and key added",
        {"metadata": {}},
        {"metadata": {"labels": {"a": "1"}}},
        {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}},
        {},
        {},
    ),
    (
        "value changed is modified",
        {"spec": {"type": "ClusterIP"}},
        {"spec": {"type": "NodePort"}},
        {},
        {"f:spec": {"f:type": {}}},
        {},
    ),
    (
        "list-map item removed with its fields",
        {"spec": {"ports": [{"port": 80, "protocol": "TCP", "name": "a"}, {"port": 81}]}},
        {"spec": {"ports": [{"port": 81}]}},
        {},
        {},
        {"f:spec": {"f:ports": {PORT80: {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}}}},
    ),
    (
        "atomic map compared whole",
        {"spec": {"selector": {"a": "1"}}},
        {"spec": {"selector": {"a": "2", "b": "3"}}},
        {},
        {"f:spec": {"f:selector": {}}},
        {},
    ),
    (
        "null list to items: items added, list not",
        {"spec": {"containers": None}},
        {"spec": {"containers": [{"name": "c"}]}},
        {"f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:name": {}}}}},
        {},
        {},
    ),
    ("equal objects", {"spec": {"type": "A"}}, {"spec": {"type": "A"}}, {}, {}, {}),
    ("true is not 1", {"spec": {"x": True}}, {"spec": {"x": 1}}, {}, {"f:spec": {"f:x": {}}}, {}),
]


@pytest.mark.parametrize(("name", "old", "new", "added", "modified", "removed"), CASES)
def test_compare(
    name: str,
    old: Any,
    new: Any,
    added: dict[str, Any],
    modified: dict[str, Any],
    removed: dict[str, Any],
) -> None:
    t = svc_type() if "containers" not in str(new) else type_for("", "v1", "Pod")
    assert t is not None
    c = compare(t, old, new)
    assert to_fields_v1(c.added) == added, name
    assert to_fields_v1(c.modified) == modified, name
    assert to_fields_v1(c.removed) == removed, name


def test_compare_with_missing_sides() -> None:
    c = compare(svc_type(), MISSING, {"spec": {"type": "A"}})
    assert to_fields_v1(c.added) == {"f:spec": {".": {}, "f:type": {}}}
    c = compare(svc_type(), {"spec": {"type": "A"}}, MISSING)
    assert to_fields_v1(c.removed) == {"f:spec": {".": {}, "f:type": {}}}


def _pod(rng: Any, n: int) -> dict[str, Any]:
    containers = [
        {
            "name": f"c{i}",
            "image": rng.choice(["a:1", "a:2"]),
            "ports": [
                {"containerPort": 8080 + j, "protocol": "TCP"} for j in range(rng.randint(0, 2))
            ],
        }
        for i in range(rng.randint(1, 3))
    ]
    if rng.random() < 0.3:
        containers.append(dict(containers[0]))  # a duplicate key: compared as a whole
    return {
        "metadata": {
            "name": "p",
            "labels": {f"k{rng.randint(0, 3)}": "v"},
            **({"deletionTimestamp": "2024-01-01T00:00:00Z"} if rng.random() < 0.3 else {}),
            **(
                {"ownerReferences": [{"uid": f"u{rng.randint(0, 1)}", "kind": "ReplicaSet"}]}
                if rng.random() < 0.5
                else {}
            ),
        },
        "spec": {"nodeName": rng.choice(["", "n1", "n2"]), "containers": containers},
        "status": {
            "phase": rng.choice(["Pending", "Running"]),
            "podIPs": [{"ip": f"10.0.0.{n % 3}"}],
            "conditions": [
                {"type": "Ready", "status": rng.choice(["True", "False"])},
                *([{"type": "PodScheduled", "status": "True"}] if rng.random() < 0.5 else []),
            ],
        },
    }


def test_compare_skipping_paths_is_the_difference_of_the_full_comparison() -> None:
    """``skip`` only saves the walk: the trees are those of the full comparison with every
    skipped path (and what lies under it) taken out."""
    import random

    from sliceplane.api.fieldpath import MEMBER, recursive_difference

    t = type_for("", "v1", "Pod")
    assert t is not None
    skips: list[dict[str, Any]] = [
        {"f:spec": {MEMBER: {}}, "f:metadata": {"f:deletionTimestamp": {MEMBER: {}}}},
        {"f:status": {MEMBER: {}}},
        {"f:spec": {"f:containers": {'k:{"name":"c0"}': {MEMBER: {}}}}},
        {"f:status": {"f:conditions": {'k:{"type":"Ready"}': {"f:status": {MEMBER: {}}}}}},
    ]
    rng = random.Random(3)
    for n in range(400):
        old = MISSING if n % 17 == 0 else _pod(rng, n)
        new = _pod(rng, n + 1)
        full = compare(t, old, new)
        for skip in skips:
            got = compare(t, old, new, skip)
            assert got.added == recursive_difference(full.added, skip)
            assert got.modified == recursive_difference(full.modified, skip)
            assert got.removed == recursive_difference(full.removed, skip)


def test_the_walk_of_added_nodes_finds_what_the_general_comparison_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nodes on the new side only take a shorter walk; with it turned off, the general
    comparison gives the same three trees (creates, new containers, new conditions)."""
    import random

    from sliceplane.api import fieldsets

    t = type_for("", "v1", "Pod")
    assert t is not None
    rng = random.Random(5)
    pairs = [(MISSING if n % 5 == 0 else _pod(rng, n), _pod(rng, n + 1)) for n in range(300)]
    fast = [compare(t, old, new) for old, new in pairs]
    monkeypatch.setattr(fieldsets, "_ADDED_WALK", False)
    for (old, new), got in zip(pairs, fast, strict=True):
        want = compare(t, old, new)
        assert (got.added, got.modified, got.removed) == (want.added, want.modified, want.removed)
