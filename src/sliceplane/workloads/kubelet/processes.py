"""Local process groups that must not outlive the runtime that started them.

Each container runs in its own session (process group), so one signal reaches everything
it forked. A pid file per running container records the pid *and* the process start time
(field 22 of ``/proc/<pid>/stat``), so a runtime that was SIGKILLed itself can, on its next
start, kill exactly the groups it left behind and never a process that merely reused a pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path


def killpg(pid: int, sig: int) -> None:
    """Signal the process group ``pid``; one that is gone (or not ours) is ignored."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def pod_cidr_routed(address: str) -> bool:
    """Whether a process may bind ``address`` (it is local, e.g. via an AnyIP route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


def process_start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (start time in clock ticks), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def kill_orphans(pods_dir: Path) -> int:
    """SIGKILL the process groups named by pid files under ``pods_dir`` whose process is
    still the one that was started (same start time); remove the files. Returns how many
    groups were signalled."""
    killed = 0
    for pid_file in pods_dir.glob("*/*.pid"):
        try:
            pid_text, _, started = pid_file.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            pid = 0
            started = ""
        if pid > 0 and started and process_start_time(pid) == started:
            killpg(pid, signal.SIGKILL)
            killed += 1
        with contextlib.suppress(OSError):
            pid_file.unlink()
    return killed
