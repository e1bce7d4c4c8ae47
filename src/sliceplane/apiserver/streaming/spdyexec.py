"""``kubectl exec`` over SPDY/3.1 streams, presented as channel messages.

Why: kubectl before 1.30 (and later ones with ``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``,
or after a failed WebSocket upgrade) runs exec over a SPDY/3.1 upgrade, protocol
``v4.channel.k8s.io``: the client opens one stream per role, header ``streamType`` =
``error``, ``stdin``, ``stdout``, ``stderr`` or ``resize`` (the kubelet's
``remotecommand`` handler waits for all it expects). The command is the same
:class:`~.execsession.ExecSession` the WebSocket road runs; this adapter maps streams
to channel numbers both ways: data on the stdin/resize streams become channel 0/4
messages, the stdin stream's FIN becomes v5's "close stdin", and channel 1/2/3 writes
become data frames on the stdout/stderr/error streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from sliceplane.apiserver.streaming import channels, spdy

PROTOCOL: Final = "v4.channel.k8s.io"
STREAM_CREATION_TIMEOUT: Final = 30.0
ROLES: Final = {
    "stdin": channels.STDIN,
    "stdout": channels.STDOUT,
    "stderr": channels.STDERR,
    "error": channels.ERROR,
    "resize": channels.RESIZE,
}


def expected_roles(*, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> frozenset[str]:
    """The streams the kubelet waits for: error always, resize with a TTY."""
    wanted = {"error"}
    for role, on in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr), ("resize", tty)):
        if on:
            wanted.add(role)
    return frozenset(wanted)


class SpdyExecStreams:
    """One upgraded connection's exec streams; ``pump(recv)`` reads frames, ``ready()``
    waits for the expected streams, ``send``/``recv`` speak channel messages."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], expected: Iterable[str]) -> None:
        self._send_raw = send
        self._writer = spdy.FrameWriter()
        self._lock = asyncio.Lock()
        self._expected = frozenset(expected)
        self._by_role: dict[str, int] = {}
        self._by_stream: dict[int, str] = {}
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()

    async def _frame(self, frame: spdy.Frame) -> None:
        async with self._lock:
            await self._send_raw(self._writer.encode(frame))

    async def send(self, message: bytes) -> None:
        msg = channels.parse(message)
        if msg is None:
            return
        role = next((r for r, ch in ROLES.items() if ch == msg.channel), None)
        sid = self._by_role.get(role or "")
        if sid is None or self._ended.is_set():
            raise ConnectionResetError("stream not open")
        await self._frame(spdy.Data(sid, msg.data))

    async def recv(self) -> bytes | None:
        return await self._inbound.get()

    async def ready(self) -> bool:
        """Whether every expected stream came before the kubelet's creation timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), STREAM_CREATION_TIMEOUT)
        return self._ready.is_set()

    async def close(self) -> None:
        """FIN on every stream the server writes, then GOAWAY (as the kubelet's
        connection close)."""
        with contextlib.suppress(Exception):
            for role in ("stdout", "stderr", "error"):
                if role in self._by_role:
                    await self._frame(spdy.Data(self._by_role[role], b"", spdy.FLAG_FIN))
            await self._frame(spdy.GoAway(max(self._by_stream, default=0)))

    async def pump(self, recv: Callable[[], Awaitable[bytes]]) -> None:
        """Frames from the client until it goes away; then ``recv()`` returns None."""
        reader = spdy.FrameReader()
        try:
            while chunk := await recv():
                for frame in reader.feed(chunk):
                    if isinstance(frame, spdy.GoAway):
                        return
                    await self._on_frame(frame)
        except ConnectionError:
            pass  # the client went away mid-write
        except spdy.ProtocolError:
            with contextlib.suppress(Exception):
                await self._frame(spdy.GoAway(0, spdy.PROTOCOL_ERROR))
        finally:
            self._ended.set()
            self._inbound.put_nowait(None)

    async def _on_frame(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.SynStream):
            role = spdy.header(frame.headers, "streamType")
            if role not in ROLES or role in self._by_role:
                await self._frame(spdy.RstStream(frame.stream_id, spdy.CANCEL))
                return
            await self._frame(spdy.SynReply(frame.stream_id))
            self._by_role[role] = frame.stream_id
            self._by_stream[frame.stream_id] = role
            if self._expected <= self._by_role.keys():
                self._ready.set()
        elif isinstance(frame, spdy.Data):
            of = self._by_stream.get(frame.stream_id, "")
            if of in ("stdin", "resize") and frame.data:
                self._inbound.put_nowait(channels.frame(ROLES[of], frame.data))
            if of == "stdin" and frame.fin:
                self._inbound.put_nowait(channels.close_signal(channels.STDIN))
        elif isinstance(frame, spdy.Ping):
            await self._frame(frame)
