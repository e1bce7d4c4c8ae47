"""Field selectors with apimachinery's ``fields`` syntax, semantics and error text.

``fieldSelector`` terms are ``field=value``, ``field==value`` or ``field!=value``, joined by
commas, with ``\\``, ``,`` and ``=`` backslash-escaped in values (``fields.EscapeValue``).
``fields.UnescapeValue`` reports an unescaped ``,`` or ``=`` by its code point (``...
unescaped character in value: 61``) because Go formats the rune with ``%v``; kept, since
clients can see it. Which fields a resource offers is ``fieldlabels``'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from sliceplane.api.errors import BadRequest
from sliceplane.api.selectors import Operator, _always

__all__ = [
    "FIELDS_EVERYTHING",
    "FieldRequirement",
    "FieldSelector",
    "escape_field_value",
    "parse_field_selector",
    "unescape_field_value",
]


def escape_field_value(value: str) -> str:
    """``fields.EscapeValue``: backslash-escape ``\\``, ``,`` and ``=``."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(value: str) -> str:
    """``fields.UnescapeValue``; raises :class:`BadRequest` for bad escapes."""
    if "\\" not in value and "," not in value and "=" not in value:
        return value
    out: list[str] = []
    pending_backslash = False
    for c in value:
        if pending_backslash:
            if c not in "\\,=":
                raise BadRequest(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            pending_backslash = False
        elif c == "\\":
            pending_backslash = True
        elif c in ",=":
            raise BadRequest(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if pending_backslash:
        raise BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """``field=value`` or ``field!=value`` (``==`` is stored as ``=``, as upstream)."""

    field: str
    operator: Operator
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator is Operator.EQUALS else not equal

    def __str__(self) -> str:
        sym = "=" if self.operator is Operator.EQUALS else "!="
        return f"{self.field}{sym}{escape_field_value(self.value)}"


FieldMatcher = Callable[[Mapping[str, str]], bool]


class FieldSelector:
    """An immutable AND of field requirements; a missing field reads as ``""``."""

    __slots__ = ("_match", "_reqs", "_str")

    _reqs: tuple[FieldRequirement, ...]
    _match: FieldMatcher
    _str: str

    def __init__(self, requirements: Iterable[FieldRequirement] = ()) -> None:
        reqs = tuple(requirements)
        for r in reqs:
            if r.operator is not Operator.EQUALS and r.operator is not Operator.NOT_EQUALS:
                raise ValueError(f"field selectors support only = and !=, not {r.operator}")
        object.__setattr__(self, "_reqs", reqs)
        object.__setattr__(self, "_str", ",".join(str(r) for r in reqs))
        object.__setattr__(self, "_match", _compile_fields(reqs))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FieldSelector is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("FieldSelector is immutable")

    def matches(self, fields: Mapping[str, str]) -> bool:
        return self._match(fields)

    def empty(self) -> bool:
        return not self._reqs

    def requirements(self) -> tuple[FieldRequirement, ...]:
        return self._reqs

    def requires_exact_match(self, field: str) -> str | None:
        """The value of the first ``field=value`` term on ``field`` (upstream order)."""
        for r in self._reqs:
            if r.field == field and r.operator is Operator.EQUALS:
                return r.value
        return None

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """Rewrite every term with ``fn``; terms mapped to ``("", "")`` are dropped."""
        out: list[FieldRequirement] = []
        for r in self._reqs:
            field, value = fn(r.field, r.value)
            if field or value:
                out.append(FieldRequirement(field, r.operator, value))
        return FieldSelector(out) if out else FIELDS_EVERYTHING

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"FieldSelector({self._str!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._reqs == other._reqs

    def __hash__(self) -> int:
        return hash(self._reqs)


def _compile_fields(reqs: tuple[FieldRequirement, ...]) -> FieldMatcher:
    if not reqs:
        return _always
    terms = tuple((r.field, r.value, r.operator is Operator.EQUALS) for r in reqs)
    if len(terms) == 1:
        ((f, v, eq),) = terms
        if eq:
            return lambda fields: fields.get(f, "") == v
        return lambda fields: fields.get(f, "") != v

    def match_all(fields: Mapping[str, str]) -> bool:
        get = fields.get
        for f, v, eq in terms:  # noqa: SIM110 - a plain loop beats all(genexpr) here
            if (get(f, "") == v) is not eq:
                return False
        return True

    return match_all


FIELDS_EVERYTHING: Final = FieldSelector()


def _split_field_terms(s: str) -> list[str]:
    """Split on commas that are not backslash-escaped; escapes stay in the terms."""
    if not s:
        return []
    terms: list[str] = []
    start = 0
    escaped = False
    for i, c in enumerate(s):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_field_term(term: str) -> tuple[str, Operator, str] | None:
    """Split at the first operator; the left side has no escaping."""
    eq = term.find("=")
    neq = term.find("!=")
    if eq < 0:
        return None  # "!=" contains "=", so no "=" means no operator at all
    at = neq if 0 <= neq < eq else eq
    if term.startswith("!=", at):
        return term[:at], Operator.NOT_EQUALS, term[at + 2 :]
    if term.startswith("==", at):
        return term[:at], Operator.EQUALS, term[at + 2 :]
    return term[:at], Operator.EQUALS, term[at + 1 :]


@lru_cache(maxsize=4096)
def _parse_field_selector_cached(s: str) -> FieldSelector:
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_field_terms(s)):
        if not part:
            continue
        split = _split_field_term(part)
        if split is None:
            raise BadRequest(f"invalid selector: '{s}'; can't understand '{part}'")
        field, op, raw = split
        value = unescape_field_value(raw)
        if field or value:  # an empty "=" term selects everything upstream
            reqs.append(FieldRequirement(field, op, value))
    return FieldSelector(reqs) if reqs else FIELDS_EVERYTHING


def parse_field_selector(s: str) -> FieldSelector:
    """Parse the ``fieldSelector`` syntax (``fields.ParseSelector``), terms sorted.

    Raises :class:`BadRequest` with upstream's text. Cached like label selectors.
    """
    return _parse_field_selector_cached(s)
