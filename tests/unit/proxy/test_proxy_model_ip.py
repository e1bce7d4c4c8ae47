"""canonical_ip: Go's ParseIPSloppy + String, with the dotted-quad fast path checked against
the ipaddress-only answer it replaced."""

from __future__ import annotations

import ipaddress

import pytest

from sliceplane.proxy.model import canonical_ip


def _reference(ip: str) -> str | None:
    text = ip.strip()
    if "." in text and ":" not in text:
        parts = text.split(".")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            text = ".".join(str(int(p)) for p in parts)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 10.0.0.1 ", "10.0.0.1"),
        ("010.001.0.1", "10.1.0.1"),  # leading zeros are decimal, as Go's sloppy parser
        ("00000000000001.2.3.4", "1.2.3.4"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("256.1.1.1", None),
        ("1.2.3.999999999999999999999", None),
        ("1.2.3", None),
        ("1.2.3.4.5", None),
        ("1..2.3", None),
        ("-1.2.3.4", None),
        ("+1.2.3.4", None),
        ("a.b.c.d", None),
        ("", None),
        ("1.2.3.4\x00", None),
        ("1.2.3.\u0664", "1.2.3.4"),  # a non-ASCII digit: int() reads it, as before
        ("1.2.3.4\u00e9", None),
        ("::1", "::1"),
        ("2001:db8::0001", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
    ],
)
def test_canonical_ip(ip: str, expected: str | None) -> None:
    assert canonical_ip(ip) == expected
    assert canonical_ip(ip) == _reference(ip)
