"""``Client.watch`` cuts a watch stream into events however the bytes arrive: several
events in one chunk, an event split over chunks, blank lines, no final newline."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestServer

from sliceplane.client.client import Client, Connection


async def test_events_are_cut_at_newlines_whatever_the_chunks() -> None:
    events = [
        {"type": "ADDED", "object": {"metadata": {"name": f"p{i}"}, "data": "x" * (i * 37)}}
        for i in range(40)
    ]
    stream = b"".join(json.dumps(e).encode() + b"\n" for e in events[:-1])
    stream += b"\n  \n" + json.dumps(events[-1]).encode()  # blank lines; no final newline
    sizes = [1, 7, 500, 3, 2048, 64, 1]  # cut points cycle through these

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        pos, i = 0, 0
        while pos < len(stream):
            step = sizes[i % len(sizes)]
            await resp.write(stream[pos : pos + step])
            await asyncio.sleep(0)
            pos, i = pos + step, i + 1
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/pods", handler)
    server = TestServer(app)
    await server.start_server()
    client = Client(Connection(server=str(server.make_url("")).rstrip("/")))
    try:
        got = [(ev.type, ev.object) async for ev in client.watch("pods")]
    finally:
        await client.close()
        await server.close()
    assert got == [(e["type"], e["object"]) for e in events]
