"""The served types as structured-merge-diff sees them: structs, maps, lists and how each merges.

Why: which fields a write sets, who owns them and how an apply merges all depend on a
field's *relationship*: a struct or map is granular (its keys are owned one by one) unless
``x-kubernetes-map-type: atomic``; a list is atomic (owned and replaced whole), a set of
scalars (``v:`` items) or a map keyed by some fields of its items (``k:`` items). Upstream
reads that from its OpenAPI document; ``tools/gen_smd_types.py`` extracted it, with each
kind's zero-value object as Go writes it (the "live" object a create is compared with), into
``schemas/smd_types.json``. The field shapes come from ``schemas/schemas.json`` (``schema``).

Types are compiled once per definition and shared (``type_for``), so walking an object costs
no lookups by name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

from sliceplane.api.schema import definition_key, definitions

__all__ = [
    "LEAF",
    "Leaf",
    "ListType",
    "MapType",
    "StructType",
    "Type",
    "skeleton",
    "type_for",
]


class Leaf:
    """A scalar, or anything owned as a whole (untyped objects such as FieldsV1)."""

    __slots__ = ()


LEAF: Final = Leaf()


@dataclass(slots=True, eq=False)
class StructType:
    fields: dict[str, Type] = field(default_factory=dict)
    atomic: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    """Scalar defaults from the schema; used for list-map keys an item leaves out."""
    times: frozenset[str] = frozenset()
    """Fields of type Time/MicroTime: Go writes their zero value as ``null`` (kept)."""


@dataclass(slots=True, eq=False)
class MapType:
    value: Type
    atomic: bool = False


@dataclass(slots=True, eq=False)
class ListType:
    item: Type
    relationship: str = "atomic"
    """``atomic``, ``set`` (scalar items, ``v:``) or ``map`` (``k:`` by ``keys``)."""
    keys: tuple[str, ...] = ()


Type = Leaf | StructType | MapType | ListType


@cache
def _smd() -> Mapping[str, Any]:
    text = resources.files("sliceplane.api").joinpath("schemas/smd_types.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _structs() -> dict[str, StructType]:
    defs = definitions()
    extra: Mapping[str, Any] = _smd()["types"]
    structs = {key: StructType() for key in defs}

    def compile_node(spec: Any, rel: list[Any] | None) -> Type:
        if isinstance(spec, str):
            return LEAF
        if "ref" in spec:
            return structs[spec["ref"]]
        if "array" in spec:
            item = compile_node(spec["array"], None)
            if rel is None or rel[0] == "atomic":
                return ListType(item)
            if rel[0] == "set":
                return ListType(item, "set")
            return ListType(item, "map", tuple(rel[1]))
        if "map" in spec:
            return MapType(compile_node(spec["map"], None), atomic=bool(rel and rel[0] == "atomic"))
        raise ValueError(f"bad schema node {spec!r}")

    for key, definition in defs.items():
        info = extra.get(key, {})
        rels = info.get("fields", {})
        st = structs[key]
        st.atomic = bool(info.get("atomic"))
        st.defaults = dict(info.get("defaults", {}))
        st.fields = {
            name: compile_node(spec, rels.get(name))
            for name, spec in definition["properties"].items()
        }
        st.times = frozenset(
            name for name, spec in definition["properties"].items() if spec in ("Time", "MicroTime")
        )
    return structs


def type_for(group: str, version: str, kind: str) -> StructType | None:
    """The compiled type of a served kind, or None for one without a schema."""
    key = definition_key(group, version, kind)
    return None if key is None else _structs().get(key)


def skeleton(kind: str) -> Mapping[str, Any]:
    """The kind's zero-value object as Go's unstructured converter writes it (read only)."""
    found: Mapping[str, Any] = _smd()["skeletons"].get(kind, {"metadata": {}})
    return found
