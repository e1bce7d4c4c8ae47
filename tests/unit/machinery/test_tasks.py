from __future__ import annotations

import asyncio

from sliceplane.machinery.tasks import cancel_and_wait


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
