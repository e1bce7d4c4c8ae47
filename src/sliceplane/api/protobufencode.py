"""Encode JSON-shaped objects as Kubernetes protobuf request bodies: the inverse of
:mod:`sliceplane.api.protobuf`, from the same generated field table.

Why: kube-controller-manager's clients send protobuf (``--kube-api-content-type``, default
``application/vnd.kubernetes.protobuf``); an EndpointSlice of 100 endpoints is about half
as large as its JSON, which is what the request-bytes row of ``bench/controller.py``
compares. Fields are written in field-number order; absent and ``null`` fields are not
written (a Go decoder leaves them at their zero value, as it would for JSON); maps are
written with sorted keys, repeated scalars unpacked, as gogo-protobuf does. Special Go
types mirror the decoder: ``Time``/``MicroTime`` from RFC 3339, ``IntOrString``,
``Quantity``, ``RawExtension``/``FieldsV1`` as embedded JSON.
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
from typing import Any

from sliceplane.api.protobuf import (
    _EXTRA_VALUES,
    _FIELDSV1,
    _I32_KINDS,
    _I64_KINDS,
    _INTORSTRING,
    _MICROTIME,
    _QUANTITY,
    _RAWEXTENSION,
    _SCALARS,
    _TIME,
    MAGIC,
    _schema,
    root_message,
)

__all__ = ["ProtobufEncodeError", "encode_k8s_protobuf"]

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class ProtobufEncodeError(ValueError):
    """The object has no protobuf form here (unknown kind, or a value of the wrong type)."""


def encode_k8s_protobuf(obj: dict[str, Any]) -> bytes:
    """``obj`` (with ``apiVersion`` and ``kind``) as a ``k8s\\x00``-prefixed protobuf body."""
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "")
    message = root_message(api_version, kind)
    if message is None:
        raise ProtobufEncodeError(f"no protobuf message for {api_version}/{kind}")
    out = bytearray(MAGIC)
    type_meta = bytearray()
    _len_field(type_meta, 1, api_version.encode())
    _len_field(type_meta, 2, kind.encode())
    _len_field(out, 1, type_meta)
    _len_field(out, 2, _message(obj, message))
    return bytes(out)


def _tag(out: bytearray, number: int, wire: int) -> None:
    _varint(out, (number << 3) | wire)


def _varint(out: bytearray, value: int) -> None:
    if value < 0:
        value += 1 << 64  # negative int32/int64: ten bytes, two's complement
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _len_field(out: bytearray, number: int, data: bytes | bytearray) -> None:
    _tag(out, number, _LEN)
    _varint(out, len(data))
    out += data


def _message(value: Any, name: str) -> bytearray:
    if not isinstance(value, dict):
        raise ProtobufEncodeError(f"{name.rpartition('.')[2]}: expected an object")
    out = bytearray()
    for f in sorted(_schema().messages[name], key=lambda f: f.number):
        if f.json_name == "":
            _len_field(out, f.number, _message(value, f.kind))  # embedded: same JSON object
            continue
        v = value.get(f.json_name)
        if v is None:
            continue
        if f.kind == "map":
            if not isinstance(v, dict):
                raise ProtobufEncodeError(f"{f.json_name}: expected an object")
            for key in sorted(v):
                entry = bytearray()
                _single(entry, 1, f.key, _map_key(f.key, key))
                if v[key] is not None:
                    _single(entry, 2, f.value, v[key])
                _len_field(out, f.number, entry)
        elif f.repeated:
            if not isinstance(v, list):
                raise ProtobufEncodeError(f"{f.json_name}: expected a list")
            for item in v:
                _single(out, f.number, f.kind, item)
        else:
            _single(out, f.number, f.kind, v)
    return out


def _map_key(kind: str, key: str) -> Any:
    if kind == "string":
        return key
    if kind == "bool":
        return key == "true"
    return int(key)


def _single(out: bytearray, number: int, kind: str, v: Any) -> None:
    if kind == "string":
        if not isinstance(v, str):
            raise ProtobufEncodeError(f"field {number}: expected a string")
        _len_field(out, number, v.encode())
    elif kind == "bool":
        _tag(out, number, _VARINT)
        out.append(1 if v else 0)
    elif kind == "bytes":
        _len_field(out, number, base64.b64decode(v))
    elif kind in _I64_KINDS:
        _tag(out, number, _I64)
        out += struct.pack({"double": "<d", "fixed64": "<Q"}.get(kind, "<q"), v)
    elif kind in _I32_KINDS:
        _tag(out, number, _I32)
        out += struct.pack({"float": "<f", "fixed32": "<I"}.get(kind, "<i"), v)
    elif kind in _SCALARS:  # varint integers
        if isinstance(v, bool) or not isinstance(v, int):
            raise ProtobufEncodeError(f"field {number}: expected an integer")
        _tag(out, number, _VARINT)
        _varint(out, (v << 1) ^ (v >> 63) if kind.startswith("sint") else v)
    else:
        _len_field(out, number, _special(kind, v))


def _special(kind: str, v: Any) -> bytearray:
    out = bytearray()
    if kind in (_TIME, _MICROTIME):
        when = _parse_time(v)
        seconds = int(when.timestamp() // 1)
        if seconds:
            _single(out, 1, "int64", seconds)
        nanos = when.microsecond * 1000 if kind == _MICROTIME else 0
        if nanos:
            _single(out, 2, "int32", nanos)
    elif kind == _INTORSTRING:
        if isinstance(v, int) and not isinstance(v, bool):
            _single(out, 1, "int64", 0)
            _single(out, 2, "int32", v)
        else:
            _single(out, 1, "int64", 1)
            _single(out, 3, "string", str(v))
    elif kind == _QUANTITY:
        _single(out, 1, "string", str(v))
    elif kind in (_RAWEXTENSION, _FIELDSV1):
        _len_field(out, 1, json.dumps(v, separators=(",", ":")).encode())
    elif kind in _EXTRA_VALUES:
        for item in v:
            _single(out, 1, "string", item)
    else:
        out = _message(v, kind)
    return out


def _parse_time(v: Any) -> datetime.datetime:
    if not isinstance(v, str):
        raise ProtobufEncodeError("time: expected an RFC 3339 string")
    try:
        when = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ProtobufEncodeError(f"time {v!r} is not RFC 3339") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when
