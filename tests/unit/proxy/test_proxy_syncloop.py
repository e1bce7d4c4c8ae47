"""The sync loop on a fake clock: batching by min-sync-period, periodic full syncs,
retries after failures (kube-proxy's BoundedFrequencyRunner behaviour)."""

from __future__ import annotations

import asyncio
import contextlib

from sliceplane.machinery.clock import FakeClock
from sliceplane.proxy.syncloop import SyncLoop


class Recorder:
    def __init__(self, clock: FakeClock, fail_first: int = 0) -> None:
        self.clock = clock
        self.calls: list[tuple[float, bool]] = []
        self.fail_first = fail_first

    def __call__(self, full: bool) -> None:
        self.calls.append((self.clock.now() - 1000.0, full))
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("boom")


async def _started(loop: SyncLoop, clock: FakeClock) -> asyncio.Task[None]:
    task = asyncio.create_task(loop.run())
    await clock.settle()
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_first_sync_full_then_requests_batched_by_min_period() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    loop = SyncLoop(rec, clock, min_sync_period=1.0, sync_period=30.0)
    task = await _started(loop, clock)
    assert rec.calls == [(0.0, True)]
    await clock.advance(0.2)
    for _ in range(5):  # a burst of changes inside the min period
        loop.request()
        await clock.advance(0.1)
    assert len(rec.calls) == 1  # still waiting for the min period to pass
    await clock.advance(1.0)
    assert rec.calls == [(0.0, True), (1.0, False)]  # one partial sync for the burst
    assert loop.queued_at is None
    await _stop(task)


async def test_periodic_syncs_and_hourly_full_sync() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    loop = SyncLoop(rec, clock, min_sync_period=1.0, sync_period=30.0, full_sync_period=90.0)
    task = await _started(loop, clock)
    await clock.advance(125.0)
    assert rec.calls == [(0.0, True), (30.0, False), (60.0, False), (90.0, True), (120.0, False)]
    await _stop(task)


async def test_request_after_quiet_period_runs_at_once() -> None:
    clock = FakeClock()
    rec = Recorder(clock)
    loop = SyncLoop(rec, clock, min_sync_period=1.0, sync_period=30.0)
    task = await _started(loop, clock)
    await clock.advance(10.0)
    loop.request()
    await clock.settle()
    assert rec.calls[-1] == (10.0, False)
    await _stop(task)


async def test_failure_is_retried_and_queued_time_kept() -> None:
    clock = FakeClock()
    rec = Recorder(clock, fail_first=2)
    loop = SyncLoop(rec, clock, min_sync_period=0.0, sync_period=30.0)
    task = await _started(loop, clock)
    assert loop.failures == 1 and loop.queued_at == 1000.0  # unhealthy clock starts now
    await clock.advance(1.0)
    assert loop.failures == 2
    await clock.advance(1.0)
    assert [t for t, _ in rec.calls] == [0.0, 1.0, 2.0]
    assert loop.queued_at is None
    await _stop(task)
