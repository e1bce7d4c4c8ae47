"""The pure half of the network-namespace harness: names, addresses and ``ip`` commands."""

from __future__ import annotations

import pytest

from sliceplane.testenv.netns import (
    parse_netns_list,
    plan_down,
    plan_sysctls,
    plan_up,
    run_prefix,
    stale_namespaces,
    topology,
)
from sliceplane.testenv.proxylab import node_object, proxy_argv, rules_command


def test_names_carry_tag_and_pid() -> None:
    t = topology("pnet", 4242, nodes=[("node-a", "zone-a")], pods=["pod-1"])
    assert [m.netns for m in t.members] == [
        "sp-pnet-4242-cp",
        "sp-pnet-4242-sw",
        "sp-pnet-4242-node-a",
        "sp-pnet-4242-pod-1",
    ]
    assert all(m.netns.startswith(t.prefix) for m in t.members)


def test_addresses_of_one_world() -> None:
    t = topology(
        "pnet", 1, nodes=[("node-a", "zone-a"), ("node-b", "zone-b")], pods=["p1", "p2", "p3"]
    )
    a, b = t.nodes
    assert (a.address, b.address) == ("198.18.0.10", "198.18.0.11")
    # Each node's own pod range and bridge address; pods placed round-robin.
    assert (a.pod_cidr, a.gateway) == ("198.18.128.0/24", "198.18.128.1")
    assert (b.pod_cidr, b.gateway) == ("198.18.129.0/24", "198.18.129.1")
    assert [(p.name, p.node, p.address, p.gateway, p.zone) for p in t.pods] == [
        ("p1", "node-a", "198.18.128.10", "198.18.128.1", "zone-a"),
        ("p2", "node-b", "198.18.129.10", "198.18.129.1", "zone-b"),
        ("p3", "node-a", "198.18.128.11", "198.18.128.1", "zone-a"),
    ]
    # Each node's own /31 to the control plane, the even address on the control-plane side.
    assert (a.cp_peer, a.cp_address) == ("198.18.1.0", "198.18.1.1")
    assert (b.cp_peer, b.cp_address) == ("198.18.1.2", "198.18.1.3")
    assert (a.zone, b.zone) == ("zone-a", "zone-b")


def test_pods_placed_explicitly() -> None:
    t = topology("pnet", 1, nodes=[("node-a", "z"), ("node-b", "z")], pods=[("p1", "node-b"), "p2"])
    assert [(p.name, p.node, p.address) for p in t.pods] == [
        ("p1", "node-b", "198.18.129.10"),
        ("p2", "node-b", "198.18.129.11"),  # round-robin by position: the second node
    ]


def test_worlds_repeat_addresses_but_not_links_or_names() -> None:
    t = topology("pnet", 1, nodes=[("node-a", "zone-a")], pods=["pod-1"], worlds=["k", "s"])
    ka, sa = t.node("node-a", "k"), t.node("node-a", "s")
    assert ka.address == sa.address == "198.18.0.10"
    assert t.pod("pod-1", "k").address == t.pod("pod-1", "s").address
    assert (ka.netns, sa.netns) == ("sp-pnet-1-k-node-a", "sp-pnet-1-s-node-a")
    assert ka.cp_peer != sa.cp_peer
    assert [s.netns for s in t.switches] == ["sp-pnet-1-k-sw", "sp-pnet-1-s-sw"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"nodes": [("a", "z"), ("a", "z")]}, "distinct", id="duplicate-node"),
        pytest.param({"pods": ["node-a"]}, "distinct", id="pod-named-like-node"),
        pytest.param({"pods": ["Pod_1"]}, "DNS label", id="bad-name"),
        pytest.param({"worlds": ["k", "k"]}, "distinct", id="duplicate-world"),
        pytest.param({"worlds": ["kube"]}, "1-3 letters", id="long-world"),
        pytest.param(
            {"cp_links": "198.18.1.0/31", "nodes": [("a", "z"), ("b", "z")]},
            "too small",
            id="links",
        ),
        pytest.param({"pods": [f"p{i}" for i in range(201)]}, "at most", id="too-many-pods"),
        pytest.param({"pods": [("p1", "node-z")]}, "not a node", id="pod-on-unknown-node"),
        pytest.param({"nodes": []}, "at least one", id="no-nodes"),
    ],
)
def test_bad_topologies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        topology("pnet", 1, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("tag", ["", "Pnet", "p-net", "a" * 13, "1abc"])
def test_bad_tags_are_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="tag"):
        run_prefix(tag, 1)


def test_plan_up_builds_everything_inside_the_namespaces() -> None:
    t = topology("pnet", 7, nodes=[("node-a", "zone-a"), ("node-b", "zone-b")], pods=["pod-1"])
    cmds = plan_up(t)
    # Namespaces first, then loopbacks up, in member order.
    adds = [c for c in cmds if c[:3] == ("ip", "netns", "add")]
    assert [c[3] for c in adds] == [m.netns for m in t.members]
    assert cmds[: len(adds)] == adds
    # Every other command names its namespace with -n: nothing touches the host's.
    for c in cmds[len(adds) :]:
        assert c[:2] == ("ip", "-n") and c[2].startswith(t.prefix), c
    sw, node, pod = "sp-pnet-7-sw", "sp-pnet-7-node-a", "sp-pnet-7-pod-1"
    node_b = "sp-pnet-7-node-b"
    veth = ("link", "add", "v0", "type", "veth", "peer", "name", "eth0", "netns", node)
    assert ("ip", "-n", sw, "link", "add", "br0", "type", "bridge") in cmds
    assert ("ip", "-n", sw, *veth) in cmds
    assert ("ip", "-n", sw, "link", "set", "v1", "master", "br0") in cmds
    assert ("ip", "-n", node, "addr", "add", "198.18.0.10/24", "dev", "eth0") in cmds
    # The pod hangs off its node's own bridge and routes through it.
    pod_veth = ("link", "add", "p0", "type", "veth", "peer", "name", "eth0", "netns", pod)
    assert ("ip", "-n", node, "link", "add", "cbr0", "type", "bridge") in cmds
    assert ("ip", "-n", node, "addr", "add", "198.18.128.1/24", "dev", "cbr0") in cmds
    assert ("ip", "-n", node, *pod_veth) in cmds
    assert ("ip", "-n", node, "link", "set", "p0", "master", "cbr0") in cmds
    assert ("ip", "-n", pod, "addr", "add", "198.18.128.10/24", "dev", "eth0") in cmds
    assert ("ip", "-n", pod, "route", "add", "default", "via", "198.18.128.1") in cmds
    # Nodes route each other's pod ranges.
    assert ("ip", "-n", node_b, "route", "add", "198.18.128.0/24", "via", "198.18.0.10") in cmds
    assert ("ip", "-n", node, "route", "add", "198.18.129.0/24", "via", "198.18.0.11") in cmds
    # The pod is not on the world's bridge.
    assert not [c for c in cmds if c[2] == sw and pod in c]
    assert ("ip", "-n", "sp-pnet-7-cp", "addr", "add", "198.18.1.0/31", "dev", "c0") in cmds
    assert ("ip", "-n", node, "addr", "add", "198.18.1.1/31", "dev", "cp0") in cmds
    assert ("ip", "-n", node, "route", "add", "198.19.0.0/16", "dev", "eth0") in cmds
    assert ("ip", "-n", node, "route", "add", "198.18.2.0/24", "dev", "eth0") in cmds


def test_sysctls_forward_on_nodes_only() -> None:
    t = topology("pnet", 7, nodes=[("node-a", "zone-a"), ("node-b", "zone-b")], pods=["pod-1"])
    assert plan_sysctls(t) == [
        ("sp-pnet-7-node-a", "net/ipv4/ip_forward", "1"),
        ("sp-pnet-7-node-b", "net/ipv4/ip_forward", "1"),
    ]


def test_plan_down_deletes_every_namespace_newest_first() -> None:
    t = topology("pnet", 7, nodes=[("node-a", "zone-a")], pods=["pod-1", "pod-2"])
    assert plan_down(t) == [("ip", "netns", "delete", m.netns) for m in reversed(t.members)]


def test_parse_netns_list() -> None:
    text = "sp-pnet-12-node-a (id: 3)\nsp-pnet-12-cp (id: 0)\n\nother\n"
    assert parse_netns_list(text) == ["sp-pnet-12-node-a", "sp-pnet-12-cp", "other"]


@pytest.mark.parametrize(
    ("names", "alive", "expected"),
    [
        pytest.param(
            ["sp-pnet-12-cp", "sp-pnet-12-sw"],
            set(),
            ["sp-pnet-12-cp", "sp-pnet-12-sw"],
            id="dead-run",
        ),
        pytest.param(["sp-pnet-12-cp"], {12}, [], id="live-run-kept"),
        pytest.param(["sp-proxy-12-cp", "sp-pnetx-12-cp"], set(), [], id="other-tags-kept"),
        pytest.param(["pnet-12-cp", "sp-pnet-x-cp", "docker"], set(), [], id="not-ours"),
        pytest.param(["sp-pnet-12-cp", "sp-pnet-13-cp"], {13}, ["sp-pnet-12-cp"], id="mixed"),
    ],
)
def test_stale_namespaces(names: list[str], alive: set[int], expected: list[str]) -> None:
    assert stale_namespaces(names, "pnet", lambda pid: pid in alive) == expected


def test_proxy_command_lines_share_flags() -> None:
    from pathlib import Path

    kp = proxy_argv(
        "kube-proxy",
        "nftables",
        kubeconfig=Path("/k"),
        node="node-a",
        kube_proxy=Path("/bin/kube-proxy"),
        sliceplane=Path("/bin/sliceplane"),
    )
    sp = proxy_argv(
        "sliceplane",
        "nftables",
        kubeconfig=Path("/k"),
        node="node-a",
        kube_proxy=Path("/bin/kube-proxy"),
        sliceplane=Path("/bin/sliceplane"),
    )
    shared = ["--kubeconfig=/k", "--hostname-override=node-a", "--proxy-mode=nftables"]
    assert kp[0] == "/bin/kube-proxy" and kp[1:4] == shared
    assert sp[:2] == ["/bin/sliceplane", "proxy"] and sp[2:5] == shared
    assert "--iptables-min-sync-period=100ms" in kp and "--min-sync-period=100ms" in sp
    assert "--conntrack-max-per-core=0" in kp and not [a for a in sp if "conntrack" in a]


def test_rules_commands() -> None:
    assert rules_command("nftables") == ["nft", "list", "ruleset"]
    assert rules_command("iptables") == ["iptables-save"]


def test_node_object_as_a_kubelet_registers_it() -> None:
    t = topology("pnet", 1, nodes=[("node-a", "zone-a")], pods=["p"])
    node = node_object(t.nodes[0])
    assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-a"
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "198.18.0.10"}
