"""Client-side request throttling: kube-controller-manager's ``--kube-api-qps/--kube-api-burst``.

Every upstream controller talks to the API server through a client whose token bucket
allows ``qps`` requests per second with bursts of ``burst`` (20 and 30 by default in
kube-controller-manager). That limit is not only politeness: while a controller's sync
waits for a token, further changes to the same Service pile up in the work queue and are
written together by the next sync, which is a large part of why upstream writes few
EndpointSlices under churn. sliceplane's controllers use the same bucket so that they put
the same bounded load on a shared API server and coalesce in the same way.

The bucket uses reservation semantics (as ``golang.org/x/time/rate``'s ``Wait``): each
request takes a token now, going into debt when none is left, and waits until the debt is
repaid, so concurrent callers are served in arrival order at exactly ``qps``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEFAULT_QPS = 20.0
"""kube-controller-manager's default ``--kube-api-qps``."""
DEFAULT_BURST = 30
"""kube-controller-manager's default ``--kube-api-burst``."""
_EPSILON = 1e-9
"""Tokens short of one that still count as one (the refill after a sleep of exactly the
computed delay may fall short by rounding)."""


class Throttle:
    """A token bucket of ``burst`` tokens refilled at ``qps`` per second."""

    def __init__(self, qps: float, burst: int, now: Callable[[], float] = time.monotonic) -> None:
        if qps <= 0:
            raise ValueError("qps must be greater than 0")
        if burst < 1:
            raise ValueError("burst must be at least 1 when qps is set")
        self.qps = qps
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._last = now()
        self.waited = 0.0
        """Seconds callers have spent waiting for a token, in total (for metrics)."""

    def _refill(self) -> None:
        now = self._now()
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now

    def reserve(self) -> float:
        """Take one token; return how long the caller must wait before using it."""
        self._refill()
        self._tokens -= 1.0
        delay = 0.0 if self._tokens >= 0 else -self._tokens / self.qps
        self.waited += delay
        return delay

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def free_in(self) -> float:
        """Seconds until a token is free (0.0: one is free now), taking none."""
        self._refill()
        missing = 1.0 - self._tokens
        return 0.0 if missing <= _EPSILON else missing / self.qps

    async def ready(self) -> float:
        """Wait, taking no token, until a request could go without waiting; return the
        seconds waited. For a caller about to decide what to send: deciding after the
        wait rather than before it, its request carries what changed meanwhile (callers
        that reserved before it are still served first)."""
        waited = 0.0
        while (delay := self.free_in()) > 0:
            await asyncio.sleep(delay)
            waited += delay
        return waited


def throttle_for(qps: float, burst: int) -> Throttle | None:
    """The bucket a controller's client gets for the upstream flag values: a negative
    ``qps`` turns throttling off; 0 means the default, as kube-controller-manager's
    defaulting does for both flags."""
    if qps < 0:
        return None
    return Throttle(qps or DEFAULT_QPS, burst or DEFAULT_BURST)
