"""What an exec into a process-runtime container runs with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sliceplane.workloads.kubelet.execenv import exec_environment


def pod(**container: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    c = {"name": "web", "command": ["x"], **container}
    p = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"nodeName": "n", "containers": [c]},
        "status": {"podIP": "127.244.0.2", "podIPs": [{"ip": "127.244.0.2"}]},
    }
    return p, c


def test_env_is_the_containers_and_the_directory_the_pods(tmp_path: Path) -> None:
    (tmp_path / "ns_p_u1").mkdir()
    build = exec_environment(tmp_path, {"PATH": "/bin", "SECRET": "no"})
    p, c = pod(env=[{"name": "A", "value": "$(POD_NAME)-x"}], ports=[{"containerPort": 81}])
    env, cwd = build(p, c)
    assert env["PATH"] == "/bin" and "SECRET" not in env
    assert (env["POD_IP"], env["PORT"], env["A"], env["HOSTNAME"]) == (
        "127.244.0.2",
        "81",
        "p-x",
        "p",
    )
    assert cwd == str(tmp_path / "ns_p_u1")


def test_working_dir_wins_when_it_exists(tmp_path: Path) -> None:
    build = exec_environment(tmp_path, {})
    assert build(*pod(workingDir=str(tmp_path)))[1] == str(tmp_path)
    # neither the workingDir nor the pod directory exist: the server's own directory
    assert build(*pod(workingDir="/no/such/dir"))[1] is None
