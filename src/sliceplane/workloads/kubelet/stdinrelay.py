"""A ``stdin: true`` container's input: a FIFO beside its log file, relayed to its stdin.

Why a FIFO: attaches are served by the API server, another process, while the container's
process is a child of this runtime; a FIFO in the pod's directory (mode 0600, so only this
user writes to it) is the channel between them. The runtime opens it for reading *and*
writing, so it never sees an end of file between attaches: stdin stays open across
attach sessions, as upstream keeps it for ``stdin: true``. Attaches write records
(:mod:`sliceplane.api.containerstdin`); with ``stdinOnce`` the first ``DETACH`` (its
client closed stdin or went away) closes the container's stdin for the rest of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from sliceplane.api.containerstdin import DATA, DETACH, Reader

READ_SIZE = 64 * 1024


def fifo_path(log_path: Path) -> Path:
    """``<restartCount>.stdin`` beside the run's ``<restartCount>.log``."""
    return log_path.with_suffix(".stdin")


class StdinRelay:
    """Relays records from ``path`` into ``writer`` (the process's stdin) for one run."""

    def __init__(self, path: Path, writer: asyncio.StreamWriter, *, once: bool) -> None:
        self.path = path
        self._writer = writer
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
                with contextlib.suppress(ConnectionError, RuntimeError):
                    self._writer.write(payload)
            elif kind == DETACH and self._once:
                self._close_stdin()

    def _close_stdin(self) -> None:
        self._closed = True
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
        if not self._closed:
            self._close_stdin()
