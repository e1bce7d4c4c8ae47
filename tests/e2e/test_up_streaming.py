"""``sliceplane up --runtime process`` (the real command) with ``kubectl port-forward
svc/...`` and ``kubectl exec``: what a user types after ``make demo``."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sliceplane.cluster.walkthrough import BIN, Walkthrough

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    w = Walkthrough(Path(tmp_path_factory.mktemp("up-stream")), runtime="process")
    w.start()
    try:
        yield w
    finally:
        w.stop()


def test_port_forward_a_service_then_exec_into_its_pod(walk: Walkthrough) -> None:
    walk.step_hello_deploy(1)
    walk.wait(lambda: walk.ready_endpoints("hello") == 1, "a ready hello pod")
    (pod,) = [p["metadata"]["name"] for p in walk.json("get", "pods", "-l", "app=hello")["items"]]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    pf = subprocess.Popen(
        [str(BIN / "kubectl"), "port-forward", "svc/hello", f"{local}:80"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=walk.env,
    )
    try:
        assert pf.stdout is not None
        assert b"Forwarding from 127.0.0.1:" in pf.stdout.readline()
        out = subprocess.run(
            ["curl", "-s", "--max-time", "10", f"http://127.0.0.1:{local}/"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout == f"{pod}\n"
    finally:
        pf.terminate()
        pf.wait(15)

    res = subprocess.run(
        [str(BIN / "kubectl"), "exec", pod, "--", "sh", "-c", 'echo "$POD_NAME $PORT"; exit 7'],
        capture_output=True,
        text=True,
        env=walk.env,
        timeout=60,
    )
    assert (res.returncode, res.stdout) == (7, f"{pod} 8080\n"), res.stderr
