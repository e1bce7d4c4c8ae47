"""One ``kubectl exec``: a child process piped to ``channel.k8s.io`` messages (asyncio).

Why here: for pods of the process runtime this server plays the kubelet's exec half.
The command runs as a child of the API server process in the container's environment
(its env and working directory as the process runtime builds them, see
:mod:`sliceplane.workloads.kubelet.execenv`), in a session (process group) of its own so
that a client that goes away takes the whole group with it (SIGKILL), as a container's
exec dies with its connection. There is no isolation beyond that: no namespaces, no
cgroups, the API server's user (``docs/upstream-differences.md``).

With ``tty`` the child gets a pseudo-terminal (stderr merged into it, as the kubelet
merges them) and channel 4 resizes it; without, stdin/stdout/stderr are pipes, each
only if asked for. When the child has exited and its output is drained, the Status goes
out on channel 3 (:mod:`.channels`) and the caller closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import struct
import termios
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from sliceplane.apiserver.streaming import channels
from sliceplane.apiserver.streaming.pods import ExecOptions

log = logging.getLogger(__name__)

CHUNK: Final = 32 * 1024
Send = Callable[[bytes], Awaitable[None]]
Recv = Callable[[], Awaitable[bytes | None]]
"""The next binary message; None once the connection is closed."""


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _not_found(argv0: str) -> str:
    return (
        f'error executing command in container: exec: "{argv0}": executable file not found in $PATH'
    )


class ExecSession:
    """Runs ``argv`` for one connection; ``await run(recv)`` returns the Status sent."""

    def __init__(
        self,
        send: Send,
        options: ExecOptions,
        env: dict[str, str],
        cwd: str | None,
        *,
        v5: bool,
    ) -> None:
        self._send = send
        self.options = options
        self._env = env
        self._cwd = cwd
        self._v5 = v5
        self._master: int | None = None

    async def run(self, recv: Recv) -> dict[str, Any]:
        argv = list(self.options.command)
        try:
            proc = await self._start(argv)
        except FileNotFoundError:
            return await self._finish(channels.internal_status(_not_found(argv[0] if argv else "")))
        except (OSError, ValueError) as exc:
            return await self._finish(
                channels.internal_status(f"error executing command in container: {exc}")
            )
        outputs = self._readers(proc)
        inputs = asyncio.ensure_future(self._input(recv, proc))
        try:
            code = await proc.wait()
            await asyncio.gather(*outputs, return_exceptions=True)
        finally:
            _killpg(proc.pid)
            inputs.cancel()
            with contextlib.suppress(BaseException):
                await inputs
            for task in outputs:
                task.cancel()
            if self._master is not None:
                os.close(self._master)
                self._master = None
        if code == 0:
            status = channels.success_status()
        elif code < 0:  # killed by a signal: a shell would report 128+N
            status = channels.exit_status(argv, 128 - code)
        else:
            status = channels.exit_status(argv, code)
        return await self._finish(status)

    async def _finish(self, status: dict[str, Any]) -> dict[str, Any]:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send(channels.frame(channels.ERROR, channels.status_bytes(status)))
        return status

    async def _start(self, argv: Sequence[str]) -> asyncio.subprocess.Process:
        if not argv:
            raise ValueError("no command given")
        opts = self.options
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        if opts.tty:
            master, slave = os.openpty()
            self._master = master
            try:
                return await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=self._env,
                    cwd=self._cwd,
                    start_new_session=True,
                )
            finally:
                os.close(slave)
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=pipe if opts.stdin else devnull,
            stdout=pipe if opts.stdout else devnull,
            stderr=pipe if opts.stderr else devnull,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,
        )

    def _readers(self, proc: asyncio.subprocess.Process) -> list[asyncio.Future[None]]:
        if self._master is not None:
            return [asyncio.ensure_future(self._pump_pty(self._master))]
        out: list[asyncio.Future[None]] = []
        if proc.stdout is not None:
            out.append(asyncio.ensure_future(self._pump(proc.stdout, channels.STDOUT)))
        if proc.stderr is not None:
            out.append(asyncio.ensure_future(self._pump(proc.stderr, channels.STDERR)))
        return out

    async def _pump(self, stream: asyncio.StreamReader, channel: int) -> None:
        while data := await stream.read(CHUNK):
            await self._send(channels.frame(channel, data))

    async def _pump_pty(self, master: int) -> None:
        """The terminal's output until every slave end is closed (EIO), read from the
        event loop (non-blocking master), so nothing outlives the session."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()
        os.set_blocking(master, False)

        def readable() -> None:
            try:
                data = os.read(master, CHUNK)
            except BlockingIOError:
                return
            except OSError:  # EIO: the child and everything it started have exited
                data = b""
            if not data:
                loop.remove_reader(master)
            chunks.put_nowait(data)

        loop.add_reader(master, readable)
        try:
            while data := await chunks.get():
                await self._send(channels.frame(channels.STDOUT, data))
        finally:
            loop.remove_reader(master)

    async def _input(self, recv: Recv, proc: asyncio.subprocess.Process) -> None:
        """Client messages until the connection closes; a closed connection before the
        child exits kills it."""
        while (raw := await recv()) is not None:
            msg = channels.parse(raw)
            if msg is None:
                continue
            if msg.channel == channels.STDIN:
                await self._write_stdin(proc, msg.data)
            elif msg.channel == channels.RESIZE:
                self._resize(msg.data)
            elif self._v5 and channels.closed_channel(msg) == channels.STDIN:
                self._close_stdin(proc)
        _killpg(proc.pid)

    async def _write_stdin(self, proc: asyncio.subprocess.Process, data: bytes) -> None:
        if self._master is not None:
            while data:  # the master is non-blocking: wait while the terminal is full
                try:
                    data = data[os.write(self._master, data) :]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                except OSError:
                    return
        elif proc.stdin is not None and not proc.stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                proc.stdin.write(data)
                await proc.stdin.drain()

    def _close_stdin(self, proc: asyncio.subprocess.Process) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, b"\x04")  # a terminal's EOF
        elif proc.stdin is not None:
            proc.stdin.close()

    def _resize(self, data: bytes) -> None:
        size = channels.parse_resize(data)
        if size is None or self._master is None:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(
                self._master, termios.TIOCSWINSZ, struct.pack("HHHH", size.height, size.width, 0, 0)
            )
