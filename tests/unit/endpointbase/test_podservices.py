"""The label indexes give what a namespace scan would: pods for a selector (``select``) and
Services for a pod (``ServiceSelectors.services_for_pod``)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sliceplane.api.labelparser import parse_label_selector
from sliceplane.endpointbase.podservices import ServiceSelectors
from sliceplane.machinery.factory import NAMESPACE_INDEX
from sliceplane.machinery.informer import Informer, namespace_index, object_key
from sliceplane.machinery.labelindex import ensure_label_index, select


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


# -- ServiceSelectors: pod -> Services through the selector index ------------------------


def service(name: str, ns: str, selector: dict[str, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def service_informer(services: list[dict[str, Any]]) -> Informer:
    from sliceplane.machinery.clock import FakeClock

    inf = Informer(_NoLW(), FakeClock())
    inf.add_index(NAMESPACE_INDEX, namespace_index)
    for s in services:
        inf.store._put(object_key(s), s)
    return inf


SERVICES = [
    service("web", "x", {"app": "web"}),
    service("web-fe", "x", {"app": "web", "tier": "fe"}),
    service("db", "x", {"app": "db"}),
    service("web-y", "y", {"app": "web"}),
    service("headless-external", "x", None),
    service("empty", "x", {}),
    service("prefixed", "x", {"example.com/team": "a"}),
    service("blank-value", "x", {"canary": ""}),
]


def brute_force(services: list[dict[str, Any]], p: dict[str, Any]) -> set[str]:
    """What the index must answer: every Service of the namespace, matched one by one."""
    meta = p["metadata"]
    out = set()
    for s in services:
        sel = s["spec"].get("selector")
        if s["metadata"]["namespace"] != meta["namespace"] or not sel:
            continue
        if all(meta.get("labels", {}).get(k) == v for k, v in sel.items()):
            out.add(object_key(s))
    return out


@pytest.mark.parametrize(
    ("labels", "ns", "expected"),
    [
        pytest.param({"app": "web"}, "x", {"x/web"}, id="one-pair"),
        pytest.param({"app": "web", "tier": "fe"}, "x", {"x/web", "x/web-fe"}, id="two-services"),
        pytest.param({"tier": "fe"}, "x", set(), id="partial-match-is-no-match"),
        pytest.param(
            {"app": "web", "tier": "be", "extra": "1"}, "x", {"x/web"}, id="extra-labels-ok"
        ),
        pytest.param({"app": "web"}, "y", {"y/web-y"}, id="own-namespace-only"),
        pytest.param({"app": "web"}, "z", set(), id="namespace-without-services"),
        pytest.param({}, "x", set(), id="no-labels"),
        pytest.param({"app": "cache"}, "x", set(), id="value-mismatch"),
        pytest.param({"example.com/team": "a"}, "x", {"x/prefixed"}, id="prefixed-key"),
        pytest.param({"canary": ""}, "x", {"x/blank-value"}, id="empty-value-matches-empty"),
        pytest.param({"canary": "yes"}, "x", set(), id="empty-value-needs-empty"),
    ],
)
def test_services_for_pod(labels: dict[str, str], ns: str, expected: set[str]) -> None:
    """No or an empty selector selects nothing; every pair of a selector must be on the pod."""
    selectors = ServiceSelectors(service_informer(SERVICES))
    p = {"metadata": {"name": "p", "namespace": ns, "labels": labels}}
    assert selectors.services_for_pod(p) == expected == brute_force(SERVICES, p)


def test_services_for_pod_follows_selector_changes_and_deletes() -> None:
    inf = service_informer(SERVICES)
    selectors = ServiceSelectors(inf)
    ServiceSelectors(inf)  # a second controller on the shared informer: index added once
    p = {"metadata": {"name": "p", "namespace": "x", "labels": {"app": "db"}}}
    assert selectors.services_for_pod(p) == {"x/db"}
    inf.store._put("x/web", service("web", "x", {"app": "db"}))
    assert selectors.services_for_pod(p) == {"x/db", "x/web"}
    inf.store._put("x/web", service("web", "x", None))  # selector removed
    inf.store._put("x/empty", service("empty", "x", {"app": "db", "tier": "be"}))
    assert selectors.services_for_pod(p) == {"x/db"}
    inf.store._delete("x/db")
    assert selectors.services_for_pod(p) == set()


def test_services_for_pod_agrees_with_a_scan() -> None:
    """Random selectors and pods over a few keys and values: the index never differs from
    matching every Service."""
    rng = random.Random(5)
    keys, values = ["app", "tier", "track", "example.com/team"], ["a", "b", ""]

    def labels(n: int) -> dict[str, str]:
        return {k: rng.choice(values) for k in rng.sample(keys, n)}

    services = [
        service(f"s{i}", rng.choice(["x", "y"]), labels(rng.randint(0, 3)) if i % 7 else None)
        for i in range(60)
    ]
    selectors = ServiceSelectors(service_informer(services))
    for i in range(300):
        p = {
            "metadata": {
                "name": f"p{i}",
                "namespace": rng.choice(["x", "y"]),
                "labels": labels(rng.randint(0, 4)),
            }
        }
        assert selectors.services_for_pod(p) == brute_force(services, p)
