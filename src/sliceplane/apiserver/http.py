"""HTTP front of the embedded API server (aiohttp).

Routing is done by hand on path segments rather than by registering a route per
resource: the URL grammar of the Kubernetes API (``/api/v1/namespaces/ns/pods/x/status``)
is regular and table-driven, and one parser keeps discovery, metrics and errors uniform.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sliceplane.api import errors
from sliceplane.api.protobuf import CONTENT_TYPE as PROTOBUF
from sliceplane.api.protobuf import ProtobufDecodeError, decode_k8s_protobuf
from sliceplane.api.resources import RESOURCES, ResourceInfo, lookup
from sliceplane.api.schema import ResourceSpec, openapi_v3_document_bytes, openapi_v3_root
from sliceplane.api.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
    validate_field_selector,
)
from sliceplane.apiserver import discovery
from sliceplane.apiserver.patch import patch_content_type
from sliceplane.apiserver.printers import build_table
from sliceplane.apiserver.registry import (
    DeleteOptions,
    Registry,
    WriteOptions,
    matches,
)
from sliceplane.storage.store import Event, Stored, TooOld

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
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
_decode = msgspec.json.decode


@dataclass(slots=True)
class ServerOptions:
    token: str | None = None
    bookmark_interval: float = 10.0
    min_request_timeout: float = 1800.0
    server_address: str = "127.0.0.1:6443"


@dataclass(slots=True)
class Target:
    """A parsed resource URL."""

    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str


class Metrics:
    """Prometheus metrics with upstream's names, in a registry of our own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["verb", "group", "version", "resource", "subresource", "scope", "component"]
        self.requests = Counter(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, group, version, "
            "resource, scope, component, and HTTP response code.",
            [*labels, "code", "dry_run"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, "
            "resource, subresource, scope and component.",
            [*labels, "dry_run"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 5.0, 10.0, 60.0),
            registry=self.registry,
        )

    def observe(
        self, verb: str, target: Target | None, code: int, seconds: float, dry_run: bool
    ) -> None:
        if target is None:
            group = version = resource = sub = ""
            scope = ""
        else:
            group, version = target.info.group, target.info.version
            resource, sub = target.info.plural, target.subresource
            if target.name:
                scope = "resource"
            elif target.namespace:
                scope = "namespace"
            else:
                scope = "cluster"
        dr = "All" if dry_run else ""
        self.requests.labels(
            verb, group, version, resource, sub, scope, "apiserver", str(code), dr
        ).inc()
        if verb != "WATCH":
            self.latency.labels(
                verb, group, version, resource, sub, scope, "apiserver", dr
            ).observe(seconds)


def status_response(err: errors.StatusError) -> web.Response:
    return web.Response(body=_encode(err.to_status()), status=err.code, content_type=JSON)


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=_encode(obj), status=status, content_type=JSON, headers=headers)


def _wants(accept: str, as_kind: str) -> bool:
    return f"as={as_kind}" in accept.replace(" ", "")


def _parse_bool(v: str | None) -> bool:
    return v is not None and v.lower() in ("true", "1")


class APIServerApp:
    """Builds the aiohttp application around a :class:`Registry`."""

    def __init__(self, registry: Registry, options: ServerOptions) -> None:
        self.registry = registry
        self.store = registry.store
        self.options = options
        self.metrics = Metrics()
        self.ready = False
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()
        self._openapi_cache: dict[str, bytes] = {}

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY + 1, handler_args={"max_field_size": 65536})
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
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
            if path in ("/healthz", "/livez", "/readyz") or path.startswith(
                ("/healthz/", "/livez/", "/readyz/")
            ):
                ok = self.ready or not path.startswith("/readyz")
                code = 200 if ok else 500
                return web.Response(text="ok" if ok else "not ready", status=code)
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
                resp = self._openapi(request)
                code = resp.status
                return resp
            target_or_doc = self._route(request)
            if isinstance(target_or_doc, web.StreamResponse):
                code = target_or_doc.status
                return target_or_doc
            target = target_or_doc
            verb, handler = self._handler_for(request, target)
            handled = await handler(request, target)
            code = handled.status
            return handled
        except errors.StatusError as exc:
            code = exc.code
            return status_response(exc)
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
        except Exception as exc:  # a bug: say so as a Status, log the trace
            log.exception("internal error serving %s %s", request.method, path)
            code = 500
            return status_response(errors.InternalError(f"Internal error occurred: {exc}"))
        finally:
            self.metrics.observe(verb, target, code, time.perf_counter() - started, dry_run)

    def _authenticate(self, request: web.Request) -> None:
        token = self.options.token
        if token is None:
            return
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip(), token):
            return
        raise errors.Unauthorized()

    # ------------------------------------------------------------------ routing

    def _route(self, request: web.Request) -> Target | web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        accept = request.headers.get("Accept", "")
        if not parts:
            return json_response(
                {
                    "paths": [
                        "/api",
                        "/api/v1",
                        "/apis",
                        "/healthz",
                        "/livez",
                        "/metrics",
                        "/openapi/v3",
                        "/readyz",
                        "/version",
                    ]
                }
            )
        if parts[0] == "api":
            if len(parts) == 1:
                if _wants(accept, "APIGroupDiscoveryList"):
                    return self._aggregated(True)
                return json_response(discovery.api_versions(self.options.server_address))
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise errors.NotFound("the server could not find the requested resource")
        elif parts[0] == "apis":
            if len(parts) == 1:
                if _wants(accept, "APIGroupDiscoveryList"):
                    return self._aggregated(False)
                return json_response(discovery.api_group_list())
            if len(parts) == 2:
                doc = discovery.api_group(parts[1])
                if doc is None:
                    raise errors.NotFound("the server could not find the requested resource")
                return json_response(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.NotFound("the server could not find the requested resource")
        if not rest:
            doc = discovery.api_resource_list(group, version)
            if doc is None:
                raise errors.NotFound("the server could not find the requested resource")
            return json_response(doc)
        namespace: str | None = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace = rest[1]
            rest = rest[2:]
        info = lookup(group, version, rest[0])
        if info is None or len(rest) > 3:
            raise errors.NotFound("the server could not find the requested resource")
        if namespace is not None and not info.namespaced:
            raise errors.NotFound("the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else ""
        if sub and sub not in info.subresources:
            raise errors.NotFound("the server could not find the requested resource")
        return Target(info, namespace, name, sub)

    def _aggregated(self, core: bool) -> web.Response:
        return web.Response(
            body=_encode(discovery.aggregated(core)),
            headers={"Content-Type": discovery.AGGREGATED_CONTENT_TYPE},
        )

    def _handler_for(
        self, request: web.Request, t: Target
    ) -> tuple[str, Callable[[web.Request, Target], Awaitable[web.StreamResponse]]]:
        m = request.method
        if m == "GET":
            if _parse_bool(request.query.get("watch")):
                return "WATCH", self._watch
            if t.name is None:
                return "LIST", self._list
            return "GET", self._get
        if t.info.namespaced and t.namespace is None and m != "GET":
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )
        if m == "POST" and t.name is None:
            return "POST", self._create
        if m == "POST" and t.subresource == "binding":
            return "POST", self._bind
        if m == "PUT" and t.name is not None:
            return "PUT", self._update
        if m == "PATCH" and t.name is not None:
            ct = request.headers.get("Content-Type", "")
            return ("APPLY" if "apply-patch" in ct else "PATCH"), self._patch
        if m == "DELETE":
            if t.name is None:
                return "DELETECOLLECTION", self._delete_collection
            return "DELETE", self._delete
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )

    # ------------------------------------------------------------------ openapi

    def _openapi(self, request: web.Request) -> web.Response:
        path = request.path.rstrip("/")
        if path == "/openapi/v3":
            return json_response(openapi_v3_root(_served_group_versions(), _SPECS))
        prefix = "/openapi/v3/"
        if path.startswith(prefix):
            gv = path[len(prefix) :]
            doc = self._openapi_cache.get(gv)
            if doc is None:
                if gv.startswith("api/"):
                    group, version = "", gv[4:]
                elif gv.startswith("apis/") and gv.count("/") == 2:
                    _, group, version = gv.split("/")
                else:
                    raise errors.NotFound("the server could not find the requested resource")
                if (group, version) not in _served_group_versions():
                    raise errors.NotFound("the server could not find the requested resource")
                doc = openapi_v3_document_bytes(group, version, _SPECS)
                self._openapi_cache[gv] = doc
            return web.Response(
                body=doc, content_type=JSON, headers={"Cache-Control": "public, immutable"}
            )
        raise errors.NotFound("the server could not find the requested resource")

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
        if t.subresource == "scale":
            return json_response(self.registry.get_scale(t.info, ns, t.name))
        item = self.registry.get(t.info, ns, t.name)
        accept = request.headers.get("Accept", "")
        if _wants(accept, "Table"):
            table = build_table(
                t.info.plural,
                [item.obj],
                datetime.now(UTC),
                include_object=_include_object(request),
            )
            return json_response(table)
        if _wants(accept, "PartialObjectMetadata"):
            return json_response(_partial(item.obj))
        return web.Response(body=item.raw, content_type=JSON)

    async def _list(self, request: web.Request, t: Target) -> web.StreamResponse:
        label_sel, field_sel = self._selectors(request, t.info)
        limit_s = request.query.get("limit")
        try:
            limit = int(limit_s) if limit_s else None
        except ValueError:
            raise errors.BadRequest(f"invalid limit: {limit_s!r}") from None
        result = self.registry.list_objects(
            t.info,
            t.namespace,
            label_selector=label_sel,
            field_selector=field_sel,
            limit=limit,
            continue_token=request.query.get("continue") or None,
        )
        accept = request.headers.get("Accept", "")
        if _wants(accept, "Table"):
            table = build_table(
                t.info.plural,
                [s.obj for s in result.items],
                datetime.now(UTC),
                include_object=_include_object(request),
                resource_version=str(result.resource_version),
                continue_token=result.continue_token,
                remaining_item_count=result.remaining,
            )
            return json_response(table)
        meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        if _wants(accept, "PartialObjectMetadataList"):
            return json_response(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [_partial(s.obj) for s in result.items],
                }
            )
        head = _encode(
            {"kind": t.info.list_kind, "apiVersion": t.info.api_version, "metadata": meta}
        )
        body = b"".join((head[:-1], b',"items":[', b",".join(s.raw for s in result.items), b"]}"))
        return web.Response(body=body, content_type=JSON)

    # ------------------------------------------------------------------ watch

    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        label_sel, field_sel = self._selectors(request, t.info)
        if t.name is not None:
            name_sel = parse_field_selector(f"metadata.name={t.name}")
            field_sel = (
                name_sel
                if field_sel is None
                else parse_field_selector(f"{field_sel},metadata.name={t.name}")
            )
        rv_s = q.get("resourceVersion", "")
        bookmarks = _parse_bool(q.get("allowWatchBookmarks"))
        send_initial = q.get("sendInitialEvents")
        timeout_s = q.get("timeoutSeconds")
        try:
            timeout = (
                float(timeout_s)
                if timeout_s
                else self.options.min_request_timeout * (1 + random.random())
            )
            since = int(rv_s) if rv_s not in ("", "0") else None
        except ValueError:
            raise errors.BadRequest(f"invalid resource version: {rv_s!r}") from None
        accept = request.headers.get("Accept", "")
        as_table = _wants(accept, "Table")
        info = t.info
        ns = t.namespace

        initial: list[Stored] = []
        if send_initial == "true" or (since is None and send_initial != "false"):
            # "" and "0" start with synthetic ADDED events for the current state.
            stored, list_rv = self.store.list_objects(info.plural, ns if info.namespaced else None)
            initial = [s for s in stored if matches(info, s, label_sel, field_sel)]
            since = list_rv
        elif since is None:
            since = self.store.revision
        if since > self.store.revision:
            # Like the watch cache: wait briefly for a revision from the future to arrive.
            deadline = time.monotonic() + 3.0
            while since > self.store.revision and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if since > self.store.revision:
                raise errors.Timeout(
                    f"Too large resource version: {since}, current: {self.store.revision}",
                    {
                        "causes": [
                            {
                                "reason": "ResourceVersionTooLarge",
                                "message": "Too large resource version",
                            }
                        ],
                        "retryAfterSeconds": 1,
                    },
                )
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
                include_object=_include_object(request),
            )
            first_table[0] = False
            return table

        async def send(ev_type: str, item: Stored) -> None:
            if as_table:
                line = _encode({"type": ev_type, "object": encode_obj(item.obj)})
            else:
                line = b'{"type":"' + ev_type.encode() + b'","object":' + item.raw + b"}"
            await resp.write(line + b"\n")

        last_rv = since
        deadline = time.monotonic() + timeout
        try:
            for item in initial:
                await send("ADDED", item)
            if send_initial == "true" and bookmarks:
                await resp.write(
                    _encode(
                        {
                            "type": "BOOKMARK",
                            "object": self._bookmark(info, last_rv, initial_end=True),
                        }
                    )
                    + b"\n"
                )
            next_bookmark = time.monotonic() + self.options.bookmark_interval
            while not self._stopping.is_set():
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0:
                    break
                wait = min(remaining, max(0.0, next_bookmark - now)) if bookmarks else remaining
                ev = await watcher.next(timeout=min(wait, 1.0) if wait > 0 else 0.001)
                if ev is None:
                    if watcher.closed:
                        break
                    if bookmarks and time.monotonic() >= next_bookmark:
                        cur = max(last_rv, self.store.revision)
                        await resp.write(
                            _encode({"type": "BOOKMARK", "object": self._bookmark(info, cur)})
                            + b"\n"
                        )
                        last_rv = cur
                        next_bookmark = time.monotonic() + self.options.bookmark_interval
                    continue
                out = _transform(info, ev, label_sel, field_sel)
                last_rv = ev.item.rv
                if out is not None:
                    await send(out, ev.item)
            if watcher.overflowed or not self._stopping.is_set():
                # The deadline can pass with events still queued in the watcher. Every
                # event up to the store's revision has been offered to it (offers happen
                # with the commit, on this loop), so: stop the subscription, send what it
                # holds, and only then a bookmark. A bookmark past unsent events would make
                # the client resume after them and lose them for good; a watcher that
                # overflowed lost events, so its client must relist instead.
                cur = max(last_rv, self.store.revision)
                watcher.close()
                for ev in watcher.drain():
                    out = _transform(info, ev, label_sel, field_sel)
                    if out is not None:
                        await send(out, ev.item)
                if watcher.overflowed:
                    status = errors.Expired(
                        "watch closed: the client fell too far behind"
                    ).to_status()
                    await resp.write(_encode({"type": "ERROR", "object": status}) + b"\n")
                elif bookmarks:
                    await resp.write(
                        _encode({"type": "BOOKMARK", "object": self._bookmark(info, cur)}) + b"\n"
                    )
        except ConnectionResetError:
            # The client went away: an ordinary end of a watch, not an error to log.
            return resp
        finally:
            watcher.close()
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp

    @staticmethod
    def _bookmark(info: ResourceInfo, rv: int, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}

    # ------------------------------------------------------------------ writes

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
        ct = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ct in ("", JSON, "*/*") or ct.endswith("+json"):
            try:
                return _decode(raw)
            except msgspec.DecodeError as exc:
                raise errors.BadRequest(
                    f"couldn't get version/kind; json parse error: {exc}"
                ) from None
        if ct in (
            "application/yaml",
            "application/x-yaml",
            "text/yaml",
            "application/apply-patch+yaml",
        ):
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise errors.BadRequest(f"error converting YAML to JSON: {exc}") from None
        if ct == PROTOBUF:
            try:
                return decode_k8s_protobuf(raw)
            except ProtobufDecodeError as exc:
                raise errors.BadRequest(str(exc)) from None
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f'application/json, application/yaml, application/vnd.kubernetes.protobuf (got "{ct}")'
        )

    @staticmethod
    def _write_options(request: web.Request) -> WriteOptions:
        q = request.query
        fv = q.get("fieldValidation", "Warn")
        if fv not in ("Strict", "Warn", "Ignore", ""):
            raise errors.BadRequest(
                f"fieldValidation must be one of Ignore, Warn, or Strict, got {fv!r}"
            )
        dry = q.getall("dryRun", [])
        for d in dry:
            if d != "All":
                raise errors.BadRequest(f"Invalid dry run value: {d!r}")
        return WriteOptions(
            dry_run=bool(dry), field_validation=fv or "Warn", field_manager=q.get("fieldManager")
        )

    @staticmethod
    def _written(obj: dict[str, Any], status: int, warnings: list[str]) -> web.Response:
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(f'299 - "{w}"' for w in warnings)
        return json_response(obj, status=status, headers=headers)

    async def _create(self, request: web.Request, t: Target) -> web.StreamResponse:
        body = await self._body(request)
        res = await self.registry.create(
            t.info, t.namespace or "", body, self._write_options(request)
        )
        return self._written(res.obj, 201, res.warnings)

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
        return self._written(res.obj, 201 if res.created else 200, res.warnings)

    async def _patch(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        ptype = patch_content_type(request.headers.get("Content-Type", ""))
        if ptype is None:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml, application/strategic-merge-patch+json"
            )
        body = await self._body(request)
        res = await self.registry.patch(
            t.info,
            t.namespace or "",
            t.name,
            ptype,
            body,
            self._write_options(request),
            subresource=t.subresource,
        )
        return self._written(res.obj, 200, res.warnings)

    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        raw = await request.read() if request.can_read_body else b""
        body: dict[str, Any] = {}
        if raw.strip():
            try:
                decoded = _decode(raw)
            except msgspec.DecodeError as exc:
                raise errors.BadRequest(f"json parse error: {exc}") from None
            if not isinstance(decoded, dict):
                raise errors.BadRequest("DeleteOptions must be an object")
            body = decoded
        q = request.query
        grace: Any = body.get("gracePeriodSeconds")
        if "gracePeriodSeconds" in q:
            try:
                grace = int(q["gracePeriodSeconds"])
            except ValueError:
                raise errors.BadRequest("gracePeriodSeconds must be an integer") from None
        pre = body.get("preconditions") or {}
        dry = bool(q.getall("dryRun", [])) or bool(body.get("dryRun"))
        return DeleteOptions(
            grace_period_seconds=grace if isinstance(grace, int) else None,
            propagation_policy=q.get("propagationPolicy") or body.get("propagationPolicy"),
            orphan_dependents=body.get("orphanDependents"),
            precondition_uid=pre.get("uid"),
            precondition_rv=pre.get("resourceVersion"),
            dry_run=dry,
        )

    async def _delete(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        opts = await self._delete_options(request)
        obj, deleted = await self.registry.delete(t.info, t.namespace or "", t.name, opts)
        if deleted and t.info.plural not in ("pods", "namespaces", "services"):
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


_SPECS = [
    ResourceSpec(r.group, r.version, r.kind, r.plural, r.namespaced, r.subresources)
    for r in RESOURCES
]


def _served_group_versions() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in out:
            out.append((r.group, r.version))
    return out


def _include_object(request: web.Request) -> str:
    v = request.query.get("includeObject", "Metadata")
    return v if v in ("None", "Metadata", "Object") else "Metadata"


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _transform(
    info: ResourceInfo,
    ev: Event,
    label_sel: LabelSelector | None,
    field_sel: FieldSelector | None,
) -> str | None:
    """Map a store event to what a filtered watcher sees (objects entering/leaving)."""
    if label_sel is None and field_sel is None:
        return ev.type
    if ev.type == "DELETED":
        base = ev.prev or ev.item
        return "DELETED" if matches(info, base, label_sel, field_sel) else None
    now = matches(info, ev.item, label_sel, field_sel)
    if ev.type == "ADDED":
        return "ADDED" if now else None
    if ev.prev is None:
        return "MODIFIED" if now else None
    before = matches(info, ev.prev, label_sel, field_sel)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    if before:
        return "DELETED"
    return None
