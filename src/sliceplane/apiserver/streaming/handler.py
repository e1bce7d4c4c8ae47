"""``pods/exec`` and ``pods/portforward`` on aiohttp: the upgrades and who serves them.

Why one module: both subresources take the same two roads kubectl can use, and the
choice of road is HTTP plumbing, not protocol:

* **WebSocket** (kubectl's default since 1.30/1.31, KEP-4006): ``exec`` negotiates
  ``v5.channel.k8s.io`` (or v4) and speaks :mod:`.channels`; ``portforward`` negotiates
  ``SPDY/3.1+portforward.k8s.io`` and carries a SPDY/3.1 session in binary messages
  (:mod:`.portforward`), as kube-apiserver's tunnelling handler does.
* **SPDY/3.1 upgrade** (``Upgrade: SPDY/3.1``, ``X-Stream-Protocol-Version``): kubectl's
  fallback when the WebSocket upgrade fails. aiohttp upgrades only to ``websocket``, so
  the connection is taken over at the transport level after a hand-written 101, which
  is all an HTTP/1.1 upgrade is. Port-forward is served over it; exec over SPDY is
  refused with 400 (kubectl's WebSocket road works, see
  ``docs/upstream-differences.md``).

Before any upgrade the pod and the request are checked as kube-apiserver checks them
(:mod:`.pods`); pods on simulated nodes are answered as pods whose kubelet cannot be
dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Final

import msgspec
from aiohttp import WSMsgType, web

from sliceplane.api import errors
from sliceplane.api.meta import Obj
from sliceplane.apiserver.streaming import channels, pods
from sliceplane.apiserver.streaming.execsession import ExecSession
from sliceplane.apiserver.streaming.portforward import PortForwardSession

log = logging.getLogger(__name__)

SUBRESOURCES: Final = ("exec", "portforward")
PORT_FORWARD_PROTOCOL: Final = "portforward.k8s.io"
TUNNEL_PREFIX: Final = "SPDY/3.1+"
SPDY_UPGRADE: Final = "SPDY/3.1"

ExecEnvironment = Callable[[Obj, Obj], tuple[dict[str, str], str | None]]
"""The env and working directory a container's exec runs with (pod, container in)."""

DIAL_TIMEOUT: Final = 10.0


def _is_websocket(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _is_spdy(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == SPDY_UPGRADE.lower()


def _offered(request: web.BaseRequest, header: str) -> list[str]:
    return [
        p.strip()
        for value in request.headers.getall(header, [])
        for p in value.split(",")
        if p.strip()
    ]


def _status_response(status: dict[str, Any]) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(status),
        status=int(status["code"]),
        content_type="application/json",
    )


class _RawProtocol(asyncio.Protocol):
    """The connection after a SPDY upgrade: bytes into a queue, EOF as ``b""``."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def data_received(self, data: bytes) -> None:
        self.chunks.put_nowait(data)

    def eof_received(self) -> bool | None:
        self.chunks.put_nowait(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.chunks.put_nowait(b"")


class StreamingHandler:
    """Serves the streaming subresources of pods; ``get(plural, namespace, name)`` reads a
    core object (NotFound if absent)."""

    def __init__(
        self, get: Callable[[str, str, str], Obj], exec_environment: ExecEnvironment | None
    ) -> None:
        self._get = get
        self._exec_environment = exec_environment
        self.sessions = 0

    async def serve(
        self, request: web.Request, namespace: str | None, name: str | None, sub: str
    ) -> web.StreamResponse:
        if request.method not in ("GET", "POST") or namespace is None or name is None:
            status = errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            ).to_status()
            status["details"] = {}  # upstream's NewMethodNotSupported, no group or kind
            return _status_response(status)
        pod = self._get("pods", namespace, name)
        if sub == "exec":
            return await self._exec(request, pod)
        return await self._portforward(request, pod)

    # ------------------------------------------------------------------ exec

    async def _exec(self, request: web.Request, pod: Obj) -> web.StreamResponse:
        opts = pods.exec_options(request.query, request.query.getall("command", []), pod)
        node = self._node(pod)
        if not _is_websocket(request):
            if _is_spdy(request):
                raise errors.BadRequest(
                    "exec over SPDY/3.1 is not served by sliceplane; use a kubectl that "
                    "speaks WebSockets (v1.30 or later)"
                )
            raise errors.BadRequest("Upgrade request required")
        protocol = channels.negotiate(_offered(request, "Sec-WebSocket-Protocol"))
        if protocol is None:
            raise errors.BadRequest(
                "unable to upgrade: unable to negotiate protocol: client supports "
                f"{_offered(request, 'Sec-WebSocket-Protocol')}, server supports "
                f"{list(channels.PROTOCOLS)}"
            )
        ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.sessions += 1

        async def send(data: bytes) -> None:
            await ws.send_bytes(data)

        async def recv() -> bytes | None:
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.BINARY:
                    return bytes(msg.data)
                if msg.type == WSMsgType.TEXT:
                    continue
                return None

        try:
            refusal = self._exec_refusal(pod, node, opts)
            if refusal is not None:
                await send(channels.frame(channels.ERROR, channels.status_bytes(refusal)))
            else:
                assert self._exec_environment is not None
                container = pods.container_of(pod, opts.container)
                try:
                    env, cwd = self._exec_environment(pod, container)
                except Exception as exc:  # the container's env cannot be built (valueFrom)
                    status = channels.internal_status(f"error preparing exec: {exc}")
                    await send(channels.frame(channels.ERROR, channels.status_bytes(status)))
                else:
                    session = ExecSession(send, opts, env, cwd, v5=protocol == channels.V5)
                    await session.run(recv)
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    def _exec_refusal(self, pod: Obj, node: Obj, opts: pods.ExecOptions) -> dict[str, Any] | None:
        """The Status for an exec that cannot run (kube-apiserver's translator writes the
        kubelet's failure on the error channel after the WebSocket upgrade)."""
        if not pods.process_backed(pod) or self._exec_environment is None:
            address = pods.kubelet_address(node)
            url = pods.exec_location(address, pod, opts)
            why = pods.unreachable(node["metadata"]["name"], address)
            return channels.internal_status(f'error sending request: Post "{url}": {why}')
        if not pods.running_container(pod, opts.container):
            return channels.internal_status(
                f'unable to upgrade connection: container not found ("{opts.container}")'
            )
        return None

    # ------------------------------------------------------------------ port-forward

    def _node(self, pod: Obj) -> Obj:
        """The pod's Node, which kube-apiserver reads for the kubelet's address. A missing
        one is answered as upstream answers it: NotFound naming ``pods`` (its node getter's
        error carries the pods resource), e.g. ``pods "node-9" not found``."""
        name = pods.node_of(pod)
        try:
            return self._get("nodes", "", name)
        except errors.NotFound:
            raise errors.NotFound.for_object("pods", "", name) from None

    async def _portforward(self, request: web.Request, pod: Obj) -> web.StreamResponse:
        node = self._node(pod)
        meta = pod["metadata"]
        if not pods.process_backed(pod):
            # kube-apiserver dials the kubelet before upgrading; its failure is a 500
            # Status from a plain error (no reason).
            why = pods.unreachable(node["metadata"]["name"], pods.kubelet_address(node))
            return _status_response(pods.unknown_status(500, f"error dialing backend: {why}"))
        ip = pods.pod_ip(pod)

        def address(port: int) -> str:
            return f"{ip}:{port}"

        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if not ip:
                raise ConnectionRefusedError("pod has no IP")
            return await asyncio.wait_for(asyncio.open_connection(ip, port), DIAL_TIMEOUT)

        uid = str(meta.get("uid") or "")
        if _is_websocket(request):
            wanted = TUNNEL_PREFIX + PORT_FORWARD_PROTOCOL
            if wanted not in _offered(request, "Sec-WebSocket-Protocol"):
                raise errors.BadRequest(
                    "unable to upgrade: unable to negotiate protocol: client supports "
                    f"{_offered(request, 'Sec-WebSocket-Protocol')}, server supports "
                    f"[{wanted}]"
                )
            ws = web.WebSocketResponse(protocols=(wanted,), max_msg_size=0, autoping=True)
            await ws.prepare(request)
            self.sessions += 1

            async def ws_send(data: bytes) -> None:
                await ws.send_bytes(data)

            async def ws_recv() -> bytes:
                while True:
                    msg = await ws.receive()
                    if msg.type == WSMsgType.BINARY:
                        if msg.data:
                            return bytes(msg.data)
                        continue
                    if msg.type == WSMsgType.TEXT:
                        continue
                    return b""

            session = PortForwardSession(ws_send, dial, address, str(meta.get("name")), uid)
            try:
                await session.run(ws_recv)
            finally:
                with contextlib.suppress(Exception):
                    await ws.close()
            return ws
        if _is_spdy(request):
            offered = _offered(request, "X-Stream-Protocol-Version")
            if PORT_FORWARD_PROTOCOL not in offered:
                raise errors.BadRequest(
                    "unable to upgrade: unable to negotiate protocol: client supports "
                    f"{offered}, server supports [{PORT_FORWARD_PROTOCOL}]"
                )
            return await self._spdy_session(request, dial, address, str(meta.get("name")), uid)
        raise errors.BadRequest("Upgrade request required")

    async def _spdy_session(
        self,
        request: web.Request,
        dial: Any,
        address: Callable[[int], str],
        pod: str,
        uid: str,
    ) -> web.StreamResponse:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError
        raw = _RawProtocol()
        # Take the connection over before the 101 leaves, so no byte of the session can
        # reach aiohttp's HTTP parser.
        transport.set_protocol(raw)
        resp = web.StreamResponse(
            status=101,
            headers={
                "Connection": "Upgrade",
                "Upgrade": SPDY_UPGRADE,
                "X-Stream-Protocol-Version": PORT_FORWARD_PROTOCOL,
            },
        )
        await resp.prepare(request)
        self.sessions += 1

        async def send(data: bytes) -> None:
            if transport.is_closing():
                raise ConnectionResetError
            transport.write(data)

        async def recv() -> bytes:
            return await raw.chunks.get()

        session = PortForwardSession(send, dial, address, pod, uid)
        try:
            await session.run(recv)
        finally:
            request.protocol.force_close()
            transport.close()
        return resp
