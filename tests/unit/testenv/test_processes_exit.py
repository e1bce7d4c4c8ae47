"""Children spawned by the test environment do not outlive a terminated parent.

Each case runs a real Python parent that spawns a real child (``sleep``) through
:func:`sliceplane.testenv.processes.spawn`, in its own session as components are, and
then ends the parent the way a killed benchmark or a finished script ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sliceplane.testenv.processes import alive, proc_start_time

PARENT = """
import sys, time
from pathlib import Path
from sliceplane.testenv.processes import spawn

component = spawn("sleeper", ["sleep", "300"], Path(sys.argv[1]))
print(component.pid, flush=True)
MODE = sys.argv[2]
if MODE == "detach":
    component.forget()
elif MODE == "exit":
    pass  # neither stopped nor detached: the exit hook stops it
else:
    try:
        time.sleep(60)
    finally:
        print("unwound", flush=True)
"""


def _parent(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], int, int | None]:
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT))
    src = str(Path(__file__).resolve().parents[3] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    return proc, pid, proc_start_time(pid)


def _gone_within(pid: int, start: int | None, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid, start):
            return True
        time.sleep(0.05)
    return False


def test_sigterm_unwinds_the_parent_and_stops_its_children(tmp_path: Path) -> None:
    proc, pid, start = _parent(tmp_path, "sleep")
    assert alive(pid, start)
    time.sleep(0.3)  # into the sleep of the try block
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert "unwound" in out
    assert "Terminated" in err
    assert proc.returncode != 0
    assert _gone_within(pid, start, 10)


def test_a_child_left_running_is_stopped_at_exit(tmp_path: Path) -> None:
    proc, pid, start = _parent(tmp_path, "exit")
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert _gone_within(pid, start, 10)


def test_a_detached_child_keeps_running(tmp_path: Path) -> None:
    proc, pid, start = _parent(tmp_path, "detach")
    proc.communicate(timeout=30)
    try:
        assert proc.returncode == 0
        time.sleep(0.3)
        assert alive(pid, start)
    finally:
        if alive(pid, start):
            os.kill(pid, signal.SIGKILL)


def test_a_component_subclass_compared_by_value_stops(tmp_path: Path) -> None:
    """``netns.Process`` is a dataclass subclass (unhashable): stopping one must not
    trip over the registry of running children."""
    from sliceplane.testenv.netns import Process
    from sliceplane.testenv.processes import popen_logged

    log = tmp_path / "sleep.log"
    proc = popen_logged(["sleep", "30"], log, None)
    p = Process("sleeper", proc, log, proc_start_time(proc.pid), netns="none")
    p.stop(5.0)
    assert proc.poll() is not None
