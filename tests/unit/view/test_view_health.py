"""The view's health seam: the doctor's codes and severities for the common failures."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.view.health import ServiceObjects, service_findings, worst


def pod(name: str, labels: dict[str, str], ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": name, "labels": labels},
        "spec": {"nodeName": "n1"},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def svc(selector: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": "web"},
        "spec": {"selector": selector, "ipFamilies": ["IPv4"]},
    }


NODES = [{"metadata": {"name": "n1"}}]


@pytest.mark.parametrize(
    ("selector", "pods", "codes", "severity"),
    [
        pytest.param({"app": "web"}, [pod("a", {"app": "web"})], [], None, id="healthy"),
        pytest.param(
            {"app": "wbe"},
            [pod("a", {"app": "web"})],
            ["SelectorMatchesNoPods"],
            "error",
            id="selector-typo",
        ),
        pytest.param(
            {"app": "web"},
            [pod("a", {"app": "web"}, ready=False)],
            ["PodsNotReady"],
            "error",
            id="none-ready",
        ),
        pytest.param(
            {"app": "web"},
            [pod("a", {"app": "web"}, ready=False), pod("b", {"app": "web"})],
            ["PodsNotReady"],
            "warning",
            id="some-ready",
        ),
    ],
)
def test_findings(
    selector: dict[str, str], pods: list[dict[str, Any]], codes: list[str], severity: str | None
) -> None:
    findings = service_findings(ServiceObjects(svc(selector), pods, NODES, []))
    assert [f.code for f in findings] == codes
    assert worst(findings) == severity


def test_typo_finding_names_the_near_pod() -> None:
    (finding,) = service_findings(
        ServiceObjects(svc({"app": "wbe"}), [pod("a", {"app": "web"})], NODES, [])
    )
    assert "pod a" in finding.message and "app=web" in finding.message
    assert "pod/shop/a" in finding.objects
