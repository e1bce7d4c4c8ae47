"""HTTP-layer refusals (malformed requests, over-long lines and headers) as a ``Status``.

aiohttp answers requests its parser refuses before any handler runs, in plain text, with
the parser's own words (which quote the offending bytes as a Python ``bytearray``). Every
answer of this server is a ``meta/v1`` ``Status`` instead, so clients that decode errors
keep working, and no Python text reaches them. The codes follow Go's net/http, which is
what answers such requests in front of kube-apiserver: 431 for request lines and headers
over the limit, 400 for the rest, and 405 for a method the parser does not know (what
kube-apiserver answers it). kube-apiserver itself answers those in plain text; this
is a deliberate difference (docs/upstream-differences.md).

The seam is aiohttp's per-connection ``RequestHandler.handle_error``; :class:`StatusAppRunner`
is an ``AppRunner`` whose connections use :class:`StatusRequestHandler`.

The same handler bounds slow clients as kube-apiserver's ``http.Server`` does
(``k8s.io/apiserver/pkg/server/secure_serving.go``): a connection must deliver its first
request's headers within ``READ_HEADER_TIMEOUT`` (32 s) and may idle between requests for
``IDLE_TIMEOUT`` (90 s); aiohttp alone would hold a silent connection forever.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

_MESSAGES = {
    400: ("BadRequest", "the request could not be parsed as HTTP"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    413: ("RequestEntityTooLarge", "the request is too large"),
    431: ("RequestHeaderFieldsTooLarge", "the request line or headers are too large"),
    500: ("InternalError", "Internal error occurred: the server failed to serve this request"),
    504: ("Timeout", "the server did not answer in time"),
}


def status_body(code: int, exc: BaseException | None) -> bytes:
    reason, message = _MESSAGES.get(code, ("BadRequest", "the request could not be served"))
    return msgspec.json.encode(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    )


class PageNotFound(Exception):
    """A path outside every API group version kube-apiserver serves: its mux answers with
    Go's ``http.NotFound`` (404, ``text/plain``, ``404 page not found``), not a Status;
    ``body`` empty and no ``content_type`` for an unknown OpenAPI v3 document."""

    def __init__(self, body: str = "404 page not found\n", content_type: str | None = None) -> None:
        super().__init__(body)
        self.body = body
        self.content_type = (
            content_type if content_type is not None or not body else "text/plain; charset=utf-8"
        )


READ_HEADER_TIMEOUT = 32.0
IDLE_TIMEOUT = 90.0


class StatusRequestHandler(RequestHandler):
    """aiohttp's connection handler, with its error answers as a ``Status`` and a deadline
    for the first request's headers."""

    read_header_timeout = READ_HEADER_TIMEOUT

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        loop = self._loop
        self._header_deadline = loop.call_later(self.read_header_timeout, self._no_headers)

    def _no_headers(self) -> None:
        transport = self.transport
        if self._request_count == 0 and transport is not None and not transport.is_closing():
            transport.close()  # slowloris: no complete request line and headers in time

    def connection_lost(self, exc: BaseException | None) -> None:
        handle = getattr(self, "_header_deadline", None)
        if handle is not None:
            handle.cancel()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        base = super().handle_error(request, status, exc, message)  # logs; may raise
        code = base.status
        if isinstance(exc, LineTooLong):
            code = 431
        elif isinstance(exc, BadHttpMethod):
            code = 405  # a method token llhttp does not know, e.g. BREW: kube-apiserver's 405
        resp = web.Response(
            status=code, body=status_body(code, exc), content_type="application/json"
        )
        resp.force_close()
        return resp


class _StatusServer(web.Server):
    def __call__(self) -> RequestHandler:
        kwargs = {"keepalive_timeout": IDLE_TIMEOUT, **self._kwargs}
        return StatusRequestHandler(self, loop=self._loop, **kwargs)


class StatusAppRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer HTTP-layer errors with a ``Status``."""

    async def _make_server(self) -> web.Server:
        server: Any = await super()._make_server()
        server.__class__ = _StatusServer
        return server  # type: ignore[no-any-return]
