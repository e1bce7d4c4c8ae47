"""The one async client of the Kubernetes API used by every sliceplane component.

Connection settings come from kubernetes-asyncio's config loaders (kubeconfig with exec
plugins and client certificates, or in-cluster service-account config), so sliceplane
never parses kubeconfig files itself. Requests go through one aiohttp session; bodies are
decoded with msgspec, into plain dicts or into a typed Struct when the caller asks.
Failures are raised as the :mod:`sliceplane.api.errors` classes the server side uses.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec

from sliceplane.api import errors
from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.protobuf import CONTENT_TYPE
from sliceplane.api.protobufencode import ProtobufEncodeError, encode_k8s_protobuf
from sliceplane.api.resources import BY_PLURAL, ResourceInfo
from sliceplane.api.watch import ListPage, WatchEvent
from sliceplane.client.throttle import Throttle

T = TypeVar("T")

PATCH_CONTENT_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

_decode = msgspec.json.decode
JSON = "application/json"
PROTOBUF = CONTENT_TYPE
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to reach an API server (resolved from a kubeconfig or in-cluster)."""

    server: str
    token: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    default_namespace: str = "default"
    # kubeconfig ``tls-server-name``: the name the server certificate is checked against
    # (and sent as SNI) instead of the URL's host, as client-go does.
    tls_server_name: str | None = None


def _ssl_context(conn: Connection) -> ssl.SSLContext | bool:
    if not conn.server.startswith("https"):
        return False
    if not conn.verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=conn.ca_file)
    if conn.cert_file and conn.key_file:
        ctx.load_cert_chain(conn.cert_file, conn.key_file)
    return ctx


class KubeconfigError(Exception):
    """The kubeconfig (or in-cluster config) cannot be loaded: missing file, bad YAML, an
    unknown context. Commands turn it into one line on stderr and exit 2."""


async def load_connection(
    kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None
) -> Connection:
    """Resolve a kubeconfig (or in-cluster config when none is given and we run in a Pod).

    Every way the configuration can be unusable is raised as :class:`KubeconfigError`,
    so callers need not know kubernetes-asyncio's exception types."""
    import yaml

    from sliceplane.client.configloader import config_module

    ConfigException = config_module().ConfigException

    if kubeconfig is not None and not os.path.exists(kubeconfig):
        raise KubeconfigError(f"kubeconfig {os.fspath(kubeconfig)}: no such file")
    if kubeconfig is None and not os.environ.get("KUBECONFIG"):
        default = os.path.expanduser("~/.kube/config")
        if "KUBERNETES_SERVICE_HOST" not in os.environ and not os.path.exists(default):
            raise KubeconfigError(
                f"no kubeconfig: {default} does not exist (give --kubeconfig or set KUBECONFIG)"
            )
    try:
        return await _load_connection(kubeconfig, context)
    except (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, KeyError) as exc:
        where = f"kubeconfig {os.fspath(kubeconfig)}" if kubeconfig is not None else "kubeconfig"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KubeconfigError(f"{where}: {detail}") from exc


async def _load_connection(
    kubeconfig: str | os.PathLike[str] | None, context: str | None
) -> Connection:
    from sliceplane.client.configloader import config_module, configuration_class

    kconfig = config_module()
    cfg = configuration_class()()
    namespace = "default"
    in_cluster = (
        kubeconfig is None
        and "KUBERNETES_SERVICE_HOST" in os.environ
        and not (os.environ.get("KUBECONFIG"))
    )
    if in_cluster:
        kconfig.load_incluster_config(client_configuration=cfg)
        ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        if os.path.exists(ns_file):
            with open(ns_file) as fh:
                namespace = fh.read().strip() or "default"
    else:
        path = str(kubeconfig) if kubeconfig is not None else None
        loader = await kconfig.load_kube_config(
            config_file=path, context=context, client_configuration=cfg
        )
        del loader
        try:
            _, active = kconfig.list_kube_config_contexts(config_file=path)
            if context is not None:
                contexts, _ = kconfig.list_kube_config_contexts(config_file=path)
                active = next((c for c in contexts if c["name"] == context), active)
            namespace = ((active or {}).get("context") or {}).get("namespace") or "default"
        except Exception:
            namespace = "default"
    token = None
    auth = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    if auth:
        token = auth[7:] if auth.lower().startswith("bearer ") else auth
    return Connection(
        server=str(cfg.host or "").rstrip("/"),
        token=token,
        ca_file=cfg.ssl_ca_cert,
        cert_file=cfg.cert_file,
        key_file=cfg.key_file,
        verify=bool(cfg.verify_ssl),
        default_namespace=namespace,
        tls_server_name=getattr(cfg, "tls_server_name", None) or None,
    )


@functools.cache
def _timeout(total: float | None) -> aiohttp.ClientTimeout:
    """One ``ClientTimeout`` per value (every request used to build its own)."""
    return aiohttp.ClientTimeout(total=total)


def _resource(resource: ResourceInfo | str) -> ResourceInfo:
    if isinstance(resource, ResourceInfo):
        return resource
    info = BY_PLURAL.get(resource)
    if info is None:
        raise ValueError(f"unknown resource {resource!r}")
    return info


class Client:
    """Async API client. Use ``async with await Client.connect(...)`` or call ``close()``."""

    def __init__(self, conn: Connection, *, user_agent: str = "sliceplane/0.1") -> None:
        self.conn = conn
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        connector = aiohttp.TCPConnector(ssl=_ssl_context(conn), limit=64)
        self._session = aiohttp.ClientSession(
            base_url=None,
            headers=headers,
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        self.throttle: Throttle | None = None
        self.content_type = JSON
        """How create, update and delete bodies are encoded (``--kube-api-content-type``)."""

    def throttled(self, throttle: Throttle | None) -> Client:
        """A view of this client whose requests (not watches) wait for ``throttle``'s
        tokens, sharing the connection pool; each controller gets its own, as each
        kube-controller-manager controller gets its own rate-limited clientset. Close the
        original, not the view."""
        view = copy.copy(self)
        view.throttle = throttle
        return view

    def writing(self, content_type: str) -> Client:
        """A view of this client that sends create, update and delete bodies as
        ``content_type`` (``application/json`` or ``application/vnd.kubernetes.protobuf``,
        kube-controller-manager's ``--kube-api-content-type``); responses stay JSON, and a
        body without a protobuf form (no kind) is sent as JSON. Close the original."""
        if content_type not in (JSON, PROTOBUF):
            raise ValueError(f"unsupported content type {content_type!r}")
        view = copy.copy(self)
        view.content_type = content_type
        return view

    def _body(self, obj: Obj) -> tuple[Any, str]:
        if self.content_type == PROTOBUF:
            try:
                return encode_k8s_protobuf(obj), PROTOBUF
            except ProtobufEncodeError:
                pass
        return obj, JSON

    @classmethod
    async def connect(
        cls, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None
    ) -> Client:
        return cls(await load_connection(kubeconfig, context))

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ paths

    def path(
        self,
        resource: ResourceInfo | str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str = "",
    ) -> str:
        info = _resource(resource)
        parts = [info.url_prefix()]
        if info.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(info.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
        return "/".join(parts)

    # ------------------------------------------------------------------ transport

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = 60.0,
    ) -> bytes:
        """Send one request; raise the matching StatusError for a non-2xx answer."""
        if self.throttle is not None:
            await self.throttle.wait()
        data = None if body is None else (body if isinstance(body, bytes) else _encode(body))
        headers = {"Content-Type": content_type} if data is not None else None
        async with self._session.request(
            method,
            self.conn.server + path,
            params=params or None,
            data=data,
            headers=headers,
            timeout=_timeout(timeout),
            server_hostname=self.conn.tls_server_name,
        ) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise _error_from(resp.status, raw)
            return raw

    async def request_json(self, method: str, path: str, **kw: Any) -> Any:
        return _decode(await self.request(method, path, **kw))

    # ------------------------------------------------------------------ verbs

    async def get(
        self,
        resource: ResourceInfo | str,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str = "",
        type: type[T] | None = None,
    ) -> Any:
        raw = await self.request("GET", self.path(resource, namespace, name, subresource))
        return _decode(raw, type=type) if type is not None else _decode(raw)

    async def list(
        self,
        resource: ResourceInfo | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> ListPage:
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        if continue_:
            params["continue"] = continue_
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        doc = await self.request_json("GET", self.path(resource, namespace), params=params)
        meta = meta_of(doc)
        return ListPage(
            items=doc.get("items") or [],
            resource_version=str(meta.get("resourceVersion") or ""),
            continue_=meta.get("continue") or None,
            remaining_item_count=meta.get("remainingItemCount"),
        )

    async def list_all(
        self, resource: ResourceInfo | str, namespace: str | None = None, **kw: Any
    ) -> ListPage:
        """Every page of a list, followed through continue tokens."""
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page = await self.list(resource, namespace, limit=500, continue_=cont, **kw)
            items.extend(page.items)
            if not page.continue_:
                return ListPage(items, page.resource_version)
            cont = page.continue_

    async def watch(
        self,
        resource: ResourceInfo | str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Stream watch events until the server ends the watch.

        A 410 answered before the stream starts is raised as ``Expired``/``Gone``; one sent
        as an ``ERROR`` event is yielded as such (callers relist either way).
        """
        params = {"watch": "true"}
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        async with self._session.get(
            self.conn.server + self.path(resource, namespace),
            params=params,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            server_hostname=self.conn.tls_server_name,
        ) as resp:
            if resp.status >= 400:
                raise _error_from(resp.status, await resp.read())
            # One split per chunk: cutting one line at a time off the buffer copied the
            # rest of a chunk holding many events once per event.
            buf = b""
            async for chunk in resp.content.iter_any():
                if b"\n" not in chunk:
                    buf += chunk
                    continue
                lines = (buf + chunk if buf else chunk).split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line and not line.isspace():
                        ev = _decode(line)
                        yield WatchEvent(ev["type"], ev["object"])
            if buf.strip():
                ev = _decode(buf)
                yield WatchEvent(ev["type"], ev["object"])

    async def create(
        self,
        resource: ResourceInfo | str,
        obj: Obj,
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_validation: str | None = None,
    ) -> Obj:
        info = _resource(resource)
        ns = (
            namespace
            or meta_of(obj).get("namespace")
            or (self.conn.default_namespace if info.namespaced else None)
        )
        params: dict[str, str] = {}
        if dry_run:
            params["dryRun"] = "All"
        if field_validation:
            params["fieldValidation"] = field_validation
        body, content_type = self._body(obj)
        result: Obj = await self.request_json(
            "POST", self.path(info, ns), body=body, params=params, content_type=content_type
        )
        return result

    async def update(self, resource: ResourceInfo | str, obj: Obj, *, subresource: str = "") -> Obj:
        meta = meta_of(obj)
        body, content_type = self._body(obj)
        result: Obj = await self.request_json(
            "PUT",
            self.path(resource, meta.get("namespace"), meta["name"], subresource),
            body=body,
            content_type=content_type,
        )
        return result

    async def patch(
        self,
        resource: ResourceInfo | str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str = "",
    ) -> Obj:
        result: Obj = await self.request_json(
            "PATCH",
            self.path(resource, namespace, name, subresource),
            body=patch,
            content_type=PATCH_CONTENT_TYPES[patch_type],
        )
        return result

    async def delete(
        self,
        resource: ResourceInfo | str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: dict[str, str] | None = None,
    ) -> Obj:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        data, content_type = self._body(body)
        result: Obj = await self.request_json(
            "DELETE", self.path(resource, namespace, name), body=data, content_type=content_type
        )
        return result

    def list_watcher(
        self,
        resource: ResourceInfo | str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> ResourceListWatcher:
        return ResourceListWatcher(
            self, _resource(resource), namespace, label_selector, field_selector
        )


class ResourceListWatcher:
    """One collection's list and watch calls, in the shape informers consume."""

    def __init__(
        self,
        client: Client,
        info: ResourceInfo,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> None:
        self.client = client
        self.info = info
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector

    async def list(
        self,
        *,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> ListPage:
        return await self.client.list(
            self.info,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
        )

    def watch(
        self, *, resource_version: str, timeout_seconds: int | None, allow_bookmarks: bool
    ) -> AsyncIterator[WatchEvent]:
        return self.client.watch(
            self.info,
            self.namespace,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=allow_bookmarks,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )


def _error_from(status: int, raw: bytes) -> errors.StatusError:
    try:
        doc = _decode(raw)
    except msgspec.DecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return errors.StatusError.from_status(doc, status)
    text = raw.decode(errors="replace").strip()[:500]
    return errors.StatusError.from_status({"code": status, "message": text}, status)


async def wait_ready(client: Client, timeout: float = 30.0) -> None:
    """Poll ``/readyz`` until it answers ok."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            body = await client.request("GET", "/readyz", timeout=5)
            if body.strip() == b"ok":
                return
        except (aiohttp.ClientError, errors.StatusError, OSError):
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("API server did not become ready")
        await asyncio.sleep(0.1)
