"""The Service ranges behind nftables mode's drop rule for unallocated ClusterIPs.

kube-proxy watches ``networking.k8s.io/v1`` ServiceCIDRs (MultiCIDRServiceAllocator is GA)
and keeps one set of their ``spec.cidrs``: an object's ranges leave the set when it changes
or goes, the new ones join. Each family's proxier takes its own family's ranges, and its
nftables mode drops new connections to an address in them that no Service holds
(``cluster-ips-check``), next to the reject of unused ports of live ClusterIPs. Since that
rule belongs to the table's setup, it is (re)written by full syncs only: a changed range
shows at the next full sync, as upstream's.

One set, not a count per range (upstream's choice, kept): when two ServiceCIDRs share a
range and one of them goes, the range leaves with it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sliceplane.proxy.model import Family


def _cidrs(obj: dict[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    return [str(c) for c in (obj.get("spec") or {}).get("cidrs") or ()]


class ServiceCIDRSet:
    """The union of every ServiceCIDR's ranges, kept from informer events."""

    def __init__(self) -> None:
        self._cidrs: set[str] = set()

    def update(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """An add (``old`` None), update, or delete (``new`` None) of one ServiceCIDR."""
        self._cidrs.difference_update(_cidrs(old))
        self._cidrs.update(_cidrs(new))

    def for_family(self, family: Family) -> tuple[str, ...]:
        """This family's ranges in a stable order (upstream's set order is random; the rule
        means the same in any order). Ranges that do not parse are left out: the API server
        validates them, and one bad word would fail the whole nft transaction."""
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for c in self._cidrs:
            try:
                net = ipaddress.ip_network(c, strict=False)
            except ValueError:
                continue
            if net.version == family:
                nets.append(net)
        return tuple(str(n) for n in sorted(nets, key=lambda n: (n.network_address, n.prefixlen)))
