"""The ``labelSelector`` string syntax, lexed and parsed as apimachinery's ``labels.Parse``.

Clients see this parser's errors verbatim in the ``400 BadRequest`` Status of a list or
watch with a bad ``labelSelector`` (for example ``unable to parse requirement: found 'b',
expected: in, notin, =, ==, !=, gt, lt``), so the tokens, the order of the expected
operators and the error texts follow upstream's ``pkg/labels/selector.go`` lexer and
parser. A NUL character ends the input, as it does in Go. The selector types, and the
validation of keys and values, are ``selectors``'.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from sliceplane.api.errors import BadRequest
from sliceplane.api.field import ErrorType, FieldError, aggregate_message
from sliceplane.api.selectors import (
    _BINARY_OPERATORS,
    EVERYTHING,
    LabelSelector,
    Operator,
    Requirement,
    _requirement_errors,
    label_key_errors,
)

__all__ = ["parse_label_selector"]

_T_EOS, _T_CPAR, _T_COMMA, _T_BANG, _T_DEQ, _T_EQ, _T_GT = 1, 2, 3, 4, 5, 6, 7
_T_IDENT, _T_IN, _T_LT, _T_NEQ, _T_NOTIN, _T_OPAR = 8, 9, 10, 11, 12, 13

_WHITESPACE: Final = frozenset(" \t\r\n")
_SPECIAL: Final = frozenset("=!(),><")
_STOP: Final = _WHITESPACE | _SPECIAL | {"\0"}
_SYMBOL_TOKENS: Final = {
    ")": _T_CPAR,
    ",": _T_COMMA,
    "!": _T_BANG,
    "==": _T_DEQ,
    "=": _T_EQ,
    ">": _T_GT,
    "<": _T_LT,
    "!=": _T_NEQ,
    "(": _T_OPAR,
}
_KEYWORD_TOKENS: Final = {"in": _T_IN, "notin": _T_NOTIN}
_OPERATOR_TOKENS: Final = {
    _T_IN: Operator.IN,
    _T_NOTIN: Operator.NOT_IN,
    _T_EQ: Operator.EQUALS,
    _T_DEQ: Operator.DOUBLE_EQUALS,
    _T_NEQ: Operator.NOT_EQUALS,
    _T_GT: Operator.GREATER_THAN,
    _T_LT: Operator.LESS_THAN,
}
_EXPECTED_OPERATOR: Final = ", ".join(op.value for op in _BINARY_OPERATORS)

Token = tuple[int, str]


def _tokenize(s: str) -> list[Token]:
    """Split into tokens up to the end of input (or a NUL, which Go treats as the end)."""
    out: list[Token] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in _WHITESPACE:
            i += 1
        if i >= n or s[i] == "\0":
            out.append((_T_EOS, ""))
            return out
        c = s[i]
        if c in _SPECIAL:
            pair = s[i : i + 2]
            lit = pair if pair in ("==", "!=") else c
            i += len(lit)
            if i < n and s[i] == "\0":
                i += 1  # Go's lexer swallows a NUL right after an operator
            out.append((_SYMBOL_TOKENS[lit], lit))
            continue
        j = i + 1
        while j < n and s[j] not in _STOP:
            j += 1
        lit = s[i:j]
        i = j + 1 if j < n and s[j] == "\0" else j
        out.append((_KEYWORD_TOKENS.get(lit, _T_IDENT), lit))


class _ParseError(Exception):
    pass


class _RequirementError(Exception):
    pass


class _LabelParser:
    __slots__ = ("pos", "toks")

    def __init__(self, s: str) -> None:
        self.toks = _tokenize(s)
        self.pos = 0

    def _peek(self, as_value: bool = True) -> Token:
        tok, lit = self.toks[self.pos]
        if as_value and tok in (_T_IN, _T_NOTIN):
            tok = _T_IDENT
        return tok, lit

    def _take(self, as_value: bool = True) -> Token:
        item = self._peek(as_value)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok == _T_EOS:
                return reqs
            if tok != _T_IDENT and tok != _T_BANG:
                raise _ParseError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self._requirement())
            except _RequirementError as e:
                raise _ParseError(f"unable to parse requirement: {e}") from None
            tok, lit = self._take()
            if tok == _T_EOS:
                return reqs
            if tok != _T_COMMA:
                raise _ParseError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self._peek()
            if tok != _T_IDENT and tok != _T_BANG:
                raise _ParseError(f"found '{lit}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        tok, key = self._take()
        negated = tok == _T_BANG
        if negated:
            tok, key = self._take()
        if tok != _T_IDENT:
            raise _RequirementError(f"found '{key}', expected: identifier")
        key_errs = label_key_errors(key)
        if key_errs:
            err = FieldError(ErrorType.INVALID, "<nil>", key, "; ".join(key_errs))
            raise _RequirementError(str(err))
        if negated:
            return Requirement(key, Operator.DOES_NOT_EXIST)
        if self._peek()[0] in (_T_EOS, _T_COMMA):
            return Requirement(key, Operator.EXISTS)
        tok, lit = self._take(as_value=False)
        op = _OPERATOR_TOKENS.get(tok)
        if op is None:
            raise _RequirementError(f"found '{lit}', expected: {_EXPECTED_OPERATOR}")
        if op is Operator.IN or op is Operator.NOT_IN:
            values = tuple(sorted(self._value_set()))
        else:
            values = (self._exact_value(),)
        errs = _requirement_errors(key, op, values, check_key=False)
        if errs:
            raise _RequirementError(aggregate_message(errs))
        return Requirement(key, op, values)

    def _value_set(self) -> set[str]:
        tok, lit = self._take()
        if tok != _T_OPAR:
            raise _RequirementError(f"found '{lit}' expected: '('")
        tok, lit = self._peek()
        if tok == _T_CPAR:
            self._take()
            return {""}
        if tok != _T_IDENT and tok != _T_COMMA:
            raise _RequirementError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            tok, lit = self._take()
            if tok == _T_IDENT:
                values.add(lit)
                nxt, nlit = self._peek()
                if nxt == _T_CPAR:
                    self._take()
                    return values
                if nxt != _T_COMMA:
                    raise _RequirementError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == _T_COMMA:
                # Commas with nothing between them (or at either end) stand for "".
                if not values:
                    values.add("")
                nxt = self._peek()[0]
                if nxt == _T_CPAR:
                    values.add("")
                    self._take()
                    return values
                if nxt == _T_COMMA:
                    self._take()
                    values.add("")
            else:
                raise _RequirementError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> str:
        if self._peek()[0] in (_T_EOS, _T_COMMA):
            return ""
        tok, lit = self._take()
        if tok != _T_IDENT:
            raise _RequirementError(f"found '{lit}', expected: identifier")
        return lit


@lru_cache(maxsize=4096)
def _parse_label_selector_cached(s: str) -> LabelSelector:
    try:
        reqs = _LabelParser(s).parse()
    except _ParseError as e:
        raise BadRequest(str(e)) from None
    return LabelSelector(reqs) if reqs else EVERYTHING


def parse_label_selector(s: str) -> LabelSelector:
    """Parse the ``labelSelector`` string syntax (``labels.Parse``).

    Raises :class:`BadRequest` carrying the text kube-apiserver puts in its 400 Status.
    Results are cached: selectors are immutable and clients repeat the same few strings.
    """
    return _parse_label_selector_cached(s)
