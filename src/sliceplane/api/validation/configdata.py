"""Validation of Secrets and ConfigMaps (``ValidateSecret``, ``ValidateConfigMap`` upstream).

Why these two kinds: Helm stores its releases in Secrets (the default driver) or
ConfigMaps, and people create both with kubectl. The rules are upstream's: every data key
is a valid config key, the values of both bags together hold at most 1 MiB, a ConfigMap key
lives in one bag only, a Secret's ``type`` is immutable and the well-known types require
their keys, and an object marked ``immutable`` keeps its data (and the mark) for good.
Paths and messages are upstream's. Keys are checked in the order the object lists them
(upstream: Go's map order, which varies from one request to the next).

The values of ``Secret.data`` and ``ConfigMap.binaryData`` arrive here already checked as
base64 by the schema layer (``schema``, Go's decoder); sizes count the decoded bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from sliceplane.api.field import ErrorList, Path
from sliceplane.api.gobase64 import decode_std
from sliceplane.api.validation import _util as u
from sliceplane.api.validation.meta import (
    METADATA,
    validate_object_meta,
    validate_object_meta_update,
)
from sliceplane.api.validation.names import (
    DNS1123_SUBDOMAIN_MAX_LENGTH,
    max_len_error,
    name_is_dns_subdomain,
    regex_error,
)

#: ``core.MaxSecretSize``: also the ConfigMap limit (upstream checks both against it).
MAX_SECRET_SIZE: Final = 1024 * 1024

_CONFIG_KEY_FMT: Final = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE: Final = re.compile(r"^[-._a-zA-Z0-9]+\Z")
_CONFIG_KEY_ERR: Final = regex_error(
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
    _CONFIG_KEY_FMT,
    "key.name",
    "KEY_NAME",
    "key-name",
)
IMMUTABLE_WHEN_SET: Final = "field is immutable when `immutable` is set"
REDACTED: Final = "<secret contents redacted>"

DATA: Final = Path("data")
BINARY_DATA: Final = Path("binaryData")

# Secret types with rules (core.SecretType*), and the keys they require.
TYPE_SERVICE_ACCOUNT_TOKEN: Final = "kubernetes.io/service-account-token"
TYPE_DOCKERCFG: Final = "kubernetes.io/dockercfg"
TYPE_DOCKER_CONFIG_JSON: Final = "kubernetes.io/dockerconfigjson"
TYPE_BASIC_AUTH: Final = "kubernetes.io/basic-auth"
TYPE_SSH_AUTH: Final = "kubernetes.io/ssh-auth"
TYPE_TLS: Final = "kubernetes.io/tls"
SERVICE_ACCOUNT_NAME_KEY: Final = "kubernetes.io/service-account.name"


def is_config_map_key(value: str) -> list[str]:
    """``validation.IsConfigMapKey``: the messages for a bad ConfigMap/Secret data key."""
    errs: list[str] = []
    if len(value.encode("utf-8", errors="surrogatepass")) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _CONFIG_KEY_RE.match(value):
        errs.append(_CONFIG_KEY_ERR)
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def _decoded(value: str) -> bytes:
    data, _ = decode_std(value)
    return data


def _byte_map(obj: dict[str, Any], key: str, path: Path, errs: ErrorList) -> dict[str, bytes]:
    """A ``map[string][]byte`` field, decoded; non-string values are reported."""
    raw = u.get_dict(obj, key, path, errs)
    if raw is None:
        return {}
    out: dict[str, bytes] = {}
    for k, v in raw.items():
        if v is None:
            out[k] = b""
        elif isinstance(v, str):
            out[k] = _decoded(v)
        else:
            errs.append(path.key(k).invalid(v, u.MUST_BE_STRING))
    return out


def _go_json_error(data: bytes) -> str | None:
    """Why ``json.Unmarshal(data, &map[string]interface{}{})`` fails, or None.

    The common causes carry Go's text; other syntax errors keep Python's detail (these
    messages sit under a redacted value and no client parses them).
    """
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        return "invalid character in string literal"
    except json.JSONDecodeError as exc:
        if not data.strip():
            return "unexpected end of JSON input"
        if exc.pos >= len(data.rstrip()):
            return "unexpected end of JSON input"
        bad = data[exc.pos : exc.pos + 1].decode("utf-8", errors="replace")
        return f"invalid character {bad!r} looking for beginning of value"
    if value is None or isinstance(value, dict):
        return None
    kind = {bool: "bool", str: "string", list: "array"}.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"


def validate_secret(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain, METADATA)
    data = _byte_map(obj, "data", DATA, errs)
    total = 0
    for key, value in data.items():
        errs.extend(DATA.key(key).invalid(key, m) for m in is_config_map_key(key))
        total += len(value)
    if total > MAX_SECRET_SIZE:
        errs.append(DATA.too_long(MAX_SECRET_SIZE))
    secret_type = u.get_str(obj, "type", Path("type"), errs) or ""
    if secret_type == TYPE_SERVICE_ACCOUNT_TOKEN:
        meta = obj.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        if not isinstance(annotations, dict) or not annotations.get(SERVICE_ACCOUNT_NAME_KEY):
            errs.append(METADATA.child("annotations").key(SERVICE_ACCOUNT_NAME_KEY).required())
    elif secret_type in (TYPE_DOCKERCFG, TYPE_DOCKER_CONFIG_JSON):
        key = ".dockercfg" if secret_type == TYPE_DOCKERCFG else ".dockerconfigjson"
        if key not in data:
            errs.append(DATA.key(key).required())
        else:
            problem = _go_json_error(data[key])
            if problem is not None:
                errs.append(DATA.key(key).invalid(REDACTED, problem))
    elif secret_type == TYPE_BASIC_AUTH:
        if "username" not in data and "password" not in data:
            errs.append(DATA.key("username").required())
            errs.append(DATA.key("password").required())
    elif secret_type == TYPE_SSH_AUTH:
        if not data.get("ssh-privatekey"):
            errs.append(DATA.key("ssh-privatekey").required())
    elif secret_type == TYPE_TLS:
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(DATA.key(key).required())
    return errs


def _immutable_set(obj: dict[str, Any]) -> bool:
    return obj.get("immutable") is True


def _bag(obj: dict[str, Any], key: str) -> Any:
    # reflect.DeepEqual on Go maps: nil and empty differ, but JSON cannot tell them apart
    # after decoding (both serve as absent), so compare them as the same.
    value = obj.get(key)
    return value or None


def _immutable_errors(new: dict[str, Any], old: dict[str, Any], bags: tuple[str, ...]) -> ErrorList:
    errs: ErrorList = []
    if not _immutable_set(old):
        return errs
    if not _immutable_set(new):
        errs.append(Path("immutable").forbidden(IMMUTABLE_WHEN_SET))
    for bag in bags:
        if _bag(new, bag) != _bag(old, bag):
            errs.append(Path(bag).forbidden(IMMUTABLE_WHEN_SET))
    return errs


def validate_secret_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old, METADATA)
    errs.extend(u.immutable(new.get("type"), old.get("type"), Path("type")))
    # stringData was folded into data before validation, as upstream's conversion does.
    errs.extend(_immutable_errors(new, old, ("data",)))
    errs.extend(validate_secret(new))
    return errs


def validate_config_map(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain, METADATA)
    data = u.get_str_map(obj, "data", DATA, errs) or {}
    binary = _byte_map(obj, "binaryData", BINARY_DATA, errs)
    total = 0
    for key in data:
        errs.extend(DATA.key(key).invalid(key, m) for m in is_config_map_key(key))
        if key in binary:
            errs.append(DATA.key(key).invalid(key, "duplicate of key present in binaryData"))
        total += len(data[key].encode("utf-8", errors="surrogatepass"))
    for key in binary:
        errs.extend(BINARY_DATA.key(key).invalid(key, m) for m in is_config_map_key(key))
        total += len(binary[key])
    if total > MAX_SECRET_SIZE:
        # Upstream's path is field.NewPath(""), the whole object, which field.Path prints
        # as "[]" (an element without a name prints as its empty index).
        errs.append(Path("[]").too_long(MAX_SECRET_SIZE))
    return errs


def validate_config_map_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old, METADATA)
    errs.extend(_immutable_errors(new, old, ("data", "binaryData")))
    errs.extend(validate_config_map(new))
    return errs
