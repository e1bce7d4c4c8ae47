"""Polling for a condition in the asynchronous integration tests, in one place."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = 30.0,
    what: str = "",
    interval: float = 0.1,
) -> T:
    """Poll ``probe`` until it returns something truthy, and return that; fail after
    ``timeout`` seconds with the last value seen (what a failing test most needs)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or probe}; last: {last!r}")
