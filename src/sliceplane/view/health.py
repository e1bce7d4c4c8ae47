"""Health of a Service for the view: its badge and its findings.

SEAM: the findings are meant to be the doctor's (``sliceplane.doctor``: pure checks over a
snapshot of live objects). Until that package is on main, :func:`service_findings` derives a
small subset from :mod:`sliceplane.endpointslice.explain` with the doctor's codes and
severities, so the page, the badges and the tests already have their final shape; replacing
the body of :func:`service_findings` with a call to the doctor is the whole switch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sliceplane.endpointslice.explain import NOT_READY, NOT_SELECTED, explain_service

Obj = dict[str, Any]
Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Finding:
    """What the view shows of a doctor finding."""

    code: str
    severity: Severity
    message: str
    objects: tuple[str, ...] = ()
    fix: str = ""


@dataclass(frozen=True, slots=True)
class ServiceObjects:
    """The live objects one Service's health is judged from (all read-only)."""

    service: Obj
    pods: Sequence[Obj]
    """Every pod of the Service's namespace."""
    nodes: Sequence[Obj]
    slices: Sequence[Obj]
    endpoints: Obj | None = None
    events: Sequence[Obj] = ()
    elsewhere_pods: Sequence[Obj] = ()
    """Pods of other namespaces whose labels match the selector."""


def worst(findings: Sequence[Finding]) -> Severity | None:
    for sev in SEVERITIES:
        if any(f.severity == sev for f in findings):
            return sev
    return None


def _selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def service_findings(objs: ServiceObjects) -> list[Finding]:
    """The findings for one Service, most severe first (the doctor's seam; see above)."""
    service = objs.service
    spec = service.get("spec") or {}
    meta = service.get("metadata") or {}
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    selector = spec.get("selector") or {}
    if spec.get("type") == "ExternalName" or not selector:
        return []
    nodes = {str((n.get("metadata") or {}).get("name")): n for n in objs.nodes}
    explanation = explain_service(service, [*objs.pods, *objs.elsewhere_pods], nodes)
    selected = [
        v
        for v in explanation.pods
        if v.namespace == ns and not any(r["code"] == NOT_SELECTED for r in v.reasons)
    ]
    out: list[Finding] = []
    if not selected:
        near = [v for v in explanation.pods if v.namespace == ns]
        hint = ""
        if near:
            gap = next(r["message"] for r in near[0].reasons if r["code"] == NOT_SELECTED)
            hint = f"; pod {near[0].name}: {gap}"
        out.append(
            Finding(
                "SelectorMatchesNoPods",
                "error",
                f"selector {_selector_text(selector)} matches no pod in namespace {ns}{hint}",
                (f"service/{ns}/{name}", *(f"pod/{ns}/{v.name}" for v in near[:10])),
                f"kubectl -n {ns} get pods --show-labels",
            )
        )
        return out
    not_ready = [v for v in selected if any(r["code"] == NOT_READY for r in v.reasons)]
    if not_ready:
        severity: Severity = "error" if len(not_ready) == len(selected) else "warning"
        out.append(
            Finding(
                "PodsNotReady",
                severity,
                f"{len(not_ready)} of {len(selected)} selected pods are not ready",
                tuple(f"pod/{ns}/{v.name}" for v in not_ready[:10]),
                f"kubectl -n {ns} describe pod {not_ready[0].name}",
            )
        )
    return out
