"""Stopping asyncio tasks the one way every component stops them.

:func:`cancel_and_wait` stops a group: cancel all of them first (so none keeps running while
another is being waited for), then wait for each to finish. Whatever they raise on the way
out, their own cancellation included, is swallowed: they are being stopped, and one failing
to stop cleanly must not keep the others running.

:func:`run_until_signalled` is how a command runs its main loop: SIGTERM or SIGINT cancels
the work, waits for it to unwind (its ``finally`` blocks release leases, close listeners)
and returns, so the process exits 0 instead of dying by the signal's default action.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task in ``tasks``, then wait for each one to end."""
    pending = list(tasks)
    for t in pending:
        t.cancel()
    for t in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_until_signalled(work: Awaitable[Any] | None = None) -> None:
    """Await ``work`` (forever when ``None``) until it ends or SIGTERM/SIGINT arrives.

    A signal cancels ``work``, waits for it to finish unwinding and returns normally; an
    exception ``work`` raises, or a cancellation from outside, propagates as usual.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work if work is not None else asyncio.Event().wait())
    signalled = False

    def stop() -> None:
        nonlocal signalled
        signalled = True
        task.cancel()

    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    try:
        await task
    except asyncio.CancelledError:
        if not signalled:
            raise
    finally:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
