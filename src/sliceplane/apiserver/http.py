"""HTTP front of the embedded API server (aiohttp).

Thin I/O around pure parts: ``routes`` parses the URL grammar, ``requestbody`` decodes
bodies and options, ``watchsession`` decides what a watch stream sends and when,
``printers`` builds Tables, ``registry`` does the REST semantics. This module reads
requests, negotiates the representation (JSON, Table, PartialObjectMetadata) and writes
answers.

Every failure leaves as a ``meta/v1`` Status with upstream's reason and code; nothing is
written unless the request was accepted whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sliceplane.api import errors
from sliceplane.api.fieldlabels import validate_field_selector
from sliceplane.api.fieldselectors import FieldSelector, parse_field_selector
from sliceplane.api.labelparser import parse_label_selector
from sliceplane.api.resources import BY_PLURAL, ResourceInfo
from sliceplane.api.resources import lookup as lookup_resource
from sliceplane.api.selectors import LabelSelector
from sliceplane.apiserver import discovery, health, podlogs, representation, reviews
from sliceplane.apiserver.apply import check_patch_options
from sliceplane.apiserver.applybody import decode_apply_body
from sliceplane.apiserver.httperrors import PageNotFound
from sliceplane.apiserver.managedfields import manager_from_user_agent
from sliceplane.apiserver.metrics import Metrics
from sliceplane.apiserver.patch import patch_content_type
from sliceplane.apiserver.printers import build_table
from sliceplane.apiserver.registry import DeleteOptions, Registry, WriteOptions
from sliceplane.apiserver.requestbody import (
    JSON,
    MAX_BODY,
    check_list_options,
    decode_body,
    delete_options,
    parse_bool,
    parse_int64,
    parse_resource_version,
    write_options,
)
from sliceplane.apiserver.routes import Document, Target, route, verb, wants
from sliceplane.apiserver.streaming.handler import SUBRESOURCES as STREAMING
from sliceplane.apiserver.streaming.handler import ExecEnvironment, StreamingHandler
from sliceplane.apiserver.watchsession import (
    Bookmark,
    EventLines,
    Output,
    Send,
    WatchSession,
    bookmark_object,
    too_large_resource_version,
    watch_params,
)
from sliceplane.storage.store import ObjectTooLarge, StorageError, Stored, TooOld

log = logging.getLogger(__name__)

SERVER_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0+sliceplane",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-28T00:00:00Z",
    "goVersion": "python",
    "compiler": "cpython",
    "platform": "linux/amd64",
}

_encode = msgspec.json.encode


@dataclass(slots=True)
class ServerOptions:
    token: str | None = None
    bookmark_interval: float = 10.0
    min_request_timeout: float = 1800.0
    server_address: str = "127.0.0.1:6443"
    # Monotonic seconds for watch deadlines and bookmarks (``watchsession``); tests inject.
    clock: Callable[[], float] | None = None
    pod_logs_dir: Path | None = None
    """Where the process runtime keeps pod logs (``DATA_DIR/pods`` of ``sliceplane up
    --runtime process``); ``pods/log`` reads them (``apiserver.podlogs``)."""
    watch_write_timeout: float = 60.0
    """A watch whose client has not taken a line for this long is dropped (the connection
    aborted), as kube-apiserver's watch cache terminates watchers that stop receiving: a
    client that never reads must not hold its handler, socket and store watcher forever."""
    exec_environment: ExecEnvironment | None = None
    """How ``pods/exec`` builds a process-runtime container's env and working directory
    (``sliceplane apiserver --serve-process-pods`` wires the process runtime's rules);
    None: exec and port-forward are refused as for a node whose kubelet cannot be
    reached, whatever a pod's status claims."""


def status_response(err: errors.StatusError) -> web.Response:
    return web.Response(body=_encode(err.to_status()), status=err.code, content_type=JSON)


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=_encode(obj), status=status, content_type=JSON, headers=headers)


def _plain(status: int, body: str, content_type: str | None) -> web.Response:
    """A text answer as Go's ``http.Error``/``http.NotFound`` write one (``nosniff``);
    no Content-Type at all for ``content_type`` None (an empty body)."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return web.Response(body=body.encode(), status=status, headers=headers)


def _monotonic() -> float:
    return time.monotonic()


STREAM_LIST_ITEMS = 2048
"""Lists of at least this many items are written piece by piece (``_stream_body``)."""


async def _stream_body(
    request: web.Request, length: int, pieces: Iterator[bytes]
) -> web.StreamResponse:
    """A JSON answer of ``length`` bytes written as its pieces come, each write waiting
    for the transport to drain: the body is never whole in memory, nor copied whole."""
    resp = web.StreamResponse(status=200)
    resp.content_type = JSON
    resp.content_length = length
    await resp.prepare(request)
    try:
        for piece in pieces:
            await resp.write(piece)
        await resp.write_eof()
    except ConnectionResetError:
        pass  # the client hung up mid-answer: nothing left to tell it
    return resp


class APIServerApp:
    """Builds the aiohttp application around a :class:`Registry`."""

    def __init__(self, registry: Registry, options: ServerOptions) -> None:
        self.registry = registry
        self.store = registry.store
        self.options = options
        self.metrics = Metrics()
        store = self.store
        self.metrics.watch_history(lambda: store.history_len, lambda: store.history_bytes)
        self.ready = False
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()
        self._watch_lines = EventLines()
        self._openapi = discovery.OpenAPIDocs()
        self.streaming = StreamingHandler(
            self._get_object, options.exec_environment, options.pod_logs_dir
        )
        self._clock = options.clock or _monotonic
        self._handlers: dict[str, Callable[[web.Request, Target], Awaitable[web.StreamResponse]]]
        self._handlers = {
            "GET": self._get,
            "LIST": self._list,
            "WATCH": self._watch,
            "POST": self._create,
            "BIND": self._bind,
            "PUT": self._update,
            "PATCH": self._patch,
            "APPLY": self._patch,
            "DELETE": self._delete,
            "DELETECOLLECTION": self._delete_collection,
        }

    def make_app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY + 1,
            handler_args={"max_line_size": MAX_URL, "max_field_size": MAX_URL},
        )
        # [\s\S]: a path whose %0A decodes to a newline is still ours to answer (404 Status).
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.dispatch)
        return app

    async def shutdown(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        verb = request.method
        target: Target | None = None
        dry_run = request.query.get("dryRun") == "All"
        code = 500
        try:
            if health.is_health_path(path):
                said = health.answer(path, request.query.items(), stopping=not self.ready)
                code = said.status
                return _plain(code, said.body, health.TEXT)
            self._authenticate(request)
            if path.rstrip("/") == "/version":
                code = 200
                return json_response(SERVER_VERSION)
            if path == "/metrics":
                code = 200
                return web.Response(
                    body=generate_latest(self.metrics.registry),
                    headers={"Content-Type": CONTENT_TYPE_LATEST},
                )
            if path.startswith("/openapi/"):
                doc = self._openapi.answer(path)
                code = 200
                if isinstance(doc, bytes):
                    return web.Response(
                        body=doc, content_type=JSON, headers={"Cache-Control": "public, immutable"}
                    )
                return json_response(doc)
            routed = route(path, request.headers.get("Accept", ""), self.options.server_address)
            if isinstance(routed, Document):
                code = 200
                if routed.content_type == JSON:
                    return json_response(routed.body)
                return web.Response(
                    body=_encode(routed.body), headers={"Content-Type": routed.content_type}
                )
            target = routed
            if not target.info.stored:
                verb = request.method
                handled = await self._review(request, target)
                code = handled.status
                return handled
            if target.subresource in STREAMING:
                verb = "CONNECT"
                streamed = await self.streaming.serve(
                    request, target.namespace, target.name, target.subresource
                )
                code = streamed.status
                return streamed
            verb, handler = self._handler_for(request, target)
            handled = await handler(request, target)
            code = handled.status
            return handled
        except errors.StatusError as exc:
            code = exc.code
            return status_response(exc)
        except PageNotFound as exc:
            code = 404
            return _plain(404, exc.body, exc.content_type)
        except web.HTTPRequestEntityTooLarge:
            code = 413
            return status_response(
                errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
            )
        except asyncio.CancelledError:
            code = 499
            raise
        except ConnectionResetError:
            code = 499  # the client hung up mid-answer; nothing left to tell it
            return web.Response(status=499)
        except ObjectTooLarge as exc:
            code = 413
            log.info("refused %s %s: object of %d bytes", request.method, path, exc.size)
            return status_response(errors.RequestEntityTooLarge(str(exc)))
        except StorageError as exc:
            # Not a bug but the storage failing (disk full, I/O error): nothing was
            # committed; say what storage said, as kube-apiserver relays etcd's errors.
            log.warning("storage error serving %s %s: %s", request.method, path, exc)
            code = 500
            return status_response(errors.InternalError(f"Internal error occurred: {exc}"))
        except RecursionError:
            # Bodies are depth-checked when decoded; anything deeper that still got here is
            # the client's nesting, not a server fault.
            log.warning("nesting too deep serving %s %s", request.method, path, exc_info=True)
            code = 400
            return status_response(errors.BadRequest("the request is nested too deeply"))
        except Exception:  # a bug: log the trace, tell the client only that it happened
            log.exception("internal error serving %s %s", request.method, path)
            code = 500
            return status_response(
                errors.InternalError(
                    "Internal error occurred: the server failed to serve this request; "
                    "the server's log has the details"
                )
            )
        finally:
            self.metrics.observe(verb, target, code, time.perf_counter() - started, dry_run)

    def _get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        info = lookup_resource("", "v1", plural)
        assert info is not None
        return self.registry.get(info, namespace, name).obj

    def _authenticate(self, request: web.Request) -> None:
        token = self.options.token
        if token is None:
            return
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
            return
        raise errors.Unauthorized()

    # ------------------------------------------------------------------ routing

    def _handler_for(
        self, request: web.Request, t: Target
    ) -> tuple[str, Callable[[web.Request, Target], Awaitable[web.StreamResponse]]]:
        name = verb(
            request.method,
            t,
            watch=parse_bool(request.query.get("watch")),
            content_type=request.headers.get("Content-Type", ""),
        )
        if t.subresource == "log":
            name = "GET"  # a log is read, never watched (``watch`` is not its option)
        return name, self._handlers[name if name != "POST" or t.name is None else "BIND"]

    # ------------------------------------------------------------------ reads

    def _selectors(
        self, request: web.Request, info: ResourceInfo
    ) -> tuple[LabelSelector | None, FieldSelector | None]:
        ls = request.query.get("labelSelector")
        fs = request.query.get("fieldSelector")
        label_sel = parse_label_selector(ls) if ls else None
        field_sel = parse_field_selector(fs) if fs else None
        if field_sel is not None:
            field_sel = validate_field_selector(info.plural, field_sel)
        return label_sel, field_sel

    async def _get(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        ns = t.namespace or ""
        parse_resource_version(request.query.get("resourceVersion", ""))
        if t.subresource == "scale":
            return json_response(self.registry.get_scale(t.info, ns, t.name))
        item = self.registry.get(t.info, ns, t.name)
        if t.subresource == "log":
            return await self._log(request, t, item.obj)
        body = representation.object_body(
            t.info,
            item,
            request.headers.get("Accept", ""),
            representation.include_object(request.query),
            datetime.now(UTC),
        )
        return web.Response(body=body, content_type=JSON)

    async def _list(self, request: web.Request, t: Target) -> web.StreamResponse:
        label_sel, field_sel = self._selectors(request, t.info)
        check_list_options(request.query, watch=False)
        limit_s = request.query.get("limit")
        limit = parse_int64(limit_s) if limit_s else None
        parse_resource_version(request.query.get("resourceVersion", ""))
        result = self.registry.list_objects(
            t.info,
            t.namespace,
            label_selector=label_sel,
            field_selector=field_sel,
            limit=limit,
            continue_token=request.query.get("continue") or None,
        )
        accept = request.headers.get("Accept", "")
        if len(result.items) >= STREAM_LIST_ITEMS:
            pieces = representation.plain_list_pieces(t.info, result, accept)
            if pieces is not None:
                return await _stream_body(request, *pieces)
        body = representation.list_body(
            t.info,
            result,
            accept,
            representation.include_object(request.query),
            datetime.now(UTC),
        )
        return web.Response(body=body, content_type=JSON)

    async def _log(
        self, request: web.Request, t: Target, pod: dict[str, Any]
    ) -> web.StreamResponse:
        assert t.name is not None
        ns, name = t.namespace or "", t.name

        def get_pod() -> dict[str, Any] | None:
            with contextlib.suppress(errors.NotFound):
                return self.registry.get(t.info, ns, name).obj
            return None

        def get_node(node: str) -> dict[str, Any]:
            return self.registry.get(BY_PLURAL["nodes"], "", node).obj

        return await podlogs.serve(
            request, pod, get_pod, get_node, self.options.pod_logs_dir, request.query
        )

    # ------------------------------------------------------------------ watch

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        check_list_options(q, watch=True)
        label_sel, field_sel = self._selectors(request, t.info)
        if t.name is not None:
            name_sel = parse_field_selector(f"metadata.name={t.name}")
            field_sel = (
                name_sel
                if field_sel is None
                else parse_field_selector(f"{field_sel},metadata.name={t.name}")
            )
        params = watch_params(q)
        timeout = (
            params.timeout
            if params.timeout is not None
            else self.options.min_request_timeout * (1 + random.random())
        )
        since = params.since
        bookmarks = params.bookmarks
        send_initial = params.send_initial
        accept = request.headers.get("Accept", "")
        as_table = wants(accept, "Table")
        info = t.info
        ns = t.namespace

        initial: list[Stored] = []
        if params.lists_first:
            initial, since = self.registry.selected(
                info, ns if info.namespaced else None, label_sel, field_sel
            )
        elif since is None:
            since = self.store.revision
        if since > self.store.revision:
            # Like the watch cache: wait briefly for a revision from the future to arrive.
            deadline = time.monotonic() + 3.0
            while since > self.store.revision and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if since > self.store.revision:
                raise too_large_resource_version(since, self.store.revision)
        try:
            watcher = self.store.watch(info.plural, ns if info.namespaced else None, since)
        except TooOld as exc:
            watcher = None
            too_old = exc
        resp = web.StreamResponse(status=200)
        resp.content_type = JSON
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if watcher is None:
            status = errors.Expired(str(too_old)).to_status()
            await resp.write(_encode({"type": "ERROR", "object": status}) + b"\n")
            await resp.write_eof()
            return resp

        first_table = [True]

        def encode_obj(obj: dict[str, Any]) -> dict[str, Any]:
            if not as_table:
                return obj
            table = build_table(
                info.plural,
                [obj],
                datetime.now(UTC),
                include_columns=first_table[0],
                include_object=representation.include_object(request.query),
            )
            first_table[0] = False
            return table

        def line_of(out: Output) -> bytes:
            if isinstance(out, Send):
                if as_table:
                    obj = encode_obj(out.item.obj)
                    return _encode({"type": out.type, "object": obj}) + b"\n"
                return self._watch_lines.line(out.type, out.item)
            if isinstance(out, Bookmark):
                obj = bookmark_object(info, out.rv, out.initial_end)
                return _encode({"type": "BOOKMARK", "object": obj}) + b"\n"
            return _encode({"type": "ERROR", "object": out.status}) + b"\n"

        async def emit(outputs: list[Output]) -> None:
            """One write for everything ready: a burst of events to many watchers costs a
            write (and a TLS record) per watcher, not per event."""
            if outputs:
                await send(b"".join([line_of(out) for out in outputs]))

        async def send(data: bytes) -> None:
            transport = request.transport
            if transport is None:
                raise ConnectionResetError("the watch client went away")
            if (
                not request.protocol.writing_paused
                and transport.get_write_buffer_size() + len(data) + 64
                < transport.get_write_buffer_limits()[1]
            ):
                # Below the high-water mark the write cannot pause, so it cannot stall:
                # no timer on the fan-out path (each one costs a TimerHandle and a heap
                # push and pop per watcher per burst).
                await resp.write(data)
                return
            try:
                # asyncio.timeout, not wait_for: no task per write on the fan-out path.
                async with asyncio.timeout(self.options.watch_write_timeout):
                    await resp.write(data)
            except TimeoutError:
                transport = request.transport
                if transport is not None:
                    transport.abort()
                raise ConnectionResetError("the watch client stopped reading") from None

        session = WatchSession(
            info,
            since,
            timeout=timeout,
            bookmarks=bookmarks,
            bookmark_interval=self.options.bookmark_interval,
            clock=self._clock,
            label_selector=label_sel,
            field_selector=field_sel,
        )
        plain = session.unfiltered and not as_table
        lines = self._watch_lines
        try:
            await emit(session.begin(initial, initial_end=send_initial is True))
            while not self._stopping.is_set():
                transport = request.transport
                if transport is None or transport.is_closing():
                    # The client hung up: notice it within one wait (at most a second),
                    # not at the next event that may never come.
                    return resp
                wait = session.wait()
                if wait is None:
                    break
                ev = await watcher.next(timeout=wait)
                if ev is not None and plain:
                    # Every event as it is, with whatever else is already queued, in one
                    # write: the shared lines joined, no per-event decision objects (the
                    # fan-out path: one pass per watcher per burst of commits).
                    events = watcher.drain()
                    events.insert(0, ev)
                    session.relayed(events[-1])
                    await send(b"".join([lines.line(e.type, e.item) for e in events]))
                elif ev is not None:
                    # With it, whatever else is already queued: sent in one write.
                    outputs = session.event(ev)
                    for more in watcher.drain():
                        outputs.extend(session.event(more))
                    await emit(outputs)
                elif watcher.closed:
                    break
                else:
                    await emit(session.idle(self.store.revision))
            if watcher.overflowed or not self._stopping.is_set():
                # Every event up to the store's revision has been offered to the watcher
                # (offers happen with the commit, on this loop): stop the subscription and
                # let the session send what it holds before its last bookmark.
                revision = self.store.revision
                watcher.close()
                await emit(session.end(watcher.drain(), revision, overflowed=watcher.overflowed))
        except ConnectionResetError:
            # The client went away: an ordinary end of a watch, not an error to log.
            return resp
        finally:
            watcher.close()
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    # ------------------------------------------------------------------ reviews

    async def _review(self, request: web.Request, t: Target) -> web.StreamResponse:
        """A review (``kubectl auth can-i``/``whoami``): answered, never stored."""
        reviews.check_request(request.method, t.name, t.info.namespaced, t.namespace)
        body = await self._body(request)
        asker = reviews.Asker(reviews.ADMIN, t.namespace or "", self.options.token)
        return json_response(reviews.answer(t.info, body, asker, datetime.now(UTC)), status=201)

    # ------------------------------------------------------------------ writes

    @staticmethod
    async def _body(request: web.Request) -> Any:
        return decode_body(
            await _read(request),
            request.headers.get("Content-Type", ""),
            keep_duplicates=request.query.get("fieldValidation") == "Strict",
        )

    @staticmethod
    def _write_options(request: web.Request) -> WriteOptions:
        kind = {"POST": "CreateOptions", "PUT": "UpdateOptions"}.get(request.method)
        opts = write_options(request.query, kind or "PatchOptions")
        if not opts.field_manager:
            opts.field_manager = manager_from_user_agent(request.headers.get("User-Agent", ""))
        return opts

    @staticmethod
    def _written(
        obj: dict[str, Any], status: int, warnings: list[str], raw: bytes | None = None
    ) -> web.Response:
        """The written object, as the store encoded it when it did (no second encoding)."""
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(f'299 - "{warning_text(w)}"' for w in warnings)
        if raw is not None:
            return web.Response(body=raw, status=status, content_type=JSON, headers=headers)
        return json_response(obj, status=status, headers=headers)

    async def _create(self, request: web.Request, t: Target) -> web.StreamResponse:
        body = await self._body(request)
        res = await self.registry.create(
            t.info, t.namespace or "", body, self._write_options(request)
        )
        return self._written(res.obj, 201, res.warnings, res.raw)

    async def _bind(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        body = await self._body(request)
        await self.registry.bind(t.namespace or "", t.name, body, self._write_options(request))
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "code": 201,
            },
            status=201,
        )

    async def _update(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        body = await self._body(request)
        opts = self._write_options(request)
        if t.subresource == "scale":
            return json_response(
                await self.registry.update_scale(t.info, t.namespace or "", t.name, body, opts)
            )
        res = await self.registry.update(
            t.info, t.namespace or "", t.name, body, opts, subresource=t.subresource
        )
        return self._written(res.obj, 201 if res.created else 200, res.warnings, res.raw)

    async def _patch(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        ptype = patch_content_type(request.headers.get("Content-Type", ""))
        if ptype is None:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml, application/strategic-merge-patch+json"
            )
        force = check_patch_options(
            ptype, request.query.get("fieldManager"), request.query.get("force")
        )
        opts = self._write_options(request)
        opts.force = force
        warning = None
        if ptype == "apply":
            body, warning = decode_apply_body(await _read(request), opts.field_validation)
        else:
            body = await self._body(request)
        res = await self.registry.patch(
            t.info, t.namespace or "", t.name, ptype, body, opts, subresource=t.subresource
        )
        if warning is not None:
            res.warnings.append(warning)  # repeated keys under fieldValidation=Warn
        return self._written(res.obj, 201 if res.created else 200, res.warnings, res.raw)

    @staticmethod
    async def _delete_options(request: web.Request) -> DeleteOptions:
        raw = await _read(request) if request.can_read_body else b""
        return delete_options(raw, request.query, request.headers.get("Content-Type", ""))

    async def _delete(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        opts = await self._delete_options(request)
        obj, deleted = await self.registry.delete(t.info, t.namespace or "", t.name, opts)
        if deleted and not self.registry.rules(t.info).return_deleted_object:
            meta = obj["metadata"]
            details: dict[str, Any] = {"name": meta.get("name"), "kind": t.info.plural}
            if t.info.group:
                details = {"name": meta.get("name"), "group": t.info.group, "kind": t.info.plural}
            details["uid"] = meta.get("uid")
            return json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            )
        return json_response(obj)

    async def _delete_collection(self, request: web.Request, t: Target) -> web.StreamResponse:
        label_sel, field_sel = self._selectors(request, t.info)
        opts = await self._delete_options(request)
        items = await self.registry.delete_collection(
            t.info, t.namespace, opts, label_sel, field_sel
        )
        return json_response(
            {
                "kind": t.info.list_kind,
                "apiVersion": t.info.api_version,
                "metadata": {"resourceVersion": str(self.store.revision)},
                "items": items,
            }
        )


MAX_URL = 1 << 20
"""Request line and header limit: Go's net/http default ``MaxHeaderBytes`` (1 MiB), which
kube-apiserver keeps, so long label selectors upstream accepts are accepted here too."""


def warning_text(text: str) -> str:
    """A warning as a ``Warning`` header's quoted text: control characters as Go's ``%q``
    writes them, then quotes and backslashes escaped (what kube-apiserver sends). A field
    name with CR/LF must never make the header, and so an already committed write's answer,
    fail."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0x80 <= code < 0xA0 or ch in ("\u2028", "\u2029"):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out).replace("\\", "\\\\").replace('"', '\\"')


_GO_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\x00": "\\x00"}


async def _read(request: web.Request) -> bytes:
    """The request body; one that does not decode (a bad gzip stream) is a 400."""
    try:
        return await request.read()
    except (HttpProcessingError, RequestPayloadError):
        raise errors.BadRequest(
            "couldn't get version/kind; json parse error: the body could not be decoded "
            f"as its Content-Encoding ({request.headers.get('Content-Encoding', 'identity')})"
        ) from None
