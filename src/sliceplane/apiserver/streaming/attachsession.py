"""One ``kubectl attach``: a running container's output, from now on, as channel messages.

Why from the log file: the container's process is a child of the process runtime (the
cluster process), not of this server, and the runtime already writes everything the
process prints to the run's CRI log file, line by line with its stream. A kubelet
attaches to the live streams, which carry what the process prints from that moment; the
log file appended to since the attach began is the same bytes, a poll later. So the
session follows the current run's file from its end, sends each line's output on the
stdout or stderr channel (stdout alone with a TTY, as the kubelet merges them), and ends
with the success Status on channel 3 when the run ends or the client goes away.

Input: the process runtime starts containers with stdin closed (``/dev/null``), which is
what containerd gives a container created without ``stdin: true``, and what a kubelet's
runtime does then with an attach's input: reads it and drops it. So input and resize
messages are read (the connection's end is seen) and dropped here for every container;
``stdin: true`` containers are the deviation (``docs/upstream-differences.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

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
    ) -> None:
        self._send = send
        self.options = options
        self._path = path
        self._live = live

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
        """Input and resize messages are dropped (see the module docstring); returns
        when the client closes the connection."""
        while await recv() is not None:
            pass

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
