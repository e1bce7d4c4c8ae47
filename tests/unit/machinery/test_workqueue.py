from __future__ import annotations

import asyncio
import logging

import pytest

from sliceplane.machinery.clock import FakeClock
from sliceplane.machinery.ratelimit import ItemExponentialFailureRateLimiter
from sliceplane.machinery.workqueue import QueueShutDown, WorkQueue, run_workers


def make_queue(clock: FakeClock, base: float = 1.0, cap: float = 8.0) -> WorkQueue[str]:
    return WorkQueue(clock, ItemExponentialFailureRateLimiter(base, cap), name="test")


async def drain_now(q: WorkQueue[str]) -> list[str]:
    """Get and finish everything that is queued right now."""
    out = []
    while len(q):
        key = await q.get()
        out.append(key)
        q.done(key)
    return out


async def test_adds_are_deduplicated_and_fifo() -> None:
    q = make_queue(FakeClock())
    for key in ["a", "b", "a", "c", "b", "a"]:
        q.add(key)
    assert len(q) == 3
    assert await drain_now(q) == ["a", "b", "c"]


async def test_key_is_never_handed_out_twice_at_once() -> None:
    q = make_queue(FakeClock())
    q.add("a")
    first = await q.get()
    q.add("a")  # re-added while processing: must wait for done()
    assert len(q) == 0
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not second.done()
    assert q.is_processing("a") and q.is_waiting("a")
    q.done(first)
    assert await asyncio.wait_for(second, 1) == "a"
    q.done("a")
    assert len(q) == 0 and not q.is_waiting("a")


async def test_many_adds_during_processing_mean_one_rerun() -> None:
    q = make_queue(FakeClock())
    q.add("a")
    key = await q.get()
    for _ in range(5):
        q.add("a")
    q.done(key)
    assert await drain_now(q) == ["a"]


async def test_concurrent_workers_do_not_overlap_on_one_key() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    running: set[str] = set()
    overlaps: list[str] = []
    runs: list[str] = []

    async def sync(key: str) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        runs.append(key)
        await clock.sleep(1)
        running.discard(key)

    workers = asyncio.create_task(run_workers(q, 4, sync))
    q.add("a")
    q.add("b")
    await clock.settle()
    q.add("a")  # a is in flight: rerun after, never alongside
    q.add("a")
    await clock.advance(5)
    assert overlaps == []
    assert sorted(runs) == ["a", "a", "b"]
    q.shut_down()
    await asyncio.wait_for(workers, 1)


async def test_add_after_fires_in_deadline_order_on_the_clock() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("late", 3)
    q.add_after("early", 1)
    q.add_after("mid", 2)
    await clock.advance(0.5)
    assert len(q) == 0 and q.num_waiting() == 3
    await clock.advance(1.0)
    assert await drain_now(q) == ["early"]
    await clock.advance(5)
    assert await drain_now(q) == ["mid", "late"]


async def test_add_after_duplicates_keep_the_earliest_deadline() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add_after("k", 5)
    q.add_after("k", 2)  # earlier wins
    q.add_after("k", 10)  # later is ignored
    assert q.num_waiting() == 1
    await clock.advance(2)
    assert await drain_now(q) == ["k"]
    await clock.advance(20)
    assert len(q) == 0  # the superseded 5 s / 10 s adds never fire


async def test_add_after_of_a_queued_key_is_dropped_and_zero_delay_adds_now() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add("k")
    q.add_after("k", 1)
    assert q.num_waiting() == 0
    q.add_after("z", 0)
    assert await drain_now(q) == ["k", "z"]


async def test_add_after_while_processing_runs_again_after_delay() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add("k")
    key = await q.get()
    q.add_after("k", 1)
    q.done(key)
    assert len(q) == 0
    await clock.advance(1)
    assert await drain_now(q) == ["k"]


async def test_rate_limited_backoff_grows_caps_and_resets_on_forget() -> None:
    clock = FakeClock(start=0.0)
    q = make_queue(clock, base=1.0, cap=8.0)
    ready_at: list[float] = []
    for _ in range(6):
        start = clock.now()
        q.add_rate_limited("k")
        while not len(q):
            await clock.advance(0.5)
        ready_at.append(clock.now() - start)
        assert await drain_now(q) == ["k"]
    assert ready_at == [1, 2, 4, 8, 8, 8]
    assert q.num_requeues("k") == 6
    q.forget("k")
    assert q.num_requeues("k") == 0
    q.add_rate_limited("k")
    await clock.advance(1)
    assert await drain_now(q) == ["k"]


async def test_get_waits_and_shut_down_releases_waiters() -> None:
    q = make_queue(FakeClock())
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("x")
    assert await asyncio.wait_for(waiter, 1) == "x"
    blocked = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("y")
    assert await asyncio.wait_for(blocked, 1) == "y"
    idle = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shut_down()
    with pytest.raises(QueueShutDown):
        await asyncio.wait_for(idle, 1)


async def test_shut_down_is_immediate_and_ignores_adds() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add("queued")
    q.add_after("later", 1)
    q.shut_down()
    q.add("new")
    q.add_rate_limited("new")
    with pytest.raises(QueueShutDown):
        await q.get()
    await clock.advance(5)
    assert q.num_waiting() == 0


async def test_cancelled_getter_does_not_swallow_a_key() -> None:
    q = make_queue(FakeClock())
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add("a")  # wakes g1 ...
    g1.cancel()  # ... which is cancelled before it runs
    assert await asyncio.wait_for(g2, 1) == "a"


async def test_shut_down_with_drain_waits_for_in_flight_and_queued() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    finished: list[str] = []

    async def sync(key: str) -> None:
        await clock.sleep(2)
        finished.append(key)

    q.add("a")
    q.add("b")
    q.add("c")
    workers = asyncio.create_task(run_workers(q, 2, sync))
    await clock.settle()  # a and b in flight, c queued
    q.add("a")  # re-add during processing: dropped by the drain below
    drain = asyncio.create_task(q.shut_down_with_drain())
    await clock.settle()
    q.add("d")  # ignored: closing
    await clock.advance(1)
    assert not drain.done()
    await clock.advance(1)
    assert not drain.done()  # c still running
    await clock.advance(2)
    await asyncio.wait_for(drain, 1)
    assert sorted(finished) == ["a", "b", "c"]
    await asyncio.wait_for(workers, 1)


async def test_shut_down_cuts_a_drain_short() -> None:
    clock = FakeClock()
    q = make_queue(clock)
    q.add("a")
    await q.get()  # never done
    drain = asyncio.create_task(q.shut_down_with_drain())
    await clock.settle()
    assert not drain.done()
    q.shut_down()
    await asyncio.wait_for(drain, 1)


async def test_run_workers_retries_then_drops_after_max_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(start=0.0)
    q = make_queue(clock, base=1.0, cap=100.0)
    attempts: list[float] = []

    async def sync(key: str) -> None:
        attempts.append(clock.now())
        raise RuntimeError("boom")

    workers = asyncio.create_task(run_workers(q, 1, sync, max_retries=3))
    with caplog.at_level(logging.WARNING):
        q.add("k")
        await clock.advance(100)
    # first try, then retries after 1, 2, 4 s; then dropped and forgotten
    assert attempts == [0, 1, 3, 7]
    assert q.num_requeues("k") == 0
    assert "dropping 'k' after 3 retries" in caplog.text
    q.shut_down()
    await asyncio.wait_for(workers, 1)


async def test_run_workers_forgets_on_success() -> None:
    clock = FakeClock(start=0.0)
    q = make_queue(clock)
    outcomes = iter([RuntimeError("once"), None])

    async def sync(key: str) -> None:
        err = next(outcomes)
        if err:
            raise err

    workers = asyncio.create_task(run_workers(q, 1, sync))
    q.add("k")
    await clock.settle()
    assert q.num_requeues("k") == 1
    await clock.advance(1)
    assert q.num_requeues("k") == 0
    q.shut_down()
    await asyncio.wait_for(workers, 1)


async def test_cancelling_run_workers_marks_in_flight_keys_done() -> None:
    clock = FakeClock()
    q = make_queue(clock)

    async def sync(key: str) -> None:
        await clock.sleep(100)

    q.add("k")
    workers = asyncio.create_task(run_workers(q, 2, sync))
    await clock.settle()
    assert q.is_processing("k")
    workers.cancel()
    with pytest.raises(asyncio.CancelledError):
        await workers
    assert not q.is_processing("k")
