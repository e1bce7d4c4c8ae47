"""Stopping a group of asyncio tasks the one way every component stops them.

Cancel all of them first (so none keeps running while another is being waited for), then
wait for each to finish. Whatever they raise on the way out, their own cancellation
included, is swallowed: they are being stopped, and one failing to stop cleanly must not
keep the others running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task in ``tasks``, then wait for each one to end."""
    pending = list(tasks)
    for t in pending:
        t.cancel()
    for t in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
