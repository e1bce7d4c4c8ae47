"""``sliceplane up``'s pod ranges: ClusterConfig validation and the CLI's one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sliceplane.cli.main import app
from sliceplane.cluster.config import ClusterConfig, ClusterError
from sliceplane.workloads.kubelet.podcidr import ClusterCIDRs


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        pytest.param({"nodes": 1000}, ClusterCIDRs(), id="default-fits-1000-nodes"),
        pytest.param({"nodes": 1024}, ClusterCIDRs(), id="default-fits-1024-nodes"),
        pytest.param(
            {"nodes": 3000, "cluster_cidr": "10.128.0.0/12"},
            ClusterCIDRs(ipv4="10.128.0.0/12"),
            id="wider-range",
        ),
        pytest.param(
            {"nodes": 500, "cluster_cidr": "10.244.0.0/16", "node_cidr_mask_size": 25},
            ClusterCIDRs(ipv4="10.244.0.0/16", node_mask_ipv4=25),
            id="smaller-node-ranges",
        ),
        pytest.param({"nodes": 1000, "dual_stack": True}, ClusterCIDRs(), id="dual-stack"),
        pytest.param(
            {"nodes": 200, "dual_stack": True, "cluster_cidr": "10.244.0.0/16,fd00:7::/56"},
            ClusterCIDRs(ipv4="10.244.0.0/16", ipv6="fd00:7::/56"),
            id="dual-stack-explicit",
        ),
    ],
)
def test_pod_cidrs(tmp_path: Path, kw: dict[str, Any], expected: ClusterCIDRs) -> None:
    cfg = ClusterConfig(data_dir=tmp_path, **kw)
    cfg.validate()
    assert cfg.pod_cidrs() == expected


ERRORS = [
    pytest.param(
        {"cluster_cidr": "10.244.0.0/16", "nodes": 300},
        "--cluster-cidr 10.244.0.0/16 holds 256 /24 node pod ranges, fewer than --nodes 300; "
        "use a wider range",
        id="too-many-nodes",
    ),
    pytest.param(
        {"nodes": 1000, "dual_stack": True, "cluster_cidr": "10.244.0.0/14,fd00:7::/56"},
        "--cluster-cidr fd00:7::/56 holds 256 /64 node pod ranges, fewer than --nodes 1000; "
        "use a wider range",
        id="too-many-nodes-ipv6",
    ),
    pytest.param(
        {"cluster_cidr": "10.0.0.0/8"},
        "--cluster-cidr 10.0.0.0/8 overlaps the service range 10.96.0.0/12",
        id="overlaps-services",
    ),
    pytest.param(
        {"cluster_cidr": "10.244.0.0/16", "node_cidr_mask_size": 26},
        "--node-cidr-mask-size 26 leaves 61 pod addresses per node, fewer than the 110 pods "
        "a node may run",
        id="node-range-too-small",
    ),
    pytest.param(
        {"cluster_cidr": "10.244.0.0/24", "node_cidr_mask_size": 16},
        "--cluster-cidr 10.244.0.0/24 is smaller than one /16 node pod range",
        id="mask-wider-than-range",
    ),
    pytest.param(
        {"node_cidr_mask_size": 33},
        "--node-cidr-mask-size: 33 is not an IPv4 prefix length",
        id="bad-mask",
    ),
    pytest.param(
        {"cluster_cidr": "10.244.0.0/14/2"},
        "--cluster-cidr: '10.244.0.0/14/2' is not a CIDR (like 10.244.0.0/14)",
        id="not-a-cidr",
    ),
]


@pytest.mark.parametrize(("kw", "message"), ERRORS)
def test_pod_cidr_errors(tmp_path: Path, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ClusterError) as exc:
        ClusterConfig(data_dir=tmp_path, **kw).validate()
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--cluster-cidr", "10.244.0.0/33"],
            "error: --cluster-cidr: '10.244.0.0/33' is not a CIDR (like 10.244.0.0/14)",
            id="invalid",
        ),
        pytest.param(
            ["--cluster-cidr", "10.244.3.0/16"],
            "error: --cluster-cidr: 10.244.3.0/16 has host bits set (the range is 10.244.0.0/16)",
            id="host-bits",
        ),
        pytest.param(
            ["--nodes", "1025"],
            "error: --cluster-cidr 10.244.0.0/14 holds 1024 /24 node pod ranges, fewer than "
            "--nodes 1025; use a wider range",
            id="default-range-full",
        ),
    ],
)
def test_up_rejects_bad_pod_ranges_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Exit 2 (usage), one line on stderr, no traceback, nothing started."""
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["up", "--data-dir", str(data), *args])
    assert result.exit_code == 2
    assert result.stderr == message + "\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not data.exists()
