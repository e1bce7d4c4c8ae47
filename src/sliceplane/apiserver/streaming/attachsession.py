"""One ``kubectl attach``: a running container's output, from now on, as channel messages.

Why from the log file: the container's process is a child of the process runtime (the
cluster process), not of this server, and the runtime already writes everything the
process prints to the run's CRI log file, line by line with its stream. A kubelet
attaches to the live streams, which carry what the process prints from that moment; the
log file appended to since the attach began is the same bytes, a poll later. So the
session follows the current run's file from its end, sends each line's output on the
stdout or stderr channel (stdout alone with a TTY, as the kubelet merges them), and ends
with the success Status on channel 3 when the run ends or the client goes away.

Input: a container created without ``stdin: true`` has its stdin closed, and its
runtime reads an attach's input and drops it, as containerd does. One with ``stdin: true``
has a FIFO beside its log file that the process runtime relays into the process's stdin
(:mod:`sliceplane.workloads.kubelet.stdinrelay`): the input is written there as records,
and a ``DETACH`` record when the client closes stdin (v5's close signal, or the SPDY
stream's end) or goes away, which closes a ``stdinOnce`` container's stdin. A ``tty:
true`` container has a terminal there: resize messages become ``RESIZE`` records.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from sliceplane.api import containerstdin
from sliceplane.api.containerlog import split_lines
from sliceplane.apiserver.streaming import channels
from sliceplane.apiserver.streaming.pods import ExecOptions

POLL: Final = 0.1
"""Seconds between looks at the followed log file."""
CHUNK: Final = 32 * 1024

Send = Callable[[bytes], Awaitable[None]]
Recv = Callable[[], Awaitable[bytes | None]]


def frames(data: bytes, options: ExecOptions) -> tuple[list[bytes], int]:
    """The channel messages for the whole CRI log lines in ``data`` (at most ``CHUNK``
    bytes of output each, lines of one stream joined), and how many bytes they took; an
    unfinished last line is left for the next read. Pure, for the table tests."""
    lines, used = split_lines(data)
    out: list[bytes] = []
    channel: int | None = None
    buf = bytearray()
    for line in lines:
        if line.stream == "stderr" and not options.tty:
            if not options.stderr:
                continue
            target = channels.STDERR
        else:
            if not options.stdout:
                continue
            target = channels.STDOUT
        if channel is not None and (target != channel or len(buf) >= CHUNK):
            out.append(channels.frame(channel, bytes(buf)))
            buf.clear()
        channel = target
        buf += line.output
    if channel is not None and buf:
        out.append(channels.frame(channel, bytes(buf)))
    return out, used


class AttachSession:
    """Follows ``path`` (the current run's log file) while ``live()`` says the run goes
    on; ``await run(recv)`` returns the Status sent."""

    def __init__(
        self,
        send: Send,
        options: ExecOptions,
        path: Path | None,
        live: Callable[[], bool],
        stdin: Path | None = None,
    ) -> None:
        self._send = send
        self.options = options
        self._path = path
        self._live = live
        self._stdin_path = stdin
        self._stdin: int | None = None

    async def run(self, recv: Recv) -> dict[str, Any]:
        output = asyncio.ensure_future(self._follow())
        inputs = asyncio.ensure_future(self._drain(recv))
        try:
            done, _ = await asyncio.wait({output, inputs}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (output, inputs):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        status = channels.success_status()
        if output in done:  # the run ended; a client that left gets nothing more
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(channels.frame(channels.ERROR, channels.status_bytes(status)))
        return status

    async def _drain(self, recv: Recv) -> None:
        """The client's messages until it closes the connection: input and resizes into
        the container's stdin FIFO if it has one, else dropped (module docstring)."""
        if self.options.stdin and self._stdin_path is not None:
            with contextlib.suppress(OSError):  # no FIFO (or no relay): input is dropped
                self._stdin = os.open(self._stdin_path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            while (raw := await recv()) is not None:
                msg = channels.parse(raw)
                if msg is None or self._stdin is None:
                    continue
                if msg.channel == channels.STDIN:
                    await self._write(containerstdin.records(containerstdin.DATA, msg.data))
                elif msg.channel == channels.RESIZE:
                    size = channels.parse_resize(msg.data)
                    if size is not None:
                        await self._write([containerstdin.resize(size.width, size.height)])
                elif channels.closed_channel(msg) == channels.STDIN:
                    await self._detach()
        finally:
            if self._stdin is not None:
                with contextlib.suppress(OSError):
                    os.write(self._stdin, containerstdin.records(containerstdin.DETACH)[0])
                self._close_stdin()

    async def _detach(self) -> None:
        await self._write(containerstdin.records(containerstdin.DETACH))
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                os.close(self._stdin)
            self._stdin = None

    async def _write(self, records: list[bytes]) -> None:
        """Each record whole (at most PIPE_BUF bytes: the kernel writes it at once or
        not at all), waiting while the FIFO is full; a relay that went away ends input."""
        for record in records:
            while self._stdin is not None:
                try:
                    os.write(self._stdin, record)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                except OSError:  # EPIPE: the run is over
                    self._close_stdin()

    async def _follow(self) -> None:
        path = self._path
        position = 0
        if path is not None:
            with contextlib.suppress(OSError):
                position = path.stat().st_size
        pending = b""
        while True:
            # Decide whether this read is the last before reading, so nothing written
            # just before the run ended is missed.
            going = self._live()
            more = b""
            if path is not None:
                with contextlib.suppress(OSError), path.open("rb") as fh:
                    fh.seek(position)
                    more = fh.read()
            position += len(more)
            pending += more
            messages, used = frames(pending, self.options)
            pending = pending[used:]
            for message in messages:
                await self._send(message)
            if not going:
                return
            await asyncio.sleep(POLL)
