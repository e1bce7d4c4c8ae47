"""Label and field selectors with kube-apiserver's syntax, semantics and error text.

This module holds label requirements and selectors, label key/value validation and the
selectors built from API objects; ``labelparser`` parses the ``labelSelector`` string,
``fieldselectors`` holds field selectors and ``fieldlabels`` which fields each resource
offers. The notes below are about all four.

Why this module exists: the embedded API server filters every list and watch event with
these selectors, and every informer filters its cache with them, so they sit on the hot
path and must behave exactly like apimachinery's ``labels`` and ``fields`` packages.
Clients (kubectl, client-go, kubernetes-asyncio) cannot tell our server from a real one
only if the accepted syntax, the canonical ``String()`` form and the ``400 BadRequest``
messages are the same.

What the real server answers (apiserver ``handlers/get.go``): a ``labelSelector`` or
``fieldSelector`` query parameter that does not parse is rejected while the query is
decoded, as ``Status{code: 400, reason: BadRequest}`` whose ``message`` is the bare parser
error, for example ``unable to parse requirement: found 'b', expected: in, notin, =, ==,
!=, gt, lt`` or ``invalid selector: 'a'; can't understand 'a'``. The
``Unable to find "/v1, Resource=pods" that match label selector ...`` prefix that users
see is added by kubectl on the client side, not by the server. A field selector that parses
but names a field the resource does not offer fails the same way, with
``field label not supported: spec.foo`` for kinds that register their own field-label
conversion (pods, nodes, events, namespaces, secrets, services, replication controllers)
and ``"spec.foo" is not a known field selector: only "metadata.name",
"metadata.namespace"`` for every other kind.

Quirks kept on purpose because clients can observe them:

* A bad key reported while parsing carries the path ``<nil>`` (upstream validates it with
  a nil ``field.Path``): ``unable to parse requirement: <nil>: Invalid value: "a b": ...``;
  bad values carry ``values[0][key]``.
* Parsed ``in``/``notin`` value lists are de-duplicated and sorted; values built from a
  ``metav1.LabelSelector`` keep their duplicates (only the string form sorts them).
* A NUL character ends the label lexer's input, as it does in Go.
* ``fields.UnescapeValue`` reports an unescaped ``,`` or ``=`` by its code point
  (``... unescaped character in value: 61``) because Go formats the rune with ``%v``.
* Label-validation messages follow current apimachinery (``must be no more than 63
  bytes``; ``a valid label key must consist of ...`` for keys with two slashes).

``None`` versus ``{}``: ``label_selector_from_meta(None)`` selects nothing and
``label_selector_from_meta({})`` selects everything (``LabelSelectorAsSelector``), while
``selector_from_set`` maps both ``None`` and ``{}`` to everything (``SelectorFromSet``).
The EndpointSlice and Endpoints controllers never call ``SelectorFromSet`` for a Service
whose ``spec.selector`` is unset: such a Service has no managed endpoints. Because the
real server stores objects as protobuf, an empty ``spec.selector`` map comes back unset,
so callers should treat "missing or empty ``spec.selector``" as "selects nothing" before
reaching for ``selector_from_set``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sliceplane.api.errors import BadRequest
from sliceplane.api.field import ErrorType, FieldError, aggregate_message, go_quote
from sliceplane.api.validation.names import is_label_key, is_valid_label_value

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "LabelSelector",
    "Operator",
    "Requirement",
    "format_label_set",
    "label_key_errors",
    "label_selector_from_meta",
    "label_value_errors",
    "new_requirement",
    "selector_from_set",
]

LabelMatcher = Callable[[Mapping[str, str]], bool]


class Operator(StrEnum):
    """Selector operators, spelled as apimachinery's ``selection.Operator`` values."""

    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    IN = "in"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    EXISTS = "exists"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# Order matters: it is the list printed in "expected: ..." parse errors.
_BINARY_OPERATORS: Final = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
_EXACT_OPERATORS: Final = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS})

# Label key / value validation (apimachinery validate/content: IsLabelKey, IsLabelValue)


def label_key_errors(key: str) -> list[str]:
    """Why ``key`` is not a valid label key (qualified name); empty when it is. The rules
    live once, in :func:`sliceplane.api.validation.names.is_label_key`."""
    return is_label_key(key)


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a valid label value (lengths in bytes, as apimachinery's
    ``content.IsLabelValue``); empty when it is."""
    return is_valid_label_value(value, "bytes")


_GO_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _go_parse_int64(s: str) -> int | None:
    """``strconv.ParseInt(s, 10, 64)``: optional sign, ASCII digits, int64 range."""
    if _GO_INT_RE.fullmatch(s) is None:
        return None
    n = int(s)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


class _GoNilSlice:
    """Renders as Go's ``%#v`` of a nil ``[]string`` inside field error messages."""

    def __str__(self) -> str:
        return "[]string(nil)"


_NIL_SLICE: Final = _GoNilSlice()

# --------------------------------------------------------------------------------------
# Label requirements and selectors
# --------------------------------------------------------------------------------------

_MISSING: Final[Any] = object()


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key op values`` clause. Build validated ones with :func:`new_requirement`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.predicate()(labels)

    def predicate(self) -> LabelMatcher:
        """A closure specialised for this clause (the selector's compiled form)."""
        key, op, values = self.key, self.operator, self.values
        if op is Operator.IN or op in _EXACT_OPERATORS:
            if len(values) == 1:
                want = values[0]
                return lambda labels: labels.get(key, _MISSING) == want
            allowed = frozenset(values)
            return lambda labels: labels.get(key, _MISSING) in allowed
        if op is Operator.NOT_IN or op is Operator.NOT_EQUALS:
            if len(values) == 1:
                banned = values[0]
                return lambda labels: labels.get(key, _MISSING) != banned
            excluded = frozenset(values)
            return lambda labels: labels.get(key, _MISSING) not in excluded
        if op is Operator.EXISTS:
            return lambda labels: key in labels
        if op is Operator.DOES_NOT_EXIST:
            return lambda labels: key not in labels
        if op is Operator.GREATER_THAN or op is Operator.LESS_THAN:
            bound = _go_parse_int64(values[0]) if len(values) == 1 else None
            if bound is None:
                return _never
            greater = op is Operator.GREATER_THAN

            def compare(labels: Mapping[str, str]) -> bool:
                raw = labels.get(key)
                if raw is None:
                    return False
                have = _go_parse_int64(raw)
                if have is None:
                    return False
                return have > bound if greater else have < bound

            return compare
        return _never

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op is Operator.IN:
            return f"{self.key} in ({vals})"
        if op is Operator.NOT_IN:
            return f"{self.key} notin ({vals})"
        sym = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{sym}{vals}"


def _never(_labels: Mapping[str, str]) -> bool:
    return False


def _always(_labels: Mapping[str, str]) -> bool:
    return True


def _requirement_errors(
    key: str,
    op: Operator,
    values: tuple[str, ...],
    *,
    check_key: bool = True,
    values_nil: bool = False,
) -> list[FieldError]:
    """``labels.NewRequirement`` validation, in upstream's order and with its paths."""
    errs: list[FieldError] = []
    if check_key:
        key_errs = label_key_errors(key)
        if key_errs:
            errs.append(FieldError(ErrorType.INVALID, "key", key, "; ".join(key_errs)))
    shown: object = _NIL_SLICE if values_nil and not values else list(values)
    problem = None
    if op is Operator.IN or op is Operator.NOT_IN:
        if not values:
            problem = "for 'in', 'notin' operators, values set can't be empty"
    elif op in _EXACT_OPERATORS or op is Operator.NOT_EQUALS:
        if len(values) != 1:
            problem = "exact-match compatibility requires one single value"
    elif op is Operator.EXISTS or op is Operator.DOES_NOT_EXIST:
        if values:
            problem = "values set must be empty for exists and does not exist"
    elif len(values) != 1:  # Gt / Lt
        problem = "for 'Gt', 'Lt' operators, exactly one value is required"
    if problem is not None:
        errs.append(FieldError(ErrorType.INVALID, "values", shown, problem))
    if op is Operator.GREATER_THAN or op is Operator.LESS_THAN:
        for i, v in enumerate(values):
            if _go_parse_int64(v) is None:
                errs.append(
                    FieldError(
                        ErrorType.INVALID,
                        f"values[{i}]",
                        v,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    )
                )
    for i, v in enumerate(values):
        value_errs = label_value_errors(v)
        if value_errs:
            errs.append(
                FieldError(ErrorType.INVALID, f"values[{i}][{key}]", v, "; ".join(value_errs))
            )
    return errs


def new_requirement(key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
    """Validated constructor (``labels.NewRequirement``); raises :class:`BadRequest`."""
    vals = tuple(values)
    errs = _requirement_errors(key, operator, vals)
    if errs:
        raise BadRequest(aggregate_message(errs))
    return Requirement(key, operator, vals)


class LabelSelector:
    """An immutable AND of requirements, sorted by key, compiled for fast matching.

    Two special selectors exist: :data:`EVERYTHING` (no requirements, ``empty()``) and
    :data:`NOTHING` (matches no object; what a nil ``metav1.LabelSelector`` means).
    """

    __slots__ = ("_equality", "_match", "_nothing", "_reqs", "_str")

    _reqs: tuple[Requirement, ...]
    _nothing: bool
    _match: LabelMatcher
    _str: str
    _equality: dict[str, str] | None

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False):
        reqs = () if nothing else tuple(sorted(requirements, key=_req_key))
        object.__setattr__(self, "_reqs", reqs)
        object.__setattr__(self, "_nothing", nothing)
        object.__setattr__(self, "_str", ",".join(str(r) for r in reqs))
        equality = None if nothing else _equality_map(reqs)
        object.__setattr__(self, "_equality", equality)
        object.__setattr__(self, "_match", _compile(reqs, equality, nothing))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LabelSelector is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("LabelSelector is immutable")

    @staticmethod
    def everything() -> LabelSelector:
        return EVERYTHING

    @staticmethod
    def nothing() -> LabelSelector:
        return NOTHING

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected (``None`` = no labels)."""
        return self._match(_EMPTY_LABELS if labels is None else labels)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (upstream ``Empty()``)."""
        return not self._nothing and not self._reqs

    def is_nothing(self) -> bool:
        """True for the select-nothing selector (upstream ``selectable == false``)."""
        return self._nothing

    def requirements(self) -> tuple[Requirement, ...]:
        return self._reqs

    def equality_requirements(self) -> dict[str, str] | None:
        """``{key: value}`` when the selector is a pure conjunction of equalities.

        ``=``, ``==`` and single-valued ``in`` count as equalities. ``{}`` for the
        match-everything selector; ``None`` when an index cannot answer alone (other
        operators, contradicting values for one key, or :data:`NOTHING`).
        """
        return None if self._equality is None else dict(self._equality)

    def exact_pairs(self) -> tuple[tuple[str, str], ...]:
        """The ``(key, value)`` labels every selected object carries: one per ``=``,
        ``==`` or single-valued ``in`` requirement. An index of these gives candidates; the
        selector's other requirements still decide (see ``storage/labelindex.py``)."""
        out = []
        for r in self._reqs:
            op = r.operator
            if (op in _EXACT_OPERATORS or op is Operator.IN) and len(set(r.values)) == 1:
                out.append((r.key, r.values[0]))
        return tuple(out)

    def requires_exact_match(self, key: str) -> str | None:
        """The value ``key`` must have, per the first requirement on ``key`` (or None)."""
        for r in self._reqs:
            if r.key == key:
                if (r.operator in _EXACT_OPERATORS or r.operator is Operator.IN) and len(
                    r.values
                ) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        if self._nothing:
            return "LabelSelector.nothing()"
        return f"LabelSelector({self._str!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self._nothing == other._nothing and self._reqs == other._reqs

    def __hash__(self) -> int:
        return hash((self._nothing, self._reqs))


def _req_key(r: Requirement) -> str:
    return r.key


def _equality_map(reqs: tuple[Requirement, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for r in reqs:
        if r.operator in _EXACT_OPERATORS:
            single = len(r.values) == 1
        elif r.operator is Operator.IN:
            single = len(set(r.values)) == 1  # "x in (a)" is an equality too
        else:
            single = False
        if not single:
            return None
        value = r.values[0]
        if out.setdefault(r.key, value) != value:
            return None
    return out


def _compile(
    reqs: tuple[Requirement, ...], equality: dict[str, str] | None, nothing: bool
) -> LabelMatcher:
    if nothing:
        return _never
    if not reqs:
        return _always
    if equality is not None:
        pairs = tuple(equality.items())
        if len(pairs) == 1:
            ((k, v),) = pairs
            return lambda labels: labels.get(k, _MISSING) == v

        def match_all_equal(labels: Mapping[str, str]) -> bool:
            get = labels.get
            for k, v in pairs:  # noqa: SIM110 - a plain loop beats all(genexpr) here
                if get(k, _MISSING) != v:
                    return False
            return True

        return match_all_equal
    preds = tuple(r.predicate() for r in reqs)
    if len(preds) == 1:
        return preds[0]

    def match_all(labels: Mapping[str, str]) -> bool:
        for p in preds:  # noqa: SIM110 - a plain loop beats all(genexpr) here
            if not p(labels):
                return False
        return True

    return match_all


_EMPTY_LABELS: Final[Mapping[str, str]] = {}

EVERYTHING: Final = LabelSelector()
NOTHING: Final = LabelSelector(nothing=True)

# --------------------------------------------------------------------------------------
# Label selectors from API objects
# --------------------------------------------------------------------------------------


def _str(v: object) -> str:
    """A JSON value as Go's ``%v`` would print it in these messages (None as empty)."""
    return "" if v is None else v if isinstance(v, str) else str(v)


_META_OPERATORS: Final = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_meta(sel: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` dict (``LabelSelectorAsSelector``).

    ``None`` selects nothing; a selector without ``matchLabels`` and ``matchExpressions``
    selects everything. Invalid content raises :class:`BadRequest` with upstream's text.
    """
    if sel is None:
        return NOTHING
    match_labels: Mapping[str, Any] = sel.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = sel.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    reqs: list[Requirement] = []
    for key in sorted(match_labels):
        reqs.append(_checked(str(key), Operator.EQUALS, (_str(match_labels[key]),), False))
    for expr in expressions:
        raw_op = expr.get("operator")
        op = _META_OPERATORS.get(raw_op) if isinstance(raw_op, str) else None
        if op is None:
            raise BadRequest(f"{go_quote(_str(raw_op))} is not a valid pod selector operator")
        raw_values = expr.get("values")
        values = tuple(_str(v) for v in raw_values or ())
        reqs.append(_checked(_str(expr.get("key")), op, values, raw_values is None))
    return LabelSelector(reqs)


def _checked(key: str, op: Operator, values: tuple[str, ...], values_nil: bool) -> Requirement:
    errs = _requirement_errors(key, op, values, values_nil=values_nil)
    if errs:
        raise BadRequest(aggregate_message(errs))
    return Requirement(key, op, values)


def selector_from_set(labels: Mapping[str, str] | None, *, validate: bool = False) -> LabelSelector:
    """Equality selector for a label map (``SelectorFromSet``: ``None``/``{}`` = everything).

    Without ``validate`` nothing is checked, like ``SelectorFromValidatedSet`` (what the
    Service controllers use on ``spec.selector``). With ``validate`` it behaves like
    ``ValidatedSelectorFromSet`` and raises :class:`BadRequest` for a bad key or value.
    See the module docstring for why a Service without ``spec.selector`` must not get here.
    """
    if not labels:
        return EVERYTHING
    if validate:
        reqs = [_checked(k, Operator.EQUALS, (v,), False) for k, v in sorted(labels.items())]
    else:
        reqs = [Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()]
    return LabelSelector(reqs)


def format_label_set(labels: Mapping[str, Any] | None) -> str:
    """A label map (a Service's ``spec.selector``) as ``k=v,k2=v2``, keys sorted: what
    ``kubectl get -l`` takes and what the doctor and the view print (``""`` for none).

    Text only, never validated, so it also renders selectors the API would refuse.
    """
    if not labels:
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
