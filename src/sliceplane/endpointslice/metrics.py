"""Prometheus metrics of the EndpointSlice controller, with upstream's names.

Subsystem ``endpoint_slice_controller`` as in ``k8s.io/endpointslice/metrics``; the gauges
are kept per Service (like upstream's metrics cache) so that their totals stay right as
Services change or go away. The totals are adjusted by each Service's change rather than
summed over every Service on every sync, which cost O(Services) per sync.
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
        self._totals = _ServiceFigures(0, 0, 0)
        self._td_counts: dict[str, int] = {}

    def record_service(
        self,
        key: str,
        *,
        endpoints: int,
        slices_actual: int,
        desired_slices: int,
        traffic_distribution: str | None,
    ) -> None:
        self._update(
            key, _ServiceFigures(endpoints, slices_actual, desired_slices), traffic_distribution
        )

    def forget_service(self, key: str) -> None:
        self._update(key, None, None)

    def _update(self, key: str, figures: _ServiceFigures | None, td: str | None) -> None:
        totals = self._totals
        old = self._per_service.pop(key, None)
        if old is not None:
            totals.endpoints -= old.endpoints
            totals.slices_actual -= old.slices_actual
            totals.slices_desired -= old.slices_desired
        if figures is not None:
            self._per_service[key] = figures
            totals.endpoints += figures.endpoints
            totals.slices_actual += figures.slices_actual
            totals.slices_desired += figures.slices_desired
        self.endpoints_desired.set(totals.endpoints)
        self.num_slices.set(totals.slices_actual)
        self.desired_slices.set(totals.slices_desired)
        old_td = self._td.pop(key, None)
        if td:
            self._td[key] = td
        if old_td == (td or None):
            return
        if old_td is not None:
            left = self._td_counts[old_td] - 1
            if left:
                self._td_counts[old_td] = left
                self.services_by_traffic_distribution.labels(old_td).set(left)
            else:  # no Service uses it any more: the series goes, as before
                del self._td_counts[old_td]
                self.services_by_traffic_distribution.remove(old_td)
        if td:
            n = self._td_counts[td] = self._td_counts.get(td, 0) + 1
            self.services_by_traffic_distribution.labels(td).set(n)


def desired_slice_count(endpoints_per_port_set: list[int], max_per_slice: int) -> int:
    """Σ ceil(n / max) over port sets, at least one (a placeholder)."""
    total = sum(math.ceil(n / max_per_slice) for n in endpoints_per_port_set if n)
    return max(1, total)
