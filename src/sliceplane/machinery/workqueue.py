"""An asyncio work queue with client-go's contract, and the standard controller loop.

Controllers are level-triggered: event handlers only say "key K needs a look" and a worker
later reconciles K from the informer caches. The queue makes that cheap and safe:

* **stingy** - a key added many times while it waits is processed once;
* **exclusive** - a key is never handed to two workers at the same time;
* **sticky** - a key added while a worker holds it is processed again after
  :meth:`WorkQueue.done`, so no change is lost;
* **fair** - keys come out in the order they were first added;
* **delayed adds** - :meth:`WorkQueue.add_after` (batching, periodic resync) on the
  injected clock; for a key with several pending delays the earliest wins, and a delayed
  add of a key that is already waiting is dropped (it will be processed sooner anyway);
* **rate-limited adds** - :meth:`WorkQueue.add_rate_limited` asks the rate limiter how long
  the key should back off; :meth:`WorkQueue.forget` resets that history;
* **shutdown** - :meth:`WorkQueue.shut_down` makes :meth:`WorkQueue.get` raise
  :class:`QueueShutDown` at once; :meth:`WorkQueue.shut_down_with_drain` stops new adds, lets
  workers take what was already queued, and returns once every key handed out is done.

The queue lives on one event loop and is not thread-safe; no locks are needed because no
method awaits while it updates its state.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from sliceplane.machinery.clock import Clock
from sliceplane.machinery.ratelimit import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class QueueShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down; workers should exit."""


class WorkQueue(Generic[K]):
    """See the module docstring for the contract.

    Every key returned by :meth:`get` must be passed to :meth:`done` exactly once, also
    when processing fails. Controllers should not hand-roll that loop: use
    :func:`run_workers`.
    """

    def __init__(
        self,
        clock: Clock,
        rate_limiter: RateLimiter | None = None,
        *,
        name: str = "",
    ) -> None:
        self.name = name
        self._clock = clock
        self._limiter: RateLimiter = rate_limiter or default_controller_rate_limiter(clock)
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._draining = False
        self._idle: asyncio.Event | None = None
        # Delayed adds: key -> deadline, plus a lazily-pruned heap in deadline order.
        self._waiting: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._timer: asyncio.Task[None] | None = None
        self._timer_deadline: float | None = None

    # -- basic queue ---------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Mark ``key`` as needing processing. Ignored after shutdown."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # re-queued by done()
        self._queue.append(key)
        self._wake_one_getter()

    def __len__(self) -> int:
        """Keys waiting to be handed out (not counting keys being processed or delayed).
        Informational only: do not gate adds or gets on it."""
        return len(self._queue)

    def len(self) -> int:
        """Same as ``len(queue)``."""
        return len(self._queue)

    async def get(self) -> K:
        """Wait for a key and mark it as being processed.

        Raises :class:`QueueShutDown` when the queue is shut down (immediately) or drained
        (once nothing queued is left). Cancellation while waiting loses nothing.
        """
        while True:
            if self._shutting_down and (not self._draining or not self._queue):
                raise QueueShutDown(self.name)
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                return key
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # If we were woken and cancelled in the same breath, pass the wake-up on.
                if fut.done() and not fut.cancelled():
                    self._wake_one_getter()
                raise
            finally:
                try:
                    self._getters.remove(fut)
                except ValueError:
                    pass

    def done(self, key: K) -> None:
        """Finish processing ``key``; if it was added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one_getter()
        if not self._processing and self._idle is not None:
            self._idle.set()

    def is_shutting_down(self) -> bool:
        return self._shutting_down

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def is_waiting(self, key: K) -> bool:
        """``key`` is queued (or will be re-queued after ``done``)."""
        return key in self._dirty

    def _wake_one_getter(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _wake_all_getters(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    # -- delayed adds --------------------------------------------------------------------

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed on the clock."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        if key in self._dirty:
            return  # already due to be processed, sooner than this
        deadline = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current <= deadline:
            return
        self._waiting[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), key))
        if self._timer_deadline is None or deadline < self._timer_deadline:
            self._restart_timer(deadline)

    def num_waiting(self) -> int:
        """Keys with a pending delayed add."""
        return len(self._waiting)

    def _restart_timer(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = asyncio.get_running_loop().create_task(self._timer_loop())

    async def _timer_loop(self) -> None:
        while not self._shutting_down:
            self._pop_due()
            if not self._heap:
                break
            deadline = self._heap[0][0]
            self._timer_deadline = deadline
            await self._clock.sleep(deadline - self._clock.now())
        self._timer_deadline = None
        self._timer = None

    def _pop_due(self) -> None:
        now = self._clock.now()
        while self._heap:
            deadline, _, key = self._heap[0]
            if self._waiting.get(key) != deadline:
                heapq.heappop(self._heap)  # superseded by an earlier deadline
                continue
            if deadline > now:
                return
            heapq.heappop(self._heap)
            del self._waiting[key]
            self.add(key)

    # -- rate limiting -------------------------------------------------------------------

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the backoff the rate limiter prescribes (records a failure)."""
        if self._shutting_down:
            return
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Clear the rate limiter's failure history for ``key``; still call :meth:`done`."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    # -- shutdown ------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Stop at once: adds are ignored, delayed adds dropped, ``get`` raises.

        Keys already handed out may still be passed to :meth:`done`. Safe to call more than
        once, and during :meth:`shut_down_with_drain` to stop waiting for the drain.
        """
        self._shutting_down = True
        self._draining = False
        self._stop_timer()
        self._wake_all_getters()
        if self._idle is not None:
            self._idle.set()

    async def shut_down_with_drain(self) -> None:
        """Stop accepting adds, let workers take the keys already queued, and return once
        every handed-out key is done (or :meth:`shut_down` is called).

        Keys re-added while being processed are not re-run: the queue is closing. Workers
        must keep calling :meth:`done`, or this waits forever.
        """
        if self._shutting_down and not self._draining:
            return
        self._shutting_down = True
        self._draining = True
        self._stop_timer()
        # Keys dirtied during processing will not be re-queued.
        self._dirty.intersection_update(self._queue)
        self._wake_all_getters()
        while self._draining and (self._queue or self._processing):
            self._idle = asyncio.Event()
            await self._idle.wait()
        self._draining = False
        self._wake_all_getters()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = None
        self._waiting.clear()
        self._heap.clear()


async def run_workers(
    queue: WorkQueue[K],
    workers: int,
    sync: Callable[[K], Awaitable[None]],
    *,
    max_retries: int = 15,
    logger: logging.Logger | None = None,
) -> None:
    """Run ``workers`` concurrent copies of the standard controller loop until the queue
    shuts down (or this coroutine is cancelled, which cancels the workers).

    For each key: ``await sync(key)``; on success forget its failure history; on an
    exception requeue it rate-limited while it has failed fewer than ``max_retries``
    times, otherwise log, forget and drop it (the next event for the object brings it
    back). ``done`` is always called, including when a worker is cancelled mid-sync.
    """
    if workers < 1:
        raise ValueError("need at least one worker")
    lg = logger or log

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                await sync(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if queue.num_requeues(key) < max_retries:
                    lg.info("sync %r failed, retrying: %s", key, exc)
                    queue.add_rate_limited(key)
                else:
                    lg.warning("dropping %r after %d retries: %s", key, max_retries, exc)
                    queue.forget(key)
            else:
                queue.forget(key)
            finally:
                queue.done(key)

    tasks = [asyncio.create_task(worker(), name=f"{queue.name}-worker-{i}") for i in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
