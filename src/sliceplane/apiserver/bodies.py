"""A write's body made into an object of the kind the URL names, as kube-apiserver's
decoder would leave it.

Before the registry applies any REST semantics: the body must be an object whose ``kind``
and ``apiVersion``, when given, are the URL's, and whose ``metadata.namespace`` agrees
with the URL's; fields the kind does not have are dropped, as decoding into Go structs
drops them, with ``fieldValidation`` deciding whether they are refused (Strict), reported
as warnings (Warn) or ignored; a field of the wrong JSON type is the decoder's 400.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj
from sliceplane.api.resources import ResourceInfo
from sliceplane.api.schema import check, decode_error_message, strict_message


def kind_key(info: ResourceInfo) -> str:
    """The schema definition name of a served kind, e.g. ``io.k8s.api.core.v1.Pod``."""
    group = info.group or "core"
    group = {"discovery.k8s.io": "discovery", "coordination.k8s.io": "coordination"}.get(
        group, group
    )
    return f"io.k8s.api.{group}.{info.version}.{info.kind}"


def check_body(info: ResourceInfo, namespace: str, obj: Any) -> Obj:
    """The request body as an object of ``info``'s kind in ``namespace`` (kind, apiVersion
    and metadata.namespace filled in or checked); BadRequest with upstream's texts."""
    if not isinstance(obj, dict):
        raise errors.BadRequest(
            f"the object provided is unrecognized (must be of type {info.kind})"
        )
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if (kind not in (None, "", info.kind)) or (api_version not in (None, "", info.api_version)):
        raise errors.BadRequest(
            f'{kind} in version "{api_version}" cannot be handled as a {info.kind}: '
            f'no kind "{kind}" is registered for version "{api_version}"'
        )
    obj["kind"] = info.kind
    obj["apiVersion"] = info.api_version
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be an object")
    if info.namespaced:
        body_ns = meta.get("namespace")
        if body_ns in (None, ""):
            meta["namespace"] = namespace
        elif body_ns != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent "
                "on the request"
            )
    else:
        meta.pop("namespace", None)
    return obj


def prune(info: ResourceInfo, obj: Obj, field_validation: str) -> tuple[Obj, list[str]]:
    """Drop unknown fields like decoding into Go structs would; refuse bad types, and
    unknown fields under ``fieldValidation=Strict`` (kube's 400 texts)."""
    res = check(kind_key(info), obj)
    if res.type_errors:
        # kube reports only the first decode error, and it wins over strict errors.
        raise errors.BadRequest(decode_error_message(info.kind, info.version, res.type_errors[0]))
    warnings: list[str] = []
    if res.strict_errors:
        if field_validation == "Strict":
            raise errors.BadRequest(
                decode_error_message(info.kind, info.version, strict_message(res.strict_errors))
            )
        if field_validation == "Warn":
            warnings = list(res.strict_errors)
    return res.obj, warnings
