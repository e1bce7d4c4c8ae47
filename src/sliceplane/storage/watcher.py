"""One subscription to the store's committed events, with a bounded queue.

The store offers every committed event to its watchers on the event loop, in revision
order, as part of the commit; a watcher only queues what its namespace (if any) asks for.
A consumer that falls too far behind is closed with ``overflowed`` set and must relist,
as upstream's watch cache does to slow watchers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from sliceplane.storage.objects import Event


class Watcher:
    """A subscription to one resource's committed events (optionally one namespace).

    The queue is bounded: a consumer that falls ``max_backlog`` events behind is closed
    with an overflow marker, and must relist, like upstream's watch cache does to slow
    watchers.
    """

    def __init__(
        self,
        unsubscribe: Callable[[Watcher], None],
        resource: str | None,
        namespace: str | None,
        backlog: int,
    ) -> None:
        self._unsubscribe = unsubscribe
        self.resource = resource
        self.namespace = namespace
        self._queue: deque[Event] = deque()
        self._backlog = backlog
        self._wakeup = asyncio.Event()
        self.closed = False
        self.overflowed = False

    def _offer(self, ev: Event) -> None:
        if self.closed:
            return
        if self.namespace is not None and ev.key[0] != self.namespace:
            return
        if len(self._queue) >= self._backlog:
            self.overflowed = True
            self.close()
            return
        self._queue.append(ev)
        self._wakeup.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wakeup.set()
            self._unsubscribe(self)

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None on timeout or when closed with nothing left."""
        while not self._queue:
            if self.closed:
                return None
            self._wakeup.clear()
            try:
                # asyncio.timeout, not wait_for: no task for every wait of every watcher.
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        return self._queue.popleft()

    def drain(self) -> list[Event]:
        """Everything queued right now (no waiting)."""
        out = list(self._queue)
        self._queue.clear()
        return out

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            ev = await self.next()
            if ev is None:
                return
            yield ev
