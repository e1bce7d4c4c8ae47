"""The view's HTTP side (aiohttp): pages, the event stream, two static files.

Routes (all GET; the view never writes to the API):

* ``/`` namespaces, ``/ns/<ns>`` its Services, ``/ns/<ns>/svc/<name>`` one Service — a URL
  to paste into an incident chat;
* ``/events?ns=&svc=`` the page's server-sent-event stream (:mod:`.stream`);
* ``/static/view.js``, ``/static/view.css``; ``/healthz``.

Pages are answered from informer caches once they have synced, so a page load costs the
API server nothing. Scripts and styles come only from this server (a strict
Content-Security-Policy), and every value on a page is escaped (:mod:`.render`).
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path

from aiohttp import web

from sliceplane.api.hostport import parse_hostport
from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.tasks import run_until_signalled
from sliceplane.view.state import ClusterView, Page
from sliceplane.view.stream import Hub

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:8001"
STATIC_FILES = {"view.js": "text/javascript", "view.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ViewError(Exception):
    """Something the user can fix (a bad --listen, a port in use): one line."""


def parse_listen(listen: str) -> tuple[str, int]:
    return parse_hostport(listen, "--listen", error=ViewError)


def _static(name: str) -> bytes:
    return resources.files("sliceplane.view").joinpath("static", name).read_bytes()


class ViewServer:
    """The view over a (possibly shared) informer factory."""

    def __init__(self, factory: InformerFactory, listen: str = DEFAULT_LISTEN) -> None:
        self.host, self.port = parse_listen(listen)
        self.factory = factory
        self.view = ClusterView(factory)
        self.hub = Hub(self.view)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._static = {name: _static(name) for name in STATIC_FILES}

    def app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(self._headers)
        app.router.add_get("/", self._index)
        app.router.add_get("/ns/{ns}", self._namespace)
        app.router.add_get("/ns/{ns}/svc/{svc}", self._service)
        app.router.add_get("/events", self._events)
        app.router.add_get("/static/{name}", self._static_file)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/favicon.ico", self._no_icon)
        return app

    @staticmethod
    async def _headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(SECURITY_HEADERS)

    async def start(self) -> str:
        """Bind and serve; returns the URL (raises :class:`ViewError` if it cannot bind)."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ViewError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _synced(self) -> None:
        await asyncio.gather(*(inf.wait_for_sync() for inf in self.view.informers.values()))

    async def _html(self, page: Page) -> web.Response:
        await self._synced()
        return web.Response(text=self.view.page_html(page), content_type="text/html")

    async def _index(self, request: web.Request) -> web.Response:
        return await self._html(Page())

    async def _namespace(self, request: web.Request) -> web.Response:
        return await self._html(Page(request.match_info["ns"]))

    async def _service(self, request: web.Request) -> web.Response:
        return await self._html(Page(request.match_info["ns"], request.match_info["svc"]))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        ns = request.query.get("ns", "")
        svc = request.query.get("svc", "")
        if svc and not ns:
            raise web.HTTPBadRequest(text="svc needs ns")
        await self._synced()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        stream = self.hub.stream(Page(ns, svc))  # an async generator
        try:
            async for chunk in stream:
                await response.write(chunk)
        except ConnectionResetError:
            pass  # the browser went away
        finally:
            await stream.aclose()
        return response

    async def _static_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(
            body=self._static[name],
            content_type=STATIC_FILES[name],
            headers={"Cache-Control": "no-cache"},
        )

    async def _no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok" if self.view.synced() else "syncing")


async def run(kubeconfig: Path | None, listen: str) -> None:
    """``sliceplane view``: serve until SIGTERM/SIGINT. Connection and kubeconfig problems
    surface from the first request, before anything is served."""
    parse_listen(listen)
    async with await Client.connect(str(kubeconfig) if kubeconfig else None) as client:
        await client.list("namespaces", limit=1)  # fail fast, with the client's error
        factory = InformerFactory(client, RealClock())
        server = ViewServer(factory, listen)
        factory.start()
        try:
            url = await server.start()
            await factory.wait_for_sync()
            print(f"sliceplane view on {url}", flush=True)
            await run_until_signalled()
        finally:
            await server.stop()
            await factory.stop()
