"""What the renderers need to know about the node and the flags, in one frozen record."""

from __future__ import annotations

from dataclasses import dataclass

from sliceplane.proxy.model import Family

DEFAULT_MASQUERADE_BIT = 14


@dataclass(frozen=True, slots=True)
class RenderConfig:
    family: Family = 4
    masquerade_bit: int = DEFAULT_MASQUERADE_BIT
    """``--iptables-masquerade-bit`` / ``--nftables-masquerade-bit`` (kube-proxy: 14)."""
    masquerade_all: bool = False
    """``--masquerade-all``: SNAT all ClusterIP traffic."""
    cluster_cidr: str = ""
    """This family's ``--cluster-cidr`` (the local-traffic detector); empty: none."""
    node_ip: str = ""
    """The node's primary address of this family (LoadBalancer source-range exception)."""
    nodeport_ips: tuple[str, ...] = ()
    """Addresses NodePorts answer on in nftables mode (kube-proxy's default 'primary': the
    Node's primary IP); empty means every local address."""
    service_cidrs: tuple[str, ...] = ()
    """Service ranges: traffic to an unallocated ClusterIP is dropped (nftables)."""

    @property
    def mark(self) -> str:
        """The masquerade mark as kube-proxy formats it (Go's ``%#08x``: ``0x004000``)."""
        return "0x" + format(1 << self.masquerade_bit, "06x")

    @property
    def large_cluster_threshold(self) -> int:
        return 1000
