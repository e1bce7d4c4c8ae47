"""Tables for simulated nodes' pod CIDRs, node addresses and pod IP allocation."""

from __future__ import annotations

import ipaddress
import re

import pytest

from sliceplane.workloads.kubelet.podcidr import (
    AddressesExhausted,
    ClusterCIDRs,
    HostAllocator,
    NodeIPAM,
    node_address,
    node_pod_cidrs,
    parse_cluster_cidrs,
    usable_hosts,
)

DEFAULT = ClusterCIDRs()


@pytest.mark.parametrize(
    ("index", "families", "expected"),
    [
        pytest.param(0, ["IPv4"], ["10.244.0.0/24"], id="first-node"),
        pytest.param(2, ["IPv4"], ["10.244.2.0/24"], id="third-node"),
        pytest.param(255, ["IPv4"], ["10.244.255.0/24"], id="as-in-kinds-slash-16"),
        pytest.param(256, ["IPv4"], ["10.245.0.0/24"], id="beyond-a-slash-16"),
        pytest.param(1023, ["IPv4"], ["10.247.255.0/24"], id="last-v4-slot"),
        pytest.param(256, ["IPv6"], ["fd00:10:244:100::/64"], id="ipv6-beyond-a-slash-56"),
        pytest.param(0, ["IPv6"], ["fd00:10:244::/64"], id="ipv6-only"),
        pytest.param(1, ["IPv4", "IPv6"], ["10.244.1.0/24", "fd00:10:244:1::/64"], id="dual"),
        pytest.param(
            1, ["IPv6", "IPv4"], ["fd00:10:244:1::/64", "10.244.1.0/24"], id="dual-v6-primary"
        ),
    ],
)
def test_node_pod_cidrs(index: int, families: list[str], expected: list[str]) -> None:
    assert node_pod_cidrs(index, families, DEFAULT) == expected


def test_node_pod_cidrs_custom_mask() -> None:
    cidrs = ClusterCIDRs(ipv4="10.0.0.0/8", node_mask_ipv4=22)
    assert node_pod_cidrs(3, ["IPv4"], cidrs) == ["10.0.12.0/22"]


@pytest.mark.parametrize(
    ("index", "families", "cidrs"),
    [
        pytest.param(1024, ["IPv4"], DEFAULT, id="cluster-range-full"),
        pytest.param(0, [], DEFAULT, id="no-family"),
        pytest.param(0, ["IPv4", "IPv4"], DEFAULT, id="same-family-twice"),
        pytest.param(0, ["IPv5"], DEFAULT, id="unknown-family"),
        pytest.param(0, ["IPv4"], ClusterCIDRs(node_mask_ipv4=8), id="mask-wider-than-cluster"),
    ],
)
def test_node_pod_cidrs_errors(index: int, families: list[str], cidrs: ClusterCIDRs) -> None:
    with pytest.raises(ValueError):
        node_pod_cidrs(index, families, cidrs)


def test_node_cidrs_do_not_overlap() -> None:
    nets = [ipaddress.ip_network(node_pod_cidrs(i, ["IPv4"], DEFAULT)[0]) for i in range(50)]
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            assert not a.overlaps(b)


@pytest.mark.parametrize(
    ("index", "family", "expected"),
    [
        pytest.param(0, "IPv4", "172.18.0.2", id="first"),
        pytest.param(300, "IPv4", "172.18.1.46", id="carries-into-next-octet"),
        pytest.param(0, "IPv6", "fc00:f853:ccd:e793::2", id="ipv6"),
    ],
)
def test_node_address(index: int, family: str, expected: str) -> None:
    assert node_address(index, family, "172.18.0.0/16", "fc00:f853:ccd:e793::/64") == expected


def test_usable_hosts() -> None:
    assert usable_hosts("10.244.0.0/24") == 253
    assert usable_hosts("fd00::/120") == 254


def test_allocator_skips_network_gateway_and_broadcast() -> None:
    a = HostAllocator("10.244.1.0/29")  # .0 net, .1 gateway, .7 broadcast
    got = [a.allocate(f"p{i}") for i in range(5)]
    assert got == ["10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5", "10.244.1.6"]
    with pytest.raises(AddressesExhausted):
        a.allocate("one-too-many")


def test_allocator_is_sticky_and_round_robin() -> None:
    a = HostAllocator("10.244.1.0/29")
    assert a.allocate("p1") == "10.244.1.2"
    assert a.allocate("p1") == "10.244.1.2"  # same key, same address
    assert a.allocate("p2") == "10.244.1.3"
    a.release("p1")
    # A freed address is not handed out again at once (host-local behaviour).
    assert a.allocate("p3") == "10.244.1.4"
    for k in ("p4", "p5"):
        a.allocate(k)
    assert a.allocate("p6") == "10.244.1.2"  # wrapped around to the freed one


def test_allocator_reserve() -> None:
    a = HostAllocator("10.244.1.0/24")
    assert a.reserve("p1", "10.244.1.9")
    assert a.get("p1") == "10.244.1.9"
    assert not a.reserve("p2", "10.244.1.9")  # taken
    assert not a.reserve("p2", "10.244.2.9")  # outside
    assert not a.reserve("p2", "10.244.1.1")  # the gateway
    assert a.reserve("p1", "10.244.1.9")  # idempotent
    assert a.reserve("p1", "10.244.1.10")  # moves
    assert a.holder("10.244.1.9") is None and a.holder("10.244.1.10") == "p1"


def test_ipv6_allocator() -> None:
    a = HostAllocator("fd00:10:244:1::/64")
    assert a.allocate("p1") == "fd00:10:244:1::2"
    assert a.allocate("p2") == "fd00:10:244:1::3"


def test_node_ipam_dual_stack() -> None:
    ipam = NodeIPAM(["10.244.1.0/24", "fd00:10:244:1::/64"])
    assert ipam.allocate("a") == ["10.244.1.2", "fd00:10:244:1::2"]
    ipam.reserve("b", ["10.244.1.7", "fd00:10:244:1::7", "192.168.0.1"])
    assert ipam.get("b") == ["10.244.1.7", "fd00:10:244:1::7"]
    ipam.release("a")
    assert ipam.get("a") is None and ipam.in_use() == 1


def test_node_ipam_all_or_nothing() -> None:
    ipam = NodeIPAM(["10.244.1.0/30", "fd00:10:244:1::/64"])  # one usable IPv4 address
    ipam.allocate("a")
    with pytest.raises(AddressesExhausted):
        ipam.allocate("b")
    assert ipam.get("b") is None
    assert ipam.allocators[1].get("b") is None  # no IPv6 address leaked


def test_default_cluster_range_holds_a_thousand_nodes() -> None:
    assert DEFAULT.node_slots("IPv4") == 1024 and DEFAULT.node_slots("IPv6") == 65536
    assert ClusterCIDRs(ipv4="10.244.0.0/16").node_slots("IPv4") == 256
    assert ClusterCIDRs(node_mask_ipv4=12).node_slots("IPv4") == 0


@pytest.mark.parametrize(
    ("text", "dual", "expected"),
    [
        pytest.param("10.244.0.0/14", False, ClusterCIDRs(), id="default"),
        pytest.param(" 10.128.0.0/9 ", False, ClusterCIDRs(ipv4="10.128.0.0/9"), id="spaces"),
        pytest.param(
            "10.244.0.0/16", True, ClusterCIDRs(ipv4="10.244.0.0/16"), id="dual-v6-default"
        ),
        pytest.param(
            "10.244.0.0/16,fd00:1::/48",
            True,
            ClusterCIDRs(ipv4="10.244.0.0/16", ipv6="fd00:1::/48"),
            id="dual-both",
        ),
    ],
)
def test_parse_cluster_cidrs(text: str, dual: bool, expected: ClusterCIDRs) -> None:
    assert parse_cluster_cidrs(text, dual_stack=dual) == expected


@pytest.mark.parametrize(
    ("text", "dual", "message"),
    [
        pytest.param("bogus", False, "'bogus' is not a CIDR", id="not-a-cidr"),
        pytest.param("10.244.0.0", False, "is not a CIDR", id="no-prefix"),
        pytest.param("10.244.0.0/33", False, "is not a CIDR", id="bad-prefix"),
        pytest.param("", False, "'' is not a CIDR", id="empty"),
        pytest.param(
            "10.244.1.0/14", False, "has host bits set (the range is 10.244.0.0/14)", id="host-bits"
        ),
        pytest.param("fd00::/48", True, "expected an IPv4 range", id="ipv6-first"),
        pytest.param("10.0.0.0/8,10.1.0.0/16", True, "expected an IPv4 range", id="two-v4"),
        pytest.param("10.0.0.0/8,fd00::/48", False, "needs --dual-stack", id="v6-single-stack"),
    ],
)
def test_parse_cluster_cidrs_errors(text: str, dual: bool, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_cluster_cidrs(text, dual_stack=dual)
