"""Field path sets: FieldsV1 round trips, set algebra and conflict path strings."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api import fieldpath as fp

PORT = 'k:{"port":80,"protocol":"TCP"}'


def t(raw: dict[str, Any]) -> fp.Tree:
    return fp.from_fields_v1(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"f:spec": {"f:replicas": {}}},
        {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
        {"f:spec": {"f:ports": {".": {}, PORT: {".": {}, "f:port": {}}}}},
        {"f:metadata": {"f:finalizers": {".": {}, 'v:"a"': {}, 'v:"b"': {}}}},
    ],
)
def test_fields_v1_round_trip(raw: dict[str, Any]) -> None:
    assert fp.to_fields_v1(fp.from_fields_v1(raw)) == raw


def test_serialisation_order_is_upstreams() -> None:
    raw = {"i:1": {}, 'v:"x"': {}, 'k:{"a":1}': {}, "f:z": {}, "f:a": {}}
    assert list(fp.to_fields_v1(t(raw))) == ["f:a", "f:z", 'k:{"a":1}', 'v:"x"', "i:1"]
    assert list(fp.to_fields_v1(t({"f:x": {"f:b": {}, ".": {}, "f:a": {}}}))["f:x"]) == [
        ".",
        "f:a",
        "f:b",
    ]


def test_malformed_fields_v1() -> None:
    with pytest.raises(ValueError):
        fp.from_fields_v1([])
    with pytest.raises(ValueError):
        fp.from_fields_v1({"f:a": 1})
    assert fp.from_fields_v1({"x:unknown": {}, "f:a": {}}) == {"f:a": {".": {}}}


CASES = [
    # (a, b, union, difference, intersection, recursive difference)
    (
        {"f:a": {}, "f:b": {}},
        {"f:b": {}},
        {"f:a": {}, "f:b": {}},
        {"f:a": {}},
        {"f:b": {}},
        {"f:a": {}},
    ),
    (
        {"f:l": {".": {}, "f:x": {}}},
        {"f:l": {}},
        {"f:l": {".": {}, "f:x": {}}},
        {"f:l": {"f:x": {}}},
        {"f:l": {}},
        {},
    ),
    (
        {"f:s": {"f:x": {}, "f:y": {}}},
        {"f:s": {"f:y": {}, "f:z": {}}},
        {"f:s": {"f:x": {}, "f:y": {}, "f:z": {}}},
        {"f:s": {"f:x": {}}},
        {"f:s": {"f:y": {}}},
        {"f:s": {"f:x": {}}},
    ),
    ({}, {"f:a": {}}, {"f:a": {}}, {}, {}, {}),
]


@pytest.mark.parametrize(("a", "b", "u", "d", "i", "rd"), CASES)
def test_set_algebra(
    a: dict[str, Any],
    b: dict[str, Any],
    u: dict[str, Any],
    d: dict[str, Any],
    i: dict[str, Any],
    rd: dict[str, Any],
) -> None:
    ta, tb = t(a), t(b)
    assert fp.to_fields_v1(fp.union(ta, tb)) == u
    assert fp.to_fields_v1(fp.difference(ta, tb)) == d
    assert fp.to_fields_v1(fp.intersection(ta, tb)) == i
    assert fp.to_fields_v1(fp.recursive_difference(ta, tb)) == rd
    assert ta == t(a) and tb == t(b)  # arguments untouched


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("f:spec", "f:replicas"), ".spec.replicas"),
        (
            ("f:spec", "f:ports", PORT, "f:targetPort"),
            '.spec.ports[port=80,protocol="TCP"].targetPort',
        ),
        (("f:metadata", "f:finalizers", 'v:"x"'), '.metadata.finalizers[="x"]'),
        (("f:spec", "f:args", "i:0"), ".spec.args[0]"),
    ],
)
def test_path_string(path: tuple[str, ...], text: str) -> None:
    assert fp.path_string(path) == text


def test_member_paths() -> None:
    tree = t({"f:spec": {"f:ports": {".": {}, PORT: {".": {}, "f:port": {}}}, "f:type": {}}})
    assert list(fp.member_paths(tree)) == [
        ("f:spec", "f:ports"),
        ("f:spec", "f:ports", PORT),
        ("f:spec", "f:ports", PORT, "f:port"),
        ("f:spec", "f:type"),
    ]
