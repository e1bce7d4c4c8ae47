"""Slow clients (issue 16, part 2): slowloris connections neither starve other clients nor
stay forever; the first request's headers have a deadline as in kube-apiserver."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from harness import ServerProcess

from sliceplane.apiserver import httperrors


@pytest.fixture
async def tiny_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, int]]:
    """An app behind :class:`StatusAppRunner` with a half-second header deadline."""
    monkeypatch.setattr(httperrors.StatusRequestHandler, "read_header_timeout", 0.5)

    async def hello(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", hello)
    runner = httperrors.StatusAppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    port = server.sockets[0].getsockname()[1]
    try:
        yield "127.0.0.1", port
    finally:
        await runner.cleanup()


async def test_a_connection_without_headers_is_closed(tiny_server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*tiny_server)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the rest
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 30) == b""  # closed by the server
    writer.close()


async def test_a_prompt_client_keeps_its_connection(tiny_server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*tiny_server)
    try:
        for _ in range(2):
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(
                next(
                    ln.split(b":")[1]
                    for ln in head.split(b"\r\n")
                    if ln.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            await asyncio.sleep(1.0)  # past the header deadline: a served connection stays
    finally:
        writer.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("slow"), ["--insecure-http"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(signal.SIGTERM)


async def test_hundreds_of_slowloris_connections_do_not_starve_others(
    server: ServerProcess,
) -> None:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    slow: list[asyncio.StreamWriter] = []
    stop = asyncio.Event()

    async def dribble(writer: asyncio.StreamWriter) -> None:
        writer.write(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
        while not stop.is_set():
            try:
                writer.write(b"X")  # one byte of a header that never ends
                await writer.drain()
            except OSError:
                return
            await asyncio.sleep(0.5)

    for _ in range(300):
        _, writer = await asyncio.open_connection(host, int(port))
        slow.append(writer)
    tasks = [asyncio.create_task(dribble(w)) for w in slow]
    try:
        async with aiohttp.ClientSession(server.url) as http:
            for _ in range(50):
                async with http.get("/api/v1/namespaces") as resp:
                    assert resp.status == 200
                    assert (await resp.json())["kind"] == "NamespaceList"
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for w in slow:
            w.close()
