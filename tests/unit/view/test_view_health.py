"""The view's health: the doctor's findings over the objects the view hands it.

No slices are given here, so the doctor also reports them missing; the assertions are
about the root cause it puts first and the severity of the badge."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.view.health import Snapshot, service_findings, worst


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
            "error",  # some pods ready, but no slices published yet: still an error
            id="some-ready",
        ),
    ],
)
def test_findings(
    selector: dict[str, str], pods: list[dict[str, Any]], codes: list[str], severity: str | None
) -> None:
    findings = service_findings(Snapshot("shop", "web", svc(selector), pods, NODES, []))
    assert set(codes) <= {f.code for f in findings}
    assert worst(findings) == severity
    assert all(f.severity != "info" for f in findings)


def test_typo_finding_names_the_near_pod() -> None:
    finding, *_ = service_findings(
        Snapshot("shop", "web", svc({"app": "wbe"}), [pod("a", {"app": "web"})], NODES, [])
    )
    assert finding.code == "SelectorMatchesNoPods"
    assert "app=wbe" in finding.message
    assert any("pod has app=web" in line for line in finding.evidence)
