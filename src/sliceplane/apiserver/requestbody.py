"""Request bodies and write/delete options, decoded as kube-apiserver decodes them.

Pure functions over the raw bytes, the Content-Type and the query: JSON (and ``+json``
media types), YAML and Kubernetes protobuf bodies; ``fieldValidation``, ``dryRun`` and
``fieldManager`` for writes; ``DeleteOptions`` from the body and the query (the query
wins, as upstream's). Every refusal is a ``BadRequest`` or ``UnsupportedMediaType`` with
upstream's text, raised before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
import yaml
from multidict import MultiMapping

from sliceplane.api import errors
from sliceplane.api.field import Path
from sliceplane.api.protobuf import CONTENT_TYPE as PROTOBUF
from sliceplane.api.protobuf import ProtobufDecodeError, decode_k8s_protobuf
from sliceplane.api.schema import json_kind, parse_json
from sliceplane.apiserver.registry import DeleteOptions, WriteOptions

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
_YAML = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")
MAX_DEPTH = 128
"""Nesting a body may have. Go's decoder stops at 10,000 levels; Python code recurses over
objects, so we stop far earlier (no served kind comes close) and answer 400 as upstream
does past its own limit (docs/upstream-differences.md)."""

_decode = msgspec.json.decode


def decode_json(raw: bytes, *, keep_duplicates: bool = False) -> Any:
    """JSON as Go decodes it: invalid UTF-8 inside strings becomes U+FFFD (upstream then
    validates the result), and nesting past :data:`MAX_DEPTH` is a parse error.

    ``keep_duplicates``: decode again so that repeated keys are remembered
    (``api.schema.parse_json``) for ``fieldValidation=Strict`` to refuse, as upstream's
    strict decoder does. Only then: the fast decoder cannot see repeats."""
    text: bytes | str = raw
    try:
        try:
            value = _decode(raw)
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            value = _decode(text)
    except RecursionError:
        raise _too_deep() from None
    check_depth(value, raw)
    if keep_duplicates and isinstance(value, dict):
        value = parse_json(text)  # valid JSON (checked above), no deeper than MAX_DEPTH
    return value


def _too_deep() -> errors.StatusError:
    return errors.BadRequest(
        f"couldn't get version/kind; json parse error: exceeded max depth ({MAX_DEPTH})"
    )


def check_depth(value: Any, raw: bytes | None = None) -> None:
    """Raise 400 if ``value`` nests deeper than :data:`MAX_DEPTH` (iteratively, no recursion)."""
    if raw is not None and raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return  # cannot be deeper than it has brackets
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML without timestamps: Go's YAML-to-JSON keeps ``2026-01-01`` a string."""


_YamlLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _go_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return repr(key) if key != int(key) or abs(key) >= 1e21 else str(int(key))
    go_type, shown = ("%!s(<nil>)", "<nil>") if key is None else ("unknown", str(key)[:40])
    raise errors.BadRequest(
        f"error converting YAML to JSON: unsupported map key of type: {go_type}, key: {shown}"
    )


def _json_shaped(value: Any) -> Any:
    """YAML's tree with every map key a string, as sigs.k8s.io/yaml converts it."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any, int]] = [(root, 0, 1)]
    while stack:
        parent, slot, depth = stack.pop()
        node = parent[slot]
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(node, dict):
            fixed = {_go_key(k): v for k, v in node.items()}
            parent[slot] = fixed
            stack.extend((fixed, k, depth + 1) for k in fixed)
        elif isinstance(node, list):
            stack.extend((node, i, depth + 1) for i in range(len(node)))
    return root[0]


_BRACKETS = re.compile(rb"[\[\]{}]")


def _flow_too_deep(raw: bytes) -> bool:
    """Flow-style nesting beyond :data:`MAX_DEPTH`, found before PyYAML (pure Python, and
    slow on deep input) parses it. Brackets inside quoted strings count too: conservative."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for m in _BRACKETS.finditer(raw):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif depth:
            depth -= 1
    return False


def decode_yaml(raw: bytes) -> Any:
    if _flow_too_deep(raw):
        raise _too_deep()
    try:
        loaded = yaml.load(raw, Loader=_YamlLoader)
    except RecursionError:
        raise _too_deep() from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # ValueError/TypeError: PyYAML's constructors on odd scalars (e.g. huge ints).
        detail = str(exc).splitlines()[0][:300] if str(exc) else "invalid YAML"
        raise errors.BadRequest(f"error converting YAML to JSON: {detail}") from None
    return _json_shaped(loaded)


def decode_body(raw: bytes, content_type: str, *, keep_duplicates: bool = False) -> Any:
    """The object a write request carries, by its media type."""
    if len(raw) > MAX_BODY:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("", JSON, "*/*") or ct.endswith("+json"):
        try:
            return decode_json(raw, keep_duplicates=keep_duplicates)
        except msgspec.DecodeError as exc:
            raise errors.BadRequest(f"couldn't get version/kind; json parse error: {exc}") from None
    if ct in _YAML:
        return decode_yaml(raw)
    if ct == PROTOBUF:
        try:
            return decode_k8s_protobuf(raw)
        except ProtobufDecodeError as exc:
            raise errors.BadRequest(str(exc)) from None
    raise errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f'application/json, application/yaml, application/vnd.kubernetes.protobuf (got "{ct}")'
    )


_INT64 = (-(2**63), 2**63 - 1)


def parse_bool(text: str | None) -> bool:
    """A boolean query parameter (``watch``, ``allowWatchBookmarks``), see :func:`query_flag`."""
    return query_flag(text)


def parse_int64(text: str) -> int:
    """An integer query parameter as Go's ``strconv.ParseInt(s, 10, 64)`` reads it."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise errors.BadRequest(f'strconv.ParseInt: parsing "{_go_text(text)}": invalid syntax')
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise errors.BadRequest(f'strconv.ParseInt: parsing "{_go_text(text)}": value out of range')
    return value


def parse_resource_version(text: str) -> int | None:
    """A ``resourceVersion`` query parameter: "" is None, otherwise Go's
    ``strconv.ParseUint(s, 10, 64)``. Upstream answers a bad one with 400 on lists and 500
    on gets and watches; 400 everywhere here (docs/upstream-differences.md)."""
    if text == "":
        return None
    problem = None
    if not text.isascii() or not text.isdigit():
        problem = "invalid syntax"
    elif int(text) >= 2**64:
        problem = "value out of range"
    if problem is not None:
        shown = _go_text(text)
        raise errors.BadRequest(
            f'invalid resource version: resourceVersion: Invalid value: "{shown}": '
            f'strconv.ParseUint: parsing "{shown}": {problem}'
        )
    return int(text)


def _go_text(text: str) -> str:
    return text[:100].encode("unicode_escape").decode().replace('"', '\\"')


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_DELETE_FIELDS: tuple[tuple[str, Any, str], ...] = (
    ("gracePeriodSeconds", _is_int, "int64"),
    ("preconditions", lambda v: isinstance(v, dict), "v1.Preconditions"),
    ("orphanDependents", lambda v: isinstance(v, bool), "bool"),
    ("propagationPolicy", lambda v: isinstance(v, str), "v1.DeletionPropagation"),
    ("dryRun", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "[]string"),
    ("kind", lambda v: isinstance(v, str), "string"),
    ("apiVersion", lambda v: isinstance(v, str), "string"),
)


_POLICIES = ["Foreground", "Background", "Orphan"]


def _check_propagation(propagation: str | None, orphan: bool | None) -> None:
    """DeleteOptions as upstream's ``ValidateDeleteOptions`` sees them."""
    path = Path("propagationPolicy")
    if propagation is not None and orphan is not None:
        err = path.invalid(
            propagation, "orphanDependents and deletionPropagation cannot be both set"
        )
    elif propagation and propagation not in _POLICIES:
        err = path.not_supported(propagation, [*_POLICIES, "nil"])
    else:
        return
    raise errors.Invalid("DeleteOptions", "meta.k8s.io", "", [err])


def query_flag(text: str | None) -> bool:
    """A boolean query parameter as apimachinery converts one (``watch``,
    ``allowWatchBookmarks``, ``sendInitialEvents``): absent is false, ``0`` and ``false``
    (any case) are false, anything else is true, even an empty value."""
    return text is not None and not (text == "0" or text.lower() == "false")


def send_initial_events(query: Mapping[str, str], watch: bool) -> bool | None:
    """``sendInitialEvents`` after kube-apiserver's defaults (``SetListOptionsDefaults``,
    the WatchList feature being on since v1.34): a watch from resourceVersion "" or "0"
    that names neither it nor ``resourceVersionMatch`` sends its initial events (and,
    with bookmarks, the bookmark that ends them). None: not set."""
    if "sendInitialEvents" in query:
        return query_flag(query["sendInitialEvents"])
    legacy = query.get("resourceVersion", "") in ("", "0")
    if watch and legacy and not query.get("resourceVersionMatch"):
        return True
    return None


_NEEDS_NOT_OLDER_THAN = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
_MATCH_NEEDS_INITIAL_EVENTS = (
    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
)
_MATCH_WITH_CONTINUE = "resourceVersionMatch is forbidden when continue is provided"
_MATCH_NEEDS_RV = "resourceVersionMatch is forbidden unless resourceVersion is provided"
_EXACT_ZERO = 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
_INITIAL_EVENTS_ON_LIST = "sendInitialEvents is forbidden for list"


def check_list_options(query: MultiMapping[str], watch: bool) -> None:
    """ListOptions as kube-apiserver decodes and validates them (``ValidateListOptions``
    after ``SetListOptionsDefaults``): ``timeoutSeconds`` and ``limit`` are integers (an
    empty value too is a 400, on watches as on lists), and the rules that tie
    ``resourceVersionMatch`` to ``resourceVersion``, ``continue`` and
    ``sendInitialEvents``, with upstream's messages."""
    for name in ("timeoutSeconds", "limit"):
        value = query.get(name)
        if value is not None:
            parse_int64(value)
    rv = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    cont = query.get("continue", "")
    send = send_initial_events(query, watch)
    if watch and send is True and "sendInitialEvents" not in query:
        match = "NotOlderThan"  # defaulted together
    path = Path("resourceVersionMatch")
    errs = []
    if watch:
        if send is not None and match != "NotOlderThan":
            errs.append(path.forbidden(_NEEDS_NOT_OLDER_THAN))
        if match:
            if send is None:
                errs.append(path.forbidden(_MATCH_NEEDS_INITIAL_EVENTS))
            if match != "NotOlderThan":
                errs.append(path.not_supported(match, ["NotOlderThan"]))
            if cont:
                errs.append(path.forbidden(_MATCH_WITH_CONTINUE))
    else:
        if match:
            if not rv:
                errs.append(path.forbidden(_MATCH_NEEDS_RV))
            if cont:
                errs.append(path.forbidden(_MATCH_WITH_CONTINUE))
            if match not in ("Exact", "NotOlderThan"):
                errs.append(path.not_supported(match, ["Exact", "NotOlderThan", ""]))
            if match == "Exact" and rv == "0":
                errs.append(path.forbidden(_EXACT_ZERO))
        if send is not None:
            errs.append(Path("sendInitialEvents").forbidden(_INITIAL_EVENTS_ON_LIST))
    if errs:
        raise errors.Invalid("ListOptions", "meta.k8s.io", "", errs)


MAX_FIELD_MANAGER = 128


def write_options(query: MultiMapping[str], options_kind: str = "CreateOptions") -> WriteOptions:
    """``fieldValidation`` (default Warn, as kube-apiserver's), ``dryRun``, ``fieldManager``."""
    manager = query.get("fieldManager")
    if manager is not None:
        path = Path("fieldManager")
        bad = next((i for i, ch in enumerate(manager) if not ch.isprintable()), None)
        if len(manager.encode()) > MAX_FIELD_MANAGER:
            raise errors.Invalid(
                options_kind, "meta.k8s.io", "", [path.too_long(MAX_FIELD_MANAGER)]
            )
        if bad is not None:
            detail = f"invalid character U+{ord(manager[bad]):04X} (at position {bad})"
            raise errors.Invalid(options_kind, "meta.k8s.io", "", [path.invalid(manager, detail)])
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


def delete_options(raw: bytes, query: MultiMapping[str], content_type: str = "") -> DeleteOptions:
    """``DeleteOptions`` from an optional body, overridden by the query.

    The body is decoded by its Content-Type, as kube-apiserver's DeleteResource negotiates
    it: client-go's clients configured for protobuf (kube-proxy, kube-controller-manager,
    kube-scheduler) send their DeleteOptions as protobuf, kubectl and the Python clients as
    JSON (or with no Content-Type at all).
    """
    body: dict[str, Any] = {}
    ct = content_type.split(";")[0].strip().lower()
    if raw.strip():
        if ct in ("", JSON, "*/*") or ct.endswith("+json"):
            try:
                decoded = decode_json(raw)
            except msgspec.DecodeError as exc:
                raise errors.BadRequest(f"json parse error: {exc}") from None
        else:
            decoded = decode_body(raw, ct)
            if ct == PROTOBUF and decoded.get("kind") != "DeleteOptions":
                raise errors.BadRequest(
                    f"the body of a delete request must be DeleteOptions, not {decoded['kind']}"
                )
            if ct == PROTOBUF:
                decoded.pop("kind", None)
                decoded.pop("apiVersion", None)
        if not isinstance(decoded, dict):
            raise errors.BadRequest(
                f"json: cannot unmarshal {json_kind(decoded)} "
                "into Go value of type v1.DeleteOptions"
            )
        body = decoded
    for key, want, go_type in _DELETE_FIELDS:
        value = body.get(key)
        if value is not None and not want(value):
            raise errors.BadRequest(
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f"DeleteOptions.{key} of type {go_type}"
            )
    grace: Any = body.get("gracePeriodSeconds")
    if "gracePeriodSeconds" in query:
        grace = parse_int64(query["gracePeriodSeconds"])
    pre = body.get("preconditions") or {}
    for key in ("uid", "resourceVersion"):
        value = pre.get(key)
        if value is not None and not isinstance(value, str):
            raise errors.BadRequest(
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f"Preconditions.preconditions.{key} of type string"
            )
    dry = bool(query.getall("dryRun", [])) or bool(body.get("dryRun"))
    propagation = query.get("propagationPolicy", body.get("propagationPolicy"))
    orphan = body.get("orphanDependents")
    if "orphanDependents" in query:
        orphan = query["orphanDependents"].lower() in ("true", "1")
    _check_propagation(propagation, orphan)
    return DeleteOptions(
        grace_period_seconds=grace if isinstance(grace, int) else None,
        propagation_policy=propagation or None,
        orphan_dependents=orphan,
        precondition_uid=pre.get("uid"),
        precondition_rv=pre.get("resourceVersion"),
        dry_run=dry,
    )
