"""Health of a Service for the view: its badge and its findings, from the doctor.

The view does not judge Services itself: it hands the doctor's pure checks
(:func:`sliceplane.doctor.diagnose.diagnose`) a snapshot built from the informer caches it
already holds, so the page, ``sliceplane doctor`` and the kubectl plugin always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sliceplane.api.meta import Obj, name_of, namespace_of
from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import SEVERITIES, Finding, Severity
from sliceplane.doctor.snapshot import Snapshot

__all__ = ["Finding", "ServiceObjects", "Severity", "service_findings", "worst"]


@dataclass(frozen=True, slots=True)
class ServiceObjects:
    """The live objects one Service's health is judged from (all read-only)."""

    service: Obj
    pods: Sequence[Obj]
    """The pods of the Service's namespace that can matter to it."""
    nodes: Sequence[Obj]
    slices: Sequence[Obj]
    endpoints: Obj | None = None
    events: Sequence[Obj] = ()
    elsewhere_pods: Sequence[Obj] = ()
    """Pods of other namespaces whose labels match the selector."""
    services: Sequence[Obj] = ()


def worst(findings: Sequence[Finding]) -> Severity | None:
    for sev in SEVERITIES:
        if any(f.severity == sev for f in findings):
            return sev
    return None


def snapshot(objs: ServiceObjects) -> Snapshot:
    return Snapshot(
        namespace=namespace_of(objs.service),
        name=name_of(objs.service),
        service=objs.service,
        pods=objs.pods,
        nodes=objs.nodes,
        slices=objs.slices,
        endpoints=objs.endpoints,
        events=objs.events,
        services=objs.services,
        elsewhere_pods=objs.elsewhere_pods,
    )


def service_findings(objs: ServiceObjects) -> list[Finding]:
    """The doctor's findings for one Service, most severe first; ``info`` facts are left
    to the doctor's own output, the page shows what needs attention."""
    report = diagnose(snapshot(objs))
    return [f for f in report.findings if f.severity != "info"]
