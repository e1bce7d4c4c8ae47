"""Type-checked access to decoded JSON for the validators.

Request bodies are plain dicts and may hold any JSON type anywhere. Upstream never sees
such input (Go decoding rejects it first), so these helpers turn a wrongly typed field into
an Invalid field error instead of letting a validator raise, and the rest of the
validation keeps going with the field treated as absent.
"""

from __future__ import annotations

from typing import Any, Final

from sliceplane.api.field import ErrorList, Path, go_quote

MUST_BE_OBJECT: Final = "must be an object"
MUST_BE_LIST: Final = "must be a list"
MUST_BE_STRING: Final = "must be a string"
MUST_BE_INTEGER: Final = "must be an integer"
MUST_BE_BOOLEAN: Final = "must be a boolean"


def get_dict(obj: dict[str, Any], key: str, path: Path, errs: ErrorList) -> dict[str, Any] | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, dict):
        return v
    errs.append(path.invalid(v, MUST_BE_OBJECT))
    return None


def get_list(obj: dict[str, Any], key: str, path: Path, errs: ErrorList) -> list[Any] | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, list):
        return v
    errs.append(path.invalid(v, MUST_BE_LIST))
    return None


def get_str(obj: dict[str, Any], key: str, path: Path, errs: ErrorList) -> str | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, str):
        return v
    errs.append(path.invalid(v, MUST_BE_STRING))
    return None


def get_int(obj: dict[str, Any], key: str, path: Path, errs: ErrorList) -> int | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    errs.append(path.invalid(v, MUST_BE_INTEGER))
    return None


def get_bool(obj: dict[str, Any], key: str, path: Path, errs: ErrorList) -> bool | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    errs.append(path.invalid(v, MUST_BE_BOOLEAN))
    return None


def get_str_map(
    obj: dict[str, Any], key: str, path: Path, errs: ErrorList
) -> dict[str, str] | None:
    """A ``map[string]string`` field; entries with non-string values are reported."""
    d = get_dict(obj, key, path, errs)
    if d is None:
        return None
    out: dict[str, str] = {}
    for k, v in d.items():
        if isinstance(v, str):
            out[k] = v
        else:
            errs.append(path.key(k).invalid(v, MUST_BE_STRING))
    return out


def str_items(items: list[Any], path: Path, errs: ErrorList) -> list[tuple[int, str]]:
    """The string elements of a ``[]string`` with their indexes; others are reported."""
    out: list[tuple[int, str]] = []
    for i, v in enumerate(items):
        if isinstance(v, str):
            out.append((i, v))
        else:
            errs.append(path.index(i).invalid(v, MUST_BE_STRING))
    return out


def dict_items(items: list[Any], path: Path, errs: ErrorList) -> list[tuple[int, dict[str, Any]]]:
    """The object elements of a list with their indexes; others are reported."""
    out: list[tuple[int, dict[str, Any]]] = []
    for i, v in enumerate(items):
        if isinstance(v, dict):
            out.append((i, v))
        else:
            errs.append(path.index(i).invalid(v, MUST_BE_OBJECT))
    return out


def immutable(new: Any, old: Any, path: Path) -> ErrorList:
    """``ValidateImmutableField``: unset and zero values compare equal like Go's."""
    if _norm(new) != _norm(old):
        return [path.invalid(new, "field is immutable")]
    return []


def _norm(v: Any) -> Any:
    # Go zero values: "" / 0 / false / empty collections are indistinguishable from unset.
    if v is None or v == "" or v is False or (isinstance(v, int | float) and v == 0):
        return None
    if isinstance(v, list | dict) and not v:
        return None
    return v


class GoSyntax:
    """A bad value that must print verbatim (upstream's ``%#v`` of a Go struct)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"GoSyntax({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoSyntax) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def go_typed_list(type_name: str, values: list[str]) -> GoSyntax:
    """``%#v`` of a slice of a named string type, e.g. ``[]core.IPFamily{"IPv4"}``."""
    return GoSyntax(f"[]{type_name}{{" + ", ".join(go_quote(v) for v in values) + "}")
