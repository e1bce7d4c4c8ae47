"""Health check node ports over real HTTP on loopback, no root: the proxy server's own sync
path (fake nftables backend, hand-fed informer events) opens a listener on
``healthCheckNodePort`` at the Node's address, answers 200 while the node has local ready
endpoints and 503 when it has none or its syncs are stale, moves the listener when the port
changes, retries a port that was in use, and closes it when the Service goes."""

from __future__ import annotations

import json
import socket
from typing import Any, cast

import aiohttp
import pytest

from sliceplane.client.client import Client
from sliceplane.machinery.clock import FakeClock
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.fakes import FakeIptables, FakeNft
from sliceplane.proxy.modes import IptablesMode, NftablesMode
from sliceplane.proxy.proxier import Proxier
from sliceplane.proxy.server import ProxyConfig, ProxyServer
from sliceplane.proxy.syncloop import SyncLoop

NODE = {
    "metadata": {"name": "n1"},
    "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def lb_service(hc_port: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "web"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.5",
            "externalTrafficPolicy": "Local",
            "healthCheckNodePort": hc_port,
            "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}},
    }


def web_slice(*ready: bool) -> dict[str, Any]:
    eps = [
        {"addresses": [f"10.244.0.{i + 5}"], "nodeName": "n1", "conditions": {"ready": r}}
        for i, r in enumerate(ready)
    ]
    eps.append({"addresses": ["10.244.1.5"], "nodeName": "n2"})  # not local: never counted
    return {
        "metadata": {
            "namespace": "ns",
            "name": "web-1",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": eps,
    }


@pytest.fixture
async def server() -> Any:
    clock = FakeClock()
    srv = ProxyServer(ProxyConfig(hostname_override="n1"), cast(Client, None), clock=clock)
    srv.node = NODE
    srv.proxiers = [Proxier("n1", 4, NftablesMode(FakeNft(), RenderConfig()))]
    srv.loop = SyncLoop(srv.sync, clock, min_sync_period=1, sync_period=30)
    yield srv
    await srv.health_checks.close()


async def sync(srv: ProxyServer) -> None:
    srv.sync(False)
    srv.loop.queued_at = None  # type: ignore[union-attr]  # as the loop does after a sync
    await srv.health_checks.servers[4].settle()


async def probe(
    port: int, method: str = "GET", path: str = "/", host: str = "127.0.0.1"
) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"http://{host}:{port}{path}") as resp,
    ):
        return resp.status, resp.headers, json.loads(await resp.text())


async def closed(port: int) -> bool:
    try:
        await probe(port)
    except aiohttp.ClientConnectorError:
        return True
    return False


async def test_health_check_node_port_lifecycle(server: ProxyServer) -> None:
    port = free_port()
    server._svc(lb_service(port))
    server._es(web_slice(True, True, False))
    await sync(server)
    assert server.health_checks.servers[4].hosts == ("127.0.0.1",)  # nftables: the Node's IP

    status, headers, body = await probe(port, path="/any/path")
    assert status == 200
    assert body == {
        "service": {"namespace": "ns", "name": "web"},
        "localEndpoints": 2,
        "serviceProxyHealthy": True,
    }
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Load-Balancing-Endpoint-Weight"] == "2"

    server._es(web_slice(False, False))  # the local pods go unready
    await sync(server)
    status, headers, body = await probe(port, method="POST")
    assert (status, body["localEndpoints"], headers["X-Load-Balancing-Endpoint-Weight"]) == (
        503,
        0,
        "0",
    )

    server._es(web_slice(True))
    await sync(server)
    assert (await probe(port))[0] == 200
    server.loop.queued_at = server.clock.now() - 61  # type: ignore[union-attr]  # stale
    status, _, body = await probe(port)
    assert (status, body["localEndpoints"], body["serviceProxyHealthy"]) == (503, 1, False)
    server.loop.queued_at = None  # type: ignore[union-attr]

    moved = free_port()
    server._svc(lb_service(moved))
    await sync(server)
    assert await closed(port)
    assert (await probe(moved))[0] == 200

    server._svc_del(lb_service(moved))
    await sync(server)
    assert await closed(moved)
    assert server.health_checks.servers[4].listening == {}


async def test_port_in_use_is_retried_at_the_next_sync(server: ProxyServer) -> None:
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = int(squatter.getsockname()[1])
    server._svc(lb_service(port))
    server._es(web_slice(True))
    await sync(server)
    assert server.health_checks.servers[4].listening == {}
    squatter.close()
    await sync(server)  # nothing changed in the cluster; the sync retries the port
    assert (await probe(port))[0] == 200


async def test_a_cluster_policy_service_gets_no_listener(server: ProxyServer) -> None:
    port = free_port()
    svc = lb_service(port)
    svc["spec"]["externalTrafficPolicy"] = "Cluster"
    server._svc(svc)
    await sync(server)
    assert server.health_checks.servers[4].listening == {}
    assert await closed(port)


async def test_a_proxy_on_no_node_opens_nothing() -> None:
    """The host of ``sliceplane up`` has no local endpoints: a port would only say 503."""
    srv = ProxyServer(ProxyConfig(), cast(Client, None), clock=FakeClock())
    srv.proxiers = [Proxier("", 4, NftablesMode(FakeNft(), RenderConfig()))]
    port = free_port()
    srv._svc(lb_service(port))
    srv.sync(True)
    assert srv.health_checks.servers == {}
    assert await closed(port)


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
async def test_dual_stack_iptables_listens_on_both_wildcards() -> None:
    """iptables mode binds ``0.0.0.0`` and ``::`` on the same port, one per family's
    proxier, and each family counts its own endpoints."""
    srv = ProxyServer(
        ProxyConfig(hostname_override="n1", proxy_mode="iptables"),
        cast(Client, None),
        clock=FakeClock(),
    )
    srv.proxiers = [
        Proxier("n1", fam, IptablesMode(FakeIptables(), RenderConfig(family=fam))) for fam in (4, 6)
    ]
    port = free_port()
    svc = lb_service(port)
    svc["spec"].update(
        ipFamilies=["IPv4", "IPv6"], clusterIPs=["10.96.0.5", "fd00:96::5"], clusterIP="10.96.0.5"
    )
    srv._svc(svc)
    srv._es(web_slice(True, True))
    v6 = web_slice(True)
    v6["metadata"]["name"] = "web-v6"
    v6["addressType"] = "IPv6"
    v6["endpoints"] = [{"addresses": ["fd00:244::5"], "nodeName": "n1"}]
    srv._es(v6)
    srv.sync(True)
    try:
        for fam, host in ((4, "0.0.0.0"), (6, "::")):
            await srv.health_checks.servers[fam].settle()
            assert srv.health_checks.servers[fam].hosts == (host,)
        assert (await probe(port))[2]["localEndpoints"] == 2
        assert (await probe(port, host="[::1]"))[2]["localEndpoints"] == 1
    finally:
        await srv.health_checks.close()
