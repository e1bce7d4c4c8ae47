"""Pid files let a new process runtime kill what a SIGKILLed one left behind, and never
hit a process that merely reuses a recorded pid."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sliceplane.workloads.kubelet.processes import kill_orphans, process_start_time

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def test_kill_orphans_kills_recorded_group(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        pod_dir = tmp_path / "ns_web_uid"
        pod_dir.mkdir()
        started = process_start_time(proc.pid)
        assert started is not None
        (pod_dir / "web.pid").write_text(f"{proc.pid} {started}\n")
        assert kill_orphans(tmp_path) == 1
        assert proc.wait(10) == -9
        assert not (pod_dir / "web.pid").exists()
    finally:
        proc.kill()
        proc.wait()


def test_kill_orphans_spares_reused_pid(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        pod_dir = tmp_path / "ns_web_uid"
        pod_dir.mkdir()
        (pod_dir / "web.pid").write_text(f"{proc.pid} 1\n")  # another start time
        (pod_dir / "junk.pid").write_text("garbage")
        assert kill_orphans(tmp_path) == 0
        time.sleep(0.1)
        assert proc.poll() is None
        assert list(pod_dir.glob("*.pid")) == []
    finally:
        proc.kill()
        proc.wait()
