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
from sliceplane.proxy.fakes import FakeNft
from sliceplane.proxy.modes import NftablesMode
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


async def probe(port: int, method: str = "GET", path: str = "/") -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"http://127.0.0.1:{port}{path}") as resp,
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
