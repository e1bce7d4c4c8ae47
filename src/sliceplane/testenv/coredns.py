"""CoreDNS with its kubernetes plugin, as a process on loopback: the oracle for DNS.

``make coredns-bin`` (``tools/coredns/build.sh``) builds the version pinned in
``tools/coredns`` into ``${SLICEPLANE_COREDNS_CACHE:-~/.cache/sliceplane/coredns}/VERSION``.
:class:`CoreDNS` writes a Corefile serving ``cluster.local in-addr.arpa ip6.arpa`` from a
kubeconfig (the differential tests point it at ``ControlPlane``'s kube-apiserver), binds
127.0.0.1 on a free port, and waits until it answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

REPO_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "coredns"
ENV_CACHE = "SLICEPLANE_COREDNS_CACHE"


class CoreDNSNotFound(RuntimeError):
    pass


def coredns_version() -> str:
    try:
        return (REPO_TOOLS / "VERSION").read_text().strip()
    except OSError:
        raise CoreDNSNotFound(f"no {REPO_TOOLS / 'VERSION'}") from None


def find_coredns() -> Path:
    """The built binary, or :class:`CoreDNSNotFound` saying how to build it."""
    root = os.environ.get(ENV_CACHE) or str(Path.home() / ".cache" / "sliceplane" / "coredns")
    path = Path(root) / coredns_version() / "coredns"
    if not os.access(path, os.X_OK):
        raise CoreDNSNotFound(f"{path} not found; build it with `make coredns-bin`")
    return path


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise OSError("no port free for both UDP and TCP")


class CoreDNS:
    """One CoreDNS process. ``options`` are lines inside the ``kubernetes`` block."""

    def __init__(
        self,
        kubeconfig: Path,
        *,
        options: tuple[str, ...] = (),
        domain: str = "cluster.local",
        ttl: int = 5,
        workdir: Path | None = None,
        binary: Path | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.options = options
        self.domain = domain
        self.ttl = ttl
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="sliceplane-coredns-"))
        self.binary = binary or find_coredns()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "coredns.log"

    def corefile(self) -> str:
        inner = "\n".join(
            [f"        kubeconfig {self.kubeconfig}", f"        ttl {self.ttl}"]
            + [f"        {o}" for o in self.options]
        )
        # The server block is keyed by the zones (not ``.``), so names outside them are
        # REFUSED by the server, as sliceplane does; under ``.`` without a forwarder the
        # plugin's fall-through ends in SERVFAIL.
        keys = " ".join(f"{z}:{self.port}" for z in (self.domain, "in-addr.arpa", "ip6.arpa"))
        return (
            f"{keys} {{\n"
            "    bind 127.0.0.1\n"
            f"    kubernetes {self.domain} in-addr.arpa ip6.arpa {{\n{inner}\n    }}\n"
            "}\n"
        )

    def start(self, timeout: float = 60.0) -> CoreDNS:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        path = self.workdir / "Corefile"
        path.write_text(self.corefile())
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [str(self.binary), "-conf", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        q = dns.message.make_query(f"dns-version.{self.domain}", "TXT")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("coredns exited:\n" + self.log_path.read_text())
            with contextlib.suppress(Exception):
                r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.5)
                if r.rcode() == dns.rcode.NOERROR:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("coredns did not answer:\n" + self.log_path.read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> CoreDNS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
