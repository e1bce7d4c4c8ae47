"""The ``sliceplane apiserver`` child process of ``sliceplane up``: started, watched, stopped.

The API server runs in its own process (its durability does not depend on the
controllers, and the two processes use the machine's two cores). It is started with the
same interpreter, its output goes to ``DATA_DIR/apiserver.log``, and it is ready when that
log says where it listens.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from sliceplane.cluster.config import ClusterConfig, ClusterError


class APIServerProcess:
    """The ``sliceplane apiserver`` child: started, watched, stopped."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = config.data_dir / "apiserver.log"

    def start(self, timeout: float = 30.0) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "sliceplane.cli.main",
            "apiserver",
            "--data-dir",
            str(cfg.data_dir),
            "--listen",
            cfg.listen,
            "--service-cidr",
            cfg.service_cidrs(),
            *cfg.extra_apiserver_args,
        ]
        if cfg.insecure_http:
            cmd.append("--insecure-http")
        if cfg.runtime == "process":
            # Without root, process pods listen on 127.x addresses; let slices carry them.
            cmd.append("--allow-loopback-endpoints")
            # The runtime's pod directories hold the containers' logs (pods/log).
            cmd += ["--pod-logs-dir", str(cfg.data_dir / "pods")]
            # exec and port-forward into the pods this cluster runs as local processes
            cmd.append("--serve-process-pods")
        with open(self.log_path, "ab") as log_file:
            offset = log_file.tell()
            self.proc = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode(errors="replace")
            m = re.search(r"listening on (\S+)", text)
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                last = text.strip().splitlines()[-1:] or ["exited"]
                raise ClusterError(f"the API server did not start: {last[0]}")
            time.sleep(0.05)
        self.stop()
        raise ClusterError(f"the API server did not start in {timeout:.0f}s; see {self.log_path}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
