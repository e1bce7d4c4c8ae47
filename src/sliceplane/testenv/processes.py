"""The control plane's child processes: spawned, waited for, stopped by PID.

Components are plain children in a session of their own, logging to files; readiness is
an HTTP 200 (optionally with an expected body) while the process is still running; a
process is stopped with SIGTERM, then SIGKILL after a grace period. A PID is only
signalled while the process still has the start time recorded with it (``/proc/<pid>/stat``),
so a reused PID is never hit.

Children live in sessions of their own, so a signal to the test or benchmark process
does not reach them: if that process were ended by ``timeout`` or ``kill`` they would run
on (an idle kube-apiserver and etcd for hours). So while a child spawned here runs,
SIGTERM in the main thread raises :class:`Terminated` (a ``KeyboardInterrupt``: it
unwinds the ``with`` blocks that stop components, and ``except Exception`` does not
swallow it), and at exit every child not stopped or detached is stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


class ControlPlaneError(RuntimeError):
    """A component failed to start or to become ready (the message has its log's tail)."""


class PortTaken(ControlPlaneError):
    """A component exited because a port picked as free was taken before it bound it."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while components were running (see the module docstring)."""


_running: dict[int, Component] = {}
"""Children spawned and neither stopped nor detached (by ``id``: subclasses such as
``netns.Process`` are dataclasses compared by value, so unhashable): what the exit hook
stops."""
_exit_hook = False
_sigterm_rule = False
EXIT_GRACE = 5.0


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


def _stop_running() -> None:
    for component in list(_running.values()):
        component.stop(EXIT_GRACE)


def _guard() -> None:
    """Register the exit hook once per process, and the SIGTERM rule once it can be:
    only from the main thread (where Python runs signal handlers) and only over the
    default action, so a program that handles SIGTERM itself keeps its handler."""
    global _exit_hook, _sigterm_rule
    if not _exit_hook:
        _exit_hook = True
        atexit.register(_stop_running)
    if (
        not _sigterm_rule
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        _sigterm_rule = True
        signal.signal(signal.SIGTERM, _raise_terminated)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together so none repeats)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def proc_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, start_time: int | None) -> bool:
    now = proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def terminate_pid(pid: int, start_time: int | None, grace: float) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; a no-op if it is not ours."""
    if not alive(pid, start_time):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid, start_time):
            return
        time.sleep(0.05)
    if alive(pid, start_time):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and alive(pid, start_time):
            time.sleep(0.05)


@dataclass
class Component:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    start_time: int | None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        rc = self.proc.poll()
        if rc is not None:
            error = PortTaken if "address already in use" in self.tail() else ControlPlaneError
            raise error(
                f"{self.name} exited with code {rc} while starting; log {self.log}:\n" + self.tail()
            )

    def forget(self) -> None:
        """Leave the process running for good (``ControlPlane.detach``)."""
        _running.pop(id(self), None)
        # Popen would warn about a still-running child when collected.
        self.proc.returncode = 0

    def stop(self, grace: float) -> None:
        _running.pop(id(self), None)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def popen_logged(
    argv: Sequence[str], log: Path, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdin closed and stdout and stderr appended to ``log``
    (``env`` ``None``: this process's environment)."""
    with open(log, "ab") as out:
        # A session of its own: Ctrl-C in a terminal running pytest reaches pytest only, so
        # teardown (not the signal) decides the order things stop in.
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def spawn(name: str, argv: list[str], log_dir: Path) -> Component:
    log = log_dir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    env.pop("KUBECONFIG", None)
    _guard()
    proc = popen_logged(argv, log, env)
    component = Component(name, proc, log, proc_start_time(proc.pid))
    _running[id(component)] = component
    return component


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=str(ca_file))


def _http_get(
    url: str, *, ctx: ssl.SSLContext | None = None, token: str | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    # No ProxyHandler from the environment: loopback must never go through an http_proxy.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    try:
        with opener.open(req, timeout=5) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def wait_http_ok(
    component: Component,
    url: str,
    timeout: float,
    *,
    ctx: ssl.SSLContext | None = None,
    token: str | None = None,
    expect: bytes | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        component.check_running()
        try:
            status, body = _http_get(url, ctx=ctx, token=token)
            if status == 200 and (expect is None or expect in body):
                return
            last = f"HTTP {status}: {body[:300].decode(errors='replace')}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise ControlPlaneError(
                f"{component.name} not ready at {url} after {timeout:.0f}s ({last}); "
                f"log {component.log}:\n{component.tail()}"
            )
        time.sleep(0.2)
