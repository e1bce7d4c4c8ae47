"""The proxy process's bookkeeping without I/O: families from the Node and flags, metrics
with kube-proxy's names (network programming latency from the slices' trigger times),
/healthz's rule, and flag validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from sliceplane.client.client import Client
from sliceplane.machinery.clock import FakeClock
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.fakes import FakeNft
from sliceplane.proxy.modes import NftablesMode
from sliceplane.proxy.proxier import Proxier
from sliceplane.proxy.server import (
    ConfigError,
    ProxyConfig,
    ProxyServer,
    families_for,
    render_config,
)
from sliceplane.proxy.syncloop import SyncLoop


def node(*addresses: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z"}},
        "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]},
    }


@pytest.mark.parametrize(
    ("the_node", "cidr", "families"),
    [
        pytest.param(None, "", [4], id="nothing known: IPv4"),
        pytest.param(node("10.0.0.1"), "", [4], id="IPv4 node"),
        pytest.param(node("fd00::1"), "", [6], id="IPv6 node"),
        pytest.param(node("10.0.0.1", "fd00::1"), "", [4, 6], id="dual-stack node"),
        pytest.param(node("10.0.0.1"), "10.244.0.0/16,fd00:10:244::/56", [4, 6], id="cidrs"),
    ],
)
def test_families(the_node: dict[str, Any] | None, cidr: str, families: list[int]) -> None:
    assert families_for(the_node, ProxyConfig(cluster_cidr=cidr).cidrs()) == families


def test_render_config_from_node_and_flags() -> None:
    cfg = render_config(
        ProxyConfig(cluster_cidr="10.244.0.0/16", masquerade_all=True), 4, node("10.0.0.1")
    )
    assert (cfg.node_ip, cfg.nodeport_ips, cfg.cluster_cidr, cfg.masquerade_all) == (
        "10.0.0.1",
        ("10.0.0.1",),
        "10.244.0.0/16",
        True,
    )
    assert cfg.mark == "0x004000"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(ProxyConfig(hostname_override="n", proxy_mode="x"), "--proxy-mode", id="mode"),
        pytest.param(ProxyConfig(), "--hostname-override", id="no node"),
        pytest.param(ProxyConfig(hostname_override="n", sync_period=0), "--sync-period", id="0"),
        pytest.param(
            ProxyConfig(hostname_override="n", cluster_cidr="10.0.0.0/8,10.1.0.0/16"),
            "at most one IPv4",
            id="two v4 cidrs",
        ),
        pytest.param(
            ProxyConfig(hostname_override="n", metrics_bind_address="10249"),
            "HOST:PORT",
            id="address",
        ),
    ],
)
def test_validation(config: ProxyConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.validate()
    ProxyConfig(cleanup=True).validate()  # --cleanup needs no node


def _sample(server: ProxyServer, name: str) -> float | None:
    return server.metrics.registry.get_sample_value(name, {"ip_family": "IPv4"})


def test_metrics_and_health() -> None:
    clock = FakeClock()
    server = ProxyServer(
        ProxyConfig(hostname_override="n1", sync_period=30), cast(Client, None), clock=clock
    )
    p = Proxier("n1", 4, NftablesMode(FakeNft(), RenderConfig()))
    server.proxiers = [p]
    server.loop = SyncLoop(server.sync, clock, min_sync_period=1, sync_period=30)
    when = (datetime.now(UTC) - timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    server._svc(
        {
            "metadata": {"namespace": "ns", "name": "web"},
            "spec": {"clusterIP": "10.96.0.5", "ports": [{"name": "", "port": 80}]},
        }
    )
    server._es(
        {
            "metadata": {
                "namespace": "ns",
                "name": "web-1",
                "labels": {"kubernetes.io/service-name": "web"},
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": when},
            },
            "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.244.0.5"]}],
        }
    )
    assert server.loop.queued_at is not None
    clock.step(61)  # an update waiting longer than 2 x sync-period: unhealthy
    assert server.health()[0] is False
    server.sync(True)
    server.loop.queued_at = None
    ok, doc = server.health()
    assert ok and doc["nodeEligible"] is True and doc["lastUpdated"]
    assert _sample(server, "kubeproxy_sync_proxy_rules_duration_seconds_count") == 1
    assert _sample(server, "kubeproxy_sync_full_proxy_rules_duration_seconds_count") == 1
    assert (_sample(server, "kubeproxy_sync_proxy_rules_last_timestamp_seconds") or 0) > 0
    assert _sample(server, "kubeproxy_network_programming_duration_seconds_count") == 1
    latency = _sample(server, "kubeproxy_network_programming_duration_seconds_sum") or 0
    assert latency >= 2  # measured from the annotation, not from when the proxy saw it
    assert (
        server.metrics.registry.get_sample_value(
            "kubeproxy_sync_proxy_rules_endpoint_changes_total"
        )
        == 1
    )
