"""Start and stop upstream etcd, kube-apiserver and kube-controller-manager on loopback.

Everything a real cluster needs to trust itself is generated per run (a CA, the API
server's serving certificate, the service-account signing key pair, an admin token), so
nothing is shared between runs or with the machine. Processes are plain children in their
own session, logging to files in the work directory; they are stopped by PID (SIGTERM, then
SIGKILL), and a PID recorded in ``pids.json`` is only signalled while the process still has
the start time recorded with it, so a reused PID is never hit.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ENV_CACHE = "SLICEPLANE_K8S_CACHE"
ENV_BIN_DIR = "SLICEPLANE_K8S_BIN_DIR"
ENV_VERSION = "SLICEPLANE_K8S_VERSION"

# tools/k8s/VERSION is the one place the Kubernetes version is written down; build.sh
# reads it too. src/sliceplane/testenv/controlplane.py -> repository root is parents[3].
_VERSION_FILE = Path(__file__).resolve().parents[3] / "tools" / "k8s" / "VERSION"

BINARY_NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy")

# The endpoints/endpointslice controllers are what sliceplane replaces; a caller comparing
# against upstream keeps them, a caller running sliceplane's own next to it removes them.
WITHOUT_ENDPOINT_CONTROLLERS = (
    "*",
    "-endpointslice-controller",
    "-endpointslice-mirroring-controller",
    "-endpoints-controller",
)

ADMIN_USER = "sliceplane-admin"
FRONT_PROXY_CLIENT = "front-proxy-client"
PIDS_FILE = "pids.json"


class ControlPlaneError(RuntimeError):
    """A component failed to start or to become ready (the message has its log's tail)."""


class _PortTaken(ControlPlaneError):
    """A component exited because a port picked as free was taken before it bound it."""


class BinariesNotFound(ControlPlaneError, FileNotFoundError):
    """The pinned binaries are not in the cache: ``make k8s-bin`` builds them."""


def k8s_version() -> str:
    """The pinned Kubernetes version (``tools/k8s/VERSION``), e.g. ``1.37.2``."""
    env = os.environ.get(ENV_VERSION)
    if env:
        return env.strip().lstrip("v")
    try:
        return _VERSION_FILE.read_text().strip().lstrip("v")
    except OSError as exc:
        raise BinariesNotFound(
            f"cannot tell the pinned Kubernetes version: {_VERSION_FILE} is unreadable"
            f" (set {ENV_VERSION} or {ENV_BIN_DIR})"
        ) from exc


def binary_dir(version: str | None = None) -> Path:
    """Where ``make k8s-bin`` puts the binaries (``$SLICEPLANE_K8S_BIN_DIR`` wins)."""
    explicit = os.environ.get(ENV_BIN_DIR)
    if explicit:
        return Path(explicit)
    root = os.environ.get(ENV_CACHE) or str(Path.home() / ".cache" / "sliceplane" / "k8s")
    return Path(root) / (version or k8s_version())


@dataclass(frozen=True, slots=True)
class Binaries:
    """Paths of the four upstream binaries of one version."""

    version: str
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_proxy: Path


def find_binaries(directory: Path | None = None) -> Binaries:
    """Locate the built binaries, or raise :class:`BinariesNotFound` saying how to build."""
    where = directory or binary_dir()
    missing = [n for n in BINARY_NAMES if not os.access(where / n, os.X_OK)]
    if missing:
        raise BinariesNotFound(
            f"Kubernetes binaries {', '.join(missing)} not found in {where}; "
            "build them with `make k8s-bin` (tools/k8s/build.sh)"
        )
    try:
        version = k8s_version()
    except BinariesNotFound:
        version = where.name
    return Binaries(
        version=version,
        etcd=where / "etcd",
        kube_apiserver=where / "kube-apiserver",
        kube_controller_manager=where / "kube-controller-manager",
        kube_proxy=where / "kube-proxy",
    )


# --------------------------------------------------------------------------- certificates


def _pem_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes | str, mode: int = 0o600) -> Path:
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return path


@dataclass(frozen=True, slots=True)
class _Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    front_proxy_ca_cert: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path
    sa_key: Path
    sa_pub: Path


_Key = ec.EllipticCurvePrivateKey


def _certificate(
    common_name: str,
    key: _Key,
    issuer: tuple[x509.Name, _Key] | None = None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    sans: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """A CA certificate when ``issuer`` is None (self-signed), else a leaf it signs."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key = issuer if issuer is not None else (name, key)
    is_ca = issuer is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _make_pki(directory: Path, service_ip: str) -> _Pki:
    """Everything kubeadm would put in /etc/kubernetes/pki that these components use.

    A cluster CA and the API server's serving certificate (every name clients use); a
    front-proxy CA and client, which kube-apiserver publishes in
    ``kube-system/extension-apiserver-authentication`` so that delegated authentication
    in kube-controller-manager finds a complete configuration; and the service-account
    signing pair. ECDSA P-256 keeps generation in milliseconds; the service-account key is
    RSA because every token consumer accepts RS256.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("sliceplane-testenv-ca", ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    serving = _certificate(
        "kube-apiserver",
        key,
        (ca.subject, ca_key),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address(service_ip)),
        ],
    )
    fp_ca_key = ec.generate_private_key(ec.SECP256R1())
    fp_ca = _certificate("sliceplane-testenv-front-proxy-ca", fp_ca_key)
    fp_key = ec.generate_private_key(ec.SECP256R1())
    fp_client = _certificate(
        FRONT_PROXY_CLIENT,
        fp_key,
        (fp_ca.subject, fp_ca_key),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _Pki(
        ca_cert=_write(directory / "ca.crt", ca.public_bytes(pem), 0o644),
        serving_cert=_write(directory / "apiserver.crt", serving.public_bytes(pem), 0o644),
        serving_key=_write(directory / "apiserver.key", _pem_key(key)),
        front_proxy_ca_cert=_write(
            directory / "front-proxy-ca.crt", fp_ca.public_bytes(pem), 0o644
        ),
        front_proxy_client_cert=_write(
            directory / "front-proxy-client.crt", fp_client.public_bytes(pem), 0o644
        ),
        front_proxy_client_key=_write(directory / "front-proxy-client.key", _pem_key(fp_key)),
        sa_key=_write(directory / "sa.key", _pem_key(sa_key)),
        sa_pub=_write(directory / "sa.pub", sa_pub, 0o644),
    )


# --------------------------------------------------------------------------- processes


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


def _proc_start_time(pid: int) -> int | None:
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


def _alive(pid: int, start_time: int | None) -> bool:
    now = _proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def _terminate_pid(pid: int, start_time: int | None, grace: float) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; a no-op if it is not ours."""
    if not _alive(pid, start_time):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid, start_time):
            return
        time.sleep(0.05)
    if _alive(pid, start_time):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid, start_time):
            time.sleep(0.05)


@dataclass
class _Component:
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
            error = _PortTaken if "address already in use" in self.tail() else ControlPlaneError
            raise error(
                f"{self.name} exited with code {rc} while starting; log {self.log}:\n" + self.tail()
            )

    def stop(self, grace: float) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _spawn(name: str, argv: list[str], log_dir: Path) -> _Component:
    log = log_dir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")}
    env.pop("KUBECONFIG", None)
    with open(log, "ab") as out:
        # A session of its own: Ctrl-C in a terminal running pytest reaches pytest only, so
        # teardown (not the signal) decides the order things stop in.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return _Component(name, proc, log, _proc_start_time(proc.pid))


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
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


def _wait_http_ok(
    component: _Component,
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


# --------------------------------------------------------------------------- control plane


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
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace

        self.token = secrets.token_urlsafe(32)
        self.url = ""
        self.etcd_url = ""
        self.controller_manager_url = ""
        self._components: list[_Component] = []
        self._pki: _Pki | None = None

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
            self._pki = _make_pki(self.workdir / "pki", str(net.network_address + 1))
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

    def _with_port_retry(self, start: Callable[[], None], attempts: int = 3) -> None:
        """Run one component's start, again on fresh ports if another process won the race
        for a port between :func:`free_ports` closing it and the component binding it."""
        for attempt in range(attempts):
            try:
                start()
                return
            except _PortTaken:
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
        _write(self.workdir / PIDS_FILE, json.dumps(state, indent=2) + "\n")
        for c in self._components:
            # Popen would warn about a still-running child when collected.
            c.proc.returncode = 0
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
        etcd = _spawn("etcd", argv, self.workdir / "logs")
        self._components.append(etcd)
        _wait_http_ok(etcd, f"{self.etcd_url}/health", self.start_timeout, expect=b'"true"')

    def _start_apiserver(self) -> None:
        assert self._binaries is not None and self._pki is not None
        (port,) = free_ports(1)
        self.url = f"https://127.0.0.1:{port}"
        pki = self._pki
        tokens = _write(
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
        apiserver = _spawn("kube-apiserver", argv, self.workdir / "logs")
        self._components.append(apiserver)
        _wait_http_ok(
            apiserver,
            f"{self.url}/readyz",
            self.start_timeout,
            ctx=_ssl_context(pki.ca_cert),
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
        kcm = _spawn("kube-controller-manager", argv, self.workdir / "logs")
        self._components.append(kcm)
        # /healthz is on kcm's always-allowed paths; its serving certificate is self-signed.
        _wait_http_ok(
            kcm,
            f"{self.controller_manager_url}/healthz",
            self.start_timeout,
            ctx=_ssl_context(None),
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
        _write(self.kubeconfig, yaml.safe_dump(config, sort_keys=False))


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
        if _alive(pid, start_time):
            _terminate_pid(pid, start_time, grace)
            stopped.append(str(entry.get("name")))
    path.unlink(missing_ok=True)
    return stopped
