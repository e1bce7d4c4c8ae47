"""Request bodies and write/delete options, decoded as kube-apiserver decodes them.

Pure functions over the raw bytes, the Content-Type and the query: JSON (and ``+json``
media types), YAML and Kubernetes protobuf bodies; ``fieldValidation``, ``dryRun`` and
``fieldManager`` for writes; ``DeleteOptions`` from the body and the query (the query
wins, as upstream's). Every refusal is a ``BadRequest`` or ``UnsupportedMediaType`` with
upstream's text, raised before anything is written.
"""

from __future__ import annotations

from typing import Any

import msgspec
import yaml
from multidict import MultiMapping

from sliceplane.api import errors
from sliceplane.api.protobuf import CONTENT_TYPE as PROTOBUF
from sliceplane.api.protobuf import ProtobufDecodeError, decode_k8s_protobuf
from sliceplane.apiserver.registry import DeleteOptions, WriteOptions

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
_YAML = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")

_decode = msgspec.json.decode


def decode_body(raw: bytes, content_type: str) -> Any:
    """The object a write request carries, by its media type."""
    if len(raw) > MAX_BODY:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("", JSON, "*/*") or ct.endswith("+json"):
        try:
            return _decode(raw)
        except msgspec.DecodeError as exc:
            raise errors.BadRequest(f"couldn't get version/kind; json parse error: {exc}") from None
    if ct in _YAML:
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


def write_options(query: MultiMapping[str]) -> WriteOptions:
    """``fieldValidation`` (default Warn, as kube-apiserver's), ``dryRun``, ``fieldManager``."""
    fv = query.get("fieldValidation", "Warn")
    if fv not in ("Strict", "Warn", "Ignore", ""):
        raise errors.BadRequest(
            f"fieldValidation must be one of Ignore, Warn, or Strict, got {fv!r}"
        )
    dry = query.getall("dryRun", [])
    for d in dry:
        if d != "All":
            raise errors.BadRequest(f"Invalid dry run value: {d!r}")
    return WriteOptions(
        dry_run=bool(dry), field_validation=fv or "Warn", field_manager=query.get("fieldManager")
    )


def delete_options(raw: bytes, query: MultiMapping[str]) -> DeleteOptions:
    """``DeleteOptions`` from an optional JSON body, overridden by the query."""
    body: dict[str, Any] = {}
    if raw.strip():
        try:
            decoded = _decode(raw)
        except msgspec.DecodeError as exc:
            raise errors.BadRequest(f"json parse error: {exc}") from None
        if not isinstance(decoded, dict):
            raise errors.BadRequest("DeleteOptions must be an object")
        body = decoded
    grace: Any = body.get("gracePeriodSeconds")
    if "gracePeriodSeconds" in query:
        try:
            grace = int(query["gracePeriodSeconds"])
        except ValueError:
            raise errors.BadRequest("gracePeriodSeconds must be an integer") from None
    pre = body.get("preconditions") or {}
    dry = bool(query.getall("dryRun", [])) or bool(body.get("dryRun"))
    return DeleteOptions(
        grace_period_seconds=grace if isinstance(grace, int) else None,
        propagation_policy=query.get("propagationPolicy") or body.get("propagationPolicy"),
        orphan_dependents=body.get("orphanDependents"),
        precondition_uid=pre.get("uid"),
        precondition_rv=pre.get("resourceVersion"),
        dry_run=dry,
    )
