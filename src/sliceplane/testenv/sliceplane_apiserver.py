"""sliceplane's embedded API server as a process, for upstream components to run against.

Issue 10 asks whether upstream's own components (kube-controller-manager, kube-proxy,
kube-scheduler) work unchanged against sliceplane's server. They are Go programs that dial
a kubeconfig and verify the serving certificate, so the server runs as ``sliceplane
apiserver`` with TLS and a bearer token, and its certificate carries every address a
component dials (``--tls-san``; a component in another network namespace reaches it at
the control plane's address, not loopback). The credentials are made before the process
starts (the same files the server makes itself at first start), so the token and CA are
known without waiting for the server to write them.

:class:`SliceplaneAPIServer` has the attributes the rest of ``testenv`` reads from a
:class:`~sliceplane.testenv.controlplane.ControlPlane` (``url``, ``token``, ``ca_file``,
``kubeconfig``, ``workdir``, ``start``/``stop``), so a test or the proxy lab can take
either.
"""

from __future__ import annotations

import ipaddress
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import yaml

from sliceplane.apiserver.certs import ensure_credentials
from sliceplane.apiserver.pki import write_file
from sliceplane.testenv.processes import (
    Component,
    ControlPlaneError,
    PortTaken,
    free_ports,
    spawn,
    ssl_context,
    wait_http_ok,
)

USER = "sliceplane-admin"


def default_executable() -> Path:
    """The ``sliceplane`` console script next to this interpreter (the venv's)."""
    return Path(sys.executable).parent / "sliceplane"


class SliceplaneAPIServer:
    """``sliceplane apiserver`` on ``host`` (a free port), HTTPS with a token.

    ``host`` is where it listens (``0.0.0.0`` to be reached from other namespaces);
    ``tls_sans`` are further addresses the serving certificate is valid for. ``url`` is
    always a loopback URL (127.0.0.1 when ``host`` is unspecified), and ``kubeconfig``
    names it; other kubeconfigs are for callers to write from ``token`` and ``ca_file``.
    ``workdir`` holds the data directory, logs and the kubeconfig; a temporary one is made
    (and removed by ``stop()``) when none is given.
    """

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        tls_sans: Sequence[str] = (),
        service_cidr: str = "10.96.0.0/12",
        extra_args: Sequence[str] = (),
        executable: Path | None = None,
        start_timeout: float = 60.0,
        stop_grace: float = 15.0,
    ) -> None:
        self._owns_workdir = workdir is None
        self._workdir = Path(workdir) if workdir is not None else None
        self.host = host
        self.tls_sans = tuple(tls_sans)
        self.service_cidr = service_cidr
        self.extra_args = tuple(extra_args)
        self.executable = executable or default_executable()
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.url = ""
        self.token = ""
        self._component: Component | None = None

    # ------------------------------------------------------------------ accessors

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ControlPlaneError("not started")
        return self._workdir

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    @property
    def kubeconfig(self) -> Path:
        """A kubeconfig for ``url`` with the CA as a file (as testenv's own)."""
        return self.workdir / "kubeconfig"

    @property
    def pids(self) -> dict[str, int]:
        return {} if self._component is None else {"sliceplane-apiserver": self._component.pid}

    def log_file(self) -> Path:
        return self.workdir / "logs" / "sliceplane-apiserver.log"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> SliceplaneAPIServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> SliceplaneAPIServer:
        """Start the server and return once ``/readyz`` answers ``ok`` with the token."""
        if self._component is not None:
            raise ControlPlaneError("already started")
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="sliceplane-apiserver-"))
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        # The same host list the server passes ensure_credentials, so it reuses these files.
        creds = ensure_credentials(self.data_dir, [self.host, *self.tls_sans])
        self.token = creds.token
        try:
            for attempt in range(3):
                try:
                    self._spawn()
                    break
                except PortTaken:
                    if attempt == 2:
                        raise
                    self._stop_component()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        (port,) = free_ports(1)
        dial = "127.0.0.1" if ipaddress.ip_address(self.host).is_unspecified else self.host
        shown = f"[{dial}]" if ":" in dial else dial
        self.url = f"https://{shown}:{port}"
        listen = f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"
        argv = [
            str(self.executable),
            "apiserver",
            f"--data-dir={self.data_dir}",
            f"--listen={listen}",
            f"--service-cidr={self.service_cidr}",
            *(f"--tls-san={san}" for san in self.tls_sans),
            *self.extra_args,
        ]
        self._write_kubeconfig()
        self._component = spawn("sliceplane-apiserver", argv, self.workdir / "logs")
        wait_http_ok(
            self._component,
            f"{self.url}/readyz",
            self.start_timeout,
            ctx=ssl_context(self.ca_file),
            token=self.token,
            expect=b"ok",
        )

    def _stop_component(self) -> None:
        if self._component is not None:
            self._component.stop(self.stop_grace)
            self._component = None

    def stop(self) -> None:
        """SIGTERM (SIGKILL after the grace period); a temporary workdir is removed."""
        self._stop_component()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def check_running(self) -> None:
        """Raise, with the log's tail, if the server has exited."""
        if self._component is None:
            raise ControlPlaneError("not started")
        self._component.check_running()

    def _write_kubeconfig(self) -> None:
        write_file(self.kubeconfig, kubeconfig_text(self.url, self.ca_file, self.token))


def kubeconfig_text(server: str, ca_file: Path, token: str, name: str = "sliceplane") -> str:
    """A token kubeconfig for ``server`` whose CA is a file (what Go clients and kubectl
    read alike)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": USER, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": USER, "namespace": "default"}}
        ],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)
