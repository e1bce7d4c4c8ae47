"""An apply request's body: YAML (JSON is YAML), with upstream's errors and strictness.

Why separate: it is request decoding (``requestbody``'s YAML loader), while ``apply`` is the
pure merge; upstream reads the body twice, once to apply and once, under
``fieldValidation=Strict`` or ``Warn``, to find repeated keys, and words each failure with
the step that noticed it.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from sliceplane.api import errors
from sliceplane.apiserver.requestbody import decode_yaml

__all__ = ["decode_apply_body", "duplicate_keys"]


def duplicate_keys(raw: bytes) -> str | None:
    """go-yaml's strict-decoding complaint about repeated keys in an apply body
    (``yaml: unmarshal errors:\n  line 6: key "labels" already set in map``), or None.
    Only called on a body that already decoded."""
    try:
        root = yaml.compose(raw, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    found: list[tuple[int, str]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append((key.start_mark.line + 1, key.value))
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    if not found:
        return None
    lines = "".join(
        f"\n  line {line}: key {json.dumps(key)} already set in map" for line, key in sorted(found)
    )
    return "error converting YAML to JSON: yaml: unmarshal errors:" + lines


def decode_apply_body(raw: bytes, field_validation: str) -> tuple[Any, str | None]:
    """An apply body (YAML, or JSON as YAML) and, under ``fieldValidation=Warn``, the warning
    about repeated keys; ``Strict`` refuses them. Errors carry upstream's prefixes (the
    body fails first where upstream encodes it for audit)."""
    try:
        body = decode_yaml(raw)
    except errors.BadRequest as exc:
        detail = exc.message.removeprefix("error converting YAML to JSON: ")
        raise errors.BadRequest(f"error encoding patch: yaml: {detail}") from None
    if field_validation not in ("Strict", "Warn"):
        return body, None
    duplicates = duplicate_keys(raw)
    if duplicates is not None and field_validation == "Strict":
        raise errors.BadRequest(f"error strict decoding patch: {duplicates}")
    return body, duplicates
