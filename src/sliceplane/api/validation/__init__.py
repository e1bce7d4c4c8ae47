"""The validation layer the API server calls before persisting an object.

One entry point per verb keeps the server free of per-kind knowledge: it passes the
plural resource name and the decoded (already defaulted) JSON object(s), and gets back a
list of field errors formatted exactly like upstream's, ready for a 422 Status. Resources
without specific rules get the generic metadata checks only. The validators never raise
on malformed input: wrongly typed fields come back as Invalid field errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sliceplane.api.field import ErrorList, Path
from sliceplane.api.validation import configdata, endpointslice, pod, service, simple
from sliceplane.api.validation.meta import (
    METADATA,
    validate_object_meta,
    validate_object_meta_update,
)
from sliceplane.api.validation.names import name_is_dns_subdomain

CreateFn = Callable[[dict[str, Any]], ErrorList]
UpdateFn = Callable[[dict[str, Any], dict[str, Any]], ErrorList]

_CREATE: Final[dict[str, CreateFn]] = {
    "endpointslices": endpointslice.validate_endpointslice_create,
    "services": service.validate_service_create,
    "pods": pod.validate_pod_create,
    "namespaces": simple.validate_namespace,
    "nodes": simple.validate_node,
    "endpoints": simple.validate_endpoints,
    "events": simple.validate_event,
    "leases": simple.validate_lease,
    "deployments": simple.validate_deployment,
    "secrets": configdata.validate_secret,
    "configmaps": configdata.validate_config_map,
}

_UPDATE: Final[dict[str, UpdateFn]] = {
    "endpointslices": endpointslice.validate_endpointslice_update,
    "services": service.validate_service_update,
    "pods": pod.validate_pod_update,
    "namespaces": simple.validate_namespace_update,
    "nodes": simple.validate_node_update,
    "endpoints": simple.validate_endpoints_update,
    "events": simple.validate_event_update,
    "leases": simple.validate_lease_update,
    "deployments": simple.validate_deployment_update,
    "secrets": configdata.validate_secret_update,
    "configmaps": configdata.validate_config_map_update,
}

_STATUS_UPDATE: Final[dict[str, UpdateFn]] = {
    "namespaces": simple.validate_namespace_status_update,
}
"""Kinds whose ``/status`` writes are validated by rules of their own."""

CLUSTER_SCOPED: Final = frozenset({"namespaces", "nodes"})


def _not_an_object(value: Any) -> ErrorList:
    return [Path("").invalid(type(value).__name__, "must be a JSON object")]


def _guard(run: Callable[[], ErrorList]) -> ErrorList:
    """Last line of defence: a validator bug becomes an InternalError, never a crash."""
    try:
        return run()
    except Exception as exc:  # pragma: no cover - only reached through validator bugs
        return [Path("").internal(f"validation failed: {exc!r}")]


def validate_create(resource: str, obj: dict[str, Any]) -> ErrorList:
    """Errors for creating ``obj`` as ``resource`` (plural name, e.g. "endpointslices")."""
    if not isinstance(obj, dict):
        return _not_an_object(obj)
    fn = _CREATE.get(resource)
    if fn is not None:
        return _guard(lambda: fn(obj))
    namespaced = resource not in CLUSTER_SCOPED
    return _guard(lambda: validate_object_meta(obj, namespaced, name_is_dns_subdomain, METADATA))


def validate_update(
    resource: str, new: dict[str, Any], old: dict[str, Any], subresource: str = ""
) -> ErrorList:
    """Errors for replacing ``old`` with ``new`` (through ``subresource``)."""
    if not isinstance(new, dict):
        return _not_an_object(new)
    if not isinstance(old, dict):
        old = {}
    fn = _STATUS_UPDATE.get(resource) if subresource == "status" else None
    fn = fn or _UPDATE.get(resource)
    if fn is not None:
        return _guard(lambda: fn(new, old))
    return _guard(lambda: validate_object_meta_update(new, old, METADATA))


__all__ = ["CLUSTER_SCOPED", "validate_create", "validate_update"]
