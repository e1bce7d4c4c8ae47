"""Selecting pods through the label index gives what a namespace scan would."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api.selectors import parse_label_selector
from sliceplane.machinery.factory import NAMESPACE_INDEX
from sliceplane.machinery.informer import Informer, namespace_index, object_key
from sliceplane.machinery.podselect import ensure_label_index, select


class _NoLW:
    async def list(self, **_: Any) -> Any:
        raise AssertionError("not used")

    def watch(self, **_: Any) -> Any:
        raise AssertionError("not used")


def informer_with(pods: list[dict[str, Any]]) -> Informer:
    from sliceplane.machinery.clock import FakeClock

    inf = Informer(_NoLW(), FakeClock())
    inf.add_index(NAMESPACE_INDEX, namespace_index)
    ensure_label_index(inf)
    ensure_label_index(inf)  # idempotent: shared informers get it from several controllers
    for p in pods:
        inf.store._put(object_key(p), p)
    return inf


def pod(name: str, ns: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}}


PODS = [
    pod("a", "x", app="web", tier="fe"),
    pod("b", "x", app="web", tier="be"),
    pod("c", "x", app="db"),
    pod("d", "y", app="web", tier="fe"),
    pod("e", "x"),
]


@pytest.mark.parametrize(
    ("selector", "namespace", "names"),
    [
        pytest.param("app=web", "x", ["a", "b"], id="equality"),
        pytest.param("app=web,tier=fe", "x", ["a"], id="two-terms"),
        pytest.param("app=web,tier=fe", "y", ["d"], id="other-namespace"),
        pytest.param("app=nope", "x", [], id="no-match"),
        pytest.param("app in (web,db)", "x", ["a", "b", "c"], id="set-based-falls-back"),
        pytest.param("app=web,tier!=fe", "x", ["b"], id="mixed"),
    ],
)
def test_select_matches_a_scan(selector: str, namespace: str, names: list[str]) -> None:
    inf = informer_with(PODS)
    sel = parse_label_selector(selector)
    got = [p["metadata"]["name"] for p in select(inf, namespace, sel)]
    scan = [
        p["metadata"]["name"]
        for p in inf.store.by_index(NAMESPACE_INDEX, namespace)
        if sel.matches(p["metadata"]["labels"])
    ]
    assert got == names == scan


def test_index_follows_label_changes() -> None:
    inf = informer_with(PODS)
    moved = pod("a", "x", app="db")
    inf.store._put("x/a", moved)
    assert [p["metadata"]["name"] for p in select(inf, "x", parse_label_selector("app=web"))] == [
        "b"
    ]
