"""A seeded, structure-aware fuzzer of the API server's request paths (issue 16).

Requests start valid: a hand-written seed object per kind, grown with the fields the
server's own OpenAPI v3 documents declare for it, sent with every verb, patch type and
query parameter the API has. Each *family* then mutates one aspect (JSON types, encodings,
depth, names, query parameters, DeleteOptions, patches, subresources, sizes) with a
``random.Random(seed)``, so a failure is reproduced by its family, seed and index.

What every answer must satisfy (:func:`problems`): no 5xx, an answer before the deadline,
an error answered as a JSON ``Status`` whose code is the HTTP status and whose message has
no Python exception text, and — for a rejected write — the store unchanged (no object
appeared, none changed its resourceVersion, none vanished, apart from objects the garbage
collector may legitimately remove: those with owner references or a deletion timestamp).

The generators are plain functions of the random source; only :class:`Fuzzer` does I/O.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import gzip
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from sliceplane.api.resources import RESOURCES, ResourceInfo

Obj = dict[str, Any]
NS = "fuzz"
DEADLINE = 15.0
"""Seconds one request may take before it counts as a hang."""

PYTHON_TEXT = re.compile(
    r"Traceback|object has no attribute|codec can't (?:de|en)code|NoneType|unhashable type|"
    r"KeyError|TypeError|ValueError|AttributeError|RecursionError|not subscriptable|"
    r"maximum recursion depth|invalid literal for int|object is not iterable|"
    r"unsupported operand|takes \d+ positional|msgspec\.|Errno \d+"
)

CONTAINER = {"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80, "name": "http"}]}
POD_SPEC = {"containers": [CONTAINER]}


def seed_object(info: ResourceInfo, name: str, ns: str = NS) -> Obj:
    """A valid object of ``info``'s kind (the unmutated request)."""
    meta: Obj = {"name": name, "labels": {"app": "fz", "tier": name[-1:]}}
    if info.namespaced:
        meta["namespace"] = ns
    obj: Obj = {"apiVersion": info.api_version, "kind": info.kind, "metadata": meta}
    body: Obj
    match info.plural:
        case "pods":
            body = {"spec": copy.deepcopy(POD_SPEC)}
        case "services":
            body = {"spec": {"selector": {"app": "fz"}, "ports": [{"port": 80, "targetPort": 80}]}}
        case "endpoints":
            body = {"subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}
        case "endpointslices":
            body = {
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": True}}],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }
        case "leases":
            body = {"spec": {"holderIdentity": "fz", "leaseDurationSeconds": 15}}
        case "events":
            body = {
                "involvedObject": {"kind": "Pod", "name": "x", "namespace": ns},
                "reason": "Fuzzed",
                "message": "m",
                "type": "Normal",
            }
        case "deployments" | "replicasets":
            body = {
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "fz"}},
                    "template": {"metadata": {"labels": {"app": "fz"}}, "spec": POD_SPEC},
                }
            }
        case "nodes":
            body = {"spec": {"unschedulable": False}}
        case "secrets":
            body = {"type": "Opaque", "data": {"user": "ZnV6eg==", "tls.crt": ""}}
        case "configmaps":
            body = {"data": {"app.conf": "a=1"}, "binaryData": {"blob": "AAEC"}}
        case _:
            body = {}
    obj.update(copy.deepcopy(body))
    return obj


# ---------------------------------------------------------------------- schema knowledge


@dataclass
class Schemas:
    """The served OpenAPI v3 ``components.schemas``, and each kind's root schema name."""

    components: dict[str, Obj] = field(default_factory=dict)
    by_kind: dict[str, str] = field(default_factory=dict)

    def resolve(self, node: Obj | None) -> Obj:
        seen = 0
        while node is not None and seen < 20:
            ref = node.get("$ref")
            if ref is None:
                all_of = node.get("allOf")
                if all_of and isinstance(all_of, list) and len(all_of) == 1:
                    node = all_of[0]
                    seen += 1
                    continue
                return node
            node = self.components.get(ref.rsplit("/", 1)[-1])
            seen += 1
        return node or {}

    def properties(self, kind: str, path: list[str | int]) -> dict[str, Obj]:
        """The properties the schema declares at ``path`` inside an object of ``kind``."""
        node = self.resolve(self.components.get(self.by_kind.get(kind, "")))
        for step in path:
            if isinstance(step, int):
                node = self.resolve(node.get("items"))
            else:
                props = node.get("properties") or {}
                if step in props:
                    node = self.resolve(props[step])
                else:
                    node = self.resolve(node.get("additionalProperties") or {})
        return dict(node.get("properties") or {})


def value_of_type(rng: random.Random, schema: Obj, depth: int = 0) -> Any:
    """A value of the schema's own type (used to grow seeds with declared fields)."""
    typ = schema.get("type")
    fmt = schema.get("format")
    if typ == "integer":
        return rng.choice([0, 1, 7, 80, 65535])
    if typ == "number":
        return rng.choice([0.5, 1.0])
    if typ == "boolean":
        return rng.choice([True, False])
    if typ == "array":
        return [] if depth > 2 else [value_of_type(rng, schema.get("items") or {}, depth + 1)]
    if typ == "object" or "properties" in schema:
        return {}
    if fmt == "date-time":
        return "2026-01-02T03:04:05Z"
    if fmt == "int-or-string":
        return rng.choice([8080, "http"])
    return rng.choice(["x", "abc", "10.1.2.3", "TCP", "Always", "True"])


# ---------------------------------------------------------------------- mutations

WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**70),
    1.5,
    "",
    "x",
    "1",
    "true",
    "10.0.0.999",
    [],
    [None],
    ["x", 1],
    {},
    {"a": 1},
    {"": None},
]

ODD_NAMES = [
    "",
    ".",
    "..",
    "A",
    "a_b",
    "a/b",
    "a%2Fb",
    "a b",
    "é",
    "a\u0000b",
    "a\r\nb",
    "-a",
    "a-",
    "x" * 254,
    "x" * 64,
    "a.b",
    "1",
    "\u202e",
    "a\tb",
]

ODD_KEYS = [
    "a\r\nb",
    "a\nX-Injected: 1",
    "nul\u0000key",
    "\u00e9t\u00e9",
    "",
    " ",
    "$patch",
    "$setElementOrder/containers",
    "$retainKeys",
    "$deleteFromPrimitiveList/finalizers",
    "k" * 5000,
    "\ud7ff",
    "tab\tkey",
    '"quoted"',
    "metadata",
]


def paths(obj: Any, prefix: list[str | int] | None = None) -> Iterator[list[str | int]]:
    """Every path inside a JSON tree (objects and arrays), including the root."""
    prefix = prefix or []
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths(v, [*prefix, k])
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths(v, [*prefix, i])


def get_at(obj: Any, path: list[str | int]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def set_at(obj: Any, path: list[str | int], value: Any) -> Any:
    if not path:
        return value
    get_at(obj, path[:-1])[path[-1]] = value
    return obj


def deep(rng: random.Random, depth: int) -> Any:
    leaf: Any = rng.choice([1, "x", None, {}, []])
    for _ in range(depth):
        leaf = [leaf] if rng.random() < 0.5 else {"a": leaf}
    return leaf


def deep_json_text(depth: int, kind: str = "list") -> bytes:
    """Nesting as text, so building it costs nothing however deep."""
    if kind == "list":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def mutate_types(rng: random.Random, obj: Obj, schemas: Schemas) -> Obj:
    obj = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.5:
            # A field the schema declares here (often absent from the seed), wrongly typed.
            containers = [p for p in paths(obj) if isinstance(get_at(obj, p), dict)]
            where = rng.choice(containers)
            kind = obj.get("kind") if isinstance(obj.get("kind"), str) else ""
            props = schemas.properties(kind, list(where))
            if props:
                name = rng.choice(sorted(props))
                get_at(obj, where)[name] = copy.deepcopy(rng.choice(WRONG_VALUES))
                continue
        candidates = [p for p in paths(obj) if p]
        where = rng.choice(candidates)
        set_at(obj, where, copy.deepcopy(rng.choice(WRONG_VALUES)))
    return obj


def grow(rng: random.Random, obj: Obj, schemas: Schemas) -> Obj:
    """Add declared fields with values of their declared types (valid-ish requests)."""
    obj = copy.deepcopy(obj)
    for _ in range(rng.randint(0, 3)):
        containers = [p for p in paths(obj) if isinstance(get_at(obj, p), dict)]
        where = rng.choice(containers)
        kind = obj.get("kind") if isinstance(obj.get("kind"), str) else ""
        props = schemas.properties(kind, list(where))
        if props:
            name = rng.choice(sorted(props))
            get_at(obj, where).setdefault(name, value_of_type(rng, schemas.resolve(props[name])))
    return obj


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


def invalid_utf8(rng: random.Random, body: bytes) -> bytes:
    """Non-UTF-8 bytes inside a JSON string of ``body``."""
    quotes = [m.start() for m in re.finditer(rb'"[a-z]', body)]
    at = rng.choice(quotes) + 1 if quotes else 1
    junk = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xfe", b"\x80abc", b"\xf8\x88"])
    return body[:at] + junk + body[at:]


def duplicate_keys(rng: random.Random, obj: Obj) -> bytes:
    text = dumps(obj)
    meta = text.find(b'"metadata": {')
    if meta < 0:
        return text
    at = meta + len(b'"metadata": {')
    dup = rng.choice([b'"name": "dup", ', b'"labels": {"a": "b"}, ', b'"name": 1, '])
    return text[:at] + dup + text[at:]


# ---------------------------------------------------------------------- requests


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    family: str = ""
    note: str = ""
    resource: ResourceInfo | None = None
    namespace: str | None = None
    watch: bool = False

    @property
    def writes(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    def describe(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query)[:120]
        body = (self.body or b"")[:160]
        return f"{self.method} {self.path[:160]}{'?' + q if q else ''} body={body!r} [{self.note}]"


JSON = "application/json"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


def collection_path(info: ResourceInfo, ns: str | None) -> str:
    base = info.url_prefix()
    if info.namespaced:
        return f"{base}/namespaces/{ns}/{info.plural}"
    return f"{base}/{info.plural}"


def quote_segment(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def item_path(info: ResourceInfo, ns: str | None, name: str, sub: str = "") -> str:
    path = f"{collection_path(info, ns)}/{quote_segment(name)}"
    return f"{path}/{sub}" if sub else path


QUERY_VALUES: dict[str, list[str]] = {
    "labelSelector": [
        "app=fz",
        "app in (fz,x)",
        "!app",
        "app!=",
        "a=b,,c",
        "===",
        "app in (",
        "x" * 70 + "=y",
        "a" * 20000 + "=b",
        "app=\u00e9",
        "app notin ()",
        "a=b=c",
        "(",
    ],
    "fieldSelector": [
        "metadata.name=x",
        "metadata.namespace!=fuzz",
        "spec.nodeName=",
        "status.phase=Running",
        "bogus.field=1",
        "metadata.name",
        "=x",
        "metadata.name==x",
        "metadata.name=a,metadata.name=b",
        "\u0000",
    ],
    "limit": ["1", "0", "-1", "abc", "1e3", "1.5", "99999999999999999999", "nan", "inf", ""],
    "continue": [
        "garbage",
        "",
        base64.b64encode(b'{"v":"meta.k8s.io/v1","rv":1,"start":"a"}').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "====",
        base64.urlsafe_b64encode(b'{"rv": "x"}').decode(),
    ],
    "resourceVersion": ["0", "", "1", "-1", "abc", "99999999999999999999", "1.5", "nan"],
    "resourceVersionMatch": ["NotOlderThan", "Exact", "Bogus", ""],
    "timeoutSeconds": ["1", "0", "-1", "nan", "inf", "-inf", "1e400", "1.5", "abc", "9" * 30],
    "watch": ["true", "false", "1", "maybe", ""],
    "dryRun": ["All", "Bogus", "", "all"],
    "fieldValidation": ["Strict", "Warn", "Ignore", "Bogus", ""],
    "propagationPolicy": ["Foreground", "Background", "Orphan", "Bogus", ""],
    "gracePeriodSeconds": ["0", "1", "-1", "abc", "1e400", "nan", "99999999999999999999"],
    "allowWatchBookmarks": ["true", "bogus"],
    "sendInitialEvents": ["true", "false", "bogus"],
    "pretty": ["true", "bogus"],
    "fieldManager": ["kubectl", "x" * 200, "\u0000"],
    "orphanDependents": ["true", "bogus"],
}

LIST_PARAMS = [
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "resourceVersionMatch",
    "timeoutSeconds",
    "watch",
    "allowWatchBookmarks",
    "sendInitialEvents",
    "pretty",
]
WRITE_PARAMS = ["dryRun", "fieldValidation", "fieldManager", "pretty"]
DELETE_PARAMS = ["dryRun", "propagationPolicy", "gracePeriodSeconds", "orphanDependents"]


def delete_options(rng: random.Random, mutate: bool) -> Obj:
    opts: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if rng.random() < 0.5:
        opts["gracePeriodSeconds"] = rng.choice([0, 1, 30])
    if rng.random() < 0.3:
        opts["propagationPolicy"] = rng.choice(["Background", "Foreground", "Orphan"])
    if rng.random() < 0.2:
        opts["preconditions"] = {"resourceVersion": "1"}
    if not mutate:
        return opts
    key = rng.choice(
        [
            "gracePeriodSeconds",
            "propagationPolicy",
            "preconditions",
            "dryRun",
            "orphanDependents",
            "kind",
            "apiVersion",
            "preconditions.uid",
            "preconditions.resourceVersion",
        ]
    )
    value = rng.choice([*WRONG_VALUES, "Bogus", ["All"], ["Bogus"], -5, 2**64])
    if key.startswith("preconditions."):
        opts.setdefault("preconditions", {})
        if not isinstance(opts["preconditions"], dict):
            opts["preconditions"] = {}
        opts["preconditions"][key.split(".", 1)[1]] = value
    else:
        opts[key] = value
    return opts


def json_patch(rng: random.Random, mutate: bool) -> Any:
    ops: list[Any] = [{"op": "replace", "path": "/metadata/labels/tier", "value": "z"}]
    if rng.random() < 0.5:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}})
    if rng.random() < 0.3:
        ops.append({"op": "test", "path": "/metadata/labels/app", "value": "fz"})
    if not mutate:
        return ops
    bad = rng.choice(
        [
            {"op": "bogus", "path": "/a"},
            {"op": "add"},
            {"op": "add", "path": 5, "value": 1},
            {"op": "remove", "path": "/spec/containers/99"},
            {"op": "move", "from": "/metadata", "path": "/metadata/labels/x"},
            {"op": "copy", "from": "/nope", "path": "/x"},
            {"op": "replace", "path": "/metadata/name", "value": ["x"]},
            {"op": "add", "path": "/metadata/labels/~2", "value": "x"},
            {"op": "add", "path": "relative", "value": 1},
            {"op": "add", "path": "/spec/containers/-", "value": None},
            {"op": "test", "path": "/metadata/labels/app", "value": "nope"},
            "not-an-op",
            None,
            {"op": "replace", "path": "/spec", "value": 1},
            {"op": "add", "path": "/metadata/resourceVersion", "value": 7},
        ]
    )
    if rng.random() < 0.2:
        return rng.choice([{}, "x", 1, None, [[]]])
    ops.insert(rng.randrange(len(ops) + 1), bad)
    return ops


def merge_patch(rng: random.Random, obj: Obj, schemas: Schemas, mutate: bool) -> Any:
    patch: Obj = {"metadata": {"labels": {"tier": rng.choice(["a", "b", None])}}}
    if not mutate:
        return patch
    choice = rng.random()
    if choice < 0.4:
        return mutate_types(rng, obj, schemas)
    if choice < 0.6:
        return rng.choice(
            [
                {"spec": {"containers": [{"name": "c", "$patch": "delete"}]}},
                {"spec": {"$patch": "bogus"}},
                {"spec": {"containers": [{"$patch": "replace"}]}},
                {"$setElementOrder/containers": "x"},
                {"spec": {"$setElementOrder/containers": [{"name": 1}]}},
                {"spec": {"$retainKeys": "x"}},
                {"metadata": {"$deleteFromPrimitiveList/finalizers": 1}},
                {"spec": {"containers": {"name": "c"}}},
                {"spec": {"ports": [{"port": "x", "$patch": "merge"}]}},
            ]
        )
    if choice < 0.8:
        return rng.choice([[], "x", 1, None, True, [{"a": 1}]])
    return {
        "metadata": {rng.choice(ODD_KEYS): 1, "labels": copy.deepcopy(rng.choice(WRONG_VALUES))}
    }


# ---------------------------------------------------------------------- families


@dataclass
class Generator:
    rng: random.Random
    schemas: Schemas
    resources: list[ResourceInfo]
    counter: int = 0

    def name(self) -> str:
        self.counter += 1
        return f"fz-{self.counter}"

    def pick(self) -> ResourceInfo:
        return self.rng.choice(self.resources)

    def target_name(self, info: ResourceInfo) -> str:
        # Mostly objects that may exist (low numbers are reused), sometimes new ones.
        if self.rng.random() < 0.7:
            return f"fz-{self.rng.randint(1, 40)}"
        return self.name()

    def namespace(self, info: ResourceInfo) -> str | None:
        return NS if info.namespaced else None

    def base_write(self, info: ResourceInfo, family: str) -> tuple[Request, Obj]:
        """A valid create, update or patch of ``info``; the object it carries."""
        ns = self.namespace(info)
        verb = self.rng.choice(["create", "create", "update", "patch"])
        name = self.name() if verb == "create" else self.target_name(info)
        obj = grow(self.rng, seed_object(info, name, ns or NS), self.schemas)
        if not info.namespaced:
            obj["metadata"].pop("namespace", None)
        if verb == "create":
            req = Request("POST", collection_path(info, ns), body=dumps(obj))
        elif verb == "update":
            req = Request("PUT", item_path(info, ns, name), body=dumps(obj))
        else:
            ptype = self.rng.choice(sorted(PATCH_TYPES))
            if ptype == "json":
                patch: Any = json_patch(self.rng, False)
            else:
                patch = merge_patch(self.rng, obj, self.schemas, False)
            req = Request(
                "PATCH",
                item_path(info, ns, name),
                body=dumps(patch),
                headers={"Content-Type": PATCH_TYPES[ptype]},
            )
        req.headers.setdefault("Content-Type", JSON)
        req.family, req.resource, req.namespace = family, info, ns
        req.note = verb
        return req, obj

    def valid(self) -> Request:
        info = self.pick()
        r = self.rng.random()
        if r < 0.6:
            return self.base_write(info, "valid")[0]
        ns = self.namespace(info)
        if r < 0.8:
            req = Request("GET", collection_path(info, ns), query=[("limit", "5")])
        elif r < 0.9:
            req = Request("GET", item_path(info, ns, self.target_name(info)))
        else:
            name = self.target_name(info)
            if info.plural == "namespaces" and not name.startswith("fz-"):
                name = self.name()
            req = Request("DELETE", item_path(info, ns, name), body=None)
        req.family, req.resource, req.namespace = "valid", info, ns
        return req

    def types(self) -> Request:
        info = self.pick()
        req, obj = self.base_write(info, "types")
        if req.method == "PATCH" and "json-patch" in req.headers["Content-Type"]:
            req.body = dumps(json_patch(self.rng, True))
        elif req.method == "PATCH":
            req.body = dumps(merge_patch(self.rng, obj, self.schemas, True))
        else:
            req.body = dumps(mutate_types(self.rng, obj, self.schemas))
        req.note += " types"
        return req

    def encoding(self) -> Request:
        info = self.pick()
        req, _obj = self.base_write(info, "encoding")
        body = req.body or b"{}"
        choice = self.rng.randrange(11)
        if choice <= 2:
            req.body, req.note = invalid_utf8(self.rng, body), req.note + " invalid-utf8"
        elif choice == 3:
            req.body, req.note = body[: self.rng.randrange(len(body))], req.note + " truncated"
        elif choice == 4:
            req.body = self.rng.choice([b"", b"null", b"[]", b"1", b'"x"', b"\x00\x01", b"{,}"])
            req.note += " not-an-object"
        elif choice == 5:
            req.body, req.note = b"\xef\xbb\xbf" + body, req.note + " bom"
        elif choice == 6:
            req.headers["Content-Encoding"] = "gzip"
            req.body = self.rng.choice([body, gzip.compress(body)[:-5], b"\x1f\x8b\x08junk"])
            req.note += " bad-gzip"
        elif choice == 7:
            req.headers["Content-Encoding"] = "gzip"
            req.body = gzip.compress(body)
            req.note += " gzip"
        elif choice == 8:
            req.headers["Content-Type"] = self.rng.choice(
                [
                    "text/plain",
                    "application/xml",
                    "application/vnd.kubernetes.protobuf",
                    "",
                    "application/json; charset=latin1",
                    "multipart/form-data; boundary=x",
                ]
            )
            req.note += " content-type"
        elif choice == 9:
            req.headers["Content-Type"] = "application/yaml"
            req.body = self.rng.choice(
                [
                    b"metadata:\n  name: y\n  labels:\n    1: a\n",
                    b"? [a, b]\n: 1\n",
                    b"metadata: {name: y, labels: {null: x}}\n",
                    b"metadata: {name: y, annotations: {2026-01-01: x}}\n",
                    b"a: &x [*x]\n",
                    b"metadata:\n  name: [\n",
                    b"!!python/object:os.system x\n",
                    b"- 1\n- 2\n",
                    b"kind: Pod\napiVersion: v1\nmetadata: {name: y, labels: {true: x}}\n",
                    b"\xff\xfe",
                    b"metadata:\n  name: y\n  labels: {1.5: a}\n",
                ]
            )
            req.note += " yaml"
        else:
            req.body = body + self.rng.choice([b"}", b" trailing", b"{}", b"\x00"])
            req.note += " trailing"
        return req

    def depth(self) -> Request:
        info = self.pick()
        req, obj = self.base_write(info, "depth")
        d = self.rng.choice([200, 999, 1000, 2000, 10000, 50000])
        choice = self.rng.randrange(4)
        if choice == 0:
            req.body = deep_json_text(d, self.rng.choice(["list", "map"]))
        elif choice == 1:
            marker = b'"__DEEP__"'
            where = self.rng.choice([p for p in paths(obj) if p])
            set_at(obj, where, "__DEEP__")
            req.body = dumps(obj).replace(marker, deep_json_text(d), 1)
        elif choice == 2:
            req.headers["Content-Type"] = "application/yaml"
            yd = min(d, 5000)
            req.body = b"metadata:\n  name: y\n  labels: " + b"[" * yd + b"1" + b"]" * yd + b"\n"
        else:
            req.method = "PATCH"
            req.path = item_path(info, req.namespace, self.target_name(info))
            ptype = self.rng.choice(["strategic", "merge"])
            req.headers["Content-Type"] = PATCH_TYPES[ptype]
            req.body = b'{"metadata":{"labels":' + deep_json_text(d, "map") + b"}}"
        req.note += f" depth={d}"
        return req

    def names(self) -> Request:
        info = self.pick()
        req, obj = self.base_write(info, "names")
        choice = self.rng.randrange(6)
        if choice == 0:
            odd = self.rng.choice(ODD_NAMES)
            obj["metadata"]["name"] = odd
            req.body = dumps(obj)
            if req.method != "POST":
                req.path = item_path(info, req.namespace, odd or "x")
            req.note += " odd-name"
        elif choice == 1:
            key = self.rng.choice(ODD_KEYS)
            where = self.rng.choice([p for p in paths(obj) if isinstance(get_at(obj, p), dict)])
            get_at(obj, where)[key] = self.rng.choice([1, "x", None, {}])
            req.body = dumps(obj)
            if self.rng.random() < 0.5:
                req.query.append(("fieldValidation", self.rng.choice(["Warn", "Strict"])))
            req.note += " odd-key"
        elif choice == 2:
            req.body = duplicate_keys(self.rng, obj)
            req.query.append(("fieldValidation", self.rng.choice(["Warn", "Strict", "Ignore"])))
            req.note += " duplicate-keys"
        elif choice == 3:
            other = self.rng.choice(RESOURCES)
            obj["kind"] = self.rng.choice([other.kind, "", "Bogus", None, 1])
            obj["apiVersion"] = self.rng.choice([other.api_version, "v2", "", "apps/v1", None])
            req.body = dumps(obj)
            req.note += " kind-mismatch"
        elif choice == 4:
            where = self.rng.choice([p for p in paths(obj) if p])
            set_at(obj, where, None)
            req.body = dumps(obj)
            req.note += " null"
        else:
            if info.namespaced:
                obj["metadata"]["namespace"] = self.rng.choice(["other", "", "default", "NOPE", 1])
            obj["metadata"]["generateName"] = self.rng.choice(["fz-", "", "A_", 1, "x" * 300])
            if self.rng.random() < 0.5:
                obj["metadata"].pop("name", None)
            req.body = dumps(obj)
            req.note += " namespace/generateName"
        return req

    def query(self) -> Request:
        info = self.pick()
        ns = self.namespace(info)
        r = self.rng.random()
        if r < 0.55:
            req = Request("GET", collection_path(info, ns))
            params = LIST_PARAMS
        elif r < 0.7:
            req = Request("GET", item_path(info, ns, self.target_name(info)))
            params = ["resourceVersion", "pretty"]
        elif r < 0.85:
            req, _ = self.base_write(info, "query")
            params = WRITE_PARAMS
        else:
            name = self.target_name(info)
            req = Request("DELETE", item_path(info, ns, name))
            params = DELETE_PARAMS
            if info.plural == "namespaces":
                req.path = item_path(info, ns, self.name())
        for p in self.rng.sample(params, k=self.rng.randint(1, min(4, len(params)))):
            req.query.append((p, self.rng.choice(QUERY_VALUES[p])))
        if self.rng.random() < 0.05:
            p = self.rng.choice(params)
            req.query.append((p, self.rng.choice(QUERY_VALUES[p])))  # a repeated parameter
        # A watch as apimachinery converts the first ``watch`` value: anything but "0" and
        # "false" (any case), even "" or "maybe" (kube-apiserver then streams too).
        first = next((v for k, v in req.query if k == "watch"), None)
        req.watch = first is not None and not (first == "0" or first.lower() == "false")
        if req.watch and not any(k == "timeoutSeconds" for k, _ in req.query):
            req.query.append(("timeoutSeconds", "1"))
        req.family, req.resource, req.namespace = "query", info, ns
        req.note = (req.note + " query").strip()
        return req

    def existing(self, info: ResourceInfo, family: str) -> Request:
        """A valid create of a name requests of ``family`` target, so they find objects."""
        ns = self.namespace(info)
        name = f"fz-{self.rng.randint(1, 40)}"
        obj = seed_object(info, name, ns or NS)
        if not info.namespaced:
            obj["metadata"].pop("namespace", None)
        req = Request("POST", collection_path(info, ns), body=dumps(obj))
        req.headers["Content-Type"] = JSON
        req.family, req.resource, req.namespace, req.note = family, info, ns, "create target"
        return req

    def deletes(self) -> Request:
        info = self.pick()
        ns = self.namespace(info)
        if self.rng.random() < 0.35 and info.plural != "namespaces":
            return self.existing(info, "deletes")
        mutate = self.rng.random() < 0.8
        opts = delete_options(self.rng, mutate)
        if info.namespaced and self.rng.random() < 0.15:
            req = Request("DELETE", collection_path(info, ns), query=[("labelSelector", "tier=9")])
            req.note = "deletecollection"
        else:
            name = self.target_name(info)
            if info.plural == "namespaces":
                name = self.name()
            req = Request("DELETE", item_path(info, ns, name))
            req.note = "delete"
        body = dumps(opts)
        if mutate and self.rng.random() < 0.25:
            body = self.rng.choice(
                [invalid_utf8(self.rng, body), deep_json_text(5000), b"[]", b"{", b"null"]
            )
        req.body = body
        req.headers["Content-Type"] = JSON
        req.family, req.resource, req.namespace = "deletes", info, ns
        return req

    def subresources(self) -> Request:
        info = self.rng.choice([r for r in self.resources if r.subresources])
        ns = self.namespace(info)
        if self.rng.random() < 0.3 and info.plural != "namespaces":
            return self.existing(info, "subresources")
        # exec/attach/portforward are upgrades, not object reads and writes
        # (test_pod_streaming).
        streams = ("exec", "attach", "portforward")
        sub = self.rng.choice([s for s in info.subresources if s not in streams])
        name = self.target_name(info)
        if sub == "scale":
            body: Any = {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": self.rng.choice([1, 2, -1, "x", None, 2**40, 1.5])},
            }
        elif sub == "binding":
            body = {
                "kind": "Binding",
                "apiVersion": "v1",
                "metadata": {"name": name},
                "target": self.rng.choice(
                    [{"kind": "Node", "name": "n1"}, {"name": 1}, "x", None, {}]
                ),
            }
        elif sub == "status":
            body = seed_object(info, name, ns or NS)
            body["status"] = self.rng.choice(
                [
                    {"podIPs": [{"ip": "1.2.3.999"}]},
                    {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]},
                    {"phase": 1},
                    {"conditions": [{"type": "Ready", "status": "Maybe"}]},
                    {"conditions": "x"},
                    {"replicas": -1},
                    {"loadBalancer": {"ingress": [{"ip": "x"}]}},
                    {"hostIP": "999.1.1.1"},
                    {"containerStatuses": [{"name": 1}]},
                    {"phase": "Running", "podIPs": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.2"}]},
                    None,
                    [],
                ]
            )
            if not info.namespaced:
                body["metadata"].pop("namespace", None)
        else:  # finalize
            body = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {"name": name},
                "spec": {"finalizers": self.rng.choice([["kubernetes"], "x", [1], None])},
            }
        method = self.rng.choice(
            ["PUT", "PATCH", "GET", "POST"] if sub == "binding" else ["PUT", "PATCH", "GET"]
        )
        if sub == "binding":
            method = "POST"
        headers = {"Content-Type": JSON if method != "PATCH" else PATCH_TYPES["merge"]}
        req = Request(
            method,
            item_path(info, ns, name, sub),
            body=None if method == "GET" else dumps(body),
            headers=headers,
        )
        req.family, req.resource, req.namespace = "subresources", info, ns
        req.note = sub
        return req

    def sizes(self) -> Request:
        info = self.rng.choice([r for r in self.resources if r.plural in ("endpoints", "leases")])
        req, obj = self.base_write(info, "sizes")
        size = self.rng.choice([1_500_000, 1_700_000, 2_900_000, 3 * 1024 * 1024 + 1, 4_000_000])
        obj["metadata"]["annotations"] = {"big": "x" * size}
        req.method = "POST"
        req.path = collection_path(info, req.namespace)
        obj["metadata"]["name"] = self.name()
        req.body = dumps(obj)
        req.headers = {"Content-Type": JSON}
        if self.rng.random() < 0.3:
            req.query.append(("labelSelector", "a" * self.rng.choice([9000, 20000, 60000]) + "=b"))
            req.method, req.body = "GET", None
        req.note = f"size={size}"
        return req


FAMILIES: dict[str, Callable[[Generator], Request]] = {
    "valid": Generator.valid,
    "types": Generator.types,
    "encoding": Generator.encoding,
    "depth": Generator.depth,
    "names": Generator.names,
    "query": Generator.query,
    "deletes": Generator.deletes,
    "subresources": Generator.subresources,
    "sizes": Generator.sizes,
}


# ---------------------------------------------------------------------- checking


Snapshot = dict[str, tuple[str, bool]]
"""name -> (resourceVersion, volatile): volatile objects may be removed by the GC."""


def snapshot_of(items: list[Obj]) -> Snapshot:
    out: Snapshot = {}
    for it in items:
        meta = it.get("metadata") or {}
        volatile = bool(meta.get("ownerReferences") or meta.get("deletionTimestamp"))
        out[str(meta.get("name"))] = (str(meta.get("resourceVersion")), volatile)
    return out


def store_changes(before: Snapshot, after: Snapshot) -> list[str]:
    out = []
    for name, (rv, _) in after.items():
        if name not in before:
            out.append(f"{name} appeared")
        elif before[name][0] != rv and not before[name][1]:
            out.append(f"{name} changed {before[name][0]} -> {rv}")
    for name, (_, volatile) in before.items():
        if name not in after and not volatile:
            out.append(f"{name} vanished")
    return out


def _too_large_rv(status: int, body: bytes) -> bool:
    """504 for a resourceVersion from the future is upstream's protocol answer ("retry in
    1 s"), not a server fault."""
    if status != 504:
        return False
    try:
        causes = json.loads(body)["details"]["causes"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(c.get("reason") == "ResourceVersionTooLarge" for c in causes)


def problems(req: Request, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """What is wrong with one answer (store checks are done by :class:`Fuzzer`)."""
    out: list[str] = []
    if status >= 500 and not _too_large_rv(status, body):
        out.append(f"5xx: {status}")
    if status >= 400:
        ctype = headers.get("Content-Type", "")
        try:
            status_obj = json.loads(body)
        except ValueError:
            out.append(f"error answer is not JSON ({ctype}): {body[:100]!r}")
            return out
        if not isinstance(status_obj, dict) or status_obj.get("kind") != "Status":
            out.append("error answer is not a Status")
            return out
        if status_obj.get("code") != status:
            out.append(f"Status code {status_obj.get('code')} != HTTP {status}")
        message = str(status_obj.get("message", ""))
        m = PYTHON_TEXT.search(message) or PYTHON_TEXT.search(json.dumps(status_obj))
        if m:
            out.append(f"Python text in the answer: {m.group(0)!r} in {message[:160]!r}")
    return out


# ---------------------------------------------------------------------- driving


@dataclass
class Result:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    slowest: float = 0.0

    mismatches: list[dict[str, Any]] = field(default_factory=list)
    """Differential mode: requests whose status class differs from upstream's."""
    compared: int = 0

    def summary(self) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return f"{self.requests} requests in {self.elapsed:.1f}s ({codes})"


def status_class(code: int) -> str:
    return f"{code // 100}xx"


class Fuzzer:
    """Sends a family's requests one at a time and checks each answer."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        schemas: Schemas,
        upstream: tuple[str, aiohttp.ClientSession] | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session = session
        self.schemas = schemas
        self.upstream = upstream
        """Differential mode: the same requests also go to this server (kube-apiserver),
        and the status classes are compared (recorded, not asserted)."""

    async def send(
        self, req: Request, target: tuple[str, aiohttp.ClientSession] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        base, session = target or (self.base, self.session)
        url = URL(base + req.path, encoded=True)
        if req.query:
            from urllib.parse import quote

            q = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in req.query)
            url = URL(f"{base}{req.path}?{q}", encoded=True)
        async with session.request(
            req.method,
            url,
            data=req.body,
            headers=req.headers,
            skip_auto_headers=("Content-Type",),
            allow_redirects=False,
        ) as resp:
            if resp.status == 200 and req.watch:
                # A watch that was accepted: read one line at most, then hang up (the server
                # must notice and end it).
                with contextlib.suppress(
                    TimeoutError, aiohttp.ClientError, asyncio.IncompleteReadError, ValueError
                ):
                    await asyncio.wait_for(resp.content.readline(), 2.0)
                return resp.status, dict(resp.headers), b""
            return resp.status, dict(resp.headers), await resp.read()

    async def snapshot(self, req: Request) -> Snapshot:
        info = req.resource
        assert info is not None
        async with self.session.get(
            URL(self.base + collection_path(info, req.namespace or NS), encoded=True)
        ) as resp:
            data = await resp.json(content_type=None)
        return snapshot_of(data.get("items") or [])

    async def alive(self) -> bool:
        try:
            async with self.session.get(
                self.base + "/readyz", timeout=aiohttp.ClientTimeout(10)
            ) as r:
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def run(self, family: str, seed: int, count: int) -> Result:
        gen = Generator(
            random.Random(f"{family}-{seed}"),
            self.schemas,
            [r for r in RESOURCES if r.plural != "namespaces" or family != "deletes"],
        )
        make = FAMILIES[family]
        result = Result()
        started = time.monotonic()
        snapshots: dict[tuple[str, str | None], Snapshot] = {}
        for i in range(count):
            req = make(gen)
            key = (req.resource.plural if req.resource else "", req.namespace)
            before = None
            if req.writes and req.resource is not None:
                before = snapshots.get(key)
                if before is None:
                    before = snapshots[key] = await self.snapshot(req)
            t0 = time.monotonic()
            try:
                status, headers, body = await asyncio.wait_for(self.send(req), DEADLINE)
            except TimeoutError:
                snapshots.pop(key, None)
                result.failures.append(f"#{i} no answer in {DEADLINE:.0f}s: {req.describe()}")
                if not await self.alive():
                    result.failures.append("the server is no longer alive")
                    break
                continue
            except aiohttp.ClientError as exc:
                snapshots.pop(key, None)  # it may have committed all the same
                result.failures.append(f"#{i} connection failed ({exc!r}): {req.describe()}")
                if not await self.alive():
                    result.failures.append("the server is no longer alive")
                    break
                continue
            took = time.monotonic() - t0
            result.slowest = max(result.slowest, took)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            for p in problems(req, status, headers, body):
                result.failures.append(f"#{i} {p}: {req.describe()}")
            if self.upstream is not None:
                await self.compare(i, req, status, body, result)
            if before is not None:
                after = snapshots[key] = await self.snapshot(req)
                if status >= 400:
                    for change in store_changes(before, after):
                        result.failures.append(
                            f"#{i} rejected ({status}) but the store changed: {change}: "
                            f"{req.describe()}"
                        )
        result.elapsed = time.monotonic() - started
        if not await self.alive():
            result.failures.append("the server is not alive after the run")
        return result

    async def compare(self, i: int, req: Request, status: int, body: bytes, result: Result) -> None:
        assert self.upstream is not None
        try:
            theirs, _, their_body = await asyncio.wait_for(self.send(req, self.upstream), DEADLINE)
        except (TimeoutError, aiohttp.ClientError) as exc:
            theirs, their_body = 0, repr(exc).encode()
        result.compared += 1
        if status_class(status) != status_class(theirs):
            result.mismatches.append(
                {
                    "index": i,
                    "family": req.family,
                    "request": req.describe(),
                    "sliceplane": status,
                    "upstream": theirs,
                    "sliceplane_message": _message(body),
                    "upstream_message": _message(their_body),
                }
            )


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))[:300]
    except (ValueError, AttributeError):
        return body[:300].decode(errors="replace")


async def load_schemas(base: str, session: aiohttp.ClientSession) -> Schemas:
    schemas = Schemas()
    async with session.get(base + "/openapi/v3") as resp:
        index = await resp.json(content_type=None)
    for path in index.get("paths") or {}:
        async with session.get(base + "/openapi/v3/" + path.lstrip("/")) as resp:
            if resp.status != 200:
                continue
            doc = await resp.json(content_type=None)
        comps = (doc.get("components") or {}).get("schemas") or {}
        schemas.components.update(comps)
        for name, node in comps.items():
            for gvk in node.get("x-kubernetes-group-version-kind") or []:
                if gvk.get("kind") and name.endswith("." + gvk["kind"]):
                    schemas.by_kind.setdefault(gvk["kind"], name)
    return schemas
