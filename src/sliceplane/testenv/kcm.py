"""The real kube-controller-manager against any API server, with chosen controllers.

:class:`~sliceplane.testenv.controlplane.ControlPlane` starts kube-controller-manager next
to its own kube-apiserver; issue 10 also runs it, unchanged, against sliceplane's server,
where delegated authentication and authorization are not served (no TokenReview or
SubjectAccessReview) and no service-account signing key exists. So this starts it from a
kubeconfig alone: without ``--authentication-kubeconfig``/``--authorization-kubeconfig``
kube-controller-manager serves its ``/healthz`` to anyone (an always-allowed path) and
checks nothing else, which is all a test needs. Only the controllers asked for run (by
default the three endpoint controllers), leader election is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

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

ENDPOINT_CONTROLLERS = (
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "endpoints-controller",
)


def kcm_argv(
    binary: Path,
    kubeconfig: Path,
    *,
    port: int,
    cert_dir: Path,
    controllers: Sequence[str],
    service_cidr: str,
    extra: Sequence[str] = (),
) -> list[str]:
    """kube-controller-manager's command line: ``controllers`` only, against ``kubeconfig``,
    serving ``/healthz`` on 127.0.0.1:``port``."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        f"--controllers={','.join(controllers)}",
        f"--service-cluster-ip-range={service_cidr}",
        "--profiling=false",
        *extra,
    ]


class ControllerManager:
    """One kube-controller-manager process; ``start()`` returns once ``/healthz`` is ok."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        binaries: Binaries | None = None,
        controllers: Sequence[str] = ENDPOINT_CONTROLLERS,
        service_cidr: str = "10.96.0.0/12",
        extra_args: Sequence[str] = (),
        name: str = "kube-controller-manager",
        start_timeout: float = 90.0,
        stop_grace: float = 15.0,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self._binaries = binaries
        self.controllers = tuple(controllers)
        self.service_cidr = service_cidr
        self.extra_args = tuple(extra_args)
        self.name = name
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.url = ""
        self._component: Component | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "logs" / f"{self.name}.log"

    def tail(self, lines: int = 40) -> str:
        return self._component.tail(lines) if self._component else "(not started)"

    def __enter__(self) -> ControllerManager:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControllerManager:
        if self._component is not None:
            raise ControlPlaneError("already started")
        binaries = self._binaries or find_binaries()
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            (port,) = free_ports(1)
            self.url = f"https://127.0.0.1:{port}"
            argv = kcm_argv(
                binaries.kube_controller_manager,
                self.kubeconfig,
                port=port,
                cert_dir=self.workdir / f"{self.name}-certs",
                controllers=self.controllers,
                service_cidr=self.service_cidr,
                extra=self.extra_args,
            )
            self._component = spawn(self.name, argv, self.workdir / "logs")
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
                if attempt == 2:
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
