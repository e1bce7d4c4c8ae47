"""Injected time: the only way machinery code may read the time or wait.

Why: controllers are full of timers (batching delays, backoff, lease renewals, watch
reconnects). If they slept on the event loop's real clock, their tests would either be slow
or flaky. Every component therefore takes a :class:`Clock`, and tests drive a
:class:`FakeClock` by hand.

Promises of :class:`FakeClock`:

* time only moves when the test calls :meth:`FakeClock.advance` (or :meth:`FakeClock.step`);
* sleepers are woken strictly in deadline order (ties in the order they went to sleep),
  and the clock reads exactly the sleeper's deadline while it is being woken, so code that
  computes "now + delay" after waking sees consistent values;
* :meth:`FakeClock.advance` lets the event loop settle after each wake-up, so a loop that
  sleeps again (a retry every 2 s, say) fires as many times as fit in the advanced span.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of time for machinery code."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    def wall(self) -> datetime:
        """Current wall-clock time as an aware UTC datetime (for timestamps written to
        objects, such as a Lease's ``renewTime``)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock; ``<= 0`` yields to the loop once."""
        ...


class RealClock:
    """The process clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


_DEFAULT_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to; see the module docstring for its promises.

    ``settle_rounds`` bounds how many event-loop iterations :meth:`settle` runs while
    waiting for ready callbacks to drain; it is a safety net, not a tuning knob.
    """

    def __init__(
        self,
        start: float = 1000.0,
        *,
        epoch: datetime = _DEFAULT_EPOCH,
        settle_rounds: int = 1000,
    ) -> None:
        self._now = start
        self._start = start
        self._epoch = epoch
        self._settle_rounds = settle_rounds
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    # -- Clock ---------------------------------------------------------------------------

    def now(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._epoch + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    # -- test controls -------------------------------------------------------------------

    def pending_sleepers(self) -> int:
        """How many sleeps are still waiting (cancelled sleeps are not counted)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def next_deadline(self) -> float | None:
        """Earliest deadline among live sleepers, or ``None``."""
        live = [d for d, _, f in self._sleepers if not f.done()]
        return min(live) if live else None

    def step(self, seconds: float) -> None:
        """Move time forward synchronously, resolving due sleepers in deadline order.

        The woken coroutines only run once the caller yields to the loop; prefer
        :meth:`advance` in async tests.
        """
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not fut.done():
                fut.set_result(None)
        self._now = target

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking each due sleeper in deadline order and
        letting the loop settle after each one (so sleeps started by woken code inside the
        span also fire)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + seconds
        await self.settle()
        while True:
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            fut.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    async def settle(self) -> None:
        """Yield to the event loop until no callbacks are ready (bounded by
        ``settle_rounds``)."""
        loop = asyncio.get_running_loop()
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)
            ready = getattr(loop, "_ready", None)
            if ready is not None and len(ready) == 0:
                # One more pass: a callback may have just scheduled another.
                await asyncio.sleep(0)
                if len(ready) == 0:
                    return
