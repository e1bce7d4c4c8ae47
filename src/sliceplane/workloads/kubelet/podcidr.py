"""Per-node pod CIDRs and pod IP allocation for simulated nodes (pure, no I/O).

Why: simulated pods must carry addresses that look like a real cluster's, so that
EndpointSlices, the proxy renderers and DNS see realistic data: every node owns a slice of
the cluster CIDR (as kube-controller-manager's range allocator hands out ``podCIDR``), and
every pod gets an address from its node's slice (as host-local IPAM does). Nothing ever
sends traffic to these addresses.

Promises:

* :func:`node_pod_cidrs` is a function of the node's index only, so a restarted local
  cluster gives every node the same CIDRs again;
* :class:`HostAllocator` never hands out the network address, the gateway (first host,
  as on a bridge CNI) or the IPv4 broadcast address, never hands one address to two keys,
  and allocates round-robin after the last address it gave out (host-local's behaviour),
  so a freed address is not reused at once and endpoint identity stays unambiguous.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

IPV4 = "IPv4"
IPV6 = "IPv6"
FAMILIES = (IPV4, IPV6)

DEFAULT_CLUSTER_CIDR_IPV4 = "10.244.0.0/14"
"""kind's and flannel's 10.244.0.0/16 widened to a /14 (as GKE's default pod range): 1,024
nodes get a /24 each, and the first 256 get exactly the ranges they would get from the /16
(``10.244.N.0/24``). Clear of the default service range 10.96.0.0/12."""
DEFAULT_CLUSTER_CIDR_IPV6 = "fd00:10:244::/48"
"""kind's fd00:10:244::/56 widened the same way: 65,536 nodes get a /64 each, the first 256
exactly the /56's."""


@dataclass(frozen=True, slots=True)
class ClusterCIDRs:
    """The cluster-wide ranges node CIDRs are cut from (kube-controller-manager's
    ``--cluster-cidr`` and ``--node-cidr-mask-size-ipv4/6``)."""

    ipv4: str = DEFAULT_CLUSTER_CIDR_IPV4
    """Cluster pod range for IPv4."""
    ipv6: str = DEFAULT_CLUSTER_CIDR_IPV6
    """Cluster pod range for IPv6."""
    node_mask_ipv4: int = 24
    """Prefix length of each node's IPv4 pod CIDR (upstream default 24: 253 pods/node)."""
    node_mask_ipv6: int = 64
    """Prefix length of each node's IPv6 pod CIDR (upstream default 64)."""

    def cluster(self, family: str) -> IPNetwork:
        return ipaddress.ip_network(self.ipv4 if family == IPV4 else self.ipv6)

    def node_mask(self, family: str) -> int:
        return self.node_mask_ipv4 if family == IPV4 else self.node_mask_ipv6

    def node_slots(self, family: str) -> int:
        """How many node CIDRs the cluster range of ``family`` holds (0 if the node mask
        is wider than the range)."""
        cluster, mask = self.cluster(family), self.node_mask(family)
        if mask < cluster.prefixlen or mask > cluster.max_prefixlen:
            return 0
        return 1 << (mask - cluster.prefixlen)


def parse_cluster_cidrs(text: str, *, dual_stack: bool, node_mask_ipv4: int = 24) -> ClusterCIDRs:
    """``--cluster-cidr`` as kube-controller-manager takes it: comma-separated ranges,
    IPv4 first, then IPv6 (dual-stack only; the default IPv6 range otherwise). Raises
    ``ValueError`` with a one-line message for anything else; a range with host bits set
    is refused rather than silently masked, since it is almost always a typo."""
    parts = [p.strip() for p in text.split(",")]
    nets: list[IPNetwork] = []
    for part in parts:
        if "/" not in part:  # ipaddress would take a bare address as a /32; Go does not
            raise ValueError(f"{part!r} is not a CIDR (like 10.244.0.0/14)")
        try:
            nets.append(ipaddress.ip_network(part))
        except ValueError:
            try:
                loose = ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not a CIDR (like 10.244.0.0/14)") from None
            raise ValueError(f"{part} has host bits set (the range is {loose})") from None
    versions = [n.version for n in nets]
    if versions not in ([4], [4, 6]):
        raise ValueError(f"expected an IPv4 range, optionally followed by an IPv6 one: {text!r}")
    if len(nets) == 2 and not dual_stack:
        raise ValueError("an IPv6 range needs --dual-stack")
    ipv6 = str(nets[1]) if len(nets) == 2 else DEFAULT_CLUSTER_CIDR_IPV6
    return ClusterCIDRs(ipv4=str(nets[0]), ipv6=ipv6, node_mask_ipv4=node_mask_ipv4)


def check_families(families: Sequence[str]) -> None:
    """``families`` must be one family, or both (any order; the first is primary)."""
    if not families or len(families) > 2 or len(set(families)) != len(families):
        raise ValueError(f"ip families must be one or two distinct families, got {families!r}")
    for f in families:
        if f not in FAMILIES:
            raise ValueError(f"unknown ip family {f!r} (expected IPv4 or IPv6)")


def node_pod_cidrs(index: int, families: Sequence[str], cidrs: ClusterCIDRs) -> list[str]:
    """The pod CIDRs of the node with 0-based ``index``, primary family first.

    Node 0 gets the first subnet of each cluster range (``10.244.0.0/24``), node 1 the
    second, and so on. Raises ``ValueError`` when the cluster range has no subnet left.
    """
    check_families(families)
    if index < 0:
        raise ValueError("node index must not be negative")
    out: list[str] = []
    for family in families:
        cluster = cidrs.cluster(family)
        mask = cidrs.node_mask(family)
        if mask < cluster.prefixlen or mask > cluster.max_prefixlen:
            raise ValueError(f"node mask /{mask} does not fit in cluster CIDR {cluster}")
        available = 1 << (mask - cluster.prefixlen)
        if index >= available:
            raise ValueError(
                f"cluster CIDR {cluster} has room for {available} /{mask} node CIDRs; "
                f"node index {index} does not fit"
            )
        size = 1 << (cluster.max_prefixlen - mask)
        base = int(cluster.network_address) + index * size
        out.append(str(ipaddress.ip_network((base, mask))))
    return out


def family_of(address_or_cidr: str) -> str:
    """``IPv4`` or ``IPv6`` for an address or CIDR string."""
    text = address_or_cidr.partition("/")[0]
    return IPV6 if ":" in text else IPV4


def usable_hosts(cidr: str) -> int:
    """How many pod addresses :class:`HostAllocator` can hand out of ``cidr``."""
    net = ipaddress.ip_network(cidr)
    reserved = 3 if net.version == 4 else 2  # network, gateway (+ broadcast for IPv4)
    return max(0, net.num_addresses - reserved)


class AddressesExhausted(Exception):
    """Every usable address of the CIDR is in use."""


class HostAllocator:
    """Addresses of one pod CIDR, held by string keys (``namespace/name`` of a pod)."""

    def __init__(self, cidr: str) -> None:
        self.network: IPNetwork = ipaddress.ip_network(cidr)
        self._first = int(self.network.network_address) + 2  # skip network and gateway
        last = int(self.network.broadcast_address)
        self._last = last - 1 if self.network.version == 4 else last
        self._by_key: dict[str, IPAddress] = {}
        self._by_ip: dict[IPAddress, str] = {}
        self._cursor = self._first - 1  # last address handed out

    def __len__(self) -> int:
        return len(self._by_key)

    def capacity(self) -> int:
        return max(0, self._last - self._first + 1)

    def contains(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return ip in self.network and self._first <= int(ip) <= self._last

    def get(self, key: str) -> str | None:
        ip = self._by_key.get(key)
        return None if ip is None else str(ip)

    def holder(self, address: str) -> str | None:
        return self._by_ip.get(ipaddress.ip_address(address))

    def reserve(self, key: str, address: str) -> bool:
        """Record that ``key`` holds ``address`` (learned from a pod's status).

        Returns False, changing nothing, when the address is outside the usable range or
        held by another key; a key that held another address moves to this one.
        """
        if not self.contains(address):
            return False
        ip = ipaddress.ip_address(address)
        owner = self._by_ip.get(ip)
        if owner is not None:
            return owner == key
        self.release(key)
        self._by_key[key] = ip
        self._by_ip[ip] = key
        return True

    def allocate(self, key: str) -> str:
        """The address ``key`` holds, or the next free one after the last handed out."""
        held = self._by_key.get(key)
        if held is not None:
            return str(held)
        span = self.capacity()
        if len(self._by_ip) >= span:
            raise AddressesExhausted(f"no free address left in {self.network}")
        candidate = self._cursor
        for _ in range(span):
            candidate = candidate + 1 if candidate < self._last else self._first
            ip = ipaddress.ip_address(candidate)
            if ip not in self._by_ip:
                self._cursor = candidate
                self._by_key[key] = ip
                self._by_ip[ip] = key
                return str(ip)
        raise AddressesExhausted(f"no free address left in {self.network}")  # pragma: no cover

    def release(self, key: str) -> None:
        ip = self._by_key.pop(key, None)
        if ip is not None:
            self._by_ip.pop(ip, None)


class NodeIPAM:
    """The allocators of one node, one per pod CIDR (primary family first)."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.allocators = [HostAllocator(c) for c in cidrs]

    def allocate(self, key: str) -> list[str]:
        """One address per family for ``key`` (all or nothing)."""
        out: list[str] = []
        try:
            for a in self.allocators:
                out.append(a.allocate(key))
        except AddressesExhausted:
            self.release(key)
            raise
        return out

    def get(self, key: str) -> list[str] | None:
        """The addresses ``key`` holds in every family, or None if any is missing."""
        out = [a.get(key) for a in self.allocators]
        if any(ip is None for ip in out):
            return None
        return [ip for ip in out if ip is not None]

    def reserve(self, key: str, addresses: Iterable[str]) -> None:
        """Record addresses seen in a pod's status; ones outside our CIDRs are ignored."""
        for address in addresses:
            for a in self.allocators:
                if a.contains(address):
                    a.reserve(key, address)

    def release(self, key: str) -> None:
        for a in self.allocators:
            a.release(key)

    def in_use(self) -> int:
        return max((len(a) for a in self.allocators), default=0)


def node_address(index: int, family: str, base_ipv4: str, base_ipv6: str) -> str:
    """A display-only InternalIP for the node with 0-based ``index``: ``base + 2 + index``
    (``172.18.0.2`` for the first node with kind's docker network, like kind shows)."""
    net = ipaddress.ip_network(base_ipv4 if family == IPV4 else base_ipv6)
    value = int(net.network_address) + 2 + index
    if value >= int(net.broadcast_address):
        raise ValueError(f"node index {index} does not fit in {net}")
    return str(ipaddress.ip_address(value))
