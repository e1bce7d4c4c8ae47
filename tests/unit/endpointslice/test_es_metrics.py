"""The EndpointSlice controller's gauges: totals kept by each Service's change equal the
totals recomputed over every Service."""

from __future__ import annotations

import random

from sliceplane.endpointslice.metrics import EndpointSliceMetrics

SUB = "endpoint_slice_controller"


def gauge(m: EndpointSliceMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(f"{SUB}_{name}", labels or None)


def test_totals_follow_changes_and_forgotten_services() -> None:
    m = EndpointSliceMetrics()
    m.record_service(
        "a/x", endpoints=10, slices_actual=2, desired_slices=1, traffic_distribution=None
    )
    m.record_service(
        "a/y", endpoints=5, slices_actual=1, desired_slices=1, traffic_distribution="PreferClose"
    )
    m.record_service(
        "a/x", endpoints=3, slices_actual=1, desired_slices=1, traffic_distribution="PreferClose"
    )
    assert gauge(m, "endpoints_desired") == 8
    assert gauge(m, "num_endpoint_slices") == 2
    assert gauge(m, "desired_endpoint_slices") == 2
    assert (
        gauge(m, "services_count_by_traffic_distribution", traffic_distribution="PreferClose") == 2
    )
    m.forget_service("a/y")
    m.record_service(
        "a/x", endpoints=3, slices_actual=1, desired_slices=1, traffic_distribution=None
    )
    m.forget_service("a/nope")  # never recorded: nothing changes
    assert gauge(m, "endpoints_desired") == 3
    # No Service uses PreferClose any more: its series is gone, not 0.
    assert (
        gauge(m, "services_count_by_traffic_distribution", traffic_distribution="PreferClose")
        is None
    )


def test_totals_agree_with_a_recount() -> None:
    rng = random.Random(3)
    m = EndpointSliceMetrics()
    figures: dict[str, tuple[int, int, int, str | None]] = {}
    tds = [None, "", "PreferClose", "PreferSameZone"]
    for _ in range(2000):
        key = f"ns/s{rng.randrange(30)}"
        if rng.random() < 0.2:
            m.forget_service(key)
            figures.pop(key, None)
        else:
            f = (rng.randrange(200), rng.randrange(5), rng.randrange(5), rng.choice(tds))
            m.record_service(
                key,
                endpoints=f[0],
                slices_actual=f[1],
                desired_slices=f[2],
                traffic_distribution=f[3],
            )
            figures[key] = f
        assert gauge(m, "endpoints_desired") == sum(f[0] for f in figures.values())
        assert gauge(m, "num_endpoint_slices") == sum(f[1] for f in figures.values())
        assert gauge(m, "desired_endpoint_slices") == sum(f[2] for f in figures.values())
        for td in ("PreferClose", "PreferSameZone"):
            n = sum(1 for f in figures.values() if f[3] == td)
            got = gauge(m, "services_count_by_traffic_distribution", traffic_distribution=td)
            assert got == (n or None)
