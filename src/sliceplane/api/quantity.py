"""Kubernetes resource quantities (``"2"``, ``"500m"``, ``"1.5Gi"``, ``"1e3"``) as exact numbers.

apimachinery's ``resource.Quantity`` keeps values exactly and rounds once when asked for an
integer; a :class:`~fractions.Fraction` does the same, so sums (e.g. allocatable CPU per
zone for topology hints) round as upstream's do. Only reading is needed today.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any, Final

_QUANTITY_RE: Final = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?P<suffix>[eEinumkKMGTP]*[-+]?[0-9]*)"
)
_DECIMAL_EXPONENTS: Final = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_EXPONENTS: Final = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_EXPONENT_RE: Final = re.compile(r"[eE](?P<exp>[-+]?[0-9]+)")


def parse_quantity(value: Any) -> Fraction | None:
    """The exact value of a Kubernetes quantity (``"2"``, ``"500m"``, ``"1.5"``, ``"4k"``,
    ``"1Ki"``, ``"1e3"``), or None when it is not one.

    Exact (a ``Fraction``) so that sums per zone round once, as apimachinery's do.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(repr(value)) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    m = _QUANTITY_RE.fullmatch(value.strip())
    if m is None:
        return None
    number = Fraction(m.group("num"))
    suffix = m.group("suffix")
    if suffix in _DECIMAL_EXPONENTS:
        return number * Fraction(10) ** _DECIMAL_EXPONENTS[suffix]
    if suffix in _BINARY_EXPONENTS:
        return number * (1 << _BINARY_EXPONENTS[suffix])
    exp = _EXPONENT_RE.fullmatch(suffix)
    if exp is None:
        return None
    return number * Fraction(10) ** int(exp.group("exp"))


def milli_cpu(value: Fraction) -> int:
    """``Quantity.MilliValue()``: the value in thousandths, rounded up (``ceil``)."""
    return math.ceil(value * 1000)
