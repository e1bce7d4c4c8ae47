"""Run every check over a snapshot and order the findings: the doctor's pure entry point.

``diagnose`` is what the CLI, the kubectl plugin and tests call; it never performs I/O,
so the verdict for a given set of objects is always the same.
"""

from __future__ import annotations

from collections.abc import Callable

from sliceplane.api.meta import is_deleting
from sliceplane.api.podstatus import is_ready
from sliceplane.doctor.context import DEFAULT_CLUSTER_DOMAIN, Context, build_context
from sliceplane.doctor.findings import Finding, Report, Summary, sort_findings
from sliceplane.doctor.headless import check_headless
from sliceplane.doctor.pods import (
    check_other_namespaces,
    check_readiness,
    check_selector,
    check_terminating,
)
from sliceplane.doctor.ports import check_ports
from sliceplane.doctor.service import (
    check_external_name,
    check_missing,
    check_no_ports,
    check_no_selector,
)
from sliceplane.doctor.slices import check_slices
from sliceplane.doctor.snapshot import Snapshot
from sliceplane.doctor.topology import check_topology

Check = Callable[[Context], list[Finding]]

CHECKS: tuple[Check, ...] = (
    check_no_selector,
    check_no_ports,
    check_other_namespaces,
    check_selector,
    check_readiness,
    check_terminating,
    check_ports,
    check_slices,
    check_topology,
    check_headless,
)


def _summary(ctx: Context) -> Summary:
    ready_addresses = {
        (es.get("addressType"), tuple(ep.get("addresses") or []))
        for es in ctx.snap.slices
        if not is_deleting(es)
        for ep in es.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready") is True
    }
    return Summary(
        selected_pods=len(ctx.selected),
        ready_pods=sum(1 for p in ctx.selected if is_ready(p)),
        slices=len(ctx.snap.slices),
        ready_endpoints=len(ready_addresses),
    )


def diagnose(
    snap: Snapshot,
    checks: tuple[Check, ...] = CHECKS,
    *,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
) -> Report:
    """Why the Service of ``snap`` gets (no) traffic: every finding, ordered.
    ``cluster_domain`` is the DNS zone the names of headless Services are under."""
    if snap.service is None:
        return Report(snap.namespace, snap.name, check_missing(snap))
    ctx = build_context(snap, cluster_domain)
    if (ctx.spec.get("type") or "") == "ExternalName":
        return Report(snap.namespace, snap.name, check_external_name(ctx))
    findings: list[Finding] = []
    for check in checks:
        findings += check(ctx)
    return Report(snap.namespace, snap.name, sort_findings(findings), _summary(ctx))
