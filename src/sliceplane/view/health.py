"""Health of a Service for the view: its badge and its findings, from the doctor.

The view does not judge Services itself: it hands the doctor's pure checks
(:func:`sliceplane.doctor.diagnose.diagnose`) a snapshot built from the informer caches it
already holds, so the page, ``sliceplane doctor`` and the kubectl plugin always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import SEVERITIES, Finding, Severity
from sliceplane.doctor.snapshot import Snapshot

__all__ = ["Finding", "Severity", "Snapshot", "service_findings", "worst"]


def worst(findings: Sequence[Finding]) -> Severity | None:
    for sev in SEVERITIES:
        if any(f.severity == sev for f in findings):
            return sev
    return None


def service_findings(snap: Snapshot) -> list[Finding]:
    """The doctor's findings for one Service, most severe first; ``info`` facts are left
    to the doctor's own output, the page shows what needs attention."""
    report = diagnose(snap)
    return [f for f in report.findings if f.severity != "info"]
