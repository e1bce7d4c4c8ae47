"""Table tests of request body and option decoding (``apiserver.requestbody``)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from multidict import MultiDict, MultiDictProxy

from sliceplane.api import errors
from sliceplane.apiserver.requestbody import (
    MAX_BODY,
    decode_body,
    delete_options,
    write_options,
)


def query(*pairs: tuple[str, str]) -> MultiDictProxy[str]:
    return MultiDictProxy(MultiDict(pairs))


@pytest.mark.parametrize(
    ("raw", "ctype", "expected"),
    [
        pytest.param(b'{"a":1}', "application/json", {"a": 1}, id="json"),
        pytest.param(b'{"a":1}', "", {"a": 1}, id="no-content-type"),
        pytest.param(
            b'{"a":1}', "application/merge-patch+json; charset=utf-8", {"a": 1}, id="plus-json"
        ),
        pytest.param(b"a: 1\n", "application/yaml", {"a": 1}, id="yaml"),
    ],
)
def test_decode_body(raw: bytes, ctype: str, expected: Any) -> None:
    assert decode_body(raw, ctype) == expected


@pytest.mark.parametrize(
    ("raw", "ctype", "error", "text"),
    [
        pytest.param(
            b"{", "application/json", errors.BadRequest, "json parse error", id="bad-json"
        ),
        pytest.param(b"a: [", "text/yaml", errors.BadRequest, "converting YAML", id="bad-yaml"),
        pytest.param(
            b"x",
            "text/plain",
            errors.UnsupportedMediaType,
            '(got "text/plain")',
            id="unknown-media-type",
        ),
        pytest.param(
            b" " * (MAX_BODY + 1),
            "application/json",
            errors.RequestEntityTooLarge,
            "limit is",
            id="too-large",
        ),
    ],
)
def test_decode_body_refusals(raw: bytes, ctype: str, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=re.escape(text)):
        decode_body(raw, ctype)


def test_write_options() -> None:
    opts = write_options(query(("dryRun", "All"), ("fieldManager", "kubectl")))
    assert (opts.dry_run, opts.field_validation, opts.field_manager) == (True, "Warn", "kubectl")
    with pytest.raises(errors.BadRequest, match="Invalid dry run value"):
        write_options(query(("dryRun", "Some")))
    with pytest.raises(errors.BadRequest, match="fieldValidation must be one of"):
        write_options(query(("fieldValidation", "Loud")))


def test_delete_options_query_wins_over_body() -> None:
    raw = (
        b'{"gracePeriodSeconds": 30, "propagationPolicy": "Orphan", "preconditions": {"uid": "u"}}'
    )
    opts = delete_options(
        raw, query(("gracePeriodSeconds", "0"), ("propagationPolicy", "Foreground"))
    )
    assert opts.grace_period_seconds == 0
    assert opts.propagation_policy == "Foreground"
    assert opts.precondition_uid == "u"
    with pytest.raises(errors.BadRequest, match="cannot unmarshal array into Go value"):
        delete_options(b"[1]", query())
    with pytest.raises(errors.BadRequest, match='parsing "soon": invalid syntax'):
        delete_options(b"", query(("gracePeriodSeconds", "soon")))


def _len_field(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _protobuf_delete_options(kind: str = "DeleteOptions") -> bytes:
    """What client-go sends for ``DeleteOptions{GracePeriodSeconds: 5, PropagationPolicy:
    Foreground, Preconditions: {UID: u1}}`` with its protobuf content type."""
    message = (
        bytes([1 << 3, 5]) + _len_field(2, _len_field(1, b"u1")) + _len_field(4, b"Foreground")
    )
    type_meta = _len_field(1, b"discovery.k8s.io/v1") + _len_field(2, kind.encode())
    return b"k8s\x00" + _len_field(1, type_meta) + _len_field(2, message)


def test_delete_options_decoded_by_content_type() -> None:
    """Go clients configured for protobuf send DeleteOptions as protobuf (kube-proxy,
    kube-controller-manager); read as JSON they were a 400."""
    opts = delete_options(
        _protobuf_delete_options(), query(), "application/vnd.kubernetes.protobuf"
    )
    assert opts.grace_period_seconds == 5
    assert opts.propagation_policy == "Foreground"
    assert opts.precondition_uid == "u1"
    yaml_opts = delete_options(b"propagationPolicy: Orphan\n", query(), "application/yaml")
    assert yaml_opts.propagation_policy == "Orphan"
    with pytest.raises(errors.BadRequest, match="Pod"):
        delete_options(
            _protobuf_delete_options("Pod"), query(), "application/vnd.kubernetes.protobuf"
        )
    with pytest.raises(errors.UnsupportedMediaType):
        delete_options(b"x", query(), "text/plain")


def _ld(num: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([num << 3 | 2, len(payload)]) + payload


def test_delete_options_from_a_protobuf_body() -> None:
    # client-go's typed clients (Helm purging its release Secrets) send DeleteOptions as
    # Kubernetes protobuf: gracePeriodSeconds=1 (varint), propagationPolicy=4 (string).
    raw = b"\x08\x07" + _ld(4, b"Foreground")
    envelope = b"k8s\x00" + _ld(1, _ld(1, b"v1") + _ld(2, b"DeleteOptions")) + _ld(2, raw)
    opts = delete_options(envelope, query(), "application/vnd.kubernetes.protobuf")
    assert opts.grace_period_seconds == 7
    assert opts.propagation_policy == "Foreground"
    with pytest.raises(errors.BadRequest):
        delete_options(b"k8s\x00\xff", query(), "application/vnd.kubernetes.protobuf")
