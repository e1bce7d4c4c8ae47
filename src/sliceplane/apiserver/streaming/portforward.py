"""The kubelet's port-forward protocol over one SPDY/3.1 session (asyncio).

Why here: for pods of the process runtime this server plays the kubelet's streaming half
(``pkg/kubelet/cri/streaming/portforward/httpstream.go``). Per forwarded connection the
client opens two streams with headers ``streamType`` (``error``/``data``), ``port`` and
``requestID``; once both of one request ID are there, the pod's port is dialled and the
data stream piped to it both ways. A dial failure is written as text on the error
stream, as the kubelet writes it (kubectl prints it and gives up the session); then both
streams are closed (a FIN data frame each).

The session reads frames from ``recv`` (any slicing of the byte stream: plain SPDY
upgrade or WebSocket messages) and writes through ``send`` in order, one lock keeping the
header compressor's state and the byte order together. Streams without valid ``port``
or ``streamType`` headers are reset, as spdystream resets a stream its handler refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from sliceplane.apiserver.streaming import spdy

log = logging.getLogger(__name__)

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
STREAM_CREATION_TIMEOUT: Final = 30.0
"""How long the second stream of a request ID may take (kubelet's default)."""
CHUNK: Final = 32 * 1024


def stream_refusal(headers: spdy.Headers) -> str | None:
    """Why the kubelet refuses a new stream (None: it takes it)."""
    port = spdy.header(headers, "port")
    if not port:
        return '"port" header is required'
    if not port.isdigit() or int(port) > 65535:
        return f'unable to parse "{port}" as a port'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = spdy.header(headers, "streamType")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return None


def forward_error(port: int, pod: str, uid: str, why: str) -> str:
    """The text the kubelet writes on the error stream when forwarding fails."""
    return f"error forwarding port {port} to pod {pod}, uid {uid}: {why}"


@dataclass(slots=True)
class _Pair:
    request_id: str
    data: int = 0
    error: int = 0
    port: int = 0
    inbound: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class PortForwardSession:
    """One upgraded connection's streams; ``await run(recv)`` until either side ends it."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        dial: Dial,
        address: Callable[[int], str],
        pod: str,
        uid: str,
    ) -> None:
        """``dial(port)`` connects to the pod; ``address(port)`` names it in errors."""
        self._send_raw = send
        self._dial = dial
        self._address = address
        self._pod = pod
        self._uid = uid
        self._writer = spdy.FrameWriter()
        self._lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}
        self._by_stream: dict[int, _Pair] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.forwarded = 0

    async def send(self, frame: spdy.Frame) -> None:
        async with self._lock:
            await self._send_raw(self._writer.encode(frame))

    async def run(self, recv: Callable[[], Awaitable[bytes]]) -> None:
        reader = spdy.FrameReader()
        try:
            while True:
                chunk = await recv()
                if not chunk:
                    return
                for frame in reader.feed(chunk):
                    if isinstance(frame, spdy.GoAway):
                        return
                    await self._on_frame(frame)
        except ConnectionError:
            return  # the client went away mid-write; nothing left to tell it
        except spdy.ProtocolError as exc:
            log.info("port-forward session for pod %s ended: %s", self._pod, exc)
            with contextlib.suppress(Exception):
                await self.send(spdy.GoAway(0, spdy.PROTOCOL_ERROR))
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await task

    async def _on_frame(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.SynStream):
            await self._on_syn(frame)
        elif isinstance(frame, spdy.Data):
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data:
                if frame.data:
                    pair.inbound.put_nowait(frame.data)
                if frame.fin:
                    pair.inbound.put_nowait(None)
        elif isinstance(frame, spdy.Ping):
            await self.send(frame)  # the peer's ping, echoed as spdystream does
        elif isinstance(frame, spdy.RstStream):
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None and pair.task is not None:
                pair.task.cancel()
        # SETTINGS, WINDOW_UPDATE, HEADERS, unknown control frames: nothing to do
        # (spdystream does no flow control either).

    async def _on_syn(self, syn: spdy.SynStream) -> None:
        why = stream_refusal(syn.headers)
        if why is not None:
            log.info("port-forward: stream %d rejected: %s", syn.stream_id, why)
            await self.send(spdy.RstStream(syn.stream_id, spdy.CANCEL))
            return
        await self.send(spdy.SynReply(syn.stream_id))
        kind = spdy.header(syn.headers, "streamType")
        request_id = spdy.header(syn.headers, "requestID") or self._legacy_id(syn.stream_id, kind)
        pair = self._pairs.get(request_id)
        if pair is None:
            pair = self._pairs[request_id] = _Pair(request_id)
            self._spawn(self._expire(pair))
        self._by_stream[syn.stream_id] = pair
        if (kind == "error" and pair.error) or (kind == "data" and pair.data):
            if pair.error:
                await self._write_error(
                    pair,
                    f"error processing stream for request {request_id}: "
                    f"{kind} stream already assigned",
                )
            return
        if kind == "error":
            pair.error = syn.stream_id
        else:
            pair.data = syn.stream_id
            pair.port = int(spdy.header(syn.headers, "port"))
        if pair.error and pair.data:
            pair.task = self._spawn(self._forward(pair))

    @staticmethod
    def _legacy_id(stream_id: int, kind: str) -> str:
        """Old clients send no request ID: pair error stream N with data stream N+2."""
        return str(stream_id if kind == "error" else stream_id - 2)

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _expire(self, pair: _Pair) -> None:
        await asyncio.sleep(STREAM_CREATION_TIMEOUT)
        if not (pair.error and pair.data):
            await self._write_error(
                pair, f"(conn=session, request={pair.request_id}) timed out waiting for streams"
            )
            self._pairs.pop(pair.request_id, None)

    async def _write_error(self, pair: _Pair, text: str) -> None:
        if pair.error:
            await self.send(spdy.Data(pair.error, text.encode()))

    async def _forward(self, pair: _Pair) -> None:
        try:
            try:
                reader, writer = await self._dial(pair.port)
            except OSError as exc:
                why = dial_text(self._address(pair.port), exc)
                await self._write_error(pair, forward_error(pair.port, self._pod, self._uid, why))
                return
            self.forwarded += 1
            try:
                await self._pipe(pair, reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        finally:
            self._pairs.pop(pair.request_id, None)
            with contextlib.suppress(Exception):
                await self.send(spdy.Data(pair.data, b"", spdy.FLAG_FIN))
                await self.send(spdy.Data(pair.error, b"", spdy.FLAG_FIN))
            self._by_stream.pop(pair.data, None)
            self._by_stream.pop(pair.error, None)

    async def _pipe(
        self, pair: _Pair, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async def to_pod() -> None:
            while (data := await pair.inbound.get()) is not None:
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        upstream = asyncio.ensure_future(to_pod())
        try:
            while data := await reader.read(CHUNK):
                await self.send(spdy.Data(pair.data, data))
        except OSError:
            pass
        finally:
            upstream.cancel()
            with contextlib.suppress(BaseException):
                await upstream


def dial_text(address: str, exc: OSError) -> str:
    """A dial error in Go's words (``dial tcp4 IP:PORT: connect: connection refused``)."""
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp4 {address}: connect: connection refused"
    if isinstance(exc, TimeoutError):
        return f"dial tcp4 {address}: i/o timeout"
    return f"dial tcp4 {address}: connect: {(exc.strerror or str(exc)).lower()}"
