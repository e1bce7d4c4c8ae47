"""The userspace mode with real sockets on loopback (no root): TCP and UDP forwarding to
the endpoints the policy selects, ClientIP affinity, refusal without endpoints, graceful
close of connections to a removed endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.proxier import Proxier
from sliceplane.proxy.userspace import UserspaceMode, plan_listeners

Obj = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SVC_IP = "127.96.7.10"
PODS = ["127.244.9.5", "127.244.9.6"]


def service(port: int, *, protocol: str = "TCP", affinity: bool = False) -> Obj:
    spec: Obj = {
        "clusterIP": SVC_IP,
        "clusterIPs": [SVC_IP],
        "ipFamilies": ["IPv4"],
        "ports": [{"name": "p", "port": port, "protocol": protocol}],
    }
    if affinity:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 600}}
    return {"metadata": {"namespace": "ns", "name": "web"}, "spec": spec}


def endpoint_slice(port: int, ips: list[str], *, protocol: str = "TCP", ready: bool = True) -> Obj:
    return {
        "metadata": {
            "namespace": "ns",
            "name": "web-1",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "p", "port": port, "protocol": protocol}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips],
    }


async def _backend(ip: str, port: int) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(ip.encode() + b" " + line)
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, ip, port)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Proxier, UserspaceMode, int, int]]:
    svc_port, pod_port = _free_port(), _free_port()
    servers = [await _backend(ip, pod_port) for ip in PODS]
    mode = UserspaceMode(RenderConfig(), drain_seconds=0.2, rng=random.Random(7))
    p = Proxier("", 4, mode)
    try:
        yield p, mode, svc_port, pod_port
    finally:
        await mode.aclose()
        for s in servers:
            s.close()
            await s.wait_closed()


async def _ask(port: int, text: str = "hi") -> str:
    reader, writer = await asyncio.open_connection(SVC_IP, port)
    try:
        writer.write(text.encode() + b"\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().split(" ")[0]
    finally:
        writer.close()


async def _synced(p: Proxier) -> None:
    p.sync()
    await asyncio.sleep(0.05)  # the listener's server starts on the loop


async def test_tcp_forwarding_spreads_over_ready_endpoints(
    setup: tuple[Proxier, UserspaceMode, int, int],
) -> None:
    p, _mode, svc_port, pod_port = setup
    p.on_service(service(svc_port))
    p.on_slice(endpoint_slice(pod_port, PODS))
    await _synced(p)
    seen = Counter([await _ask(svc_port) for _ in range(40)])
    assert set(seen) == set(PODS), seen

    p.on_slice(endpoint_slice(pod_port, PODS[:1]))  # the second one went away
    await _synced(p)
    assert {await _ask(svc_port) for _ in range(10)} == {PODS[0]}


async def test_client_ip_affinity_sticks(setup: tuple[Proxier, UserspaceMode, int, int]) -> None:
    p, _mode, svc_port, pod_port = setup
    p.on_service(service(svc_port, affinity=True))
    p.on_slice(endpoint_slice(pod_port, PODS))
    await _synced(p)
    assert len({await _ask(svc_port) for _ in range(20)}) == 1


async def test_no_endpoints_is_refused_at_once(
    setup: tuple[Proxier, UserspaceMode, int, int],
) -> None:
    p, mode, svc_port, pod_port = setup
    p.on_service(service(svc_port))
    p.on_slice(endpoint_slice(pod_port, PODS, ready=False))
    await _synced(p)
    assert mode.listeners == {}
    with pytest.raises(ConnectionRefusedError):
        await _ask(svc_port)


async def test_removed_endpoint_connection_closed_gracefully(
    setup: tuple[Proxier, UserspaceMode, int, int],
) -> None:
    p, mode, svc_port, pod_port = setup
    p.on_service(service(svc_port, affinity=True))
    p.on_slice(endpoint_slice(pod_port, PODS))
    await _synced(p)
    reader, writer = await asyncio.open_connection(SVC_IP, svc_port)
    writer.write(b"one\n")
    first = (await reader.readline()).decode().split(" ")[0]
    other = [ip for ip in PODS if ip != first]
    p.on_slice(endpoint_slice(pod_port, other))
    await _synced(p)
    # the open connection still works during the drain period ...
    writer.write(b"two\n")
    assert (await reader.readline()).decode().startswith(first)
    # ... then ends with a FIN (EOF), not a reset
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert await _ask(svc_port) == other[0]
    assert mode.connection_counts().get(f"{first}:{pod_port}", 0) == 0


async def test_udp_forwarding() -> None:
    port, pod_port = _free_port(), _free_port()
    loop = asyncio.get_running_loop()

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            self.t.sendto(b"pong " + data, addr)  # type: ignore[attr-defined]

    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(PODS[0], pod_port))
    mode = UserspaceMode(RenderConfig())
    p = Proxier("", 4, mode)
    try:
        p.on_service(service(port, protocol="UDP"))
        p.on_slice(endpoint_slice(pod_port, PODS[:1], protocol="UDP"))
        await _synced(p)
        got: asyncio.Future[bytes] = loop.create_future()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
                if not got.done():
                    got.set_result(data)

        ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=(SVC_IP, port))
        ct.sendto(b"ping")
        assert await asyncio.wait_for(got, 5) == b"pong ping"
        ct.close()
    finally:
        await mode.aclose()
        transport.close()
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)


def test_plan_listeners_nodeport_and_policies() -> None:
    p = Proxier("node-1", 4, UserspaceMode(RenderConfig()))
    svc = service(80)
    svc["spec"].update(
        type="NodePort",
        externalTrafficPolicy="Local",
        ports=[{"name": "p", "port": 80, "protocol": "TCP", "nodePort": 30080}],
    )
    p.on_service(svc)
    es = endpoint_slice(8080, PODS)
    es["endpoints"][0]["nodeName"] = "node-1"
    p.on_slice(es)
    got = plan_listeners(p.all_plans())
    assert {k: [e.ip for e in t.endpoints] for k, t in got.items()} == {
        ("tcp", SVC_IP, 80): PODS,  # ClusterIP: cluster policy
        ("tcp", "127.0.0.1", 30080): [PODS[0]],  # NodePort: Local policy, local endpoint
    }
