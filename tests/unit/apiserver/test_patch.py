"""PATCH algorithms against the RFC examples and upstream's strategic-merge test cases.

The strategic cases are adapted from apimachinery's ``patch_test.go`` (its ``mergingList``,
``mergingIntList`` etc. mapped onto real fields with the same tags: ``spec.containers`` merges
by name, ``metadata.finalizers`` is a primitive merge list, ``spec.tolerations`` has no tag),
plus the exact bodies kubectl sends.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sliceplane.api.errors import BadRequest, Invalid, RequestEntityTooLarge
from sliceplane.apiserver.patch import (
    PatchMeta,
    PatchStrategy,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    merge_patch_value,
    patch_content_type,
    patch_meta_for,
)

# ---------------------------------------------------------------------------------------------
# content types
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ct", "expected"),
    [
        pytest.param("application/json-patch+json", "json", id="json"),
        pytest.param("application/merge-patch+json", "merge", id="merge"),
        pytest.param("application/strategic-merge-patch+json", "strategic", id="strategic"),
        pytest.param("application/apply-patch+yaml", "apply", id="apply"),
        pytest.param("application/merge-patch+json; charset=utf-8", "merge", id="params"),
        pytest.param(" Application/JSON-Patch+JSON ", "json", id="case-and-space"),
        pytest.param("application/json", None, id="plain-json"),
        pytest.param("", None, id="empty"),
    ],
)
def test_patch_content_type(ct: str, expected: str | None) -> None:
    assert patch_content_type(ct) == expected


# ---------------------------------------------------------------------------------------------
# RFC 7386
# ---------------------------------------------------------------------------------------------

RFC7386_APPENDIX = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [pytest.param(*case, id=f"appendix-{i + 1}") for i, case in enumerate(RFC7386_APPENDIX)],
)
def test_merge_patch_rfc7386_appendix(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch_value(target, patch) == expected


def test_merge_patch_removes_label_like_kubectl_label() -> None:
    obj = {"metadata": {"name": "web", "labels": {"app": "web", "k": "v"}}, "spec": {}}
    out = apply_merge_patch(obj, {"metadata": {"labels": {"k": None}}})
    assert out == {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {}}


def test_merge_patch_replaces_lists_wholesale() -> None:
    obj = {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    out = apply_merge_patch(obj, {"spec": {"containers": [{"name": "c"}]}})
    assert out == {"spec": {"containers": [{"name": "c"}]}}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param(None, "Invalid JSON Patch", id="null"),
        pytest.param(["a"], "cannot unmarshal array", id="array"),
        pytest.param("x", "cannot unmarshal string", id="string"),
    ],
)
def test_merge_patch_must_be_object(patch: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        apply_merge_patch({"a": 1}, patch)


# ---------------------------------------------------------------------------------------------
# RFC 6902
# ---------------------------------------------------------------------------------------------

DOC = {"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}]}}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        pytest.param(
            [{"op": "add", "path": "/metadata/labels/b", "value": "2"}],
            {**DOC, "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}},
            id="add",
        ),
        pytest.param(
            [{"op": "remove", "path": "/metadata/labels/a"}],
            {**DOC, "metadata": {"name": "x", "labels": {}}},
            id="remove",
        ),
        pytest.param(
            [{"op": "replace", "path": "/spec/ports/0/port", "value": 81}],
            {**DOC, "spec": {"ports": [{"port": 81}]}},
            id="replace",
        ),
        pytest.param(
            [{"op": "add", "path": "/spec/ports/-", "value": {"port": 443}}],
            {**DOC, "spec": {"ports": [{"port": 80}, {"port": 443}]}},
            id="append",
        ),
        pytest.param(
            [
                {"op": "test", "path": "/metadata/name", "value": "x"},
                {"op": "move", "from": "/metadata/labels/a", "path": "/metadata/labels/z"},
                {"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/n"},
            ],
            {**DOC, "metadata": {"name": "x", "labels": {"z": "1", "n": "x"}}},
            id="test-move-copy",
        ),
        pytest.param([], DOC, id="empty"),
    ],
)
def test_json_patch(ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert apply_json_patch(DOC, ops) == expected


@pytest.mark.parametrize(
    ("ops", "cause"),
    [
        pytest.param(
            [
                {"op": "replace", "path": "/metadata/name", "value": "y"},
                {"op": "test", "path": "/metadata/labels/a", "value": "2"},
            ],
            "testing value /metadata/labels/a failed: test failed",
            id="failed-test",
        ),
        pytest.param(
            [{"op": "remove", "path": "/metadata/missing"}], "non-existent", id="missing-path"
        ),
        pytest.param([{"op": "frobnicate", "path": "/a"}], "Unknown operation", id="unknown-op"),
        pytest.param([{"op": "add", "value": 1}], "path", id="no-path"),
        pytest.param(
            [{"op": "replace", "path": "", "value": [1]}], "not an object", id="non-object-result"
        ),
    ],
)
def test_json_patch_failures_are_422(ops: list[dict[str, Any]], cause: str) -> None:
    with pytest.raises(Invalid) as info:
        apply_json_patch(DOC, ops)
    err = info.value
    assert err.code == 422
    assert err.reason == "Invalid"
    assert err.message == "the server rejected our request due to an error in our request"
    assert len(err.causes) == 1
    assert err.causes[0]["reason"] == "UnexpectedServerResponse"
    assert cause in err.causes[0]["message"]
    status = err.to_status()
    assert status["code"] == 422
    assert status["details"]["causes"] == err.causes


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param({"op": "add", "path": "/a", "value": 1}, id="object-not-list"),
        pytest.param(["add"], id="string-op"),
        pytest.param(None, id="null"),
    ],
)
def test_json_patch_undecodable_is_400(ops: Any) -> None:
    with pytest.raises(BadRequest, match="cannot unmarshal"):
        apply_json_patch(DOC, ops)


def test_json_patch_operation_limit() -> None:
    ops = [{"op": "test", "path": "/metadata/name", "value": "x"}] * 10001
    with pytest.raises(RequestEntityTooLarge, match="maximum operations in a JSON patch is 10000"):
        apply_json_patch(DOC, ops)


# ---------------------------------------------------------------------------------------------
# strategic merge patch: the table
# ---------------------------------------------------------------------------------------------


def test_patch_meta_table() -> None:
    pod = patch_meta_for("Pod")
    assert pod["spec.containers"] == PatchMeta(PatchStrategy.MERGE, "name")
    assert pod["spec.containers.ports"] == PatchMeta(PatchStrategy.MERGE, "containerPort")
    assert pod["spec.volumes"] == PatchMeta(PatchStrategy.MERGE_RETAIN_KEYS, "name")
    assert pod["metadata.ownerReferences"].merge_key == "uid"
    assert "spec.tolerations" not in pod
    deploy = patch_meta_for("Deployment")
    assert deploy["spec.template.spec.containers.env"] == PatchMeta(PatchStrategy.MERGE, "name")
    assert deploy["spec.strategy"].strategy is PatchStrategy.RETAIN_KEYS
    assert patch_meta_for("Service")["spec.ports"].merge_key == "port"
    assert set(patch_meta_for("Widget")) == {"metadata.ownerReferences", "metadata.finalizers"}


# ---------------------------------------------------------------------------------------------
# strategic merge patch: upstream cases
# ---------------------------------------------------------------------------------------------


def ctrs(*items: dict[str, Any]) -> dict[str, Any]:
    """A Pod fragment with ``spec.containers`` (upstream's ``mergingList``)."""
    return {"spec": {"containers": list(items)}}


def fins(*items: str) -> dict[str, Any]:
    """A Pod fragment with ``metadata.finalizers`` (upstream's ``mergingIntList``)."""
    return {"metadata": {"finalizers": list(items)}}


SMP_CASES: list[Any] = [
    pytest.param(
        "Pod",
        ctrs({"name": "a", "image": "a1"}, {"name": "b", "image": "b1"}),
        ctrs({"name": "b", "image": "b2"}),
        ctrs({"name": "a", "image": "a1"}, {"name": "b", "image": "b2"}),
        id="merge-containers-by-name",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "a", "image": "a1"}),
        ctrs({"name": "b", "image": "b1"}),
        ctrs({"name": "b", "image": "b1"}, {"name": "a", "image": "a1"}),
        id="new-element-goes-before-server-only-elements",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "a"}, {"name": "b"}),
        ctrs({"name": "a", "$patch": "delete"}),
        ctrs({"name": "b"}),
        id="delete-element-with-patch-delete",
    ),
    pytest.param(
        "Pod",
        ctrs(
            {"name": "1"}, {"name": "1"}, {"name": "2", "image": "a"}, {"name": "3"}, {"name": "3"}
        ),
        ctrs({"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}),
        ctrs({"name": "2", "image": "a"}),
        id="delete-all-duplicate-entries",
    ),
    pytest.param(
        "Pod",
        {"spec": {"containers": [{"name": "hello2"}]}},
        ctrs({"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}),
        ctrs({"name": "hello"}, {"name": "hello2"}),
        id="delete-of-absent-element-is-noop",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1"}, {"name": "2"}),
        ctrs({"$patch": "replace"}),
        ctrs(),
        id="replace-directive-empties-list",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1", "image": "x"}, {"name": "2"}),
        ctrs({"name": "3", "image": "z"}, {"$patch": "replace"}),
        ctrs({"name": "3", "image": "z"}),
        id="replace-directive-replaces-list",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}),
        ctrs(
            {"name": "3", "image": "c"},
            {"name": "1", "image": "a"},
            {"name": "2", "workingDir": "x"},
        ),
        ctrs(
            {"name": "3", "image": "c"},
            {"name": "1", "image": "a"},
            {"name": "2", "image": "b", "workingDir": "x"},
        ),
        id="patch-order-wins",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}),
        ctrs({"name": "3", "image": "c"}, {"name": "1", "image": "a"}),
        ctrs({"name": "2", "image": "b"}, {"name": "3", "image": "c"}, {"name": "1", "image": "a"}),
        id="patch-order-wins-server-only-interleaved",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1", "workingDir": "a"}, {"name": "2", "image": "2", "workingDir": "b"}),
        {
            "spec": {
                "$setElementOrder/containers": [
                    {"name": "4"},
                    {"name": "1"},
                    {"name": "2"},
                    {"name": "3"},
                ],
                "containers": [{"name": "4", "image": "4"}, {"name": "3", "image": "3"}],
            }
        },
        ctrs(
            {"name": "4", "image": "4"},
            {"name": "1", "workingDir": "a"},
            {"name": "2", "image": "2", "workingDir": "b"},
            {"name": "3", "image": "3"},
        ),
        id="set-element-order-maps",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1"}, {"name": "3"}),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
                "containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}],
            }
        },
        ctrs({"name": "3", "image": "3"}, {"name": "1", "image": "1"}),
        id="set-element-order-names-absent-item",
    ),
    pytest.param(
        "Pod",
        fins("1", "3"),
        {"metadata": {"$setElementOrder/finalizers": ["3", "2", "1"]}},
        fins("3", "1"),
        id="set-element-order-primitives-reorders",
    ),
    pytest.param(
        "Pod",
        fins("1", "2", "3", "4"),
        {
            "metadata": {
                "$setElementOrder/finalizers": ["1", "2"],
                "$deleteFromPrimitiveList/finalizers": ["3"],
            }
        },
        fins("1", "2", "4"),
        id="delete-from-primitive-list-with-order",
    ),
    pytest.param(
        "Pod",
        fins("1", "2", "3", "3", "4"),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
        fins("1", "2", "4"),
        id="delete-from-primitive-list-all-duplicates",
    ),
    pytest.param(
        "Pod",
        fins("1", "2", "3", "4"),
        {
            "metadata": {
                "$setElementOrder/finalizers": ["1", "2", "4"],
                "$deleteFromPrimitiveList/finalizers": ["3"],
                "finalizers": ["4"],
            }
        },
        fins("1", "2", "4"),
        id="add-and-delete-primitives",
    ),
    pytest.param(
        "Pod",
        fins("1", "2"),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
        fins("1", "2"),
        id="delete-absent-primitive-is-noop",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"name": "p"}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
        {"metadata": {"name": "p"}},
        id="delete-from-missing-list-does-not-add-it",
    ),
    pytest.param(
        "Service",
        {"spec": {"externalIPs": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}},
        {"spec": {"$deleteFromPrimitiveList/externalIPs": ["2.2.2.2"]}},
        {"spec": {"externalIPs": ["1.1.1.1", "3.3.3.3"]}},
        id="delete-from-untagged-primitive-list",
    ),
    pytest.param(
        "Pod",
        fins("1", "2"),
        fins("2", "3"),
        fins("1", "2", "3"),
        id="primitive-merge-list-is-a-union",
    ),
    pytest.param(
        "Pod",
        fins("1", "2", "3"),
        fins("3", "1"),
        fins("2", "3", "1"),
        id="primitive-merge-list-patch-order",
    ),
    pytest.param(
        "Pod",
        {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}},
        {"spec": {"tolerations": [{"key": "c"}]}},
        {"spec": {"tolerations": [{"key": "c"}]}},
        id="untagged-list-is-replaced",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"labels": {"key1": "1", "key2": "1", "other": "a"}}},
        {"metadata": {"labels": {"key2": None, "absent": None}}},
        {"metadata": {"labels": {"key1": "1", "other": "a"}}},
        id="null-deletes-map-key",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"labels": {"key1": "1", "key2": "1"}}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {"metadata": {"labels": {}}},
        id="patch-delete-empties-map",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"labels": {"key1": "1", "key2": "1"}}},
        {"metadata": {"labels": {"$patch": "replace", "other": "a"}}},
        {"metadata": {"labels": {"other": "a"}}},
        id="patch-replace-replaces-map",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"name": "p"}},
        {"metadata": {"labels": {"a": "1", "b": None}}, "spec": {"x": {"$patch": "delete"}}},
        {"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"x": {}}},
        id="added-values-are-resolved",
    ),
    pytest.param(
        "Deployment",
        {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
        {
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}
            }
        },
        {"spec": {"strategy": {"type": "Recreate"}}},
        id="retain-keys-drops-unlisted",
    ),
    pytest.param(
        "Deployment",
        {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
        {"spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0}}}},
        {
            "spec": {
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                }
            }
        },
        id="retain-keys-field-merges-without-directive",
    ),
    pytest.param(
        "Pod",
        {"spec": {"volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]}},
        {
            "spec": {
                "volumes": [
                    {"name": "v", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/x"}}
                ]
            }
        },
        {
            "spec": {
                "volumes": [
                    {"name": "v", "hostPath": {"path": "/x"}},
                    {"name": "w", "emptyDir": {}},
                ]
            }
        },
        id="retain-keys-in-list-element",
    ),
    pytest.param(
        "Pod",
        ctrs(
            {
                "name": "a",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
            }
        ),
        ctrs(
            {
                "name": "a",
                "env": [{"name": "Y", "value": "3"}],
                "ports": [{"containerPort": 80, "name": "http"}],
            }
        ),
        ctrs(
            {
                "name": "a",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}],
                "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
            }
        ),
        id="nested-merge-lists-in-containers",
    ),
    pytest.param(
        "Pod",
        {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "X"}]}},
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X"}]}},
        id="pod-conditions-by-type",
    ),
    pytest.param(
        "Node",
        {
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "False"}],
            },
        },
        {
            "spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
        id="node-conditions-merge-taints-replace",
    ),
    pytest.param(
        "Endpoints",
        {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]},
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]},
        {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]},
        id="endpoints-subsets-replace",
    ),
    pytest.param(
        "EndpointSlice",
        {"endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]},
        {"endpoints": [{"addresses": ["10.0.0.2"]}]},
        {"endpoints": [{"addresses": ["10.0.0.2"]}], "ports": [{"port": 80}]},
        id="endpointslice-endpoints-atomic",
    ),
    pytest.param(
        "Service",
        {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}]}},
        {"metadata": {"ownerReferences": [{"uid": "u2", "name": "b"}]}},
        {"metadata": {"ownerReferences": [{"uid": "u2", "name": "b"}, {"uid": "u1", "name": "a"}]}},
        id="owner-references-by-uid",
    ),
    pytest.param(
        "Widget",
        {"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "a"}]}},
        {"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "b"}]}},
        {"metadata": {"finalizers": ["b", "a"]}, "spec": {"items": [{"name": "b"}]}},
        id="unknown-kind-gets-object-meta-only",
    ),
    pytest.param(
        "Service",
        {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}},
        id="scalar-may-change-type",
    ),
    pytest.param("Pod", {"a": 1}, {}, {"a": 1}, id="empty-patch"),
    pytest.param(
        "Pod", {"a": 1, "b": 2}, {"$patch": "replace", "c": 3}, {"c": 3}, id="replace-whole"
    ),
]


@pytest.mark.parametrize(("kind", "original", "patch", "expected"), SMP_CASES)
def test_strategic_merge_patch(
    kind: str, original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert apply_strategic_merge_patch(original, patch, kind) == expected


SMP_ERRORS: list[Any] = [
    pytest.param(
        "Pod",
        ctrs({"name": "a", "image": "x"}),
        ctrs({"image": "y"}),
        BadRequest,
        "map: map[image:y] does not contain declared merge key: name",
        id="missing-merge-key",
    ),
    pytest.param(
        "Pod",
        {"spec": {"volumes": [{"name": "v"}]}},
        {"spec": {"volumes": [{"hostPath": {"path": "/var/lib/kubelet/pods"}}]}},
        BadRequest,
        "map: map[hostPath:map[path:/var/lib/kubelet/pods]] does not contain declared merge "
        "key: name",
        id="missing-merge-key-nested-go-format",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "a"}),
        ctrs({"$patch": "delete"}),
        BadRequest,
        "does not contain declared merge key: name",
        id="delete-directive-without-merge-key",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "a"}),
        ctrs({"$patch": "merge", "name": "a"}),
        BadRequest,
        "merging lists cannot yet be specified in the patch",
        id="merge-directive-in-list",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "merge"}}},
        BadRequest,
        "unknown patch type: merge in map: map[$patch:merge]",
        id="merge-directive-in-map",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "a"}),
        ctrs({"$patch": "frob", "name": "a"}),
        BadRequest,
        "unknown patch type: frob",
        id="unknown-directive",
    ),
    pytest.param(
        "Pod",
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": ["a"]},
        BadRequest,
        "cannot unmarshal array into metadata",
        id="list-where-map-expected",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "a"}),
        {"spec": {"containers": ["a"]}},
        BadRequest,
        "list element types are not identical",
        id="mixed-element-types",
    ),
    pytest.param(
        "Pod",
        fins("a"),
        {"metadata": {"finalizers": [["b"]]}},
        Invalid,
        "the server rejected our request",
        id="list-of-lists-is-422",
    ),
    pytest.param(
        "Pod",
        ctrs({"name": "1"}, {"name": "3"}, {"name": "2"}),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "1"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}],
            }
        },
        BadRequest,
        "doesn't match",
        id="set-element-order-mismatch",
    ),
    pytest.param(
        "Pod",
        fins("1", "3", "2"),
        {"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3", "1"]}},
        BadRequest,
        "doesn't match",
        id="set-element-order-mismatch-primitives",
    ),
    pytest.param(
        "Pod",
        fins("1"),
        {"metadata": {"$setElementOrder": ["1"]}},
        BadRequest,
        "invalid patch format of setElementOrder list",
        id="set-element-order-without-field",
    ),
    pytest.param(
        "Pod",
        fins("1"),
        {"metadata": {"$deleteFromPrimitiveList": ["1"]}},
        BadRequest,
        "invalid patch format of primitive list",
        id="delete-from-primitive-list-without-field",
    ),
    pytest.param(
        "Deployment",
        {"spec": {"strategy": {"type": "RollingUpdate"}}},
        {"spec": {"strategy": {"$retainKeys": "type"}}},
        BadRequest,
        "invalid patch format of retainKeys",
        id="retain-keys-not-a-list",
    ),
    pytest.param(
        "Deployment",
        {"spec": {"strategy": {"type": "RollingUpdate"}}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}},
        BadRequest,
        "invalid patch format of retainKeys",
        id="retain-keys-missing-patched-field",
    ),
]


@pytest.mark.parametrize(("kind", "original", "patch", "error", "message"), SMP_ERRORS)
def test_strategic_merge_patch_errors(
    kind: str, original: dict[str, Any], patch: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        apply_strategic_merge_patch(original, patch, kind)
    err = info.value
    text = str(err) + json.dumps(getattr(err, "causes", []))
    assert message in text


def test_strategic_merge_patch_must_be_object() -> None:
    with pytest.raises(BadRequest, match="cannot unmarshal array"):
        apply_strategic_merge_patch({"a": 1}, [{"a": 2}], "Pod")


# ---------------------------------------------------------------------------------------------
# the bodies kubectl actually sends
# ---------------------------------------------------------------------------------------------

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _applied(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n"


def test_kubectl_apply_service_update() -> None:
    first = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "metrics", "port": 9090},
            ],
        },
    }
    second = copy.deepcopy(first)
    second["spec"]["ports"] = [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "https", "port": 443, "targetPort": 8443},
    ]
    live = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "u-1",
            "resourceVersion": "7",
            "annotations": {LAST_APPLIED: _applied(first)},
        },
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "type": "ClusterIP",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090},
            ],
        },
        "status": {"loadBalancer": {}},
    }
    # What kubectl apply sends for `second` (three-way diff against the annotation).
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: _applied(second)}},
        "spec": {
            "$setElementOrder/ports": [{"port": 80}, {"port": 443}],
            "ports": [
                {"name": "https", "port": 443, "targetPort": 8443},
                {"$patch": "delete", "port": 9090},
            ],
        },
    }
    out = apply_strategic_merge_patch(live, patch, "Service")
    assert out["metadata"]["annotations"] == {LAST_APPLIED: _applied(second)}
    assert out["metadata"]["uid"] == "u-1"
    assert out["spec"]["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "https", "port": 443, "targetPort": 8443},
    ]
    assert out["spec"]["clusterIP"] == "10.96.0.10"
    assert out["status"] == {"loadBalancer": {}}


def test_kubectl_apply_deployment_update() -> None:
    first = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "fe"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.26", "env": [{"name": "A", "value": "1"}]}
                    ]
                },
            },
        },
    }
    second = copy.deepcopy(first)
    del second["metadata"]["labels"]["tier"]
    second["spec"]["replicas"] = 3
    ctr = second["spec"]["template"]["spec"]["containers"][0]
    ctr["image"] = "nginx:1.27"
    ctr["env"].append({"name": "B", "value": "2"})
    live_container = {
        "name": "web",
        "image": "nginx:1.26",
        "env": [{"name": "A", "value": "1"}],
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "generation": 1,
            "labels": {"app": "web", "tier": "fe"},
            "annotations": {
                "deployment.kubernetes.io/revision": "1",
                LAST_APPLIED: _applied(first),
            },
        },
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [live_container],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                },
            },
        },
        "status": {
            "replicas": 2,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }
    patch = {
        "metadata": {
            "annotations": {LAST_APPLIED: _applied(second)},
            "labels": {"tier": None},
        },
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                            "env": [{"name": "B", "value": "2"}],
                            "image": "nginx:1.27",
                            "name": "web",
                        }
                    ],
                }
            },
        },
    }
    out = apply_strategic_merge_patch(live, patch, "Deployment")
    expected = copy.deepcopy(live)
    expected["metadata"]["labels"] = {"app": "web"}
    expected["metadata"]["annotations"][LAST_APPLIED] = _applied(second)
    expected["spec"]["replicas"] = 3
    want_ctr = expected["spec"]["template"]["spec"]["containers"][0]
    want_ctr["image"] = "nginx:1.27"
    want_ctr["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert out == expected


def test_kubectl_apply_deployment_switch_to_recreate() -> None:
    live = {
        "spec": {
            "replicas": 1,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
        }
    }
    patch = {
        "spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}
    }
    out = apply_strategic_merge_patch(live, patch, "Deployment")
    assert out == {"spec": {"replicas": 1, "strategy": {"type": "Recreate"}}}


# ---------------------------------------------------------------------------------------------
# inputs are never modified and results never alias the inputs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apply", "original", "patch"),
    [
        pytest.param(
            apply_merge_patch,
            {"metadata": {"labels": {"a": "1", "k": "v"}}, "spec": {"x": [1]}},
            {"metadata": {"labels": {"k": None, "n": {"deep": [1]}}}},
            id="merge",
        ),
        pytest.param(
            apply_json_patch,
            {"metadata": {"labels": {"a": "1"}}, "spec": {"x": [1]}},
            [
                {"op": "add", "path": "/metadata/labels/n", "value": {"deep": [1]}},
                {"op": "remove", "path": "/spec/x/0"},
            ],
            id="json",
        ),
        pytest.param(
            lambda o, p: apply_strategic_merge_patch(o, p, "Pod"),
            {
                "metadata": {"labels": {"a": "1"}, "finalizers": ["f1", "f2"]},
                "spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]},
            },
            {
                "metadata": {
                    "labels": {"a": None, "n": {"deep": [1]}},
                    "$deleteFromPrimitiveList/finalizers": ["f1"],
                },
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [
                        {"name": "b", "env": [{"name": "Y", "value": "2"}]},
                        {"name": "a", "env": [{"name": "X", "$patch": "delete"}]},
                    ],
                },
            },
            id="strategic",
        ),
    ],
)
def test_inputs_not_mutated(apply: Any, original: dict[str, Any], patch: Any) -> None:
    original_before = copy.deepcopy(original)
    patch_before = copy.deepcopy(patch)
    out = apply(original, patch)
    assert original == original_before
    assert patch == patch_before
    # Scribbling over the result must not reach either input.
    out["metadata"]["labels"]["n"]["deep"].append(99)
    out["metadata"]["labels"]["zz"] = "new"
    assert original == original_before
    assert patch == patch_before
