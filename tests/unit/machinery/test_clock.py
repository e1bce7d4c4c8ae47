from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sliceplane.machinery.clock import Clock, FakeClock, RealClock


def test_both_clocks_satisfy_protocol() -> None:
    assert isinstance(RealClock(), Clock)
    assert isinstance(FakeClock(), Clock)


def test_wall_follows_monotonic() -> None:
    clock = FakeClock(start=10.0, epoch=datetime(2025, 5, 1, tzinfo=UTC))
    clock.step(90.5)
    assert clock.now() == 100.5
    assert clock.wall() == datetime(2025, 5, 1, 0, 1, 30, 500000, tzinfo=UTC)


async def test_sleepers_wake_in_deadline_order() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await clock.sleep(delay)
        woke.append((name, clock.now() - 1000.0))

    tasks = [asyncio.create_task(sleeper(n, d)) for n, d in [("c", 3), ("a", 1), ("b", 2)]]
    await clock.settle()
    assert clock.pending_sleepers() == 3
    await clock.advance(2.5)
    assert woke == [("a", 1.0), ("b", 2.0)]
    await clock.advance(10)
    assert woke == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    assert clock.now() == 1012.5
    await asyncio.gather(*tasks)


async def test_repeating_sleeper_fires_for_every_period_in_span() -> None:
    clock = FakeClock(start=0.0)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(2)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await clock.advance(9)
    assert ticks == [2, 4, 6, 8]
    task.cancel()
    await clock.advance(10)
    assert clock.pending_sleepers() == 0


async def test_zero_sleep_does_not_wait_for_advance() -> None:
    clock = FakeClock()
    await asyncio.wait_for(clock.sleep(0), timeout=1)


def test_time_does_not_go_backwards() -> None:
    with pytest.raises(ValueError):
        FakeClock().step(-1)
