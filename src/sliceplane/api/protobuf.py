"""Decode Kubernetes protobuf request bodies into the JSON dicts a JSON client would have sent.

Why: kubectl's typed clients (``create namespace``, ``create deployment``, ``create service``,
``expose`` ...) send bodies as ``application/vnd.kubernetes.protobuf``. The rest of the server
works on JSON-shaped dicts, so this module turns such a body into exactly the dict that
``encoding/json`` would produce from the Go struct gogo-protobuf unmarshals it into; then the
registry's defaulting, validation and pruning behave as they do for a JSON body.

Wire format: the magic ``k8s\\x00`` then a ``runtime.Unknown`` (typeMeta=1 {apiVersion=1,
kind=2}, raw=2, contentEncoding=3, contentType=4); ``raw`` is the object encoded per the
``generated.proto`` files of k8s.io/api and k8s.io/apimachinery. Their field tables, with the Go
facts that shape the JSON, are generated data (``schemas/proto_fields.json``, written by
``tools/gen_proto_fields.py``).

Zero values. gogo marshals a non-pointer field always (``port: 0``, ``clusterIP: ""``, empty
structs) and a pointer only when non-nil; ``encoding/json`` then drops zero scalars and empty
lists/maps of ``omitempty`` fields, keeps structs (an ``omitempty`` struct is still emitted),
drops zero values of ``omitzero`` fields and keeps everything of untagged fields. We follow the
same rules per field (``presence`` in the table), so a field on the wire decodes to what the JSON
would hold: ``"type": ""`` never appears (the server's ``setdefault`` still defaults it), while
``replicas: 0`` sent through a pointer is kept. Non-pointer fields missing from the wire get Go's
zero value under the same rules (only non-gogo encoders omit them), exactly as upstream's decode
into structs would. Embedded structs (``Volume.VolumeSource``, ``Probe.ProbeHandler``) are nested
messages on the wire and inlined in JSON. Special types: ``Time`` (RFC 3339, seconds; an empty
message is the zero time, ``null``), ``MicroTime`` (microseconds), ``IntOrString`` (int or
string), ``Quantity`` (its string), ``RawExtension``/``FieldsV1`` (the embedded JSON).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from sliceplane.api.meta import format_micro_time, format_time

__all__ = ["CONTENT_TYPE", "MAGIC", "ProtobufDecodeError", "decode_k8s_protobuf"]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_TIME = f"{_META}.Time"
_MICROTIME = f"{_META}.MicroTime"
_FIELDSV1 = f"{_META}.FieldsV1"
_INTORSTRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_RAWEXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
# ``type ExtraValue []string`` (UserInfo.extra): ``repeated string items = 1`` on the wire.
_EXTRA_VALUES = frozenset(
    {"k8s.io.api.authentication.v1.ExtraValue", "k8s.io.api.authorization.v1.ExtraValue"}
)

# Go's zero time.Time as Unix seconds (0001-01-01T00:00:00Z): Time.IsZero() -> JSON null.
_GO_ZERO_UNIX = -62135596800
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5
_VARINT_KINDS = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"})
_I64_KINDS = frozenset({"fixed64", "sfixed64", "double"})
_I32_KINDS = frozenset({"fixed32", "sfixed32", "float"})
_NUMERIC = _VARINT_KINDS | _I64_KINDS | _I32_KINDS
_SCALARS = _NUMERIC | {"string", "bytes"}
_MAX_DEPTH = 100


class ProtobufDecodeError(ValueError):
    """The body is not a well-formed Kubernetes protobuf object (the server answers 400)."""


@dataclass(frozen=True, slots=True)
class _Field:
    number: int
    json_name: str  # "" = embedded struct, inlined into the parent's JSON object
    kind: str  # scalar type, message name, or "map"
    repeated: bool
    presence: str  # ptr | omitempty | omitzero | always
    key: str = ""  # map key kind
    value: str = ""  # map value kind


@dataclass(frozen=True, slots=True)
class _Schema:
    roots: dict[str, str]
    messages: dict[str, tuple[_Field, ...]]
    by_number: dict[str, dict[int, _Field]]


@cache
def _schema() -> _Schema:
    text = (
        resources.files("sliceplane.api").joinpath("schemas/proto_fields.json").read_text("utf-8")
    )
    raw = json.loads(text)
    messages: dict[str, tuple[_Field, ...]] = {}
    for name, fields in raw["messages"].items():
        out: list[_Field] = []
        for num, (json_name, kind, repeated, presence) in fields.items():
            if kind.startswith("map<"):
                key, value = kind[4:-1].split(",")
                out.append(_Field(int(num), json_name, "map", False, presence, key, value))
            else:
                out.append(_Field(int(num), json_name, kind, bool(repeated), presence))
        messages[name] = tuple(out)
    by_number = {name: {f.number: f for f in fields} for name, fields in messages.items()}
    return _Schema(dict(raw["roots"]), messages, by_number)


def root_message(api_version: str, kind: str) -> str | None:
    """The proto message for an object of ``apiVersion``/``kind``, if the server serves it."""
    return _schema().roots.get(f"{api_version}/{kind}")


def decode_k8s_protobuf(data: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00``-prefixed protobuf object into its JSON-shaped dict.

    ``apiVersion`` and ``kind`` come from the envelope's typeMeta. Raises
    :class:`ProtobufDecodeError` for a bad magic, malformed wire data, an unsupported content
    encoding, or a kind the server does not serve.
    """
    if not data.startswith(MAGIC):
        raise ProtobufDecodeError(
            f"provided data does not appear to be a protobuf message, expected prefix {list(MAGIC)}"
        )
    api_version = kind = encoding = ""
    raw = memoryview(b"")
    for num, wt, val in _fields(memoryview(data)[len(MAGIC) :]):
        if num == 1:
            tm = _expect_len(wt, val, "typeMeta")
            for tnum, twt, tval in _fields(tm):
                if tnum == 1:
                    api_version = _string(_expect_len(twt, tval, "apiVersion"))
                elif tnum == 2:
                    kind = _string(_expect_len(twt, tval, "kind"))
        elif num == 2:
            raw = _expect_len(wt, val, "raw")
        elif num == 3:
            encoding = _string(_expect_len(wt, val, "contentEncoding"))
    if encoding:
        raise ProtobufDecodeError(f"unsupported protobuf content encoding {encoding!r}")
    if not kind:
        raise ProtobufDecodeError("Object 'Kind' is missing in the protobuf envelope")
    if not api_version:
        raise ProtobufDecodeError("Object 'apiVersion' is missing in the protobuf envelope")
    message = root_message(api_version, kind)
    if message is None:
        raise ProtobufDecodeError(
            f'no kind "{kind}" is registered for version "{api_version}" (protobuf)'
        )
    out: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    out.update(_message(raw, message, 0))
    return out


# ---------------------------------------------------------------------------- wire format


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise ProtobufDecodeError("unexpected end of data in a varint")
        if shift >= 64:
            raise ProtobufDecodeError("varint overflows 64 bits")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _skip_group(buf: memoryview, pos: int, number: int) -> int:
    """Skip a (deprecated) group's contents up to its matching end-group tag (iteratively)."""
    open_groups = [number]
    while open_groups:
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if num <= 0:
            raise ProtobufDecodeError(f"illegal field number {num}")
        if wt == _EGROUP:
            if num != open_groups.pop():
                raise ProtobufDecodeError("mismatched end-group tag")
        elif wt == _SGROUP:
            if len(open_groups) > _MAX_DEPTH:
                raise ProtobufDecodeError("groups are nested too deeply")
            open_groups.append(num)
        else:
            _, pos = _value(buf, pos, num, wt)
    return pos


def _value(buf: memoryview, pos: int, num: int, wt: int) -> tuple[int | memoryview | None, int]:
    if wt == _VARINT:
        return _varint(buf, pos)
    if wt == _I64:
        if pos + 8 > len(buf):
            raise ProtobufDecodeError("unexpected end of data in a 64-bit field")
        return int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
    if wt == _I32:
        if pos + 4 > len(buf):
            raise ProtobufDecodeError("unexpected end of data in a 32-bit field")
        return int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
    if wt == _LEN:
        n, pos = _varint(buf, pos)
        if n > len(buf) - pos:
            raise ProtobufDecodeError(
                f"unexpected end of data: field {num} needs {n} bytes, {len(buf) - pos} left"
            )
        return buf[pos : pos + n], pos + n
    if wt == _SGROUP:
        return None, _skip_group(buf, pos, num)
    if wt == _EGROUP:
        raise ProtobufDecodeError(f"end-group tag for field {num} outside a group")
    raise ProtobufDecodeError(f"illegal wire type {wt} for field {num}")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview | None]]:
    """Yield ``(field number, wire type, value)``; LEN values are views, numbers are ints."""
    pos = 0
    end = len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if num <= 0 or num > 0x1FFFFFFF:
            raise ProtobufDecodeError(f"illegal field number {num} (wire type {wt})")
        val, pos = _value(buf, pos, num, wt)
        yield num, wt, val


def _expect_len(wt: int, val: int | memoryview | None, what: str) -> memoryview:
    if wt != _LEN or not isinstance(val, memoryview):
        raise ProtobufDecodeError(f"wrong wire type {wt} for field {what}")
    return val


def _string(buf: memoryview) -> str:
    # gogo does not validate UTF-8; encoding/json then writes U+FFFD for invalid bytes.
    return bytes(buf).decode("utf-8", errors="replace")


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _scalar(kind: str, v: int) -> Any:
    """Convert a varint / fixed value as Go's generated code does (truncating casts)."""
    if kind == "int32" or kind == "sfixed32":
        return _signed(v, 32)
    if kind == "int64" or kind == "sfixed64":
        return _signed(v, 64)
    if kind == "uint32" or kind == "fixed32":
        return v & 0xFFFFFFFF
    if kind == "uint64" or kind == "fixed64":
        return v
    if kind == "sint32":
        v &= 0xFFFFFFFF
        return (v >> 1) ^ -(v & 1)
    if kind == "sint64":
        return (v >> 1) ^ -(v & 1)
    if kind == "bool":
        return v != 0
    if kind in ("double", "float"):
        fmt, size = ("<d", 8) if kind == "double" else ("<f", 4)
        f: float = struct.unpack(fmt, v.to_bytes(size, "little"))[0]
        if math.isnan(f) or math.isinf(f):
            raise ProtobufDecodeError(f"unsupported value {f} in a {kind} field")
        return f
    raise ProtobufDecodeError(f"internal: no scalar conversion for {kind}")  # pragma: no cover


def _wire_type(kind: str) -> int:
    if kind in _VARINT_KINDS:
        return _VARINT
    if kind in _I64_KINDS:
        return _I64
    if kind in _I32_KINDS:
        return _I32
    return _LEN


def _packed(kind: str, buf: memoryview) -> list[Any]:
    wt = _wire_type(kind)
    out: list[Any] = []
    pos = 0
    while pos < len(buf):
        v, pos = _value(buf, pos, 0, wt)
        assert isinstance(v, int)
        out.append(_scalar(kind, v))
    return out


# ---------------------------------------------------------------------------- messages


def _message(buf: memoryview, name: str, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise ProtobufDecodeError("message nesting is too deep")
    schema = _schema()
    fields = schema.messages.get(name)
    if fields is None:
        raise ProtobufDecodeError(f"internal: no field table for message {name}")
    by_number = schema.by_number[name]
    seen: dict[int, Any] = {}
    for num, wt, val in _fields(buf):
        f = by_number.get(num)
        if f is None or val is None:
            continue  # unknown field (or a group): skipped, as gogo does
        label = f"{name.rpartition('.')[2]}.{f.json_name or 'inline'}"
        if f.kind == "map":
            entry = _expect_len(wt, val, label)
            k, v = _map_entry(entry, f, depth, label)
            seen.setdefault(num, {})[k] = v
        elif f.repeated:
            items = seen.setdefault(num, [])
            if f.kind in _NUMERIC and wt == _LEN:
                assert isinstance(val, memoryview)
                items.extend(_packed(f.kind, val))
            else:
                items.append(_single(f.kind, wt, val, depth, label))
        elif f.kind in _SCALARS:
            seen[num] = _single(f.kind, wt, val, depth, label)
        else:
            # A message field seen twice merges, which for proto is concatenation.
            chunk = bytes(_expect_len(wt, val, label))
            seen[num] = seen.get(num, b"") + chunk
    out: dict[str, Any] = {}
    for f in fields:
        present = f.number in seen
        if not present and f.presence == "ptr":
            continue
        if f.kind == "map" or f.repeated:
            value: Any = seen.get(f.number)  # absent: a nil slice/map, JSON null
        elif f.kind in _SCALARS:
            value = seen[f.number] if present else _zero_scalar(f.kind)
        else:
            value = _convert(f.kind, memoryview(seen.get(f.number, b"")), depth + 1)
        if not present or f.presence != "ptr":
            if f.presence == "omitempty" and _empty(f, value):
                continue
            if f.presence == "omitzero" and _is_zero(value):
                continue
        if f.json_name == "":
            if isinstance(value, dict):
                out.update(value)
            continue
        out[f.json_name] = value
    return out


def _single(kind: str, wt: int, val: int | memoryview, depth: int, label: str) -> Any:
    expected = _wire_type(kind)
    if wt != expected:
        raise ProtobufDecodeError(f"wrong wire type {wt} for field {label}")
    if isinstance(val, int):
        return _scalar(kind, val)
    if kind == "string":
        return _string(val)
    if kind == "bytes":
        return base64.b64encode(val).decode("ascii")
    return _convert(kind, val, depth + 1)


def _map_entry(buf: memoryview, f: _Field, depth: int, label: str) -> tuple[Any, Any]:
    key: Any = None
    chunks: list[bytes] = []
    value: Any = None
    for num, wt, val in _fields(buf):
        if val is None:
            continue
        if num == 1:
            key = _single(f.key, wt, val, depth, label + ".key")
        elif num == 2:
            if f.value in _SCALARS:
                value = _single(f.value, wt, val, depth, label + ".value")
            else:
                chunks.append(bytes(_expect_len(wt, val, label + ".value")))
    if key is None:
        key = _zero_scalar(f.key)
    if f.value not in _SCALARS:
        value = _convert(f.value, memoryview(b"".join(chunks)), depth + 1)
    elif value is None:
        value = _zero_scalar(f.value)
    if not isinstance(key, str):
        key = str(key).lower() if isinstance(key, bool) else str(key)  # JSON object keys
    return key, value


def _zero_scalar(kind: str) -> Any:
    if kind == "string":
        return ""
    if kind == "bytes":
        return None  # a nil []byte is JSON null
    if kind == "bool":
        return False
    if kind in ("double", "float"):
        return 0.0
    return 0


def _empty(f: _Field, value: Any) -> bool:
    """``omitempty``: zero scalars and empty slices/maps go; structs always stay."""
    if f.kind == "map" or f.repeated or f.kind in _SCALARS:
        return (
            value is None
            or value == ""
            or value == []
            or value == {}
            or value is False
            or (isinstance(value, int | float) and not isinstance(value, bool) and value == 0)
        )
    return False


def _is_zero(value: Any) -> bool:
    """``omitzero``: the Go zero value (a struct whose fields are all zero, the zero Time)."""
    if value is None or value is False or value == "":
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, list):
        return not value
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    return False


def _convert(kind: str, buf: memoryview, depth: int) -> Any:
    """Decode a message-typed value: special Go types by hand, the rest by table."""
    if kind in (_TIME, _MICROTIME):
        return _time(buf, micro=kind == _MICROTIME)
    if kind == _INTORSTRING:
        return _int_or_string(buf)
    if kind == _QUANTITY:
        return _quantity(buf)
    if kind in (_RAWEXTENSION, _FIELDSV1):
        return _embedded_json(buf, kind.rpartition(".")[2])
    if kind in _EXTRA_VALUES:
        return [
            _string(_expect_len(wt, val, "ExtraValue.items"))
            for num, wt, val in _fields(buf)
            if num == 1
        ]
    return _message(buf, kind, depth)


def _time(buf: memoryview, micro: bool) -> str | None:
    if len(buf) == 0:
        return None  # Time.Unmarshal: empty data is the zero time
    seconds = nanos = 0
    for num, wt, val in _fields(buf):
        if num == 1:
            seconds = _scalar("int64", _expect_int(wt, val, "Timestamp.seconds"))
        elif num == 2:
            nanos = _scalar("int32", _expect_int(wt, val, "Timestamp.nanos"))
    if not micro:
        nanos = 0  # Time.Unmarshal drops nanoseconds: JSON only carries seconds
    if seconds == _GO_ZERO_UNIX and nanos == 0:
        return None
    try:
        when = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ProtobufDecodeError(f"timestamp {seconds}s is out of range") from None
    if when.year < 1:  # pragma: no cover - datetime cannot represent it anyway
        raise ProtobufDecodeError(f"timestamp {seconds}s is out of range")
    return format_micro_time(when) if micro else format_time(when)


def _expect_int(wt: int, val: int | memoryview | None, what: str) -> int:
    if wt != _VARINT or not isinstance(val, int):
        raise ProtobufDecodeError(f"wrong wire type {wt} for field {what}")
    return val


def _int_or_string(buf: memoryview) -> int | str:
    typ = int_val = 0
    str_val = ""
    for num, wt, val in _fields(buf):
        if num == 1:
            typ = _scalar("int64", _expect_int(wt, val, "IntOrString.type"))
        elif num == 2:
            int_val = _scalar("int32", _expect_int(wt, val, "IntOrString.intVal"))
        elif num == 3:
            str_val = _string(_expect_len(wt, val, "IntOrString.strVal"))
    if typ == 0:
        return int_val
    if typ == 1:
        return str_val
    raise ProtobufDecodeError(f"impossible IntOrString.Type {typ}")


def _quantity(buf: memoryview) -> str:
    text: str | None = None
    for num, wt, val in _fields(buf):
        if num == 1:
            text = _string(_expect_len(wt, val, "Quantity.string"))
    if text is None:
        return "0"  # the zero Quantity
    if not text:
        raise ProtobufDecodeError('quantities must match the regular expression (got "")')
    return text


def _embedded_json(buf: memoryview, what: str) -> Any:
    raw: bytes | None = None
    for num, wt, val in _fields(buf):
        if num == 1:
            raw = bytes(_expect_len(wt, val, f"{what}.raw"))
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtobufDecodeError(f"{what} does not hold JSON") from None
