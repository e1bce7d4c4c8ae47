"""Reading cells out of plain JSON objects, and the cell formats several kinds share.

Why: every printer walks optional nested fields (``_dig``, ``_str``, ``_list``) and
formats label maps, selectors and container lists the way upstream's
``printers.go`` helpers do; one copy keeps every kind's cells alike. The names are private
to the :mod:`sliceplane.apiserver.printers` package.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sliceplane.apiserver.printers.durations import translate_timestamp_since

_MORE_LIMIT = 3


def _dig(obj: Any, *path: str) -> Any:
    cur = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _str(obj: Any, *path: str) -> str:
    value = _dig(obj, *path)
    return value if isinstance(value, str) else ""


def _int(obj: Any, *path: str, default: int = 0) -> int:
    value = _dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def _list(obj: Any, *path: str) -> list[Any]:
    value = _dig(obj, *path)
    return value if isinstance(value, list) else []


def _map(obj: Any, *path: str) -> Mapping[str, Any]:
    value = _dig(obj, *path)
    return value if isinstance(value, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str:
    return _str(obj, "metadata", "name")


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return translate_timestamp_since(_dig(obj, "metadata", "creationTimestamp"), now)


def _with_more(items: list[str], total: int) -> str:
    """Join ``items`` (at most three shown) and note how many were left out."""
    joined = ",".join(items)
    if total > _MORE_LIMIT:
        return f"{joined} + {total - _MORE_LIMIT} more..."
    return joined or "<unset>"


def _format_labels(labels: Mapping[str, Any]) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _selector_string(selector: Any) -> str | None:
    """Render a LabelSelector like apimachinery's ``labels.Selector.String()``.

    Returns ``None`` for a selector that cannot be converted (unknown operator or bad
    value count); an absent or empty selector renders as ``""``.
    """
    if not isinstance(selector, Mapping):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in _map(selector, "matchLabels").items():
        requirements.append((key, f"{key}={value}"))
    for expr in _list(selector, "matchExpressions"):
        key = _str(expr, "key")
        op = _str(expr, "operator")
        values = sorted(str(v) for v in _list(expr, "values"))
        if op in ("In", "NotIn"):
            if not values:
                return None
            word = "in" if op == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return None
            requirements.append((key, key if op == "Exists" else f"!{key}"))
        else:
            return None
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Any) -> str:
    rendered = _selector_string(selector)
    if rendered is None:
        return "<error>"
    return rendered or "<none>"


def _container_cells(containers: list[Any]) -> tuple[str, str]:
    names = ",".join(_str(c, "name") for c in containers)
    images = ",".join(_str(c, "image") for c in containers)
    return names, images


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
