"""Secrets and ConfigMaps: Go's base64 for ``[]byte`` fields, validation with upstream's
paths and messages, defaulting (type, stringData), Table cells, field labels, discovery.

The base64 cases' expected answers were produced by Go 1.26's ``encoding/json`` decoding a
JSON string into ``[]byte`` and re-encoding it (what kube-apiserver serves back); the
validation messages are upstream's (``pkg/apis/core/validation``, v1.37.2).
"""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sliceplane.api.fieldlabels import field_set
from sliceplane.api.gobase64 import normalize_std
from sliceplane.api.openapi import ResourceSpec, openapi_v3_document
from sliceplane.api.resources import BY_PLURAL
from sliceplane.api.schema import check, decode_error_message, definition_key
from sliceplane.api.validation import validate_create, validate_update
from sliceplane.apiserver.defaults import apply_defaults
from sliceplane.apiserver.printers import column_definitions, row_cells

GO_BASE64 = [
    ("", "OK "),
    ("YWJj", "OK YWJj"),
    ("YWI=", "OK YWI="),
    ("YR==", "OK YQ=="),
    ("YWJj\nZGVm", "OK YWJjZGVm"),
    ("abc", "ERR illegal base64 data at input byte 0"),
    ("YQ=", "ERR illegal base64 data at input byte 3"),
    ("YQ==x", "ERR illegal base64 data at input byte 4"),
    ("Y!==", "ERR illegal base64 data at input byte 1"),
    ("YWJjZA==YQ==", "ERR illegal base64 data at input byte 8"),
    ("hello world", "ERR illegal base64 data at input byte 5"),
    ("Y\nQ\n=\n=", "OK YQ=="),
    ("YQ=\n=x", "ERR illegal base64 data at input byte 5"),
    ("é", "ERR illegal base64 data at input byte 0"),
    ("YWJjZGVmZ2hpamtsbW5vcA=", "ERR illegal base64 data at input byte 23"),
    ("====", "ERR illegal base64 data at input byte 0"),
    ("YWJ=", "OK YWI="),
]


@pytest.mark.parametrize(("text", "go"), GO_BASE64)
def test_base64_like_go(text: str, go: str) -> None:
    canonical, error = normalize_std(text)
    assert (f"ERR {error}" if error else f"OK {canonical}") == go


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def secret(**extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        "type": "Opaque",
        "data": {"a": b64("1")},
    }
    obj.update(extra)
    return obj


def config_map(**extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"a": "1"},
    }
    obj.update(extra)
    return obj


# --------------------------------------------------------------------------- decoding


def test_secret_data_is_decoded_as_go_does() -> None:
    key = definition_key("", "v1", "Secret")
    assert key is not None
    res = check(key, secret(data={"a": "YR==", "b": "YWJj\nZGVm"}))
    assert res.type_errors == []
    assert res.obj["data"] == {"a": "YQ==", "b": "YWJjZGVm"}  # served canonically

    bad = check(key, secret(data={"a": "not base64"}))
    assert bad.type_errors == ["illegal base64 data at input byte 3"]
    assert decode_error_message("Secret", "v1", bad.type_errors[0]) == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )
    number = check(key, secret(data={"a": 1}))
    assert number.type_errors == [
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
    ]


def test_config_map_binary_data_is_bytes_and_data_is_text() -> None:
    key = definition_key("", "v1", "ConfigMap")
    assert key is not None
    res = check(key, config_map(data={"a": "not base64"}, binaryData={"b": "YWJj"}))
    assert res.type_errors == []
    assert check(key, config_map(binaryData={"b": "%%"})).type_errors == [
        "illegal base64 data at input byte 0"
    ]


# --------------------------------------------------------------------------- validation

KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def errors(resource: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    if old is None:
        return [str(e) for e in validate_create(resource, obj)]
    return [str(e) for e in validate_update(resource, obj, old)]


SECRET_CASES = [
    pytest.param(secret(), [], id="valid"),
    pytest.param(
        secret(data={"a/b": b64("x")}),
        [f'data[a/b]: Invalid value: "a/b": {KEY_MSG}'],
        id="bad-key",
    ),
    pytest.param(
        secret(data={"..x": ""}),
        ["data[..x]: Invalid value: \"..x\": must not start with '..'"],
        id="dotdot",
    ),
    pytest.param(
        secret(data={".": ""}), ["data[.]: Invalid value: \".\": must not be '.'"], id="dot"
    ),
    pytest.param(
        secret(data={"k" * 254: ""}),
        [f'data[{"k" * 254}]: Invalid value: "{"k" * 254}": must be no more than 253 characters'],
        id="key-too-long",
    ),
    pytest.param(
        secret(data={"a": base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()}),
        ["data: Too long: may not be more than 1048576 bytes"],
        id="over-1MiB",
    ),
    pytest.param(
        secret(type="kubernetes.io/tls", data={}),
        ["data[tls.crt]: Required value", "data[tls.key]: Required value"],
        id="tls-keys",
    ),
    pytest.param(
        secret(type="kubernetes.io/basic-auth", data={}),
        ["data[username]: Required value", "data[password]: Required value"],
        id="basic-auth",
    ),
    pytest.param(
        secret(type="kubernetes.io/basic-auth", data={"password": ""}), [], id="basic-auth-one"
    ),
    pytest.param(
        secret(type="kubernetes.io/ssh-auth", data={"ssh-privatekey": ""}),
        ["data[ssh-privatekey]: Required value"],
        id="ssh-auth",
    ),
    pytest.param(
        secret(type="kubernetes.io/service-account-token", data={}),
        ["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
        id="sa-token",
    ),
    pytest.param(
        secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("[1]")}),
        [
            'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot '
            "unmarshal array into Go value of type map[string]interface {}"
        ],
        id="dockerconfigjson-not-object",
    ),
    pytest.param(
        secret(type="kubernetes.io/dockercfg", data={}),
        ["data[.dockercfg]: Required value"],
        id="dockercfg-missing",
    ),
    pytest.param(secret(type="example.com/anything", data={}), [], id="custom-type"),
    pytest.param(
        secret(metadata={"name": "Bad_Name", "namespace": "default"}),
        [
            'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must '
            "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ],
        id="name",
    ),
]


@pytest.mark.parametrize(("obj", "want"), SECRET_CASES)
def test_secret_create(obj: dict[str, Any], want: list[str]) -> None:
    assert errors("secrets", obj) == want


def test_secret_type_is_immutable() -> None:
    old = secret()
    new = secret(type="kubernetes.io/basic-auth", data={"username": b64("u")})
    assert errors("secrets", new, old) == [
        'type: Invalid value: "kubernetes.io/basic-auth": field is immutable'
    ]


def test_immutable_secret_keeps_data_and_mark() -> None:
    old = secret(immutable=True)
    assert errors("secrets", copy.deepcopy(old), old) == []
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"a": "b"}
    assert errors("secrets", relabelled, old) == []  # metadata may still change
    changed = secret(immutable=True, data={"a": b64("2")})
    assert errors("secrets", changed, old) == [
        "data: Forbidden: field is immutable when `immutable` is set"
    ]
    unmarked = secret(immutable=False)
    assert errors("secrets", unmarked, old) == [
        "immutable: Forbidden: field is immutable when `immutable` is set"
    ]
    # Marking a mutable secret immutable is allowed, and so is changing it in that write.
    assert errors("secrets", secret(immutable=True, data={"b": ""}), secret()) == []


CONFIG_MAP_CASES = [
    pytest.param(config_map(), [], id="valid"),
    pytest.param(
        config_map(data={"a b": "x"}),
        [f'data[a b]: Invalid value: "a b": {KEY_MSG}'],
        id="bad-key",
    ),
    pytest.param(
        config_map(binaryData={"a": b64("x"), "b$": ""}),
        [
            'data[a]: Invalid value: "a": duplicate of key present in binaryData',
            f'binaryData[b$]: Invalid value: "b$": {KEY_MSG}',
        ],
        id="duplicate-and-bad-binary-key",
    ),
    pytest.param(
        config_map(data={"a": "x" * (512 * 1024)}, binaryData={"b": b64("y" * (512 * 1024 + 1))}),
        # The whole object: upstream's path is NewPath(""), printed as "[]".
        ["[]: Too long: may not be more than 1048576 bytes"],
        id="over-1MiB-together",
    ),
]


@pytest.mark.parametrize(("obj", "want"), CONFIG_MAP_CASES)
def test_config_map_create(obj: dict[str, Any], want: list[str]) -> None:
    assert errors("configmaps", obj) == want


def test_immutable_config_map() -> None:
    old = config_map(immutable=True, binaryData={"b": b64("x")})
    assert errors("configmaps", copy.deepcopy(old), old) == []
    new = config_map(data={"a": "2"}, binaryData={})
    assert errors("configmaps", new, old) == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set",
        "binaryData: Forbidden: field is immutable when `immutable` is set",
    ]


# --------------------------------------------------------------------------- defaulting


def test_secret_defaults_type_and_folds_string_data() -> None:
    obj = secret(stringData={"b": "two", "a": "wins"})
    del obj["type"]
    apply_defaults("secrets", obj)
    assert obj["type"] == "Opaque"
    assert "stringData" not in obj
    assert obj["data"] == {"a": b64("wins"), "b": b64("two")}  # stringData wins, as upstream

    only = {"metadata": {"name": "x"}, "stringData": {"k": "v"}}
    apply_defaults("secrets", only)
    assert only == {"metadata": {"name": "x"}, "data": {"k": b64("v")}, "type": "Opaque"}


# --------------------------------------------------------------------------- tables, fields

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_table_columns_and_cells_are_upstreams() -> None:
    assert [c["name"] for c in column_definitions("secrets")] == ["Name", "Type", "Data", "Age"]
    assert [c["name"] for c in column_definitions("configmaps")] == ["Name", "Data", "Age"]
    s = secret(data={"a": "", "b": ""})
    s["metadata"]["creationTimestamp"] = "2024-05-01T11:58:00Z"
    assert row_cells("secrets", s, NOW) == ["s", "Opaque", 2, "2m"]
    c = config_map(binaryData={"b": ""})
    c["metadata"]["creationTimestamp"] = "2024-04-30T12:00:00Z"
    assert row_cells("configmaps", c, NOW) == ["c", 2, "24h"]  # data and binaryData keys


def test_field_selectors_and_discovery() -> None:
    assert field_set("secrets", secret(type="helm.sh/release.v1")) == {
        "metadata.name": "s",
        "metadata.namespace": "default",
        "type": "helm.sh/release.v1",
    }
    assert BY_PLURAL["configmaps"].short_names == ("cm",)
    assert BY_PLURAL["secrets"].short_names == ()
    doc = openapi_v3_document("", "v1", [ResourceSpec("", "v1", "Secret", "secrets", True)])
    data = doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"]["properties"]["data"]
    assert data == {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}}
