"""Start and stop upstream etcd, kube-apiserver and kube-controller-manager on loopback.

Everything a real cluster needs to trust itself is generated per run (a CA, the API
server's serving certificate, the service-account signing key pair, an admin token), so
nothing is shared between runs or with the machine. Processes are plain children in their
own session, logging to files in the work directory; they are stopped by PID (SIGTERM, then
SIGKILL), and a PID recorded in ``pids.json`` is only signalled while the process still has
the start time recorded with it, so a reused PID is never hit.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from sliceplane.apiserver.pki import write_file
from sliceplane.testenv.binaries import (
    Binaries,
    BinariesNotFound,
    binary_dir,
    find_binaries,
    k8s_version,
)
from sliceplane.testenv.pki import FRONT_PROXY_CLIENT, Pki, make_pki
from sliceplane.testenv.processes import (
    Component,
    ControlPlaneError,
    PortTaken,
    alive,
    free_ports,
    spawn,
    ssl_context,
    terminate_pid,
    wait_http_ok,
)

__all__ = [
    "ADMIN_USER",
    "WITHOUT_ENDPOINT_CONTROLLERS",
    "Binaries",
    "BinariesNotFound",
    "ControlPlane",
    "ControlPlaneError",
    "binary_dir",
    "find_binaries",
    "free_ports",
    "k8s_version",
    "stop_recorded",
]

# The endpoints/endpointslice controllers are what sliceplane replaces; a caller comparing
# against upstream keeps them, a caller running sliceplane's own next to it removes them.
WITHOUT_ENDPOINT_CONTROLLERS = (
    "*",
    "-endpointslice-controller",
    "-endpointslice-mirroring-controller",
    "-endpoints-controller",
)

ADMIN_USER = "sliceplane-admin"
PIDS_FILE = "pids.json"


class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on 127.0.0.1, random ports.

    Use as a context manager, or ``start()``/``stop()``. ``workdir`` holds certificates,
    etcd's data, logs and the admin kubeconfig; a temporary one is made (and removed by
    ``stop()``) when none is given, while a given one is kept.

    ``advertise_address`` is what the ``kubernetes`` Service points at. Endpoints reject
    loopback addresses, so with the default 127.0.0.1 the endpoint reconciler is turned off
    (``--endpoint-reconciler-type=none``): the ``default/kubernetes`` Service exists but has
    no endpoints. A non-loopback address that nothing dials (e.g. from 192.0.2.0/24) turns
    the lease reconciler back on for callers that compare that Service too.

    ``serving_ips`` are further addresses the serving certificate is valid for, for a
    server reached other than by loopback (the proxy tests dial it from other network
    namespaces; add ``--bind-address`` to ``apiserver_args`` then).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        binaries: Binaries | None = None,
        with_controller_manager: bool = False,
        controllers: Sequence[str] = ("*",),
        authorization_mode: str = "AlwaysAllow",
        service_cidr: str = "10.96.0.0/12",
        advertise_address: str = "127.0.0.1",
        disable_admission_plugins: Sequence[str] = ("ServiceAccount",),
        unsafe_no_fsync: bool = False,
        apiserver_args: Sequence[str] = (),
        controller_manager_args: Sequence[str] = (),
        etcd_args: Sequence[str] = (),
        serving_ips: Sequence[str] = (),
        start_timeout: float = 90.0,
        stop_grace: float = 15.0,
    ) -> None:
        self._binaries = binaries
        self._owns_workdir = workdir is None
        self._workdir = Path(workdir) if workdir is not None else None
        self.with_controller_manager = with_controller_manager
        self.controllers = tuple(controllers)
        self.authorization_mode = authorization_mode
        self.service_cidr = service_cidr
        self.advertise_address = advertise_address
        self.disable_admission_plugins = tuple(disable_admission_plugins)
        self.unsafe_no_fsync = unsafe_no_fsync
        self.apiserver_args = tuple(apiserver_args)
        self.controller_manager_args = tuple(controller_manager_args)
        self.etcd_args = tuple(etcd_args)
        self.serving_ips = tuple(serving_ips)
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace

        self.token = secrets.token_urlsafe(32)
        self.url = ""
        self.etcd_url = ""
        self.controller_manager_url = ""
        self._components: list[Component] = []
        self._pki: Pki | None = None

    # ------------------------------------------------------------------ accessors

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ControlPlaneError("not started")
        return self._workdir

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (token user in ``system:masters``)."""
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def pids(self) -> dict[str, int]:
        """PID of each running component, by binary name."""
        return {c.name: c.pid for c in self._components}

    @property
    def version(self) -> str:
        return self._binaries.version if self._binaries else k8s_version()

    def log_file(self, component: str) -> Path:
        return self.workdir / "logs" / f"{component}.log"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        """Start every component and return once kube-apiserver's ``/readyz`` says ok."""
        if self._components:
            raise ControlPlaneError("already started")
        if self._binaries is None:
            self._binaries = find_binaries()
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="sliceplane-k8s-"))
        for sub in ("pki", "logs", "etcd"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        try:
            net = ipaddress.ip_network(self.service_cidr.split(",")[0], strict=False)
            self._pki = make_pki(
                self.workdir / "pki", str(net.network_address + 1), self.serving_ips
            )
            self._with_port_retry(self._start_etcd)
            self._with_port_retry(self._start_apiserver)
            if self.with_controller_manager:
                self._with_port_retry(self._start_controller_manager)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop components newest first (SIGTERM, SIGKILL after the grace period)."""
        for component in reversed(self._components):
            component.stop(self.stop_grace)
        self._components.clear()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def stop_component(self, name: str) -> None:
        """Stop one component for good (``kube-controller-manager``): the rest keeps
        running, so a test sees what a cluster whose controllers crashed or were never
        deployed looks like through the API. ``stop()`` later stops the others."""
        for component in self._components:
            if component.name == name:
                component.stop(self.stop_grace)
                self._components.remove(component)
                return
        raise ControlPlaneError(f"no running component named {name!r}")

    def _with_port_retry(self, start: Callable[[], None], attempts: int = 3) -> None:
        """Run one component's start, again on fresh ports if another process won the race
        for a port between :func:`free_ports` closing it and the component binding it."""
        for attempt in range(attempts):
            try:
                start()
                return
            except PortTaken:
                if attempt == attempts - 1:
                    raise
                failed = self._components.pop()
                failed.stop(self.stop_grace)
                failed.log.rename(failed.log.with_suffix(f".port-taken-{attempt}.log"))

    def detach(self) -> dict[str, Any]:
        """Forget the processes (they keep running) and record them in ``pids.json``.

        Used by ``sliceplane testenv up``: the recorded PIDs and start times are what
        :func:`stop_recorded` later signals.
        """
        state = self.state()
        write_file(self.workdir / PIDS_FILE, json.dumps(state, indent=2) + "\n")
        for c in self._components:
            c.forget()
        self._components.clear()
        self._owns_workdir = False
        return state

    def state(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "url": self.url,
            "etcd_url": self.etcd_url,
            "controller_manager_url": self.controller_manager_url,
            "kubeconfig": str(self.kubeconfig),
            "token": self.token,
            "processes": [
                {"name": c.name, "pid": c.pid, "start_time": c.start_time, "log": str(c.log)}
                for c in self._components
            ],
        }

    # ------------------------------------------------------------------ components

    def _start_etcd(self) -> None:
        assert self._binaries is not None
        client_port, peer_port = free_ports(2)
        self.etcd_url = f"http://127.0.0.1:{client_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        argv = [
            str(self._binaries.etcd),
            "--name=testenv",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=testenv={peer}",
            "--initial-cluster-state=new",
            "--log-level=warn",
        ]
        if self.unsafe_no_fsync:
            argv.append("--unsafe-no-fsync")
        argv += self.etcd_args
        etcd = spawn("etcd", argv, self.workdir / "logs")
        self._components.append(etcd)
        wait_http_ok(etcd, f"{self.etcd_url}/health", self.start_timeout, expect=b'"true"')

    def _start_apiserver(self) -> None:
        assert self._binaries is not None and self._pki is not None
        (port,) = free_ports(1)
        self.url = f"https://127.0.0.1:{port}"
        pki = self._pki
        tokens = write_file(
            self.workdir / "pki" / "tokens.csv",
            f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n',
        )
        argv = [
            str(self._binaries.kube_apiserver),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--advertise-address={self.advertise_address}",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
            f"--proxy-client-key-file={pki.front_proxy_client_key}",
            f"--token-auth-file={tokens}",
            f"--authorization-mode={self.authorization_mode}",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--profiling=false",
        ]
        if self.authorization_mode == "AlwaysAllow":
            # kube-apiserver turns anonymous requests off itself in this mode (and warns).
            argv.append("--anonymous-auth=false")
        if ipaddress.ip_address(self.advertise_address).is_loopback:
            argv.append("--endpoint-reconciler-type=none")
        if self.disable_admission_plugins:
            argv.append(f"--disable-admission-plugins={','.join(self.disable_admission_plugins)}")
        argv += self.apiserver_args
        self._write_kubeconfig()
        apiserver = spawn("kube-apiserver", argv, self.workdir / "logs")
        self._components.append(apiserver)
        wait_http_ok(
            apiserver,
            f"{self.url}/readyz",
            self.start_timeout,
            ctx=ssl_context(pki.ca_cert),
            token=self.token,
            expect=b"ok",
        )

    def _start_controller_manager(self) -> None:
        assert self._binaries is not None and self._pki is not None
        (port,) = free_ports(1)
        self.controller_manager_url = f"https://127.0.0.1:{port}"
        kubeconfig = str(self.kubeconfig)
        argv = [
            str(self._binaries.kube_controller_manager),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'pki' / 'kcm'}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--controllers={','.join(self.controllers)}",
            f"--service-account-private-key-file={self._pki.sa_key}",
            f"--root-ca-file={self._pki.ca_cert}",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--profiling=false",
        ]
        argv += self.controller_manager_args
        kcm = spawn("kube-controller-manager", argv, self.workdir / "logs")
        self._components.append(kcm)
        # /healthz is on kcm's always-allowed paths; its serving certificate is self-signed.
        wait_http_ok(
            kcm,
            f"{self.controller_manager_url}/healthz",
            self.start_timeout,
            ctx=ssl_context(None),
            expect=b"ok",
        )

    def _write_kubeconfig(self) -> None:
        assert self._pki is not None
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "testenv",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority": str(self._pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "testenv",
                    "context": {
                        "cluster": "testenv",
                        "user": ADMIN_USER,
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "testenv",
            "preferences": {},
        }
        write_file(self.kubeconfig, yaml.safe_dump(config, sort_keys=False))


def stop_recorded(workdir: str | os.PathLike[str], grace: float = 15.0) -> list[str]:
    """Stop what ``ControlPlane.detach()`` recorded in ``workdir/pids.json``.

    Newest first, and only processes whose start time still matches; returns the names of
    the components that were signalled. The file is removed afterwards.
    """
    path = Path(workdir) / PIDS_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    stopped: list[str] = []
    for entry in reversed(state.get("processes") or []):
        pid = int(entry["pid"])
        start_time = entry.get("start_time")
        if alive(pid, start_time):
            terminate_pid(pid, start_time, grace)
            stopped.append(str(entry.get("name")))
    path.unlink(missing_ok=True)
    return stopped
