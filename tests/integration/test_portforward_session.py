"""The port-forward SPDY session against a real TCP server on loopback, driven frame by
frame: what kubectl never sends (streams without headers, clients without request IDs,
pings) is answered as the kubelet and spdystream answer it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sliceplane.apiserver.streaming import spdy
from sliceplane.apiserver.streaming.portforward import PortForwardSession

pytestmark = pytest.mark.asyncio


class Peer:
    """The client end: frames in and out of a running session."""

    def __init__(self, port: int) -> None:
        self.to_server: asyncio.Queue[bytes] = asyncio.Queue()
        self.from_server: asyncio.Queue[bytes] = asyncio.Queue()
        self.writer = spdy.FrameWriter()
        self.reader = spdy.FrameReader()
        self.frames: list[spdy.Frame] = []

        async def dial(p: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection("127.0.0.1", p)

        self.session = PortForwardSession(
            self.from_server.put, dial, lambda p: f"127.0.0.1:{p}", "pod-a", "uid-1"
        )
        self.task = asyncio.ensure_future(self.session.run(self.to_server.get))

    def send(self, *frames: spdy.Frame) -> None:
        self.to_server.put_nowait(b"".join(self.writer.encode(f) for f in frames))

    async def until(self, done: type | None = None, **match: object) -> spdy.Frame:
        while True:
            for f in self.frames:
                if isinstance(f, done or object) and all(
                    getattr(f, k, None) == v for k, v in match.items()
                ):
                    self.frames.remove(f)
                    return f
            chunk = await asyncio.wait_for(self.from_server.get(), 10)
            self.frames.extend(self.reader.feed(chunk))

    async def close(self) -> None:
        self.to_server.put_nowait(b"")
        await asyncio.wait_for(self.task, 10)


@pytest_asyncio.fixture
async def upper() -> AsyncIterator[int]:
    """A TCP server answering each connection with its input upper-cased, then closing."""

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write((await r.read()).upper())
        await w.drain()
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()


def streams(port: int, request: str | None, error_id: int, data_id: int) -> list[spdy.Frame]:
    extra = {"requestid": [request]} if request is not None else {}
    return [
        spdy.SynStream(error_id, {"streamtype": ["error"], "port": [str(port)], **extra}),
        spdy.SynStream(data_id, {"streamtype": ["data"], "port": [str(port)], **extra}),
    ]


async def test_one_request_round_trip(upper: int) -> None:
    peer = Peer(upper)
    peer.send(*streams(upper, "0", 1, 3), spdy.Data(3, b"hello", spdy.FLAG_FIN))
    assert await peer.until(spdy.SynReply, stream_id=1)
    assert await peer.until(spdy.SynReply, stream_id=3)
    assert await peer.until(spdy.Data, stream_id=3, data=b"HELLO")
    assert await peer.until(spdy.Data, stream_id=3, data=b"", flags=spdy.FLAG_FIN)
    assert await peer.until(spdy.Data, stream_id=1, data=b"", flags=spdy.FLAG_FIN)
    assert peer.session.forwarded == 1
    await peer.close()


async def test_requests_pair_by_request_id_in_any_order(upper: int) -> None:
    peer = Peer(upper)
    a, b = streams(upper, "a", 1, 3), streams(upper, "b", 5, 7)
    peer.send(a[0], b[1], b[0], a[1], spdy.Data(7, b"bee", 1), spdy.Data(3, b"ay", 1))
    assert await peer.until(spdy.Data, stream_id=7, data=b"BEE")
    assert await peer.until(spdy.Data, stream_id=3, data=b"AY")
    await peer.close()


async def test_old_clients_without_request_ids_pair_n_and_n_plus_2(upper: int) -> None:
    peer = Peer(upper)
    peer.send(*streams(upper, None, 1, 3), spdy.Data(3, b"old", spdy.FLAG_FIN))
    assert await peer.until(spdy.Data, stream_id=3, data=b"OLD")
    await peer.close()


async def test_refused_dial_is_written_on_the_error_stream(unused_tcp_port: int) -> None:
    peer = Peer(unused_tcp_port)
    peer.send(*streams(unused_tcp_port, "0", 1, 3))
    err = await peer.until(spdy.Data, stream_id=1)
    assert isinstance(err, spdy.Data)
    assert err.data.decode() == (
        f"error forwarding port {unused_tcp_port} to pod pod-a, uid uid-1: "
        f"dial tcp4 127.0.0.1:{unused_tcp_port}: connect: connection refused"
    )
    assert await peer.until(spdy.Data, stream_id=3, flags=spdy.FLAG_FIN)
    await peer.close()


async def test_streams_without_port_or_type_are_reset() -> None:
    peer = Peer(1)
    peer.send(
        spdy.SynStream(1, {"streamtype": ["data"]}),
        spdy.SynStream(3, {"port": ["80"], "streamtype": ["video"]}),
    )
    assert await peer.until(spdy.RstStream, stream_id=1, status=spdy.CANCEL)
    assert await peer.until(spdy.RstStream, stream_id=3, status=spdy.CANCEL)
    await peer.close()


async def test_pings_are_echoed_and_goaway_ends_the_session() -> None:
    peer = Peer(1)
    peer.send(spdy.Ping(7))
    assert await peer.until(spdy.Ping, ping_id=7)
    peer.send(spdy.GoAway(0))
    await asyncio.wait_for(peer.task, 10)


async def test_garbage_ends_the_session_with_a_protocol_error() -> None:
    peer = Peer(1)
    peer.to_server.put_nowait(bytes.fromhex("8002000100000000"))  # SPDY/2
    await asyncio.wait_for(peer.task, 10)
    assert await peer.until(spdy.GoAway, status=spdy.PROTOCOL_ERROR)
