"""Rate limiters that decide how long a failed work item waits before it is retried.

Two concerns are combined, as in client-go's controller default:

* per item, exponential backoff: a key that keeps failing waits ``base * 2**n`` (capped),
  so one broken object cannot hot-loop a worker;
* overall, a token bucket: a burst of failures across many keys is smoothed to ``qps``,
  so a flapping API server is not hammered by every key at once.

A limiter answers :meth:`RateLimiter.when` ("how long should this item wait now?"; asking
counts as a failure), :meth:`RateLimiter.forget` (the item succeeded or was dropped: reset
its history) and :meth:`RateLimiter.num_requeues`. Items are any hashable value; limiters
never look inside them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

from sliceplane.machinery.clock import Clock


class RateLimiter(Protocol):
    """What the work queue needs from a rate limiter."""

    def when(self, item: Hashable) -> float:
        """Record a failure of ``item`` and return how many seconds it should wait."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded or was given up on)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of ``item`` have been recorded since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-item backoff: the n-th consecutive failure (counting from 0) waits
    ``min(base * 2**n, max_delay)`` seconds."""

    def __init__(self, base: float, max_delay: float) -> None:
        if base <= 0 or max_delay < base:
            raise ValueError("need 0 < base <= max_delay")
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        # Stop doubling once past the cap: 2**n for large n would be a huge int and the
        # float product could overflow to inf.
        if n > 64:
            return self.max_delay
        return min(self.base * float(2**n), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A global token bucket on the injected clock (``golang.org/x/time/rate`` reservation
    semantics): the bucket holds up to ``burst`` tokens refilled at ``qps`` per second; each
    :meth:`when` takes one token, going into debt if none is left, and the returned delay
    is how long until that debt is repaid. It does not track items."""

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """Combines limiters: waits as long as the strictest one says. Every limiter is
    consulted on each :meth:`when` so all of them record the failure."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("need at least one limiter")
        self.limiters: Sequence[RateLimiter] = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def controller_rate_limiter(
    clock: Clock,
    *,
    base: float,
    max_delay: float = 1000.0,
    qps: float = 10.0,
    burst: int = 100,
) -> MaxOfRateLimiter:
    """Per-item exponential backoff combined with a global token bucket."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base, max_delay),
        BucketRateLimiter(qps, burst, clock),
    )


def default_controller_rate_limiter(clock: Clock) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: 5 ms doubling to 1000 s per item,
    10 qps with a burst of 100 overall."""
    return controller_rate_limiter(clock, base=0.005)


def endpointslice_controller_rate_limiter(clock: Clock) -> MaxOfRateLimiter:
    """The EndpointSlice controller's variant: backoff starts at 1 s (a failed sync is
    usually a conflict with a lagging cache, so retrying within milliseconds is wasted
    work), capped at 1000 s, with the same 10 qps / 100 burst bucket."""
    return controller_rate_limiter(clock, base=1.0)
