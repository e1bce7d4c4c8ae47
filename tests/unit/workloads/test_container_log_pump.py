"""What a process container prints becomes CRI log lines (``workloads.kubelet.containerlogs``)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from sliceplane.api.containerlog import MAX_LINE, split_lines
from sliceplane.workloads.kubelet.containerlogs import pump, run_log_path


@pytest.mark.asyncio
async def test_both_streams_land_in_one_run_file(tmp_path: Path) -> None:
    path = run_log_path(tmp_path, "web", 3)
    assert path == tmp_path / "web" / "3.log"
    path.parent.mkdir()
    out_reader, err_reader = asyncio.StreamReader(), asyncio.StreamReader()
    with path.open("ab") as out:
        tasks = [
            asyncio.create_task(pump(out_reader, "stdout", out)),
            asyncio.create_task(pump(err_reader, "stderr", out)),
        ]
        out_reader.feed_data(b"hel")
        await asyncio.sleep(0)
        out_reader.feed_data(b"lo\nwor")  # a line across two reads stays one line
        err_reader.feed_data(b"oops\n")
        out_reader.feed_data(b"x" * (MAX_LINE + 1) + b"\nno newline at the end")
        out_reader.feed_eof()
        err_reader.feed_eof()
        await asyncio.gather(*tasks)
    lines, used = split_lines(path.read_bytes())
    assert used == len(path.read_bytes())
    stdout = [line for line in lines if line.stream == "stdout"]
    assert b"".join(line.output for line in stdout) == (
        b"hello\nwor" + b"x" * (MAX_LINE + 1) + b"\nno newline at the end\n"
    )
    assert [line.partial for line in stdout] == [False, True, False, False]
    assert [line.content for line in lines if line.stream == "stderr"] == [b"oops"]
    assert all(a.ns <= b.ns for a, b in itertools.pairwise(lines))
