"""``pods/exec``, ``pods/attach`` and ``pods/portforward`` on aiohttp: the upgrades and
who serves them.

Why one module: the subresources take the same two roads kubectl can use, and the
choice of road is HTTP plumbing, not protocol:

* **WebSocket** (kubectl's default since 1.30/1.31, KEP-4006): ``exec`` and ``attach``
  negotiate ``v5.channel.k8s.io`` (or v4) and speak :mod:`.channels`; ``portforward`` negotiates
  ``SPDY/3.1+portforward.k8s.io`` and carries a SPDY/3.1 session in binary messages
  (:mod:`.portforward`), as kube-apiserver's tunnelling handler does.
* **SPDY/3.1 upgrade** (``Upgrade: SPDY/3.1``, ``X-Stream-Protocol-Version``): kubectl's
  fallback when the WebSocket upgrade fails, and the only road of kubectl before 1.30.
  aiohttp upgrades only to ``websocket``, so the connection is taken over at the
  transport level before a 101 goes out, which is all an HTTP/1.1 upgrade is.
  Port-forward speaks ``portforward.k8s.io`` over it (:mod:`.portforward`), exec and
  attach ``v4.channel.k8s.io`` (:mod:`.spdyexec`).

An exec runs its command here (:mod:`.execsession`); an attach follows the container's
output through the log file the process runtime writes (:mod:`.attachsession`).

Before any upgrade the pod and the request are checked as kube-apiserver checks them
(:mod:`.pods`). Only a server started for the process runtime (an exec environment
given) serves pods itself; every other pod is answered as one whose kubelet cannot be
dialled, in kube-apiserver's words for that road.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import msgspec
from aiohttp import WSMsgType, web

from sliceplane.api import errors
from sliceplane.api.meta import Obj
from sliceplane.apiserver.streaming import channels, pods, spdyexec
from sliceplane.apiserver.streaming.attachsession import AttachSession
from sliceplane.apiserver.streaming.execsession import ExecSession
from sliceplane.apiserver.streaming.portforward import PortForwardSession

log = logging.getLogger(__name__)

SUBRESOURCES: Final = ("exec", "attach", "portforward")
PORT_FORWARD_PROTOCOL: Final = "portforward.k8s.io"
TUNNEL_PREFIX: Final = "SPDY/3.1+"
SPDY_UPGRADE: Final = "SPDY/3.1"

ExecEnvironment = Callable[[Obj, Obj], tuple[dict[str, str], str | None]]
"""The env and working directory a container's exec runs with (pod, container in)."""

DIAL_TIMEOUT: Final = 10.0
Send = Callable[[bytes], Awaitable[None]]
Recv = Callable[[], Awaitable[bytes]]


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
    core object (NotFound if absent); ``pods_dir`` is where the process runtime keeps the
    containers' log files (attach follows them)."""

    def __init__(
        self,
        get: Callable[[str, str, str], Obj],
        exec_environment: ExecEnvironment | None,
        pods_dir: Path | None = None,
    ) -> None:
        self._get = get
        self._exec_environment = exec_environment
        self._pods_dir = pods_dir
        self.sessions = 0

    async def serve(
        self, request: web.Request, namespace: str | None, name: str | None, sub: str
    ) -> web.StreamResponse:
        if request.method not in ("GET", "POST") or namespace is None or name is None:
            return _status_response(errors.MethodNotAllowed.generic().to_status())
        pod = self._get("pods", namespace, name)
        if sub in ("exec", "attach"):
            return await self._exec(request, pod, sub)
        return await self._portforward(request, pod)

    # ------------------------------------------------------------------ exec and attach

    async def _exec(self, request: web.Request, pod: Obj, sub: str) -> web.StreamResponse:
        if sub == "attach":
            opts = pods.attach_options(request.query, pod)
        else:
            opts = pods.exec_options(request.query, request.query.getall("command", []), pod)
        node = self._node(pod)
        if not _is_websocket(request):
            if _is_spdy(request):
                return await self._spdy_exec(request, pod, node, opts, sub)
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
            refusal = self._exec_refusal(pod, node, opts, sub=sub)
            if refusal is not None:
                await send(channels.frame(channels.ERROR, channels.status_bytes(refusal)))
            elif isinstance(session := self._session(send, pod, opts, sub, protocol), dict):
                await send(channels.frame(channels.ERROR, channels.status_bytes(session)))
            else:
                await session.run(recv)
        except ConnectionError:
            pass
        except Exception:  # a bug: the upgrade is done, so no HTTP Status can carry it
            log.exception("exec session for pod %s failed", pod["metadata"].get("name"))
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    async def _spdy_exec(
        self, request: web.Request, pod: Obj, node: Obj, opts: pods.ExecOptions, sub: str
    ) -> web.StreamResponse:
        """Exec over a SPDY/3.1 upgrade (v4.channel.k8s.io). kube-apiserver proxies this
        road to the kubelet, so what stops it is answered before the upgrade, as a 500
        Status from a plain error (the dial error) or the kubelet's refusal."""
        offered = _offered(request, "X-Stream-Protocol-Version")
        if spdyexec.PROTOCOL not in offered:
            return _status_response(
                pods.unknown_status(
                    403,
                    "unable to upgrade: unable to negotiate protocol: client supports "
                    f"{offered}, server accepts [{spdyexec.PROTOCOL}]",
                )
            )
        refusal = self._exec_refusal(pod, node, opts, road="spdy", sub=sub)
        if refusal is not None:
            return _status_response(pods.unknown_status(500, str(refusal["message"])))
        if sub == "exec" and isinstance(prepared := self._prepare_exec(pod, opts), dict):
            return _status_response(pods.unknown_status(500, str(prepared["message"])))
        expected = spdyexec.expected_roles(
            stdin=opts.stdin, stdout=opts.stdout, stderr=opts.stderr, tty=opts.tty
        )

        async def serve(send: Send, recv: Recv) -> None:
            streams = spdyexec.SpdyExecStreams(send, expected)
            pump = asyncio.ensure_future(streams.pump(recv))
            try:
                if await streams.ready():
                    session = self._session(streams.send, pod, opts, sub, channels.V5)
                    if isinstance(session, dict):  # checked before the upgrade
                        raise RuntimeError(session["message"])
                    await session.run(streams.recv)
                await streams.close()
            finally:
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump

        return await self._spdy_upgrade(request, spdyexec.PROTOCOL, serve)

    def _session(
        self, send: Send, pod: Obj, opts: pods.ExecOptions, sub: str, protocol: str
    ) -> ExecSession | AttachSession | dict[str, Any]:
        """The session serving the stream, or the Status saying why there is none."""
        if sub == "attach":
            return self._attach_session(send, pod, opts)
        prepared = self._prepare_exec(pod, opts)
        if isinstance(prepared, dict):
            return prepared
        env, cwd = prepared
        return ExecSession(send, opts, env, cwd, v5=protocol == channels.V5)

    def _attach_session(self, send: Send, pod: Obj, opts: pods.ExecOptions) -> AttachSession:
        """Follows the container's current run (``<pods_dir>/<ns>_<pod>_<uid>/<container>/
        <restartCount>.log``, as :mod:`sliceplane.apiserver.podlogs` reads it) while the
        pod's status says that run goes on."""
        meta = pod["metadata"]
        ns, name, uid = str(meta.get("namespace")), str(meta.get("name")), meta.get("uid")
        number = pods.restart_count(pod, opts.container)
        path = stdin = None
        if self._pods_dir is not None:
            path = self._pods_dir / f"{ns}_{name}_{uid}" / opts.container / f"{number}.log"
            stdin = path.with_suffix(".stdin")  # the process runtime's stdinrelay.fifo_path

        def live() -> bool:
            try:
                now = self._get("pods", ns, name)
            except errors.NotFound:
                return False
            return (
                now["metadata"].get("uid") == uid
                and not now["metadata"].get("deletionTimestamp")
                and pods.running_container(now, opts.container)
                and pods.restart_count(now, opts.container) == number
            )

        return AttachSession(send, opts, path, live, stdin)

    def _prepare_exec(
        self, pod: Obj, opts: pods.ExecOptions
    ) -> tuple[dict[str, str], str | None] | dict[str, Any]:
        """The exec's env and working directory, or the Status saying why there are none
        (a container whose env cannot be built, e.g. an unsupported ``valueFrom``)."""
        assert self._exec_environment is not None
        container = pods.container_of(pod, opts.container)
        try:
            return self._exec_environment(pod, container)
        except Exception as exc:
            return channels.internal_status(f"error preparing exec: {exc}")

    def _exec_refusal(
        self,
        pod: Obj,
        node: Obj,
        opts: pods.ExecOptions,
        road: str = "websocket",
        sub: str = "exec",
    ) -> dict[str, Any] | None:
        """The Status for an exec that cannot run. On the WebSocket road kube-apiserver's
        translator writes the kubelet's failure on the error channel after the upgrade
        (``error sending request: Post "URL": ...``); on the SPDY road it proxies, and a
        dial failure is ``error dialing backend: ...``."""
        if not self._serves(pod, node):
            address = pods.kubelet_address(node)
            why = pods.unreachable(node["metadata"]["name"], address)
            if road == "spdy":
                return {"message": f"error dialing backend: {why}"}
            url = pods.exec_location(address, pod, opts, sub)
            return channels.internal_status(f'error sending request: Post "{url}": {why}')
        if not pods.running_container(pod, opts.container):
            # the kubelet's answer; the translator (WebSocket road) reports its failed
            # upgrade, the proxy (SPDY road) passes the kubelet's words on
            missing = f'container not found ("{opts.container}")'
            if road == "spdy":
                return {"message": missing}
            return channels.internal_status(f"unable to upgrade connection: {missing}")
        return None

    # ------------------------------------------------------------------ port-forward

    def _serves(self, pod: Obj, node: Obj) -> bool:
        """Whether this server plays the kubelet for ``pod``: it was started to serve the
        process runtime's pods (it has their exec environment) and the pod is one, by
        its containers or by its node (one of the cluster's own, all of which the process
        runtime runs; a container not started yet is then "not found", as a kubelet says)."""
        if self._exec_environment is None:
            return False
        return pods.process_backed(pod) or pods.sliceplane_node(node)

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
        if not self._serves(pod, node):
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
            pf = PortForwardSession
            return await self._spdy_upgrade(
                request,
                PORT_FORWARD_PROTOCOL,
                lambda send, recv: pf(send, dial, address, str(meta.get("name")), uid).run(recv),
            )
        raise errors.BadRequest("Upgrade request required")

    async def _spdy_upgrade(
        self,
        request: web.Request,
        protocol: str,
        serve: Callable[[Send, Recv], Awaitable[None]],
    ) -> web.StreamResponse:
        """Answer 101 ``Upgrade: SPDY/3.1`` and hand the raw connection to ``serve``."""
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
                "X-Stream-Protocol-Version": protocol,
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

        try:
            await serve(send, recv)
        finally:
            request.protocol.force_close()
            transport.close()
        return resp
