"""The shared metrics/health HTTP server, over real HTTP on loopback."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from sliceplane.machinery.serving import serve


class Refused(Exception):
    pass


async def hello(_: web.Request) -> web.Response:
    return web.Response(text="hello")


async def test_serves_the_given_routes() -> None:
    runner = await serve("127.0.0.1:0", "--flag", {"/hello": hello}, error=Refused)
    try:
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{host}:{port}/hello") as resp:
                assert (resp.status, await resp.text()) == (200, "hello")
            async with session.get(f"http://{host}:{port}/other") as resp:
                assert resp.status == 404
    finally:
        await runner.cleanup()


async def test_a_port_in_use_is_one_line_naming_the_flag() -> None:
    first = await serve("127.0.0.1:0", "--flag", {"/hello": hello}, error=Refused)
    try:
        port = first.addresses[0][1]
        with pytest.raises(Refused) as err:
            await serve(f"127.0.0.1:{port}", "--flag", {}, error=Refused)
        assert str(err.value).startswith(f"--flag 127.0.0.1:{port}: ")
        assert "\n" not in str(err.value)
    finally:
        await first.cleanup()


async def test_a_bad_address_is_refused_before_binding() -> None:
    with pytest.raises(Refused, match="--flag: 'nowhere' is not HOST:PORT"):
        await serve("nowhere", "--flag", {}, error=Refused)
