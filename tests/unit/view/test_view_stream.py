"""Which changes reach which page, and the fragment diff the stream sends."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.view.render import fragment
from sliceplane.view.state import Page
from sliceplane.view.stream import diff, matters_to, sse


def obj(ns: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name, "labels": labels or {}}}


SLICE_OF_WEB = obj("shop", "web-x", {"kubernetes.io/service-name": "web"})
SLICE_OF_API = obj("shop", "api-x", {"kubernetes.io/service-name": "api"})


@pytest.mark.parametrize(
    ("page", "resource", "o", "expected"),
    [
        pytest.param(Page("shop", "web"), "endpointslices", SLICE_OF_WEB, True, id="own-slice"),
        pytest.param(Page("shop", "web"), "endpointslices", SLICE_OF_API, False, id="other-slice"),
        pytest.param(Page("shop"), "endpointslices", SLICE_OF_API, True, id="ns-page-any-slice"),
        pytest.param(Page("shop", "web"), "endpoints", obj("shop", "web"), True, id="own-ep"),
        pytest.param(Page("shop", "web"), "endpoints", obj("shop", "api"), False, id="other-ep"),
        pytest.param(Page("shop", "web"), "services", obj("shop", "api"), False, id="other-svc"),
        pytest.param(Page("shop", "web"), "pods", obj("shop", "p"), True, id="pod-same-ns"),
        pytest.param(Page("shop", "web"), "pods", obj("dev", "p"), True, id="pod-other-ns"),
        pytest.param(Page("shop"), "pods", obj("dev", "p"), False, id="ns-page-other-ns-pod"),
        pytest.param(Page("shop", "web"), "events", obj("dev", "e"), False, id="event-other-ns"),
        pytest.param(Page("shop", "web"), "nodes", obj("", "n1"), True, id="node-everywhere"),
        pytest.param(Page(), "namespaces", obj("", "dev"), True, id="index-namespaces"),
        pytest.param(Page("shop"), "namespaces", obj("", "dev"), False, id="ns-page-namespaces"),
        pytest.param(Page(), "events", obj("shop", "e"), False, id="index-no-events"),
    ],
)
def test_matters_to(page: Page, resource: str, o: dict[str, Any], expected: bool) -> None:
    assert matters_to(page, resource, o) is expected


def test_diff_sends_only_changes_and_removals() -> None:
    sent: dict[str, str] = {}
    a, b = fragment("a", "p", "div", "1"), fragment("b", "p", "div", "2")
    first = diff(sent, [a, b])
    assert [op["id"] for op in first] == ["a", "b"]
    assert diff(sent, [a, b]) == []  # nothing changed, nothing sent
    a2 = fragment("a", "p", "div", "changed")
    ops = diff(sent, [a2])
    assert ops == [
        {"id": "b", "remove": True},
        {"id": "a", "parent": "p", "html": a2.html, "h": a2.hash},
    ]
    assert sent == {"a": a2.hash}


def test_sse_framing_splits_lines() -> None:
    assert sse("frags", "x\ny") == b"event: frags\ndata: x\ndata: y\n\n"
