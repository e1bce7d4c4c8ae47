"""IP address text as Go's ``net`` package reads and prints it.

Upstream parses addresses with ``netutils.ParseIPSloppy`` (Go's pre-1.17 parser: IPv4
octets may carry leading zeros, zones are refused) and prints them with
``net.IP.String()`` (IPv4-mapped IPv6 addresses print as IPv4, IPv6 per RFC 5952).
Validation, the EndpointSlice and mirroring controllers (and later the proxy) must agree
on what an address is and which family it belongs to, so both live here, on top of
``ipaddress``. Validation's messages about IPs stay in :mod:`sliceplane.api.validation.names`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final, Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

IPFamily = Literal["IPv4", "IPv6"]
"""An address type as EndpointSlices and Services spell it."""

_DIGITS_RE: Final = re.compile(r"^[0-9]+\Z")


def _parse_ipv4_sloppy(s: str) -> tuple[ipaddress.IPv4Address, bool] | None:
    """Parse dotted-quad; second item is True when some octet has a leading zero."""
    parts = s.split(".")
    if len(parts) != 4:
        return None
    octets: list[int] = []
    leading = False
    for p in parts:
        if not _DIGITS_RE.match(p):
            return None
        n = int(p)
        if n > 255:
            return None
        if len(p) > 1 and p[0] == "0":
            leading = True
        octets.append(n)
    return ipaddress.IPv4Address(".".join(str(o) for o in octets)), leading


def parse_ip_sloppy(s: str) -> tuple[IPAddress, bool] | None:
    """Go ``ParseIPSloppy``; returns the address and whether leading zeros were seen."""
    if not isinstance(s, str) or not s.isascii():
        return None
    if ":" not in s:
        return _parse_ipv4_sloppy(s)
    if "%" in s or "/" in s:
        return None
    leading = False
    head, _, tail = s.rpartition(":")
    if "." in tail:
        v4 = _parse_ipv4_sloppy(tail)
        if v4 is None:
            return None
        leading = v4[1]
        s = f"{head}:{v4[0]}"
    try:
        return ipaddress.IPv6Address(s), leading
    except ValueError:
        return None


def is_4in6(ip: IPAddress) -> bool:
    return isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None


def to4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """Go's ``net.IP.To4``: IPv4 addresses and IPv4-mapped IPv6 addresses."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    return ip.ipv4_mapped


def go_ip_string(ip: IPAddress) -> str:
    """``net.IP.String()``: mapped addresses print as IPv4, IPv6 per RFC 5952."""
    v4 = to4(ip)
    return str(v4) if v4 is not None else str(ip)


def is_ipv6_string(text: str) -> bool:
    """Whether ``text`` parses (sloppily) as an address that is not IPv4 (nor IPv4-mapped)."""
    parsed = parse_ip_sloppy(text)
    return parsed is not None and to4(parsed[0]) is None


@functools.lru_cache(maxsize=65536)
def classify_ip(text: str) -> tuple[IPFamily, str] | None:
    """``(address type, canonical text)`` of an IP string, as Go's ParseIPSloppy sees it.

    IPv4-mapped IPv6 addresses count as IPv4 (Go's ``To4``), leading zeros in IPv4 octets
    are accepted, and IPv6 is printed in RFC 5952 form. Text that is not an IP gives
    ``None``. Cached: controllers classify the same pod IPs on every sync.
    """
    parsed = parse_ip_sloppy(text)
    if parsed is None:
        return None
    ip = parsed[0]
    return ("IPv4" if to4(ip) is not None else "IPv6"), go_ip_string(ip)
