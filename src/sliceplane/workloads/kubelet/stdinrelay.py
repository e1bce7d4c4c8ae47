"""A ``stdin: true`` container's input: a FIFO beside its log file, relayed to its stdin.

Why a FIFO: attaches are served by the API server, another process, while the container's
process is a child of this runtime; a FIFO in the pod's directory (mode 0600, so only this
user writes to it) is the channel between them. The runtime opens it for reading *and*
writing, so it never sees an end of file between attaches: stdin stays open across
attach sessions, as upstream keeps it for ``stdin: true``. Attaches write records
(:mod:`sliceplane.api.containerstdin`); with ``stdinOnce`` the first ``DETACH`` (its
client closed stdin or went away) closes the container's stdin for the rest of the run.

A ``tty: true`` container's stdin is its terminal: input is written to the terminal's
master, ``RESIZE`` records set its size, and the ``stdinOnce`` close is the terminal's
end-of-file character (a terminal has no half-close).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import struct
import sys
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path

from sliceplane.api.containerstdin import DATA, DETACH, RESIZE, Reader, parse_resize

READ_SIZE = 64 * 1024


_ADOPT_TERMINAL = (
    "import fcntl,os,sys,termios\n"
    "fcntl.ioctl(0,termios.TIOCSCTTY,0)\n"
    "os.execvp(sys.argv[1],sys.argv[1:])\n"
)


def with_controlling_terminal(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` run so that its terminal (stdin) is its session's controlling terminal,
    as a container's is: Ctrl-C reaches its foreground job, ``/dev/tty`` opens, a shell
    has job control. The child is a session leader already (``start_new_session``); a
    few lines of Python take the terminal (``TIOCSCTTY``, which no ``subprocess`` option
    does without ``preexec_fn``, unsafe in this threaded process) and exec the command,
    keeping its pid. A command that cannot be found is left as it is, so it fails to
    start as before (a ``StartError``)."""
    if not argv or shutil.which(argv[0], path=env.get("PATH")) is None:
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _ADOPT_TERMINAL, *argv]


def fifo_path(log_path: Path) -> Path:
    """``<restartCount>.stdin`` beside the run's ``<restartCount>.log``."""
    return log_path.with_suffix(".stdin")


class StdinRelay:
    """Relays records from ``path`` into ``writer`` (the process's stdin pipe) or, for a
    terminal, into its master ``terminal`` for one run."""

    def __init__(
        self,
        path: Path,
        writer: asyncio.StreamWriter | None,
        *,
        once: bool,
        terminal: int | None = None,
    ) -> None:
        self.path = path
        self._writer = writer
        self._terminal = terminal
        self._once = once
        self._reader = Reader()
        self._fd: int | None = None
        self._closed = False

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.mkfifo(self.path, 0o600)
        fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        for kind, payload in self._reader.feed(data):
            if self._closed:
                continue
            if kind == DATA:
                self._input(payload)
            elif kind == RESIZE:
                self._resize(payload)
            elif kind == DETACH and self._once:
                self._close_stdin()

    def _input(self, data: bytes) -> None:
        if self._terminal is not None:
            # Terminal input is typing: a full terminal drops what does not fit rather
            # than stalling the runtime's event loop.
            with contextlib.suppress(OSError):
                os.write(self._terminal, data)
        elif self._writer is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._writer.write(data)

    def _resize(self, payload: bytes) -> None:
        size = parse_resize(payload)
        if size is None or self._terminal is None:
            return
        width, height = size
        with contextlib.suppress(OSError):
            fcntl.ioctl(
                self._terminal, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0)
            )

    def _close_stdin(self) -> None:
        self._closed = True
        if self._terminal is not None:
            with contextlib.suppress(OSError):
                os.write(self._terminal, b"\x04")  # the terminal's end of file
        elif self._writer is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._writer.close()

    def stop(self) -> None:
        """The run is over: no more input, the FIFO removed."""
        if self._fd is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if not self._closed and self._terminal is None:
            self._close_stdin()
