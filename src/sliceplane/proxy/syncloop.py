"""When to sync: kube-proxy's BoundedFrequencyRunner (``pkg/proxy/runner``).

* a :meth:`SyncLoop.request` (a Service or slice changed) runs a sync as soon as
  ``min_sync_period`` has passed since the previous one — changes arriving meanwhile are
  batched into that one sync;
* with no requests, a sync still runs every ``sync_period``;
* a sync is a full one (rewrites everything, repairing whatever was changed behind the
  proxy's back) the first time and then once ``full_sync_period`` (kube-proxy: one hour)
  has passed since the last full one; the others are partial;
* a failed sync is retried after ``max(min_sync_period, 1s)`` (and is full: the proxier
  forces that).

Time comes from a :class:`~sliceplane.machinery.clock.Clock`, so tests drive it with a
fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sliceplane.machinery.clock import Clock

log = logging.getLogger(__name__)

FULL_SYNC_PERIOD = 3600.0
"""kube-proxy's ``proxyutil.FullSyncPeriod``: how often a sync rewrites everything."""


class SyncLoop:
    def __init__(
        self,
        sync: Callable[[bool], None],
        clock: Clock,
        *,
        min_sync_period: float,
        sync_period: float,
        full_sync_period: float = FULL_SYNC_PERIOD,
    ) -> None:
        self._sync = sync
        self._clock = clock
        self.min_sync_period = min_sync_period
        self.sync_period = sync_period
        self.full_sync_period = full_sync_period
        self._event = asyncio.Event()
        self.queued_at: float | None = None
        """When the oldest not-yet-applied request arrived (for /healthz)."""
        self.runs = 0
        self.failures = 0

    def request(self) -> None:
        if self.queued_at is None:
            self.queued_at = self._clock.now()
        self._event.set()

    async def _wait(self, timeout: float) -> bool:
        """True if a request arrived before ``timeout`` ran out."""
        if self._event.is_set():
            return True
        waiter = asyncio.ensure_future(self._event.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(max(0.0, timeout)))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (waiter, sleeper):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        return self._event.is_set()

    async def run(self) -> None:
        """Sync at once (full), then forever as described above; cancel to stop."""
        last_run = -float("inf")
        last_full = self._clock.now()
        retry_at: float | None = None
        while True:
            now = self._clock.now()
            if self.runs == 0:
                full = True
            else:
                deadline = last_run + self.sync_period
                if retry_at is not None:
                    deadline = min(deadline, retry_at)
                await self._wait(deadline - now)
                now = self._clock.now()
                gap = last_run + self.min_sync_period - now
                if gap > 0:
                    await self._clock.sleep(gap)
                    now = self._clock.now()
                full = now >= last_full + self.full_sync_period
            self._event.clear()
            queued = self.queued_at
            self.queued_at = None
            last_run = now
            if full:
                last_full = now  # the next full sync counts from this attempt
            self.runs += 1
            try:
                self._sync(full)
            except Exception as exc:  # logged; the proxier forces a full sync next
                self.failures += 1
                log.error("sync failed: %s", exc)
                retry_at = self._clock.now() + max(self.min_sync_period, 1.0)
                if self.queued_at is None:
                    self.queued_at = queued if queued is not None else now
                continue
            retry_at = None
