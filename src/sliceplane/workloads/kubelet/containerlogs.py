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
