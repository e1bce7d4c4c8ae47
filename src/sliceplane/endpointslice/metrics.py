"""Prometheus metrics of the EndpointSlice controller, with upstream's names.

Subsystem ``endpoint_slice_controller`` as in ``k8s.io/endpointslice/metrics``; the gauges
are kept per Service (like upstream's metrics cache) so that their totals stay right as
Services change or go away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_SUB = "endpoint_slice_controller"
_BUCKETS = tuple(float(2**i) for i in range(1, 16))  # 2 … 32768, like upstream


@dataclass(slots=True)
class _ServiceFigures:
    endpoints: int
    slices_actual: int
    slices_desired: int


class EndpointSliceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.endpoints_added = Histogram(
            "endpoints_added_per_sync",
            "Number of endpoints added on each Service sync",
            subsystem=_SUB,
            buckets=_BUCKETS,
            registry=r,
        )
        self.endpoints_removed = Histogram(
            "endpoints_removed_per_sync",
            "Number of endpoints removed on each Service sync",
            subsystem=_SUB,
            buckets=_BUCKETS,
            registry=r,
        )
        self.endpoints_desired = Gauge(
            "endpoints_desired", "Number of endpoints desired", subsystem=_SUB, registry=r
        )
        self.num_slices = Gauge(
            "num_endpoint_slices", "Number of EndpointSlices", subsystem=_SUB, registry=r
        )
        self.desired_slices = Gauge(
            "desired_endpoint_slices",
            "Number of EndpointSlices that would exist with perfect endpoint allocation",
            subsystem=_SUB,
            registry=r,
        )
        self.changes = Counter(
            "changes",
            "Number of EndpointSlice changes",
            ["operation"],
            subsystem=_SUB,
            registry=r,
        )
        self.slices_changed_per_sync = Histogram(
            "endpointslices_changed_per_sync",
            "Number of EndpointSlices changed on each Service sync",
            ["topology", "traffic_distribution"],
            subsystem=_SUB,
            registry=r,
        )
        self.syncs = Counter(
            "syncs", "Number of EndpointSlice syncs", ["result"], subsystem=_SUB, registry=r
        )
        self.services_by_traffic_distribution = Gauge(
            "services_count_by_traffic_distribution",
            "Number of Services using some specific trafficDistribution",
            ["traffic_distribution"],
            subsystem=_SUB,
            registry=r,
        )
        self._per_service: dict[str, _ServiceFigures] = {}
        self._td: dict[str, str] = {}

    def record_service(
        self,
        key: str,
        *,
        endpoints: int,
        slices_actual: int,
        desired_slices: int,
        traffic_distribution: str | None,
    ) -> None:
        self._per_service[key] = _ServiceFigures(endpoints, slices_actual, desired_slices)
        if traffic_distribution:
            self._td[key] = traffic_distribution
        else:
            self._td.pop(key, None)
        self._refresh()

    def forget_service(self, key: str) -> None:
        self._per_service.pop(key, None)
        self._td.pop(key, None)
        self._refresh()

    def _refresh(self) -> None:
        figs = self._per_service.values()
        self.endpoints_desired.set(sum(f.endpoints for f in figs))
        self.num_slices.set(sum(f.slices_actual for f in figs))
        self.desired_slices.set(sum(f.slices_desired for f in figs))
        counts: dict[str, int] = {}
        for td in self._td.values():
            counts[td] = counts.get(td, 0) + 1
        self.services_by_traffic_distribution.clear()
        for td, n in counts.items():
            self.services_by_traffic_distribution.labels(td).set(n)


def desired_slice_count(endpoints_per_port_set: list[int], max_per_slice: int) -> int:
    """Σ ceil(n / max) over port sets, at least one (a placeholder)."""
    total = sum(math.ceil(n / max_per_slice) for n in endpoints_per_port_set if n)
    return max(1, total)
