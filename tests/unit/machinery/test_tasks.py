from __future__ import annotations

import asyncio
import os
import signal

import pytest

from sliceplane.machinery.tasks import cancel_and_wait, run_until_signalled


def test_cancel_and_wait_stops_every_task_whatever_it_raises() -> None:
    order: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            order.append(name)

    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            order.append("fails")
            raise RuntimeError("boom") from None

    async def main() -> list[asyncio.Task[None]]:
        tasks = [
            asyncio.create_task(forever("a")),
            asyncio.create_task(fails_on_cancel()),
            asyncio.create_task(forever("b")),
        ]
        await asyncio.sleep(0)
        await cancel_and_wait(tasks)
        return tasks

    tasks = asyncio.run(main())
    assert all(t.done() for t in tasks)
    assert sorted(order) == ["a", "b", "fails"]


def test_cancel_and_wait_of_nothing_returns() -> None:
    asyncio.run(cancel_and_wait([]))


async def test_run_until_signalled_stops_the_work_on_sigterm_and_returns() -> None:
    unwound: list[str] = []

    async def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.Event().wait()
        finally:
            unwound.append("work")

    await run_until_signalled(work())  # returns instead of raising CancelledError
    assert unwound == ["work"]


async def test_run_until_signalled_lets_the_works_error_through() -> None:
    async def work() -> None:
        raise RuntimeError("lost the lease")

    with pytest.raises(RuntimeError, match="lost the lease"):
        await run_until_signalled(work())


async def test_run_until_signalled_passes_an_outside_cancel_on() -> None:
    unwound: list[str] = []

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            unwound.append("work")

    outer = asyncio.create_task(run_until_signalled(work()))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert unwound == ["work"]
