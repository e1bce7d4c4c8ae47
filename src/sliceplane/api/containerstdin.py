"""The records an attach writes into a running container's stdin FIFO (pure).

Why records and not raw bytes: the process runtime owns the container's stdin (a pipe to
its process) and keeps the FIFO open for reading and writing, so no client's close is
ever an end of file; yet ``stdinOnce`` asks for the container's stdin to close when the
first attach stops sending. So each attach writes ``DATA`` records and, when its client
closes stdin or goes away, a ``DETACH`` record. A record is at most ``PIPE_BUF`` bytes,
which the kernel writes into a FIFO whole, so the records of two attaches never
interleave inside one.
"""

from __future__ import annotations

from typing import Final

DATA: Final = 0
DETACH: Final = 1
RESIZE: Final = 2
"""A terminal size (width, height: two bytes each, big-endian) for a ``tty: true`` one."""
HEADER: Final = 3
"""One byte of kind, two of length (big-endian)."""
PIPE_BUF: Final = 4096
MAX_DATA: Final = PIPE_BUF - HEADER


def resize(width: int, height: int) -> bytes:
    """The ``RESIZE`` record for a terminal of ``width`` x ``height``."""
    size = min(width, 0xFFFF).to_bytes(2, "big") + min(height, 0xFFFF).to_bytes(2, "big")
    return bytes((RESIZE, 0, 4)) + size


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    if len(payload) != 4:
        return None
    return int.from_bytes(payload[:2], "big"), int.from_bytes(payload[2:], "big")


def records(kind: int, data: bytes = b"") -> list[bytes]:
    """``data`` as records of ``kind`` (a ``DETACH`` is one empty record)."""
    if kind == DETACH or not data:
        return [bytes((kind, 0, 0))] if kind == DETACH else []
    out = []
    for start in range(0, len(data), MAX_DATA):
        part = data[start : start + MAX_DATA]
        out.append(bytes((kind,)) + len(part).to_bytes(2, "big") + part)
    return out


class Reader:
    """Turns what is read from the FIFO back into records, across reads."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._rest + data
        out: list[tuple[int, bytes]] = []
        start = 0
        while len(buf) - start >= HEADER:
            size = int.from_bytes(buf[start + 1 : start + HEADER], "big")
            end = start + HEADER + size
            if end > len(buf):
                break
            out.append((buf[start], buf[start + HEADER : end]))
            start = end
        self._rest = buf[start:]
        return out
