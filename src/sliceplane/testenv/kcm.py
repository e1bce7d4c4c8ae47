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

from sliceplane.testenv.binaries import Binaries
from sliceplane.testenv.gocomponent import GoComponent

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


class ControllerManager(GoComponent):
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
        super().__init__(
            kubeconfig,
            workdir,
            name=name,
            binaries=binaries,
            extra_args=extra_args,
            start_timeout=start_timeout,
            stop_grace=stop_grace,
        )
        self.controllers = tuple(controllers)
        self.service_cidr = service_cidr

    def argv(self, binaries: Binaries, port: int) -> list[str]:
        return kcm_argv(
            binaries.kube_controller_manager,
            self.kubeconfig,
            port=port,
            cert_dir=self.cert_dir,
            controllers=self.controllers,
            service_cidr=self.service_cidr,
            extra=self.extra_args,
        )
