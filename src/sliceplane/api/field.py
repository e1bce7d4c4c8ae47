"""Field-level validation errors, formatted the way apimachinery's ``field.Error`` is.

Both the server (to build 422 Status causes) and the tests (to compare against upstream)
depend on the exact text, so the formatting rules live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class ErrorType(StrEnum):
    """The cause type string doubles as ``StatusCause.reason`` on the wire."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def text(self) -> str:
        return _TYPE_TEXT[self]


_TYPE_TEXT: Final = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}

# Types whose message never shows the offending value (upstream prints only the type).
_VALUELESS: Final = {
    ErrorType.REQUIRED,
    ErrorType.FORBIDDEN,
    ErrorType.TOO_LONG,
    ErrorType.INTERNAL,
}


class _Omit:
    def __repr__(self) -> str:
        return "<omitted>"


OMIT: Final = _Omit()
"""Sentinel bad value: the message carries no value (upstream's ``omitValue``)."""


def _go_value(value: Any) -> str:
    """Render a bad value like Go's ``%v``/``%q`` would for the types we meet."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list | tuple):
        return "[]string{" + ", ".join(_go_value(v) for v in value) + "}"
    if isinstance(value, dict):
        return (
            "map[string]string{"
            + ", ".join(f"{_go_value(k)}:{_go_value(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    return str(value)


def go_quote(s: str) -> str:
    """Go's ``%q`` for the printable strings that appear in error messages."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem at one field path, e.g. ``endpoints[0].addresses``."""

    type: ErrorType
    field: str
    bad_value: Any = OMIT
    detail: str = ""

    def body(self) -> str:
        """The message without the field path (upstream ``ErrorBody``)."""
        if self.type in _VALUELESS or self.bad_value is OMIT:
            s = self.type.text
        else:
            s = f"{self.type.text}: {_go_value(self.bad_value)}"
        if self.detail:
            s += f": {self.detail}"
        return s

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


class Path:
    """An immutable field path builder: ``Path('spec').child('ports').index(0)``."""

    __slots__ = ("_s",)

    def __init__(self, s: str = "") -> None:
        self._s = s

    def child(self, name: str, *more: str) -> Path:
        s = self._s
        for part in (name, *more):
            s = f"{s}.{part}" if s else part
        return Path(s)

    def index(self, i: int) -> Path:
        return Path(f"{self._s}[{i}]")

    def key(self, k: str) -> Path:
        return Path(f"{self._s}[{k}]")

    def __str__(self) -> str:
        return self._s

    def __repr__(self) -> str:
        return f"Path({self._s!r})"

    # Constructors mirroring apimachinery's helpers -------------------------------------

    def required(self, detail: str = "") -> FieldError:
        return FieldError(ErrorType.REQUIRED, self._s, OMIT, detail)

    def invalid(self, value: Any, detail: str = "") -> FieldError:
        return FieldError(ErrorType.INVALID, self._s, value, detail)

    def not_supported(self, value: Any, supported: list[str]) -> FieldError:
        detail = (
            "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
        )
        return FieldError(ErrorType.NOT_SUPPORTED, self._s, value, detail)

    def duplicate(self, value: Any) -> FieldError:
        return FieldError(ErrorType.DUPLICATE, self._s, value)

    def forbidden(self, detail: str) -> FieldError:
        return FieldError(ErrorType.FORBIDDEN, self._s, OMIT, detail)

    def too_long(self, max_len: int) -> FieldError:
        return FieldError(
            ErrorType.TOO_LONG, self._s, OMIT, f"may not be more than {max_len} bytes"
        )

    def too_many(self, actual: int, max_items: int) -> FieldError:
        value: Any = actual if actual >= 0 else OMIT
        return FieldError(
            ErrorType.TOO_MANY, self._s, value, f"must have at most {max_items} items"
        )

    def internal(self, detail: str) -> FieldError:
        return FieldError(ErrorType.INTERNAL, self._s, OMIT, detail)

    def not_found(self, value: Any) -> FieldError:
        return FieldError(ErrorType.NOT_FOUND, self._s, value)


ErrorList = list[FieldError]


def aggregate_message(errs: ErrorList) -> str:
    """Join like ``utilerrors.NewAggregate``: one message bare, several in brackets."""
    msgs: list[str] = []
    seen: set[str] = set()
    for e in errs:
        m = str(e)
        if m not in seen:
            seen.add(m)
            msgs.append(m)
    if len(msgs) == 1:
        return msgs[0]
    return "[" + ", ".join(msgs) + "]"
