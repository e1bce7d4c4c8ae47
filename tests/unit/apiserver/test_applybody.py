"""Apply bodies: YAML or JSON, upstream's error prefixes, repeated keys by directive."""

from __future__ import annotations

import pytest

from sliceplane.api import errors
from sliceplane.apiserver.applybody import decode_apply_body, duplicate_keys

DUP = b"metadata:\n  name: x\n  labels: {a: '1'}\n  labels: {b: '2'}\nspec:\n  a: 1\n  a: 2\n"


def test_json_and_yaml_bodies() -> None:
    assert decode_apply_body(b'{"a": 1}', "Strict") == ({"a": 1}, None)
    assert decode_apply_body(b"a: 1\n", "Strict") == ({"a": 1}, None)


def test_invalid_yaml_is_upstreams_400() -> None:
    with pytest.raises(errors.BadRequest) as info:
        decode_apply_body(b"metadata: [unclosed\n", "Strict")
    assert info.value.message.startswith("error encoding patch: yaml: ")


def test_repeated_keys_by_directive() -> None:
    text = duplicate_keys(DUP)
    assert text == (
        "error converting YAML to JSON: yaml: unmarshal errors:\n"
        '  line 4: key "labels" already set in map\n'
        '  line 7: key "a" already set in map'
    )
    with pytest.raises(errors.BadRequest) as info:
        decode_apply_body(DUP, "Strict")
    assert info.value.message == f"error strict decoding patch: {text}"
    body, warning = decode_apply_body(DUP, "Warn")
    assert warning == text and body["metadata"]["labels"] == {"b": "2"}
    assert decode_apply_body(DUP, "Ignore")[1] is None
