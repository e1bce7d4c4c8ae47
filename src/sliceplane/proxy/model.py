"""What the proxy knows about Services and endpoints, reduced to what routing needs.

kube-proxy turns a Service into one ``ServicePort`` per (family, port) and an
EndpointSlice into ``Endpoint`` values keyed by ``IP:port`` (``pkg/proxy/serviceport.go``,
``pkg/proxy/endpoint.go``). These frozen records are the same thing: every renderer and the
userspace backend read them, nothing mutates them, and equality is structural so change
detection is a comparison.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Literal

Family = Literal[4, 6]


@dataclass(frozen=True, slots=True, order=True)
class ServiceName:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, order=True)
class ServicePortName:
    """(namespace/name, port name, protocol): the identity of one Service port."""

    service: ServiceName
    port: str
    protocol: str = "TCP"

    def __str__(self) -> str:
        # kube-proxy's ServicePortName.String(): the ":port" part only for named ports.
        return f"{self.service}:{self.port}" if self.port else str(self.service)


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One Service port in one address family (kube-proxy's BaseServicePortInfo)."""

    name: ServicePortName
    cluster_ip: str
    port: int
    protocol: str = "TCP"
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_vips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    session_affinity_seconds: int = 0
    """ClientIP affinity timeout; 0 means no affinity (``sessionAffinity: None``)."""
    external_policy_local: bool = False
    internal_policy_local: bool = False
    health_check_node_port: int = 0

    @property
    def affinity(self) -> bool:
        return self.session_affinity_seconds > 0

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.load_balancer_vips or self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        # External traffic needs the cluster set too, for short-circuiting pod traffic.
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (
            self.external_policy_local and self.externally_accessible
        )

    @property
    def proto(self) -> str:
        """Protocol in lower case, as both kernel layouts spell it."""
        return self.protocol.lower()


@dataclass(slots=True, unsafe_hash=True)
class Endpoint:
    """One usable address of a Service port (kube-proxy's BaseEndpointInfo).

    Treated as immutable (hashable on its compared fields) but not declared ``frozen``: a
    frozen dataclass pays ``object.__setattr__`` per field, which made creating one 2.2x
    slower, and a first sync creates one per endpoint and Service port (10,000 at 1,000
    Services)."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    is_local: bool = False
    zone_hints: frozenset[str] | None = None
    node_hints: frozenset[str] | None = None
    node_name: str = field(default="", compare=False)
    key: str = field(default="", compare=False)
    """``IP:port`` (``[IPv6]:port``), the de-duplication and sort key (derived)."""

    def __post_init__(self) -> None:
        if not self.key:
            self.key = join_host_port(self.ip, self.port)


def spn_order(spn: ServicePortName) -> tuple[str, str, str, str]:
    """A sort key for Service ports that is cheap to compare (rendering sorts thousands)."""
    return (spn.service.namespace, spn.service.name, spn.port, spn.protocol)


def join_host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def ip_family(ip: str) -> Family | None:
    try:
        return 6 if ipaddress.ip_address(ip.strip()).version == 6 else 4
    except ValueError:
        return None


def canonical_ip(ip: str) -> str | None:
    """The canonical text of an address (``ParseIPSloppy`` then ``String``), or None.

    Leading zeros in IPv4 octets are accepted as decimal, as Go's sloppy parser does. A
    dotted quad, once its octets are written without leading zeros, is already canonical and
    only needs the range check, which ``inet_pton`` does in C: slices carry thousands of
    addresses, and ``ipaddress`` parsing them was most of the proxy's event handling."""
    text = ip.strip()
    try:
        socket.inet_pton(socket.AF_INET, text)  # strict: four decimal octets, no leading zero
        return text
    except (OSError, ValueError):  # ValueError: NUL or a character outside ASCII
        pass
    if "." in text and ":" not in text:
        parts = text.split(".")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            text = ".".join(str(int(p)) for p in parts)
            try:
                socket.inet_pton(socket.AF_INET, text)
            except (OSError, ValueError):
                return None
            return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
