"""Explanations of why pods are (not) endpoints: one case per reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.endpointslice.explain import (
    MISSING_NODE,
    NO_IP,
    NO_IP_OF_FAMILY,
    NOT_READY,
    NOT_SELECTED,
    OTHER_NAMESPACE,
    PORT_UNRESOLVED,
    TERMINAL,
    TERMINATING,
    explain_service,
)

Obj = dict[str, Any]
NODES = {"n1": {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "a"}}}}


def svc(**spec: Any) -> Obj:
    base: Obj = {
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    base["spec"].update(spec)
    return base


def pod(name: str = "p", ns: str = "prod", **over: Any) -> Obj:
    p: Obj = {
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    for path, value in over.items():
        target = p
        *head, last = path.split("__")
        for part in head:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return p


@pytest.mark.parametrize(
    ("the_pod", "published", "traffic", "codes"),
    [
        pytest.param(pod(), True, True, [], id="healthy"),
        pytest.param(
            pod(metadata__labels={"app": "wbe"}), False, False, [NOT_SELECTED], id="selector-typo"
        ),
        pytest.param(pod(ns="staging"), False, False, [OTHER_NAMESPACE], id="other-namespace"),
        pytest.param(pod(status__phase="Succeeded"), False, False, [TERMINAL], id="terminal"),
        pytest.param(
            pod(status__podIP=None, status__podIPs=None), False, False, [NO_IP], id="no-ip"
        ),
        pytest.param(
            pod(status__podIP="fd00::1", status__podIPs=[{"ip": "fd00::1"}]),
            False,
            False,
            [NO_IP_OF_FAMILY],
            id="wrong-family",
        ),
        pytest.param(pod(spec__nodeName="ghost"), False, False, [MISSING_NODE], id="missing-node"),
        pytest.param(
            pod(
                status__conditions=[
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
                ]
            ),
            True,
            False,
            [NOT_READY],
            id="not-ready",
        ),
        pytest.param(
            pod(metadata__deletionTimestamp="2026-01-01T00:00:00Z"),
            True,
            False,
            [TERMINATING],
            id="terminating",
        ),
        pytest.param(
            pod(spec__containers=[{"name": "c", "ports": [{"containerPort": 8080}]}]),
            True,
            True,
            [PORT_UNRESOLVED],
            id="named-port-missing",
        ),
    ],
)
def test_reasons(the_pod: Obj, published: bool, traffic: bool, codes: list[str]) -> None:
    out = explain_service(svc(), [the_pod], NODES)
    (verdict,) = out.pods
    assert (verdict.published, verdict.receives_traffic) == (published, traffic)
    assert [r["code"] for r in verdict.reasons] == codes


def test_far_selector_misses_are_not_listed_and_placeholder_is_noted() -> None:
    unrelated = pod("db", metadata__labels={"tier": "db"})
    unrelated["metadata"]["labels"] = {"role": "db", "tier": "data"}
    s = svc(selector={"app": "web", "tier": "front"})
    out = explain_service(s, [unrelated], NODES)
    assert out.pods == []  # misses both terms: not a near miss
    assert any("placeholder" in n for n in out.notes)


def test_selector_gap_message_names_the_label() -> None:
    out = explain_service(svc(), [pod(metadata__labels={"app": "wbe"})], NODES)
    assert "app=web (pod has app=wbe)" in out.pods[0].reasons[0]["message"]


def test_no_selector_and_external_name() -> None:
    assert "no selector" in explain_service(svc(selector=None), [pod()], NODES).notes[0]
    ext = explain_service(svc(type="ExternalName"), [pod()], NODES)
    assert ext.pods == [] and "CNAME" in ext.notes[0]


def test_hints_explained() -> None:
    s = svc()
    s["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    out = explain_service(s, [pod()], NODES, hint_events=["Nodes only ready in one zone"])
    assert out.hints[0] == "Nodes only ready in one zone"
    assert "hints need ready nodes in at least 2 zones" in out.hints


def test_inputs_not_mutated() -> None:
    s, p = svc(), pod()
    before = copy.deepcopy((s, p, NODES))
    explain_service(s, [p], NODES)
    assert (s, p, NODES) == before
