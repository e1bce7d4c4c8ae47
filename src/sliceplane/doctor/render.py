"""Reports as text (short, worst first, the cause on top) and as the stable JSON.

Text is produced as ``(style, line)`` pairs: the CLI prints them with rich styles on a
terminal and as plain lines when piped, so both show exactly the same words. The JSON
shape is documented in ``docs/doctor.md`` and only ever grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sliceplane.doctor.findings import SERVICE_NOT_FOUND, Report

Line = tuple[str, str]
"""(rich style, text)."""

STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}

MAX_EVIDENCE_LINES = 5


def _verdict(report: Report) -> str:
    if report.ok:
        return "OK: traffic can flow"
    return "NO TRAFFIC" if report.summary.ready_endpoints == 0 else "PROBLEM"


def _counts(report: Report) -> str:
    s = report.summary
    return (
        f"{s.selected_pods} pod(s) selected, {s.ready_pods} ready; {s.slices} slice(s), "
        f"{s.ready_endpoints} ready endpoint(s)"
    )


def service_lines(report: Report, *, verbose: bool = False) -> list[Line]:
    """The text report of one Service."""
    head = f"service {report.namespace}/{report.name}: {_verdict(report)}"
    lines: list[Line] = [("bold" if report.ok else "bold red", head)]
    if not any(f.code == SERVICE_NOT_FOUND for f in report.findings):
        lines.append(("dim", f"  {_counts(report)}"))
    for f in report.findings:
        lines.append((STYLES[f.severity], f"{f.severity.upper():<7} {f.code}: {f.message}"))
        limit = None if verbose else MAX_EVIDENCE_LINES
        shown = f.evidence[:limit]
        for ev in shown:
            lines.append(("", f"        {ev}"))
        if len(f.evidence) > len(shown):
            lines.append(("dim", f"        ... {len(f.evidence) - len(shown)} more (-o json)"))
        if f.fix:
            lines.append(("green", f"        fix: {f.fix}"))
        if f.objects:
            lines.append(("dim", f"        objects: {', '.join(f.objects)}"))
    return lines


def table_lines(reports: Sequence[Report]) -> list[Line]:
    """``doctor namespace``: one row per Service, worst findings named."""
    rows = [("NAMESPACE", "SERVICE", "STATUS", "READY", "FINDINGS")]
    for r in reports:
        status = r.worst() or "ok"
        ready = f"{r.summary.ready_endpoints}/{r.summary.selected_pods}"
        codes = [f.code for f in r.findings if f.severity != "info"]
        rows.append((r.namespace, r.name, status, ready, ",".join(codes) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out: list[Line] = []
    for i, row in enumerate(rows):
        text = "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row[:4])) + "  " + row[4]
        style = "bold" if i == 0 else STYLES.get(row[2], "")
        out.append((style, text.rstrip()))
    return out


def plain(lines: Sequence[Line]) -> str:
    return "\n".join(text for _, text in lines) + "\n"


def namespace_json(reports: Sequence[Report]) -> dict[str, Any]:
    return {"ok": all(r.ok for r in reports), "services": [r.to_dict() for r in reports]}
