"""Slice metadata: upstream TestNewEndpointSlice, TestSetEndpointSliceLabels,
TestPlaceHolderSliceCompare, ownedBy and the trigger-time annotation format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fixtures import new_service, owner_ref

from sliceplane.api.meta import format_rfc3339_nano
from sliceplane.endpointbase.triggertime import set_trigger_time
from sliceplane.endpointslice.slices import (
    new_slice,
    owned_by,
    placeholder_equal,
    placeholder_slice,
    slice_labels,
    slice_name_prefix,
)
from sliceplane.endpointslice.types import (
    ANNOTATION_TRIGGER_TIME,
    CONTROLLER_NAME,
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
)

BASE_LABELS = {LABEL_SERVICE_NAME: "foo", LABEL_MANAGED_BY: CONTROLLER_NAME}
PORTS = [{"name": "foo", "protocol": "TCP"}]


def _svc(labels: dict[str, str] | None = None, **spec: Any) -> Any:
    svc = new_service("foo", **{"clusterIP": "1.1.1.1", **spec})
    if labels is not None:
        svc["metadata"]["labels"] = labels
    return svc


@pytest.mark.parametrize(
    ("svc", "want_labels"),
    [
        pytest.param(_svc(), BASE_LABELS, id="no-labels"),
        pytest.param(_svc({"foo": "bar"}), {**BASE_LABELS, "foo": "bar"}, id="labels"),
        pytest.param(
            _svc({"foo": "bar"}, clusterIP="None"),
            {**BASE_LABELS, "foo": "bar", LABEL_HEADLESS: ""},
            id="headless-labels",
        ),
        pytest.param(
            _svc({"foo": "bar", "foo2": "bar2"}),
            {**BASE_LABELS, "foo": "bar", "foo2": "bar2"},
            id="multiple-labels",
        ),
        pytest.param(
            _svc({LABEL_SERVICE_NAME: "bad", LABEL_MANAGED_BY: "actor", "foo": "bar"}),
            {**BASE_LABELS, "foo": "bar"},
            id="evil-service",
        ),
        pytest.param(_svc(clusterIP=""), {**BASE_LABELS, LABEL_HEADLESS: ""}, id="empty-ip"),
    ],
)
def test_new_slice(svc: Any, want_labels: dict[str, str]) -> None:
    svc["metadata"]["annotations"] = {"not": "copied"}
    es = new_slice(svc, list(PORTS), "IPv4")
    assert es["metadata"] == {
        "generateName": "foo-",
        "namespace": "test",
        "labels": want_labels,
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": "foo",
                "uid": "test-foo",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert es["addressType"] == "IPv4"
    assert es["endpoints"] == []
    assert es["ports"] == PORTS


@pytest.mark.parametrize(
    ("name", "want"),
    [
        pytest.param("foo", "foo-", id="short"),
        pytest.param("a" * 252, "a" * 252 + "-", id="fits"),
        pytest.param("a" * 253, "a" * 253, id="too-long-for-dash"),
    ],
)
def test_slice_name_prefix(name: str, want: str) -> None:
    assert slice_name_prefix(name) == want


_S = BASE_LABELS


@pytest.mark.parametrize(
    ("slice_lbls", "svc_lbls", "cluster_ip", "want", "changed"),
    [
        pytest.param(None, None, "1.1.1.1", _S, False, id="svc-no-labels-empty-slice"),
        pytest.param(
            None,
            {"foo": "bar"},
            "None",
            {**_S, LABEL_HEADLESS: "", "foo": "bar"},
            True,
            id="headless-labels-empty-slice",
        ),
        pytest.param(None, None, "None", {**_S, LABEL_HEADLESS: ""}, False, id="headless-empty"),
        pytest.param(None, {LABEL_HEADLESS: ""}, "1.1.1.1", _S, False, id="svc-headless-label"),
        pytest.param(
            {**_S, LABEL_HEADLESS: ""},
            {LABEL_HEADLESS: ""},
            "1.1.1.1",
            _S,
            False,
            id="headless-to-clusterip-with-label",
        ),
        pytest.param(
            {**_S, LABEL_HEADLESS: ""}, None, "1.1.1.1", _S, False, id="headless-to-clusterip"
        ),
        pytest.param(
            {**_S, "foo": "bar"},
            {"foo": "bar"},
            "None",
            {**_S, LABEL_HEADLESS: "", "foo": "bar"},
            False,
            id="same-labels",
        ),
        pytest.param(
            None, {"foo": "bar"}, "1.1.1.1", {**_S, "foo": "bar"}, True, id="svc-labels-empty"
        ),
        pytest.param({**_S, "foo": "bar"}, None, "1.1.1.1", _S, True, id="slice-has-extra"),
        pytest.param(
            {**_S, LABEL_HEADLESS: ""}, None, "1.1.1.1", _S, False, id="slice-headless-svc-ip"
        ),
        pytest.param(
            _S, {"foo": "bar"}, "1.1.1.1", {**_S, "foo": "bar"}, True, id="reserved-and-svc"
        ),
        pytest.param(
            _S,
            {LABEL_SERVICE_NAME: "bad", LABEL_MANAGED_BY: "actor", LABEL_HEADLESS: "invalid"},
            "1.1.1.1",
            _S,
            False,
            id="evil-only-reserved",
        ),
        pytest.param(
            _S,
            {LABEL_SERVICE_NAME: "bad", LABEL_MANAGED_BY: "actor", "foo": "bar"},
            "1.1.1.1",
            {**_S, "foo": "bar"},
            True,
            id="evil-with-update",
        ),
    ],
)
def test_slice_labels(
    slice_lbls: Any, svc_lbls: Any, cluster_ip: str, want: Any, changed: bool
) -> None:
    es: dict[str, Any] = (
        {"metadata": {}} if slice_lbls is None else {"metadata": {"labels": slice_lbls}}
    )
    svc = _svc(svc_lbls, clusterIP=cluster_ip)
    assert slice_labels(es, svc) == (want, changed)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        pytest.param(None, None, True, id="both-nil"),
        pytest.param({}, None, False, id="y-nil"),
        pytest.param(None, {}, False, id="x-nil"),
        pytest.param({}, {}, True, id="both-empty"),
        pytest.param({"metadata": {"name": "foo"}}, {"metadata": {"name": "bar"}}, True, id="name"),
        pytest.param(
            {"metadata": {"labels": {"foo": "true"}}},
            {"metadata": {"labels": {"bar": "true"}}},
            False,
            id="labels",
        ),
        pytest.param(
            {"metadata": {"creationTimestamp": "1970-01-01T00:00:01Z"}},
            {"metadata": {"creationTimestamp": "1970-01-01T00:00:02Z"}},
            True,
            id="creation-time",
        ),
        pytest.param({"addressType": "IPv4"}, {"addressType": "IPv6"}, False, id="address-type"),
        pytest.param({"endpoints": None, "ports": []}, {}, True, id="nil-vs-empty-lists"),
        pytest.param(
            {"metadata": {"labels": {"k": ""}}}, {"metadata": {}}, True, id="empty-label-value"
        ),
        pytest.param(
            {"metadata": {"ownerReferences": [{"uid": "x"}]}}, {}, True, id="owners-ignored"
        ),
        pytest.param({"metadata": {"namespace": "a"}}, {}, False, id="namespace"),
    ],
)
def test_placeholder_equal(a: Any, b: Any, want: bool) -> None:
    assert placeholder_equal(a, b) is want


def test_placeholder_slice_is_empty() -> None:
    es = placeholder_slice(new_service(), "IPv6")
    assert (es["ports"], es["endpoints"], es["addressType"]) == ([], [], "IPv6")


@pytest.mark.parametrize(
    ("refs", "want"),
    [
        pytest.param([owner_ref(new_service())], True, id="controller-ref"),
        pytest.param([{**owner_ref(new_service()), "uid": "different"}], False, id="other-uid"),
        pytest.param([{**owner_ref(new_service()), "kind": "Pod"}], False, id="other-kind"),
        pytest.param([{**owner_ref(new_service()), "apiVersion": "v2"}], False, id="other-api"),
        pytest.param([{"uid": "x"}, owner_ref(new_service())], True, id="second-ref"),
        pytest.param([], False, id="no-refs"),
    ],
)
def test_owned_by(refs: Any, want: bool) -> None:
    assert owned_by({"metadata": {"ownerReferences": refs}}, new_service()) is want


@pytest.mark.parametrize(
    ("t", "want"),
    [
        pytest.param(datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC), "2026-01-02T03:04:05.123Z"),
        pytest.param(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        pytest.param(datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC), "2026-01-02T03:04:05.000001Z"),
        pytest.param(
            datetime(2026, 1, 2, 5, 4, 5, 500000, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.5Z",
            id="converted-to-utc",
        ),
        pytest.param(datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05Z", id="naive-is-utc"),
    ],
)
def test_format_trigger_time(t: datetime, want: str) -> None:
    assert format_rfc3339_nano(t) == want


def test_set_trigger_time_sets_and_removes() -> None:
    es: dict[str, Any] = {"metadata": {"annotations": {"keep": "me"}}}
    set_trigger_time(es, datetime(2026, 1, 2, tzinfo=UTC))
    assert es["metadata"]["annotations"] == {
        "keep": "me",
        ANNOTATION_TRIGGER_TIME: "2026-01-02T00:00:00Z",
    }
    set_trigger_time(es, None)
    assert es["metadata"]["annotations"] == {"keep": "me"}
    fresh: dict[str, Any] = {"metadata": {}}
    set_trigger_time(fresh, None)
    assert "annotations" not in fresh["metadata"]
