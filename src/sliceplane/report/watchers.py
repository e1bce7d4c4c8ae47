"""Real watch connections that count what the API server sends them.

Each :class:`WatchCounter` is one HTTP watch (as one kube-proxy's informer is one watch of
every EndpointSlice in the cluster), read as raw bytes: the JSON lines are counted, never
decoded, so a thousand watchers cost the measuring process little more than the reading.
The counters share one connection pool without a connection limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from sliceplane.client.client import Connection


def session_for(conn: Connection) -> aiohttp.ClientSession:
    """A session with ``conn``'s credentials and no limit on concurrent connections."""
    context: ssl.SSLContext | bool = False
    if conn.server.startswith("https"):
        context = ssl.create_default_context(cafile=conn.ca_file)
        if not conn.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if conn.cert_file and conn.key_file:
            context.load_cert_chain(conn.cert_file, conn.key_file)
    headers = {"Accept": "application/json", "User-Agent": "sliceplane-report/0.1"}
    if conn.token:
        headers["Authorization"] = f"Bearer {conn.token}"
    return aiohttp.ClientSession(
        headers=headers,
        connector=aiohttp.TCPConnector(ssl=context, limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
    )


@dataclass(eq=False)
class WatchCounter:
    """One watch of ``path`` from ``resource_version``; counts event lines and bytes."""

    session: aiohttp.ClientSession
    url: str
    resource_version: str
    bytes: int = 0
    events: int = 0
    types: Counter[str] = field(default_factory=Counter)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _response: aiohttp.ClientResponse | None = None

    async def open(self) -> None:
        """Start the watch; returns once the server has answered (the watch is set up)."""
        params = {"watch": "true", "resourceVersion": self.resource_version}
        resp = await self.session.get(
            self.url, params=params, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)
        )
        if resp.status >= 400:
            body = await resp.text()
            resp.release()
            raise RuntimeError(f"watch {self.url}: HTTP {resp.status}: {body[:200]}")
        self._response = resp
        self._task = asyncio.create_task(self._read(resp))

    async def _read(self, resp: aiohttp.ClientResponse) -> None:
        buf = b""
        async for chunk in resp.content.iter_any():
            buf += chunk
            start = 0
            while (nl := buf.find(b"\n", start)) >= 0:
                line = buf[start:nl]
                start = nl + 1
                if line.strip():
                    self.bytes += len(line) + 1
                    self.events += 1
                    # The type is the first field: {"type":"MODIFIED","object":...}
                    head = line[:40]
                    for t in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
                        if t.encode() in head:
                            self.types[t] += 1
                            break
                    self._changed.set()
            buf = buf[start:]

    async def wait_for(self, events: int, timeout: float) -> None:
        """Until at least ``events`` events arrived (raises TimeoutError after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while self.events < events:
                self._changed.clear()
                if self.events >= events:
                    break
                if self._task is not None and self._task.done():
                    raise RuntimeError(f"watch {self.url} ended after {self.events} events")
                await self._changed.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._response is not None:
            self._response.close()


async def open_all(counters: list[WatchCounter], concurrency: int = 50) -> None:
    """Open every watch, ``concurrency`` at a time (a burst of a thousand connects would
    only measure the accept queue)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(c: WatchCounter) -> None:
        async with gate:
            await c.open()

    await asyncio.gather(*(one(c) for c in counters))


async def close_all(counters: list[WatchCounter]) -> None:
    await asyncio.gather(*(c.close() for c in counters))
