"""Hostile bodies and parameters decode to upstream's 4xx answers, never a Python error.

Expected answers are kube-apiserver's (probed through ``sliceplane.testenv``, issue 17).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from multidict import MultiDict

from sliceplane.api import errors
from sliceplane.apiserver.http import warning_text
from sliceplane.apiserver.requestbody import (
    MAX_DEPTH,
    check_list_options,
    decode_body,
    delete_options,
    parse_int64,
    parse_resource_version,
    write_options,
)

JSON = "application/json"
YAML = "application/yaml"


@pytest.mark.parametrize(
    ("raw", "ctype", "expected"),
    [
        pytest.param(b'{"a":"\xc3"}', JSON, {"a": "\ufffd"}, id="invalid-utf8-becomes-fffd"),
        pytest.param(b'{"\xffk":1}', JSON, {"\ufffdk": 1}, id="invalid-utf8-key"),
        pytest.param(
            b"a:\n  1: x\n  1.5: z\nb:\n  true: y\n",
            YAML,
            {"a": {"1": "x", "1.5": "z"}, "b": {"true": "y"}},
            id="yaml-scalar-keys-as-strings",
        ),
        pytest.param(
            b"a: 2026-01-01\n2026-01-02: b\n",
            YAML,
            {"a": "2026-01-01", "2026-01-02": "b"},
            id="yaml-dates-stay-strings",
        ),
        pytest.param(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, JSON, None, id="max-depth-ok"),
    ],
)
def test_decodes_like_go(raw: bytes, ctype: str, expected: Any) -> None:
    got = decode_body(raw, ctype)
    if expected is not None:
        assert got == expected


@pytest.mark.parametrize(
    ("raw", "ctype", "message"),
    [
        pytest.param(b"[" * 1000 + b"]" * 1000, JSON, "exceeded max depth", id="json-1000"),
        pytest.param(
            b'{"a":' * 50000 + b"1" + b"}" * 50000, JSON, "exceeded max depth", id="json-50000"
        ),
        pytest.param(b"a: " + b"[" * 600 + b"]" * 600, YAML, "exceeded max depth", id="yaml-600"),
        pytest.param(
            b"a:\n  null: x\n", YAML, "unsupported map key of type: %!s(<nil>)", id="yaml-null-key"
        ),
        pytest.param(
            b"? [a, b]\n: 1\n", YAML, "error converting YAML to JSON", id="yaml-unhashable-key"
        ),
    ],
)
def test_refused_with_400(raw: bytes, ctype: str, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode_body(raw, ctype)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            b'{"preconditions":"true"}',
            "cannot unmarshal string into Go struct field "
            "DeleteOptions.preconditions of type v1.Preconditions",
            id="preconditions",
        ),
        pytest.param(b'{"preconditions":[1]}', "cannot unmarshal array", id="preconditions-list"),
        pytest.param(
            b'{"gracePeriodSeconds":"x"}',
            "DeleteOptions.gracePeriodSeconds of type int64",
            id="grace-string",
        ),
        pytest.param(
            b'{"preconditions":{"uid":1}}', "Preconditions.preconditions.uid", id="uid-number"
        ),
        pytest.param(b"[" * 5000 + b"]" * 5000, "exceeded max depth", id="deep"),
    ],
)
def test_bad_delete_options(raw: bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        delete_options(raw, MultiDict())


def test_delete_options_with_invalid_utf8_are_decoded_like_go() -> None:
    opts = delete_options(b'{"\xff":1, "gracePeriodSeconds": 5}', MultiDict())
    assert opts.grace_period_seconds == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nan", 'parsing "nan": invalid syntax'),
        ("inf", 'parsing "inf": invalid syntax'),
        ("1e400", 'parsing "1e400": invalid syntax'),
        ("1.5", 'parsing "1.5": invalid syntax'),
        ("99999999999999999999", 'parsing "99999999999999999999": value out of range'),
        ("", 'parsing "": invalid syntax'),
        ("٣", "invalid syntax"),
    ],
)
def test_integer_parameters_as_go_parses_them(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        parse_int64(text)


def test_integer_parameters_accepted() -> None:
    assert [parse_int64(t) for t in ("0", "-1", "+7", "9223372036854775807")] == [
        0,
        -1,
        7,
        2**63 - 1,
    ]


@pytest.mark.parametrize(
    ("warning", "header"),
    [
        ('unknown field "a\r\nb"', 'unknown field \\"a\\\\r\\\\nb\\"'),
        ('unknown field "a\x00b"', 'unknown field \\"a\\\\x00b\\"'),
        ("plain", "plain"),
    ],
)
def test_warning_text_is_header_safe(warning: str, header: str) -> None:
    out = warning_text(warning)
    assert out == header
    assert not any(ord(c) < 0x20 for c in out)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "invalid syntax"),
        ("-1", "invalid syntax"),
        ("1.5", "invalid syntax"),
        ("18446744073709551616", "value out of range"),
    ],
)
def test_resource_versions_as_go_parses_them(text: str, problem: str) -> None:
    with pytest.raises(errors.BadRequest, match=f'parsing "{re.escape(text)}": {problem}'):
        parse_resource_version(text)


def test_resource_versions_accepted() -> None:
    assert parse_resource_version("") is None
    assert parse_resource_version("0") == 0
    assert parse_resource_version("18446744073709551615") == 2**64 - 1


@pytest.mark.parametrize(
    ("params", "watch", "fragment"),
    [
        ({"timeoutSeconds": "inf"}, False, 'parsing "inf": invalid syntax'),
        (
            {"resourceVersionMatch": "Exact"},
            False,
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided",
        ),
        ({"resourceVersionMatch": "Bogus", "resourceVersion": "1"}, False, "Unsupported value"),
        ({"sendInitialEvents": "true"}, False, "sendInitialEvents is forbidden for list"),
        # The answers kube-apiserver v1.37.2 gave (WatchList on: a watch from "" or "0"
        # defaults to sendInitialEvents=true with resourceVersionMatch=NotOlderThan).
        ({"limit": ""}, False, 'strconv.ParseInt: parsing "": invalid syntax'),
        ({"limit": "abc"}, True, 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ({"timeoutSeconds": ""}, True, 'strconv.ParseInt: parsing "": invalid syntax'),
        ({"continue": "abc"}, True, "resourceVersionMatch is forbidden when continue is provided"),
        (
            {"resourceVersionMatch": "NotOlderThan", "resourceVersion": "0", "continue": "x"},
            False,
            "resourceVersionMatch is forbidden when continue is provided",
        ),
        (
            {"resourceVersionMatch": "Exact", "resourceVersion": "0"},
            False,
            'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
        (
            {"resourceVersionMatch": "Exact"},
            True,
            "[resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless "
            'sendInitialEvents is provided, resourceVersionMatch: Unsupported value: "Exact": '
            'supported values: "NotOlderThan"]',
        ),
        (
            {"sendInitialEvents": "true", "resourceVersion": "1"},
            True,
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
        (
            {"resourceVersion": "1", "resourceVersionMatch": "NotOlderThan"},
            True,
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
    ],
)
def test_list_options_as_upstream_validates_them(
    params: dict[str, str], watch: bool, fragment: str
) -> None:
    with pytest.raises(errors.StatusError, match=re.escape(fragment)):
        check_list_options(MultiDict(params), watch)


def test_list_options_accepted() -> None:
    check_list_options(MultiDict({"resourceVersion": "5", "resourceVersionMatch": "Exact"}), False)
    check_list_options(
        MultiDict({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}), True
    )
    check_list_options(MultiDict({"resourceVersion": "7", "limit": "5"}), True)
    check_list_options(MultiDict({}), True)  # defaulted, consistent


@pytest.mark.parametrize(
    ("manager", "fragment"),
    [
        ("x" * 129, "fieldManager: Too long: may not be more than 128 bytes"),
        ("\x00", "invalid character U+0000 (at position 0)"),
    ],
)
def test_field_manager_as_upstream_validates_it(manager: str, fragment: str) -> None:
    with pytest.raises(errors.Invalid, match=re.escape(fragment)) as info:
        write_options(MultiDict({"fieldManager": manager}), "UpdateOptions")
    assert 'UpdateOptions.meta.k8s.io "" is invalid' in str(info.value)


@pytest.mark.parametrize(
    ("raw", "params", "fragment"),
    [
        (b'{"propagationPolicy":"Bogus"}', {}, 'propagationPolicy: Unsupported value: "Bogus"'),
        (b"", {"propagationPolicy": "Bogus"}, 'supported values: "Foreground", "Background"'),
        (
            b"",
            {"propagationPolicy": "", "orphanDependents": "true"},
            "orphanDependents and deletionPropagation cannot be both set",
        ),
    ],
)
def test_delete_propagation_as_upstream_validates_it(
    raw: bytes, params: dict[str, str], fragment: str
) -> None:
    with pytest.raises(errors.Invalid, match=fragment) as info:
        delete_options(raw, MultiDict(params))
    assert 'DeleteOptions.meta.k8s.io "" is invalid' in str(info.value)
