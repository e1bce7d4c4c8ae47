"""Where a process container's output goes: a CRI log file per run, as a kubelet keeps.

Why: ``kubectl logs`` (with ``--previous``, ``--timestamps``, ``--since``) needs each
line's time and stream and each run's output kept apart, which a plain redirect to a file
cannot give. So the runtime reads the container's stdout and stderr through pipes and
appends them, stamped, to ``<pod dir>/<container>/<restartCount>.log`` in the format of
:mod:`sliceplane.api.containerlog` — the layout of the kubelet's ``/var/log/pods``. The
API server reads the same files to answer ``pods/log``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import BinaryIO

from sliceplane.api.containerlog import encode_lines

READ_CHUNK = 64 * 1024


def run_log_path(pod_dir: Path, container: str, restart_count: int) -> Path:
    """The log file of one run of ``container`` (``<container>/<restartCount>.log``)."""
    return pod_dir / container / f"{restart_count}.log"


async def pump(reader: asyncio.StreamReader, stream: str, out: BinaryIO) -> None:
    """Copy what ``reader`` yields into ``out`` as CRI lines until it ends. Each write is
    one ``write`` of whole lines on the event loop, so stdout's and stderr's lines never
    interleave within a line."""
    rest = b""
    while True:
        chunk = await reader.read(READ_CHUNK)
        final = not chunk
        data, rest = encode_lines(time.time_ns(), stream, rest + chunk, final=final)
        if data:
            out.write(data)
            out.flush()
        if final:
            return


async def pump_terminal(master: int, out: BinaryIO) -> None:
    """A ``tty: true`` container's terminal output into ``out`` as stdout lines (a
    terminal merges the streams, as the kubelet logs them) until every slave end is
    closed (EIO). Read from the event loop on the non-blocking master."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    os.set_blocking(master, False)

    def readable() -> None:
        try:
            data = os.read(master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the process and all it started have closed the terminal
            data = b""
        if not data:
            loop.remove_reader(master)
        chunks.put_nowait(data)

    loop.add_reader(master, readable)
    rest = b""
    try:
        while True:
            chunk = await chunks.get()
            final = not chunk
            data, rest = encode_lines(time.time_ns(), "stdout", rest + chunk, final=final)
            if data:
                out.write(data)
                out.flush()
            if final:
                return
    finally:
        loop.remove_reader(master)
