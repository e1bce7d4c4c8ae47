"""What the doctor reports: findings with a stable code, a severity, evidence and a fix.

Codes are part of the ``-o json`` contract (``docs/doctor.md``): programs match on them,
so a code is never renamed; new ones may be added. Severities mean:

* ``error``: traffic does not flow, or flows somewhere it should not;
* ``warning``: traffic flows, but not as the Service asks (some pods left out, hints
  ignored, legacy Endpoints behind);
* ``info``: facts worth knowing (an ExternalName, the names DNS answers).

Findings are ordered by severity and then by how close a code is to the root cause
(``CODE_ORDER``): a selector typo is printed before the empty slices it leads to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sliceplane.api.meta import meta_of

Severity = Literal["error", "warning", "info"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

SERVICE_NOT_FOUND = "ServiceNotFound"
EXTERNAL_NAME_SERVICE = "ExternalNameService"
NO_SELECTOR_NO_ENDPOINTS = "NoSelectorNoEndpoints"
PODS_IN_OTHER_NAMESPACE = "PodsInOtherNamespace"
SELECTOR_MATCHES_NO_PODS = "SelectorMatchesNoPods"
PODS_NOT_READY = "PodsNotReady"
PODS_TERMINATING = "PodsTerminating"
NAMED_TARGET_PORT_MISSING = "NamedTargetPortMissing"
PROTOCOL_MISMATCH = "ProtocolMismatch"
TARGET_PORT_NOT_EXPOSED = "TargetPortNotExposed"
NO_PORTS = "NoPorts"
SLICES_MISSING = "SlicesMissing"
SLICE_NOT_MANAGED = "SliceNotManaged"
SLICES_STALE = "SlicesStale"
ENDPOINTS_STALE = "EndpointsStale"
NODE_WITHOUT_ZONE = "NodeWithoutZone"
HINTS_DROPPED = "HintsDropped"
TRAFFIC_DISTRIBUTION_INEFFECTIVE = "TrafficDistributionIneffective"
SUBDOMAIN_MISMATCH = "SubdomainMismatch"
HEADLESS_DNS_NAMES = "HeadlessDnsNames"

CODE_ORDER: tuple[str, ...] = (
    SERVICE_NOT_FOUND,
    EXTERNAL_NAME_SERVICE,
    NO_SELECTOR_NO_ENDPOINTS,
    PODS_IN_OTHER_NAMESPACE,
    SELECTOR_MATCHES_NO_PODS,
    PODS_NOT_READY,
    PODS_TERMINATING,
    NAMED_TARGET_PORT_MISSING,
    PROTOCOL_MISMATCH,
    TARGET_PORT_NOT_EXPOSED,
    NO_PORTS,
    SLICES_MISSING,
    SLICE_NOT_MANAGED,
    SLICES_STALE,
    ENDPOINTS_STALE,
    NODE_WITHOUT_ZONE,
    HINTS_DROPPED,
    TRAFFIC_DISTRIBUTION_INEFFECTIVE,
    SUBDOMAIN_MISMATCH,
    HEADLESS_DNS_NAMES,
)
"""Every code, most causal first: the order findings of one severity are printed in."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or fact) about a Service, with what proves it and what to do."""

    code: str
    severity: Severity
    message: str
    """One sentence: what is wrong, in the user's terms."""
    objects: tuple[str, ...] = ()
    """The objects involved, as ``kind/namespace/name`` (``node/name`` for nodes)."""
    fix: str = ""
    """What to do about it, usually a command to run."""
    evidence: tuple[str, ...] = ()
    """Supporting lines: per-pod conditions, probe messages, endpoint differences."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "objects": list(self.objects),
            "fix": self.fix,
            "evidence": list(self.evidence),
        }


def ref(kind: str, obj: Mapping[str, Any]) -> str:
    """``kind/namespace/name`` of a listed object (``kind/name`` when cluster-scoped)."""
    meta = meta_of(obj)
    ns = meta.get("namespace") or ""
    name = meta.get("name") or ""
    return f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """By severity, then cause before consequence, then as produced."""
    rank = {code: i for i, code in enumerate(CODE_ORDER)}
    indexed = list(enumerate(findings))
    indexed.sort(
        key=lambda p: (SEVERITIES.index(p[1].severity), rank.get(p[1].code, len(rank)), p[0])
    )
    return [f for _, f in indexed]


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts that frame the findings (not a verdict)."""

    selected_pods: int = 0
    """Pods of the Service's namespace its selector matches."""
    ready_pods: int = 0
    slices: int = 0
    """Live EndpointSlices labelled with the Service's name."""
    ready_endpoints: int = 0
    """Ready endpoints in those slices: what kube-proxy sends new connections to."""

    def to_dict(self) -> dict[str, int]:
        return {
            "selectedPods": self.selected_pods,
            "readyPods": self.ready_pods,
            "slices": self.slices,
            "readyEndpoints": self.ready_endpoints,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The doctor's answer for one Service."""

    namespace: str
    name: str
    findings: Sequence[Finding] = ()
    summary: Summary = field(default_factory=Summary)

    @property
    def ok(self) -> bool:
        """True when nothing of severity ``error`` was found: traffic can flow."""
        return not any(f.severity == "error" for f in self.findings)

    def worst(self) -> Severity | None:
        for sev in SEVERITIES:
            if any(f.severity == sev for f in self.findings):
                return sev
        return None

    def to_dict(self) -> dict[str, Any]:
        """The documented ``-o json`` shape (``docs/doctor.md``)."""
        return {
            "service": {"namespace": self.namespace, "name": self.name},
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
            "summary": self.summary.to_dict(),
        }
