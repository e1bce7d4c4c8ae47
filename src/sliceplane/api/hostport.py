"""One ``HOST:PORT`` parser for every listening flag (``--listen``, ``--metrics-bind-address``,
``--healthz-bind-address``, ``--dns-listen``, ...).

It lives in :mod:`sliceplane.api` because the API server may import neither the client nor
the machinery, and every other server needs the same rules: a port within 0..65535 (0 picks
a free one), an IP address (IPv6 in brackets or bare) or ``localhost`` as the host. An empty
host means ``default_host`` when the caller has one (``:10249`` binds all addresses in
kube-proxy) and is refused otherwise. Errors are one line naming the flag, raised as the
caller's own error type so each command keeps its exit code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable


class HostPortError(ValueError):
    """A flag's value is not ``HOST:PORT`` (the default error type)."""


def parse_hostport(
    text: str,
    flag: str,
    *,
    default_host: str | None = None,
    error: Callable[[str], Exception] = HostPortError,
) -> tuple[str, int]:
    """``(host, port)`` from ``text``; raises ``error(message)`` when it is not usable."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise error(f"{flag}: {text!r} is not HOST:PORT")
    if not host:
        if default_host is None:
            raise error(f"{flag}: {text!r} is not HOST:PORT")
        return default_host, int(port)
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise error(f"{flag}: {host!r} is not an IP address") from None
    return host, int(port)
