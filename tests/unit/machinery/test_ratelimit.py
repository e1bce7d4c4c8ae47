from __future__ import annotations

import pytest

from sliceplane.machinery.clock import FakeClock
from sliceplane.machinery.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
    endpointslice_controller_rate_limiter,
)


def test_exponential_doubles_then_caps() -> None:
    rl = ItemExponentialFailureRateLimiter(1.0, 10.0)
    assert [rl.when("a") for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    assert rl.num_requeues("a") == 6
    assert rl.when("b") == 1  # per item
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == 1


def test_exponential_survives_huge_failure_counts() -> None:
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(2000):
        delay = rl.when("x")
    assert delay == 1000.0


@pytest.mark.parametrize(("base", "max_delay"), [(0, 1), (2, 1), (-1, 5)])
def test_exponential_rejects_bad_parameters(base: float, max_delay: float) -> None:
    with pytest.raises(ValueError):
        ItemExponentialFailureRateLimiter(base, max_delay)


def test_bucket_allows_burst_then_spaces_at_qps() -> None:
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [rl.when(i) for i in range(3)] == [0, 0, 0]
    # Tokens go into debt: 1, 2, 3 tokens short at 10/s.
    assert [round(rl.when(i), 6) for i in range(3, 6)] == [0.1, 0.2, 0.3]
    clock.step(0.3)  # debt repaid exactly
    assert rl.when("n") == pytest.approx(0.1)
    clock.step(100)  # refills only up to burst
    assert [rl.when(i) for i in range(3)] == [0, 0, 0]
    assert rl.when("over") == pytest.approx(0.1)
    assert rl.num_requeues("over") == 0


def test_max_of_takes_strictest_and_forgets_everywhere() -> None:
    clock = FakeClock()
    exp = ItemExponentialFailureRateLimiter(1.0, 1000.0)
    rl = MaxOfRateLimiter(exp, BucketRateLimiter(qps=1, burst=1, clock=clock))
    assert rl.when("a") == 1.0  # exp says 1, bucket 0
    assert rl.when("b") == 1.0  # exp says 1, bucket 1
    assert rl.when("a") == 2.0  # exp 2, bucket 2
    assert rl.when("c") == 3.0  # exp 1, bucket 3
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0


def test_default_and_endpointslice_variants() -> None:
    clock = FakeClock()
    default = default_controller_rate_limiter(clock)
    assert [default.when("k") for _ in range(3)] == [0.005, 0.01, 0.02]
    eps = endpointslice_controller_rate_limiter(clock)
    assert [eps.when("k") for _ in range(12)][-3:] == [512.0, 1000.0, 1000.0]
