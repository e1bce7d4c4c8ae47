"""``sliceplane up --kube-api-qps/--kube-api-burst``: handed to the endpoint controllers."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sliceplane.cli.main import app
from sliceplane.client.throttle import DEFAULT_BURST, DEFAULT_QPS
from sliceplane.cluster.config import ClusterConfig


def test_defaults_are_kube_controller_managers(tmp_path: Path) -> None:
    cfg = ClusterConfig(data_dir=tmp_path)
    assert (cfg.kube_api_qps, cfg.kube_api_burst) == (DEFAULT_QPS, DEFAULT_BURST) == (20.0, 30)


def test_negative_burst_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["up", "--data-dir", str(data), "--kube-api-burst", "-1"])
    assert result.exit_code == 2
    assert result.stderr == "error: --kube-api-burst: -1 must not be negative\n"
    assert not data.exists()
