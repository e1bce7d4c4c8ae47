"""A watch client that never reads is dropped, not held forever (issue 16, part 2).

The server runs in-process on loopback (aiohttp's TestServer) so the test can watch the
store's subscriptions; the client is a raw socket with a tiny receive buffer that sends a
watch request and then never reads.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from sliceplane.apiserver.http import APIServerApp, ServerOptions
from sliceplane.apiserver.registry import Registry
from sliceplane.storage.store import Store


def endpoints(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": "default", "annotations": {"x": "y" * 60_000}},
    }


async def test_a_watch_that_never_reads_is_dropped(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.start()
    app = APIServerApp(
        Registry(store), ServerOptions(token=None, bookmark_interval=1e6, watch_write_timeout=0.5)
    )
    server = TestServer(app.make_app())
    await server.start_server()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (server.host, server.port))
        await loop.sock_sendall(
            sock,
            b"GET /api/v1/namespaces/default/endpoints?watch=true&timeoutSeconds=600 "
            b"HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        watchers = store._state("endpoints").watchers
        for _ in range(500):
            if watchers:
                break
            await asyncio.sleep(0.01)
        assert watchers, "the watch never subscribed"
        # Far more than the socket buffers hold: the handler's writes block.
        for i in range(300):
            await store.create("endpoints", ("default", f"e{i}"), endpoints(f"e{i}"))
            if not watchers:
                break
        for _ in range(1000):
            if not watchers:
                break
            await asyncio.sleep(0.01)
        assert not watchers, "the stalled watch still holds its subscription"
    finally:
        sock.close()
        await server.close()
        await store.stop()
