"""Field schemas of the built-in kinds: pruning and strict field validation.

Why: kube-apiserver decodes every write into a Go struct, so fields a kind does not have are
dropped, and with ``fieldValidation=Strict`` (kubectl's default) they are refused with a 400
``strict decoding error: unknown field "spec.foo"``; with ``Warn`` each one becomes a
``Warning:`` header. Wrong JSON types fail the decode with Go's own wording
(``json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type
int32``). kubectl also reads ``/openapi/v3`` before ``create``/``apply``: without it they fail
with ``failed to download openapi``, and only a PATCH operation declaring ``fieldValidation``
makes kubectl leave validation to the server. This module reproduces the decoding behaviours
from the schema set that ``tools/gen_schemas.py`` extracts from the official client's models;
``openapi`` builds the ``/openapi/v3`` documents from the same set.

Everything here is pure and stdlib-only (``sliceplane.api`` is the bottom import layer). The
schema JSON is loaded and compiled once; ``check`` then walks an object against prebuilt nodes
without resolving references per call.

How a server uses it (mirrors ``k8s.io/apiserver`` handlers)::

    obj = parse_json(body)                 # keeps duplicate-key information
    res = check(definition_key(group, version, kind), obj)
    if res.type_errors:                    # kube reports only the first decode error
        400 BadRequest, decode_error_message(kind, version, res.type_errors[0])
    elif res.strict_errors and directive == "Strict":
        400 BadRequest, decode_error_message(kind, version, strict_message(res.strict_errors))
    elif res.strict_errors and directive == "Warn":   # also when the parameter is absent
        one ``Warning: 299 - "<message>"`` header per entry of res.strict_errors
    store res.obj                          # the pruned copy
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final

from sliceplane.api.gobase64 import normalize_std

__all__ = [
    "CheckResult",
    "check",
    "check_and_prune",
    "decode_error_message",
    "definition_key",
    "definitions",
    "json_kind",
    "parse_json",
    "strict_error_message",
    "strict_message",
]

META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1"
INT_OR_STRING_KEY: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY_KEY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
#: kube-apiserver stops collecting strict decoding errors after this many (sigs.k8s.io/json).
MAX_STRICT_ERRORS: Final = 100

# ---------------------------------------------------------------------------------------------
# Loading and compiling the schema set
# ---------------------------------------------------------------------------------------------

# Leaf node tags. Compiled nodes are: an int tag (leaf), _Array, _Map or _Struct.
_STRING: Final = 0
_BOOL: Final = 1
_INT32: Final = 2
_INT64: Final = 3
_NUMBER: Final = 4
_INT_OR_STRING: Final = 5
_QUANTITY: Final = 6
_TIME: Final = 7
_MICROTIME: Final = 8
_ANY: Final = 9
_BYTES: Final = 10

_LEAF_TAGS: Final = {
    "string": _STRING,
    "boolean": _BOOL,
    "int32": _INT32,
    "int64": _INT64,
    "number": _NUMBER,
    "IntOrString": _INT_OR_STRING,
    "Quantity": _QUANTITY,
    "Time": _TIME,
    "MicroTime": _MICROTIME,
    "object": _ANY,
    "bytes": _BYTES,
}
# Go type names as encoding/json prints them in UnmarshalTypeError.
_LEAF_GO_TYPES: Final = {
    _STRING: "string",
    _BOOL: "bool",
    _INT32: "int32",
    _INT64: "int64",
    _NUMBER: "float64",
    _INT_OR_STRING: "intstr.IntOrString",
    _QUANTITY: "resource.Quantity",
    _TIME: "v1.Time",
    _MICROTIME: "v1.MicroTime",
    _ANY: "v1.FieldsV1",
    _BYTES: "[]uint8",
}
_INT_RANGES: Final = {_INT32: (-(2**31), 2**31 - 1), _INT64: (-(2**63), 2**63 - 1)}


class _Struct:
    __slots__ = ("fields", "go_name", "go_type", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        package, _, name = key.rpartition(".")
        self.go_name = name
        self.go_type = f"{package.rpartition('.')[2]}.{name}"
        self.fields: dict[str, _Node] = {}


class _Array:
    __slots__ = ("go_type", "item")

    def __init__(self, item: _Node) -> None:
        self.item = item
        self.go_type = "[]" + _go_type(item)


class _Map:
    __slots__ = ("go_type", "value")

    def __init__(self, value: _Node) -> None:
        self.value = value
        self.go_type = "map[string]" + _go_type(value)


_Node = int | _Array | _Map | _Struct


def _go_type(node: _Node) -> str:
    if isinstance(node, int):
        return _LEAF_GO_TYPES[node]
    return node.go_type


@cache
def definitions() -> Mapping[str, Any]:
    """The raw compact schema set (``schemas/schemas.json``), keyed by definition name."""
    text = resources.files("sliceplane.api").joinpath("schemas/schemas.json").read_text("utf-8")
    defs: dict[str, Any] = json.loads(text)["definitions"]
    return defs


@cache
def _compiled() -> dict[str, _Struct]:
    defs = definitions()
    structs = {key: _Struct(key) for key in defs}

    def compile_node(spec: Any) -> _Node:
        if isinstance(spec, str):
            return _LEAF_TAGS[spec]
        if "ref" in spec:
            return structs[spec["ref"]]
        if "array" in spec:
            return _Array(compile_node(spec["array"]))
        if "map" in spec:
            return _Map(compile_node(spec["map"]))
        raise ValueError(f"bad schema node {spec!r}")

    for key, definition in defs.items():
        structs[key].fields = {
            name: compile_node(spec) for name, spec in definition["properties"].items()
        }
    return structs


@cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for key, definition in definitions().items():
        for gvk in definition.get("x-kubernetes-group-version-kind", ()):
            index[(gvk["group"], gvk["version"], gvk["kind"])] = key
    return index


def definition_key(group: str, version: str, kind: str) -> str | None:
    """Definition name of a served kind (``("", "v1", "Pod")`` -> ``io.k8s.api.core.v1.Pod``)."""
    return _gvk_index().get((group, version, kind))


# ---------------------------------------------------------------------------------------------
# Decoding: duplicates, unknown fields, types
# ---------------------------------------------------------------------------------------------


class _DupDict(dict[str, Any]):
    """A JSON object that repeated a key: ``pairs`` keeps every (key, value) in order."""

    __slots__ = ("pairs",)
    pairs: list[tuple[str, Any]]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    dup = _DupDict(d)
    dup.pairs = pairs
    return dup


def parse_json(data: bytes | str) -> Any:
    """``json.loads`` that remembers repeated keys so ``check`` can report them.

    The last value of a repeated key wins, as in Go. Objects without repeats are plain dicts.
    Raises ``json.JSONDecodeError``/``UnicodeDecodeError`` like ``json.loads``.
    """
    return json.loads(data, object_pairs_hook=_pairs_hook)


@dataclass(slots=True)
class CheckResult:
    """Outcome of ``check``.

    ``obj`` is a pruned copy (unknown fields removed, wrongly typed values dropped).
    ``unknown``/``duplicates`` are field paths (``spec.ports[0].bogus``). ``strict_errors``
    holds kube's per-field messages (``unknown field "spec.foo"``, ``duplicate field "x"``) in
    document order, deduplicated and capped at 100 as kube does: with ``Strict`` they form the
    400 message (``strict_message``), with ``Warn`` each is one warning. ``type_errors`` holds
    decode errors in kube's wording; kube reports only the first, and a type error takes
    precedence over strict errors.
    """

    obj: dict[str, Any]
    unknown: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    strict_errors: list[str] = field(default_factory=list)
    type_errors: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)
    _unknown_seen: set[str] = field(default_factory=set, repr=False)

    def _strict(self, message: str) -> None:
        if len(self.strict_errors) >= MAX_STRICT_ERRORS or message in self._seen:
            return
        self._seen.add(message)
        self.strict_errors.append(message)


class _Bad:
    """Sentinel: the value failed to decode and is left out of the pruned copy."""


_BAD: Final = _Bad()


def json_kind(value: Any) -> str:
    """encoding/json's name for a decoded JSON value's kind (``json: cannot unmarshal
    <kind> into ...``), the word every Go decoding error the server copies uses."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


class _Walker:
    __slots__ = ("goparts", "parts", "res")

    def __init__(self, res: CheckResult) -> None:
        self.res = res
        self.parts: list[str] = []  # JSON path segments: "spec", ".ports", "[0]"
        self.goparts: list[str] = []  # Go's field stack: JSON field names only

    def path(self, last: str | None = None) -> str:
        if last is None:
            return "".join(self.parts)
        return "".join(self.parts) + ("." + last if self.parts else last)

    def type_error(self, what: str, go_type: str, go_struct: str | None) -> None:
        if go_struct is None or not self.goparts:
            where = "Go value"
        else:
            where = f"Go struct field {go_struct}.{'.'.join(self.goparts)}"
        self.res.type_errors.append(f"json: cannot unmarshal {what} into {where} of type {go_type}")

    def walk(self, node: _Node, value: Any, go_struct: str | None) -> Any:
        if value is None:
            return None
        if isinstance(node, int):
            return self.leaf(node, value, go_struct)
        if isinstance(node, _Struct):
            if not isinstance(value, dict):
                self.type_error(json_kind(value), node.go_type, go_struct)
                return _BAD
            return self.struct(node, value)
        if isinstance(node, _Array):
            if not isinstance(value, list):
                self.type_error(json_kind(value), node.go_type, go_struct)
                return _BAD
            out_list: list[Any] = []
            parts = self.parts
            item = node.item
            for i, element in enumerate(value):
                parts.append(f"[{i}]")
                r = self.walk(item, element, go_struct)
                parts.pop()
                if r is not _BAD:
                    out_list.append(r)
            return out_list
        if not isinstance(value, dict):
            self.type_error(json_kind(value), node.go_type, go_struct)
            return _BAD
        out_map: dict[str, Any] = {}
        parts = self.parts
        val_node = node.value
        items = value.pairs if isinstance(value, _DupDict) else value.items()
        seen: set[str] | None = set() if isinstance(value, _DupDict) else None
        for k, v in items:
            if seen is not None:
                if k in seen:
                    self.duplicate(k)
                seen.add(k)
            if isinstance(val_node, int) and val_node == _STRING and isinstance(v, str):
                out_map[k] = v  # fast path: labels, annotations, selectors
                continue
            parts.append("." + k if parts else k)
            r = self.walk(val_node, v, go_struct)
            parts.pop()
            if r is not _BAD:
                out_map[k] = r
        return out_map

    def unknown_field(self, key: str) -> None:
        res = self.res
        p = self.path(key)
        if p not in res._unknown_seen:
            res._unknown_seen.add(p)
            res.unknown.append(p)
        res._strict(f'unknown field "{p}"')

    def duplicate(self, key: str) -> None:
        p = self.path(key)
        self.res.duplicates.append(p)
        self.res._strict(f'duplicate field "{p}"')

    def struct(self, node: _Struct, value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        fields = node.fields
        parts = self.parts
        goparts = self.goparts
        go_name = node.go_name
        items = value.pairs if isinstance(value, _DupDict) else value.items()
        seen: set[str] | None = set() if isinstance(value, _DupDict) else None
        for k, v in items:
            child = fields.get(k)
            if child is None:
                self.unknown_field(k)
                continue
            if seen is not None:
                if k in seen:
                    self.duplicate(k)
                seen.add(k)
            if v is None:
                out[k] = None
                continue
            if child == _STRING and isinstance(v, str):
                out[k] = v  # fast path for the commonest leaf
                continue
            parts.append("." + k if parts else k)
            goparts.append(k)
            r = self.walk(child, v, go_name)
            goparts.pop()
            parts.pop()
            if r is not _BAD:
                out[k] = r
        return out

    def leaf(self, tag: int, value: Any, go_struct: str | None) -> Any:
        if tag == _STRING:
            if isinstance(value, str):
                return value
            self.type_error(json_kind(value), "string", go_struct)
            return _BAD
        if tag in (_INT32, _INT64):
            return self.integer(value, _LEAF_GO_TYPES[tag], _INT_RANGES[tag], go_struct)
        if tag == _BOOL:
            if isinstance(value, bool):
                return value
            self.type_error(json_kind(value), "bool", go_struct)
            return _BAD
        if tag == _INT_OR_STRING:
            if isinstance(value, str):
                return value
            # intstr.IntOrString.UnmarshalJSON decodes non-strings into its int32 IntVal.
            return self.integer(value, "int32", _INT_RANGES[_INT32], go_struct)
        if tag == _NUMBER:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            self.type_error(json_kind(value), "float64", go_struct)
            return _BAD
        if tag == _QUANTITY:
            problem = _quantity_error(value)
            if problem is None:
                return value
            self.res.type_errors.append(problem)
            return _BAD
        if tag in (_TIME, _MICROTIME):
            if not isinstance(value, str):
                # metav1.Time.UnmarshalJSON first decodes the value into a Go string.
                self.type_error(json_kind(value), "string", go_struct)
                return _BAD
            problem = _go_time_error(value, micro=tag == _MICROTIME)
            if problem is None:
                return value
            self.res.type_errors.append(problem)
            return _BAD
        if tag == _BYTES:
            # encoding/json decodes []byte from base64 (Go's rules, Go's error text); the
            # value is kept in the canonical encoding upstream serves back.
            if not isinstance(value, str):
                self.type_error(json_kind(value), "[]uint8", go_struct)
                return _BAD
            canonical, problem = normalize_std(value)
            if problem is None:
                return canonical
            self.res.type_errors.append(problem)
            return _BAD
        return value  # _ANY

    def integer(
        self, value: Any, go_type: str, bounds: tuple[int, int], go_struct: str | None
    ) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if bounds[0] <= value <= bounds[1]:
                return value
            self.type_error(f"number {value}", go_type, go_struct)
            return _BAD
        if isinstance(value, float):
            self.type_error(f"number {value!r}", go_type, go_struct)
            return _BAD
        self.type_error(json_kind(value), go_type, go_struct)
        return _BAD


def check(kind_key: str, obj: Mapping[str, Any]) -> CheckResult:
    """Check ``obj`` against definition ``kind_key`` (``io.k8s.api.core.v1.Pod``).

    Raises ``KeyError`` for an unknown definition. ``obj`` is not modified.
    """
    root = _compiled()[kind_key]
    res = CheckResult(obj={})
    walker = _Walker(res)
    if not isinstance(obj, dict):
        walker.type_error(json_kind(obj), root.go_type, None)
        return res
    res.obj = walker.struct(root, obj)
    return res


def check_and_prune(
    kind_key: str, obj: dict[str, Any]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """(pruned copy, unknown field paths, type errors in kube's wording); see ``check``."""
    res = check(kind_key, obj)
    return res.obj, res.unknown, res.type_errors


def strict_message(errors: Iterable[str]) -> str:
    """``strict decoding error: <e1>, <e2>`` from ``CheckResult.strict_errors``."""
    return "strict decoding error: " + ", ".join(errors)


def strict_error_message(unknown: Sequence[str], duplicates: Sequence[str] = ()) -> str:
    """kube's text for unknown (and duplicate) field paths.

    ``strict_error_message(["spec.foo", "spec.bar"])`` ->
    ``strict decoding error: unknown field "spec.foo", unknown field "spec.bar"``.
    kube lists both kinds interleaved in document order; ``CheckResult.strict_errors`` keeps
    that order, so prefer ``strict_message(result.strict_errors)`` when duplicates matter.
    """
    errors = [f'unknown field "{p}"' for p in unknown]
    errors += [f'duplicate field "{p}"' for p in duplicates]
    return strict_message(errors[:MAX_STRICT_ERRORS])


def decode_error_message(kind: str, version: str, detail: str, body_kind: str | None = None) -> str:
    """The 400 message kube-apiserver builds around a decode failure (transformDecodeError).

    ``Service in version "v1" cannot be handled as a Service: <detail>``. ``version`` is the
    version part of the body's apiVersion (``"v1"`` for ``apps/v1``); ``body_kind`` is the
    body's ``kind`` when it differs from the target kind.
    """
    return f'{body_kind or kind} in version "{version}" cannot be handled as a {kind}: {detail}'


# ---------------------------------------------------------------------------------------------
# Quantity and time parsing, with apimachinery's and Go's messages
# ---------------------------------------------------------------------------------------------

_QUANTITY_FORMAT_WRONG: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_QUANTITY_SUFFIX: Final = "unable to parse quantity's suffix"
_QUANTITY_RE: Final = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eEinumkKMGTP]*[-+]?[0-9]*)")
_QUANTITY_SUFFIXES: Final = frozenset(
    ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"]
)
_EXPONENT_RE: Final = re.compile(r"[eE][-+]?[0-9]+")


def _quantity_error(value: Any) -> str | None:
    """resource.Quantity.UnmarshalJSON's error for ``value`` (a decoded JSON value), or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return _QUANTITY_FORMAT_WRONG
    text = value.strip() if isinstance(value, str) else repr(value)
    if not text:
        return _QUANTITY_FORMAT_WRONG
    m = _QUANTITY_RE.fullmatch(text)
    if m is None:
        return _QUANTITY_FORMAT_WRONG
    suffix = m.group(2)
    if suffix not in _QUANTITY_SUFFIXES and not _EXPONENT_RE.fullmatch(suffix):
        return _QUANTITY_SUFFIX
    return None


_RFC3339: Final = "2006-01-02T15:04:05Z07:00"
_RFC3339_MICRO: Final = "2006-01-02T15:04:05.000000Z07:00"


_GOOD_TIMES: Final[set[tuple[str, bool]]] = set()
"""Timestamps that parsed (and whether as MicroTime): an object's times repeat on every
write of it (creation, conditions, managedFields), so most checks are a lookup."""


def _go_time_error(value: str, *, micro: bool) -> str | None:
    """Go's ``time.Parse(RFC3339[Micro], value)`` error text, or None when it parses."""
    key = (value, micro)
    if key in _GOOD_TIMES:
        return None
    problem = _parse_go_time(value, micro)
    if problem is None:
        if len(_GOOD_TIMES) >= 1 << 16:
            _GOOD_TIMES.clear()
        _GOOD_TIMES.add(key)
    return problem


def _parse_go_time(value: str, micro: bool) -> str | None:
    layout = _RFC3339_MICRO if micro else _RFC3339

    def bad(rest: str, elem: str) -> str:
        return f'parsing time "{value}" as "{layout}": cannot parse "{rest}" as "{elem}"'

    def out_of_range(what: str) -> str:
        return f'parsing time "{value}": {what} out of range'

    rest = value
    numbers: dict[str, int] = {}
    steps: list[tuple[str, str, int]] = [
        ("2006", "year", 4),
        ("-", "", 0),
        ("01", "month", 2),
        ("-", "", 0),
        ("02", "day", 2),
        ("T", "", 0),
        ("15", "hour", 2),
        (":", "", 0),
        ("04", "minute", 2),
        (":", "", 0),
        ("05", "second", 2),
    ]
    for elem, name, width in steps:
        if not name:
            if not rest.startswith(elem):
                return bad(rest, elem)
            rest = rest[len(elem) :]
            continue
        digits = rest[:width]
        if len(digits) != width or not digits.isascii() or not digits.isdigit():
            return bad(rest, elem)
        n = int(digits)
        limit = {"month": (1, 12), "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}
        if name in limit and not limit[name][0] <= n <= limit[name][1]:
            return out_of_range(name)
        if name == "day" and not 1 <= n <= 31:
            return out_of_range(name)
        numbers[name] = n
        rest = rest[width:]
    if micro:
        frac = rest[:7]
        if len(frac) != 7 or frac[0] not in ".," or not frac[1:].isdigit():
            return bad(rest, ".000000")
        rest = rest[7:]
    elif len(rest) >= 2 and rest[0] in ".," and rest[1].isdigit():
        i = 1
        while i < len(rest) and rest[i].isdigit():
            i += 1
        rest = rest[i:]
    if rest.startswith("Z"):
        rest = rest[1:]
    else:
        zone = rest[:6]
        if (
            len(zone) != 6
            or zone[0] not in "+-"
            or zone[3] != ":"
            or not (zone[1:3] + zone[4:6]).isdigit()
        ):
            return bad(rest, "Z07:00")
        if int(zone[1:3]) > 24 or int(zone[4:6]) > 59:
            return out_of_range("time zone offset")
        rest = rest[6:]
    if rest:
        return f'parsing time "{value}": extra text: "{rest}"'
    if numbers["day"] > calendar.monthrange(numbers["year"], numbers["month"])[1]:
        return out_of_range("day")
    return None
