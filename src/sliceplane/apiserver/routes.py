"""The Kubernetes API's URL grammar, parsed by hand: a path is a resource or a document.

Routing is done on path segments rather than by registering a route per resource: the
grammar (``/api/v1/namespaces/ns/pods/x/status``, ``/apis/group/version/...``) is regular
and table-driven (``api.resources``), and one parser keeps discovery, metrics and errors
uniform. :func:`route` is pure: a path and an Accept header in, a :class:`Target` or the
discovery :class:`Document` to answer with out, or ``NotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sliceplane.api import errors
from sliceplane.api.resources import ResourceInfo, lookup
from sliceplane.apiserver import discovery
from sliceplane.apiserver.httperrors import PageNotFound

JSON = "application/json"

_ROOT_PATHS = [
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


@dataclass(slots=True)
class Target:
    """A parsed resource URL."""

    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str


@dataclass(slots=True)
class Document:
    """A discovery answer: ``body`` encoded as JSON with ``content_type``."""

    body: Any
    content_type: str = JSON


def wants(accept: str, as_kind: str) -> bool:
    """Whether an Accept header asks for ``as=<as_kind>`` (Table, aggregated discovery...)."""
    return f"as={as_kind}" in accept.replace(" ", "")


#: The methods each subresource is served for (kube-apiserver installs a route per verb
#: its storage implements); any other method is 405, before the object is looked up.
SUBRESOURCE_METHODS: dict[str, frozenset[str]] = {
    "status": frozenset({"GET", "PUT", "PATCH"}),
    "scale": frozenset({"GET", "PUT", "PATCH"}),
    "binding": frozenset({"POST"}),
    "finalize": frozenset({"PUT"}),
    "log": frozenset({"GET"}),
}


def _aggregated(core: bool) -> Document:
    return Document(discovery.aggregated(core), discovery.AGGREGATED_CONTENT_TYPE)


def route(path: str, accept: str, server_address: str) -> Target | Document:
    """What ``path`` names under ``/api`` and ``/apis`` (or the root path list)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return Document({"paths": list(_ROOT_PATHS)})
    if parts[0] == "api":
        if len(parts) == 1:
            if wants(accept, "APIGroupDiscoveryList"):
                return _aggregated(True)
            return Document(discovery.api_versions(server_address))
        group, version, rest = "", parts[1], parts[2:]
        if version != "v1":
            raise errors.NotFound.generic()
    elif parts[0] == "apis":
        if len(parts) == 1:
            if wants(accept, "APIGroupDiscoveryList"):
                return _aggregated(False)
            return Document(discovery.api_group_list())
        group_doc = discovery.api_group(parts[1])
        if group_doc is None:
            raise PageNotFound()
        if len(parts) == 2:
            return Document(group_doc)
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[0] == "version":
        raise errors.NotFound.generic()  # /version/<more>: the version handler's own 404
    else:
        raise PageNotFound()
    if not rest:
        doc = discovery.api_resource_list(group, version)
        if doc is None:
            raise errors.NotFound.generic()
        return Document(doc)
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
        raise errors.NotFound.generic()
    if namespace is not None and not info.namespaced:
        raise errors.NotFound.generic()
    if info.namespaced and namespace is None and len(rest) >= 2:
        # a namespaced object is only ever named inside its namespace
        raise errors.NotFound.generic()
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else ""
    if sub and sub not in info.subresources:
        raise errors.NotFound.generic()
    return Target(info, namespace, name, sub)


def verb(method: str, target: Target, *, watch: bool, content_type: str) -> str:
    """The request's verb as upstream's metrics and audit name it (GET, LIST, WATCH, ...);
    ``MethodNotAllowed`` for a method the target does not take."""
    allowed = SUBRESOURCE_METHODS.get(target.subresource)
    if allowed is not None and method not in allowed:
        raise errors.MethodNotAllowed.generic()
    if method == "GET":
        if watch:
            return "WATCH"
        return "LIST" if target.name is None else "GET"
    if (target.info.namespaced and target.namespace is None) or target.info.read_only:
        raise errors.MethodNotAllowed.generic()
    if method == "POST" and target.name is None:
        return "POST"
    if method == "POST" and target.subresource == "binding":
        return "POST"
    if method == "PUT" and target.name is not None:
        return "PUT"
    if method == "PATCH" and target.name is not None:
        return "APPLY" if "apply-patch" in content_type else "PATCH"
    if method == "DELETE":
        return "DELETECOLLECTION" if target.name is None else "DELETE"
    raise errors.MethodNotAllowed.generic()
