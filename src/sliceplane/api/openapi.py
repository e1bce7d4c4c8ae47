"""The ``/openapi/v3`` documents of the served kinds, built from ``schema``'s definitions.

kubectl reads ``/openapi/v3`` before ``create``/``apply`` and fails with ``failed to
download openapi`` without it; ``kubectl explain`` walks it; and only a PATCH operation
that declares the ``fieldValidation`` parameter makes kubectl leave field validation to the
server. So each served group-version gets a document with its kinds' schemas (closed over
their references, strategic-merge ``x-kubernetes-patch-*`` tags included) and one path item
per verb, named and parameterised as kube-apiserver's; the root index links every document
by content hash (``?hash=``), as upstream's does, so clients can cache them for good.

Pure and stdlib-only, like the rest of ``sliceplane.api``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from sliceplane.api.patchmeta import PATCH_META, PatchMeta
from sliceplane.api.schema import (
    INT_OR_STRING_KEY,
    META,
    QUANTITY_KEY,
    definition_key,
    definitions,
)

__all__ = [
    "ResourceSpec",
    "document_hash",
    "openapi_v2_document_bytes",
    "openapi_v3_document",
    "openapi_v3_document_bytes",
    "openapi_v3_root",
]


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One served resource, as the OpenAPI documents describe it.

    ``subresources`` may hold ``"status"`` (same kind) and ``"scale"`` (autoscaling/v1 Scale).
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()


_SCALE_GVK: Final = ("autoscaling", "v1", "Scale")
_REF_PREFIX: Final = "#/components/schemas/"
_EXTRA_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    INT_OR_STRING_KEY: {
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    },
    QUANTITY_KEY: {"oneOf": [{"type": "string"}, {"type": "number"}]},
    f"{META}.Time": {"type": "string", "format": "date-time"},
    f"{META}.MicroTime": {"type": "string", "format": "date-time"},
    f"{META}.FieldsV1": {"type": "object"},
    f"{META}.Patch": {"type": "object"},
}
_LEAF_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "number": {"type": "number", "format": "double"},
    "IntOrString": {"$ref": _REF_PREFIX + INT_OR_STRING_KEY},
    "Quantity": {"$ref": _REF_PREFIX + QUANTITY_KEY},
    "Time": {"$ref": f"{_REF_PREFIX}{META}.Time"},
    "MicroTime": {"$ref": f"{_REF_PREFIX}{META}.MicroTime"},
    "object": {"$ref": f"{_REF_PREFIX}{META}.FieldsV1"},
    "bytes": {"type": "string", "format": "byte"},
}


def _openapi_node(spec: Any, refs: list[str]) -> dict[str, Any]:
    if isinstance(spec, str):
        schema = _LEAF_SCHEMAS[spec]
        if "$ref" in schema:
            refs.append(schema["$ref"][len(_REF_PREFIX) :])
        return dict(schema)
    if "ref" in spec:
        refs.append(spec["ref"])
        return {"$ref": _REF_PREFIX + spec["ref"]}
    if "array" in spec:
        return {"type": "array", "items": _openapi_node(spec["array"], refs)}
    return {"type": "object", "additionalProperties": _openapi_node(spec["map"], refs)}


def _ref_target(spec: Any) -> str | None:
    while isinstance(spec, dict):
        if "ref" in spec:
            return str(spec["ref"])
        spec = spec.get("array") or spec.get("map")
    return None


@functools.cache
def _patch_extensions() -> dict[tuple[str, str], PatchMeta]:
    """(definition, property) -> strategic-merge tags, from the per-kind patch table."""
    defs = definitions()
    roots = {
        gvk["kind"]: key
        for key, d in defs.items()
        for gvk in d.get("x-kubernetes-group-version-kind") or []
    }
    out: dict[tuple[str, str], PatchMeta] = {}
    for kind, table in PATCH_META.items():
        for path, meta in table.items():
            key: str | None = roots.get(kind)
            parts = path.split(".")
            for i, part in enumerate(parts):
                if key is None or key not in defs:
                    break
                prop = defs[key]["properties"].get(part)
                if prop is None:
                    break
                if i == len(parts) - 1:
                    out[(key, part)] = meta
                else:
                    key = _ref_target(prop)
    return out


def _openapi_schemas(roots: Iterable[str]) -> dict[str, Any]:
    defs = definitions()
    out: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        key = todo.pop()
        if key in out:
            continue
        if key in _EXTRA_SCHEMAS:
            out[key] = dict(_EXTRA_SCHEMAS[key])
            continue
        definition = defs[key]
        refs: list[str] = []
        props: dict[str, Any] = {}
        for name, spec in definition["properties"].items():
            node = _openapi_node(spec, refs)
            meta = _patch_extensions().get((key, name))
            if meta is not None:
                if "$ref" in node:
                    node = {"allOf": [node]}
                node["x-kubernetes-patch-strategy"] = str(meta.strategy)
                if meta.merge_key:
                    node["x-kubernetes-patch-merge-key"] = meta.merge_key
            props[name] = node
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if "required" in definition:
            schema["required"] = list(definition["required"])
        if "x-kubernetes-group-version-kind" in definition:
            schema["x-kubernetes-group-version-kind"] = [
                dict(g) for g in definition["x-kubernetes-group-version-kind"]
            ]
        out[key] = schema
        todo.extend(refs)
    return dict(sorted(out.items()))


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _op_prefix(group: str, version: str) -> str:
    name = group.split(".")[0] if group else "core"
    return name[:1].upper() + name[1:] + version[:1].upper() + version[1:]


def _query(name: str, schema_type: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": schema_type, "uniqueItems": True}}


def _json_content(ref: str) -> dict[str, Any]:
    schema = {"$ref": _REF_PREFIX + ref}
    return {
        "application/json": {"schema": schema},
        "application/yaml": {"schema": schema},
    }


def _response(code: str, ref: str) -> dict[str, Any]:
    return {
        code: {"description": "OK" if code == "200" else "Created", "content": _json_content(ref)},
        "401": {"description": "Unauthorized"},
    }


_WRITE_PARAMS: Final = ("dryRun", "fieldManager", "fieldValidation")
_LIST_PARAMS: Final = (
    ("allowWatchBookmarks", "boolean"),
    ("continue", "string"),
    ("fieldSelector", "string"),
    ("labelSelector", "string"),
    ("limit", "integer"),
    ("resourceVersion", "string"),
    ("resourceVersionMatch", "string"),
    ("sendInitialEvents", "boolean"),
    ("timeoutSeconds", "integer"),
    ("watch", "boolean"),
)
_DELETE_PARAMS: Final = (
    ("dryRun", "string"),
    ("gracePeriodSeconds", "integer"),
    ("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean"),
    ("orphanDependents", "boolean"),
    ("propagationPolicy", "string"),
)
_PATCH_TYPES: Final = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _operation(
    op_id: str,
    action: str,
    gvk: tuple[str, str, str],
    params: list[dict[str, Any]],
    responses: dict[str, Any],
    body_ref: str | None = None,
    body_types: Sequence[str] = ("application/json", "application/yaml"),
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "parameters": params, "responses": responses}
    if body_ref is not None:
        schema = {"$ref": _REF_PREFIX + body_ref}
        op["requestBody"] = {
            "content": {t: {"schema": schema} for t in body_types},
            "required": True,
        }
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}
    return op


def _path_params(namespaced: bool, named: bool) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if named:
        params.append({"name": "name", "in": "path", "required": True, "schema": _STR})
    if namespaced:
        params.append({"name": "namespace", "in": "path", "required": True, "schema": _STR})
    params.append(_query("pretty"))
    return params


_STR: Final = {"type": "string", "uniqueItems": True}


def _resource_paths(r: ResourceSpec) -> dict[str, Any]:
    kind_key = definition_key(r.group, r.version, r.kind)
    if kind_key is None:
        raise KeyError(f"no schema for {r.group}/{r.version} {r.kind}")
    list_key = definition_key(r.group, r.version, r.kind + "List")
    prefix = "/" + _gv_path(r.group, r.version)
    ops = _op_prefix(r.group, r.version)
    ns = "Namespaced" if r.namespaced else ""
    gvk = (r.group, r.version, r.kind)
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{prefix}/{r.plural}"
    )
    write = [_query(p) for p in _WRITE_PARAMS]
    delete_opts = f"{META}.DeleteOptions"
    status_key = f"{META}.Status"
    paths: dict[str, Any] = {}

    coll: dict[str, Any] = {"parameters": _path_params(r.namespaced, named=False)}
    if list_key is not None:
        coll["get"] = _operation(
            f"list{ops}{ns}{r.kind}",
            "list",
            gvk,
            [_query(n, t) for n, t in _LIST_PARAMS],
            _response("200", list_key),
        )
    coll["post"] = _operation(
        f"create{ops}{ns}{r.kind}", "post", gvk, write, _response("201", kind_key), kind_key
    )
    coll["delete"] = _operation(
        f"delete{ops}Collection{ns}{r.kind}",
        "deletecollection",
        gvk,
        [_query(n, t) for n, t in (*_DELETE_PARAMS, *_LIST_PARAMS)],
        _response("200", status_key),
        delete_opts,
    )
    paths[collection] = coll

    item: dict[str, Any] = {"parameters": _path_params(r.namespaced, named=True)}
    item["get"] = _operation(f"read{ops}{ns}{r.kind}", "get", gvk, [], _response("200", kind_key))
    item["put"] = _operation(
        f"replace{ops}{ns}{r.kind}", "put", gvk, write, _response("200", kind_key), kind_key
    )
    item["patch"] = _operation(
        f"patch{ops}{ns}{r.kind}",
        "patch",
        gvk,
        [*write, _query("force", "boolean")],
        _response("200", kind_key),
        f"{META}.Patch",
        _PATCH_TYPES,
    )
    item["delete"] = _operation(
        f"delete{ops}{ns}{r.kind}",
        "delete",
        gvk,
        [_query(n, t) for n, t in _DELETE_PARAMS],
        _response("200", kind_key),
        delete_opts,
    )
    paths[f"{collection}/{{name}}"] = item

    for sub in r.subresources:
        sub_gvk = _SCALE_GVK if sub == "scale" else gvk
        sub_key = definition_key(*sub_gvk)
        if sub_key is None:
            raise KeyError(f"no schema for subresource {sub}")
        sub_name = sub[:1].upper() + sub[1:]
        sub_path: dict[str, Any] = {"parameters": _path_params(r.namespaced, named=True)}
        sub_path["get"] = _operation(
            f"read{ops}{ns}{r.kind}{sub_name}", "get", sub_gvk, [], _response("200", sub_key)
        )
        sub_path["put"] = _operation(
            f"replace{ops}{ns}{r.kind}{sub_name}",
            "put",
            sub_gvk,
            write,
            _response("200", sub_key),
            sub_key,
        )
        sub_path["patch"] = _operation(
            f"patch{ops}{ns}{r.kind}{sub_name}",
            "patch",
            sub_gvk,
            [*write, _query("force", "boolean")],
            _response("200", sub_key),
            f"{META}.Patch",
            _PATCH_TYPES,
        )
        paths[f"{collection}/{{name}}/{sub}"] = sub_path

    if r.namespaced and list_key is not None:
        paths[f"{prefix}/{r.plural}"] = {
            "parameters": [_query("pretty")],
            "get": _operation(
                f"list{ops}{r.kind}ForAllNamespaces",
                "list",
                gvk,
                [_query(n, t) for n, t in _LIST_PARAMS],
                _response("200", list_key),
            ),
        }
    return paths


def _roots(specs: Iterable[ResourceSpec]) -> list[str]:
    """The definitions a document describes: its kinds, their lists, Scale, and meta's."""
    roots = [f"{META}.Status", f"{META}.DeleteOptions", f"{META}.Patch"]
    for r in specs:
        for k in (
            definition_key(r.group, r.version, r.kind),
            definition_key(r.group, r.version, r.kind + "List"),
            definition_key(*_SCALE_GVK) if "scale" in r.subresources else None,
        ):
            if k is not None:
                roots.append(k)
    return roots


@lru_cache(maxsize=64)
def _document_bytes(group: str, version: str, specs: tuple[ResourceSpec, ...]) -> bytes:
    paths: dict[str, Any] = {}
    for r in specs:
        paths.update(_resource_paths(r))
    roots = _roots(specs)
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _openapi_schemas(roots)},
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _specs_for(group: str, version: str, specs: Iterable[ResourceSpec]) -> tuple[ResourceSpec, ...]:
    chosen = {r for r in specs if r.group == group and r.version == version}
    return tuple(sorted(chosen, key=lambda r: (r.plural, r.kind)))


def openapi_v3_document_bytes(group: str, version: str, resources: Sequence[ResourceSpec]) -> bytes:
    """The exact bytes to serve at ``/openapi/v3/<api|apis/group>/<version>`` (cached)."""
    return _document_bytes(group, version, _specs_for(group, version, resources))


def openapi_v3_document(
    group: str, version: str, resources: Sequence[ResourceSpec]
) -> dict[str, Any]:
    """OpenAPI 3.0 document for one group-version (a fresh dict each call).

    ``components.schemas`` holds every definition the served kinds reach, kinds tagged with
    ``x-kubernetes-group-version-kind``; ``paths`` has kube's operations for each resource,
    every write declaring ``dryRun``, ``fieldManager`` and ``fieldValidation``. Resources of
    other group-versions in ``resources`` are ignored.
    """
    loaded: dict[str, Any] = json.loads(openapi_v3_document_bytes(group, version, resources))
    return loaded


def document_hash(data: bytes) -> str:
    """Content hash used in ``?hash=`` and as ETag (kube: upper-case hex SHA-512)."""
    return hashlib.sha512(data).hexdigest().upper()


def openapi_v3_root(
    groups: Sequence[tuple[str, str]], resources: Sequence[ResourceSpec] = ()
) -> dict[str, Any]:
    """The ``/openapi/v3`` discovery document.

    ``{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=<HASH>"}, ...}}``.
    Pass the same ``resources`` given to ``openapi_v3_document`` so each hash is the hash of
    the bytes served for that group-version.
    """
    paths: dict[str, Any] = {}
    for group, version in sorted(set(groups)):
        data = openapi_v3_document_bytes(group, version, resources)
        gv_path = _gv_path(group, version)
        paths[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={document_hash(data)}"}
    return {"paths": paths}


# Swagger 2.0 spells these two as kube-apiserver's /openapi/v2 does (no oneOf in 2.0).
_V2_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    INT_OR_STRING_KEY: {"type": "string", "format": "int-or-string"},
    QUANTITY_KEY: {"type": "string"},
}
_V2_REF_PREFIX: Final = "#/definitions/"


def _v2_node(node: Any) -> Any:
    """One OpenAPI 3 schema node as Swagger 2.0: references into ``#/definitions/``, and the
    ``allOf: [$ref]`` wrapper (3.0's way to put extensions beside a reference) back to the
    bare ``$ref`` upstream's v2 document has."""
    if isinstance(node, list):
        return [_v2_node(n) for n in node]
    if not isinstance(node, dict):
        return node
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        return _v2_node(all_of[0])
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
            out[key] = _V2_REF_PREFIX + value[len(_REF_PREFIX) :]
        else:
            out[key] = _v2_node(value)
    return out


@lru_cache(maxsize=4)
def openapi_v2_document_bytes(resources: tuple[ResourceSpec, ...]) -> bytes:
    """The bytes to serve at ``/openapi/v2``: a Swagger 2.0 document whose ``definitions``
    are every served kind's schema (with ``x-kubernetes-group-version-kind``) and what they
    reach, as in the v3 documents; ``paths`` is empty.

    Clients that still read v2 read it for the types: the Terraform kubernetes provider's
    ``kubernetes_manifest`` builds its resource types from ``definitions`` alone and fails
    without the document. The operations are left out (kubectl and client-go read v3).
    """
    schemas = _openapi_schemas(_roots(resources))
    definitions_v2 = {
        key: _V2_SCHEMAS.get(key) or _v2_node(schema) for key, schema in schemas.items()
    }
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": {},
        "definitions": dict(sorted(definitions_v2.items())),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
