"""Cluster IP and node port allocation for Services.

The allocators hold no durable state of their own: at start-up the server rebuilds them
from the stored Services, so the Service objects are the only record (no bitmap to keep
in step). Allocation is random within the range, as upstream's, so tests must not
assume a particular address.
"""

from __future__ import annotations

import ipaddress
import random


class RangeFull(Exception):
    pass


class IPAllocator:
    """Hands out addresses of one CIDR, excluding the network and broadcast addresses.

    Like upstream, the lower part of the range (1/16 of it, between 16 and 256 addresses)
    is preferred for static requests, and dynamic allocation tries the upper part first.
    """

    def __init__(self, cidr: str, rng: random.Random | None = None) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.family = "IPv4" if self.network.version == 4 else "IPv6"
        self._first = int(self.network.network_address) + 1
        last = int(self.network.broadcast_address)
        if self.network.version == 4:
            last -= 1
        self._last = min(last, self._first + (1 << 20) - 1)  # cap huge IPv6 ranges
        size = self._last - self._first + 1
        self._static = min(max(16, size // 16), 256, size)
        self._used: set[int] = set()
        self._rng = rng or random.Random()

    @property
    def size(self) -> int:
        return self._last - self._first + 1

    def contains(self, ip: str) -> bool:
        try:
            value = int(ipaddress.ip_address(ip))
        except ValueError:
            return False
        return self._first <= value <= self._last

    def is_allocated(self, ip: str) -> bool:
        return int(ipaddress.ip_address(ip)) in self._used

    def allocate(self, ip: str) -> bool:
        """Claim a specific address; False if taken or outside the range."""
        if not self.contains(ip):
            return False
        value = int(ipaddress.ip_address(ip))
        if value in self._used:
            return False
        self._used.add(value)
        return True

    def allocate_next(self) -> str:
        if len(self._used) >= self.size:
            raise RangeFull(str(self.network))
        dyn_lo = self._first + self._static
        for lo, hi in ((dyn_lo, self._last), (self._first, dyn_lo - 1)):
            if hi < lo:
                continue
            span = hi - lo + 1
            start = self._rng.randrange(span)
            for i in range(span):
                value = lo + (start + i) % span
                if value not in self._used:
                    self._used.add(value)
                    return str(ipaddress.ip_address(value))
        raise RangeFull(str(self.network))

    def release(self, ip: str) -> None:
        try:
            self._used.discard(int(ipaddress.ip_address(ip)))
        except ValueError:
            pass

    def nth(self, n: int) -> str:
        """The n-th usable address (n=1 is the first), e.g. the kubernetes Service's."""
        return str(ipaddress.ip_address(self._first + n - 1))


class PortAllocator:
    """Node ports, 30000-32767 by default."""

    def __init__(self, lo: int = 30000, hi: int = 32767, rng: random.Random | None = None):
        self.lo, self.hi = lo, hi
        self._used: set[int] = set()
        self._rng = rng or random.Random()

    def allocate(self, port: int) -> bool:
        if not self.lo <= port <= self.hi or port in self._used:
            return False
        self._used.add(port)
        return True

    def allocate_next(self) -> int:
        span = self.hi - self.lo + 1
        start = self._rng.randrange(span)
        for i in range(span):
            port = self.lo + (start + i) % span
            if port not in self._used:
                self._used.add(port)
                return port
        raise RangeFull(f"{self.lo}-{self.hi}")

    def release(self, port: int) -> None:
        self._used.discard(port)
