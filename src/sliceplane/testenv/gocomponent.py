"""One upstream Go component (kube-controller-manager, kube-scheduler) from a kubeconfig.

Both serve ``/healthz`` over HTTPS with a self-signed certificate and need nothing but a
kubeconfig and a free port, so the start (retried when the port was taken meanwhile),
the readiness wait, the log tail and the stop are the same; a subclass says which binary
and flags (:meth:`argv`) and may prepare files first (:meth:`prepare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from sliceplane.testenv.binaries import Binaries, find_binaries
from sliceplane.testenv.processes import (
    Component,
    ControlPlaneError,
    PortTaken,
    free_ports,
    spawn,
    ssl_context,
    wait_http_ok,
)

START_ATTEMPTS = 3


class GoComponent:
    """A process of an upstream component; ``start()`` returns once ``/healthz`` is ok."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        name: str,
        binaries: Binaries | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 90.0,
        stop_grace: float = 15.0,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self._binaries = binaries
        self.extra_args = tuple(extra_args)
        self.name = name
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.url = ""
        self._component: Component | None = None

    # -- what a component says about itself ----------------------------------------------

    def argv(self, binaries: Binaries, port: int) -> list[str]:
        """Its command line, serving ``/healthz`` on 127.0.0.1:``port``."""
        raise NotImplementedError

    def prepare(self, binaries: Binaries) -> None:
        """Before the first start: check the binary is there, write config files."""

    @property
    def cert_dir(self) -> Path:
        return self.workdir / f"{self.name}-certs"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def log(self) -> Path:
        return self.workdir / "logs" / f"{self.name}.log"

    def tail(self, lines: int = 40) -> str:
        return self._component.tail(lines) if self._component else "(not started)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        if self._component is not None:
            raise ControlPlaneError("already started")
        binaries = self._binaries or find_binaries()
        self.prepare(binaries)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        for attempt in range(START_ATTEMPTS):
            (port,) = free_ports(1)
            self.url = f"https://127.0.0.1:{port}"
            self._component = spawn(self.name, self.argv(binaries, port), self.workdir / "logs")
            try:
                # Its serving certificate is self-signed; /healthz is always allowed.
                wait_http_ok(
                    self._component,
                    f"{self.url}/healthz",
                    self.start_timeout,
                    ctx=ssl_context(None),
                    expect=b"ok",
                )
                return self
            except PortTaken:
                self.stop()
                if attempt == START_ATTEMPTS - 1:
                    raise
            except BaseException:
                self.stop()
                raise
        return self

    def check_running(self) -> None:
        if self._component is None:
            raise ControlPlaneError("not started")
        self._component.check_running()

    def stop(self) -> None:
        if self._component is not None:
            self._component.stop(self.stop_grace)
            self._component = None
