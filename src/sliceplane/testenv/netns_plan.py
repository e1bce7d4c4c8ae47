"""The pure half of the network-namespace harness: who is in the network, at which
address, and the ``ip`` commands that build and remove it.

Why apart: :mod:`sliceplane.testenv.netns` describes the network (one control-plane
namespace, worlds of nodes on a bridge, pods on a bridge inside their node, a /31 from each
node to the control plane); this module is that description as data and argv lists, with
no I/O, so it is table-tested without root (``tests/unit/testenv/test_netns_plan.py``).
:mod:`sliceplane.testenv.netns` is the runner that executes these plans, and re-exports
every name here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["controlplane", "switch", "node", "pod"]

# Inside every node and pod namespace the bridge-facing interface is eth0; a node's link
# to the control plane is cp0. Names on the switch side are short (IFNAMSIZ is 16).
BRIDGE = "br0"
NODE_UPLINK = "eth0"
NODE_CP_LINK = "cp0"
POD_BRIDGE = "cbr0"  # inside a node: its pods' bridge

# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Member:
    """One namespace of the network, by its role and its addresses."""

    name: str  # logical name: "cp", "node-a", "pod-1", "sw"
    netns: str  # the namespace's name, "sp-<tag>-<pid>-..."
    role: Role
    world: str = ""  # "" for the control plane
    address: str = ""  # a node's on the world's bridge, a pod's on its node's bridge
    cp_address: str = ""  # node side of the control-plane link
    cp_peer: str = ""  # control-plane side of that link (what the node dials)
    zone: str = ""  # topology.kubernetes.io/zone of a node (and of its pods)
    node: str = ""  # the node a pod runs on
    pod_cidr: str = ""  # a node's pod range, on its own bridge
    gateway: str = ""  # a node's address on that bridge: its pods' default route


@dataclass(frozen=True, slots=True)
class Topology:
    """The whole network of one run, derived by :func:`topology` (pure)."""

    prefix: str
    controlplane: Member
    switches: tuple[Member, ...]
    nodes: tuple[Member, ...]
    pods: tuple[Member, ...]
    subnet: str
    service_cidr: str
    external_cidr: str
    pod_port: int

    @property
    def members(self) -> tuple[Member, ...]:
        return (self.controlplane, *self.switches, *self.nodes, *self.pods)

    def node(self, name: str, world: str | None = None) -> Member:
        return self._find(self.nodes, name, world)

    def pod(self, name: str, world: str | None = None) -> Member:
        return self._find(self.pods, name, world)

    def world_names(self) -> tuple[str, ...]:
        return tuple(s.world for s in self.switches)

    def _find(self, among: Iterable[Member], name: str, world: str | None) -> Member:
        want = world if world is not None else self.world_names()[0]
        for m in among:
            if m.name == name and m.world == want:
                return m
        raise KeyError(f"no member {name!r} in world {want!r}")


def run_prefix(tag: str, pid: int) -> str:
    """``sp-<tag>-<pid>-``: the start of every name one run creates."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", tag):
        raise ValueError(f"tag must be 1-12 lowercase letters or digits, got {tag!r}")
    return f"sp-{tag}-{pid}-"


def topology(
    tag: str,
    pid: int,
    *,
    nodes: Sequence[tuple[str, str]] = (("node-a", "zone-a"), ("node-b", "zone-b")),
    pods: Sequence[str | tuple[str, str]] = ("pod-1", "pod-2", "pod-3"),
    worlds: Sequence[str] = ("w",),
    subnet: str = "198.18.0.0/24",
    cp_links: str = "198.18.1.0/24",
    pod_cidrs: str = "198.18.128.0/17",
    service_cidr: str = "198.19.0.0/16",
    external_cidr: str = "198.18.2.0/24",
    pod_port: int = 8080,
) -> Topology:
    """Name and address every member.

    Nodes get ``.10 + i`` of ``subnet`` (their shared bridge). Node ``i`` owns the ``i``-th
    /24 of ``pod_cidrs``: a bridge inside the node with address ``.1``, where its pods get
    ``.10 + j`` and their default route, as a CNI's bridge plugin does; the other nodes
    route that /24 through node ``i``. A pod is given as ``(name, node)``, or by name alone
    and then placed round-robin. Every world repeats the same nodes and pods with the same
    addresses, so a pod is the same endpoint whichever world answers. Node ``i`` of world
    ``w`` owns the /31 number ``w * len(nodes) + i`` of ``cp_links`` (the even address is
    the control plane's side)."""
    prefix = run_prefix(tag, pid)
    net = ipaddress.IPv4Network(subnet)
    links = ipaddress.IPv4Network(cp_links)
    pod_ranges = list(ipaddress.IPv4Network(pod_cidrs).subnets(new_prefix=24))
    if not nodes:
        raise ValueError("at least one node is needed")
    if len(nodes) > min(80, len(pod_ranges)) or len(pods) > 200:
        raise ValueError("at most 80 nodes (one /24 of pod_cidrs each) and 200 pods fit")
    if len(set(worlds)) != len(worlds) or not all(re.fullmatch(r"[a-z]{1,3}", w) for w in worlds):
        raise ValueError(f"worlds must be distinct names of 1-3 letters, got {list(worlds)!r}")
    if len(worlds) * len(nodes) * 2 > links.num_addresses:
        raise ValueError(f"{cp_links} is too small for {len(worlds) * len(nodes)} node links")
    node_names = [n for n, _ in nodes]
    placed = [
        (p, node_names[i % len(nodes)]) if isinstance(p, str) else (p[0], p[1])
        for i, p in enumerate(pods)
    ]
    for pod, node in placed:
        if node not in node_names:
            raise ValueError(f"pod {pod!r} is placed on {node!r}, which is not a node")
    names = node_names + [p for p, _ in placed]
    if len(set(names)) != len(names):
        raise ValueError("node and pod names must be distinct")
    for n in names:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", n):
            raise ValueError(f"{n!r} is not a short DNS label")
    zones = dict(nodes)

    # With one world its name stays out of the namespace names.
    def ns(world: str, name: str) -> str:
        return f"{prefix}{name}" if len(worlds) == 1 else f"{prefix}{world}-{name}"

    switches, node_members, pod_members = [], [], []
    for w_index, world in enumerate(worlds):
        switches.append(Member("sw", ns(world, "sw"), "switch", world))
        for i, (name, zone) in enumerate(nodes):
            link = w_index * len(nodes) + i
            node_members.append(
                Member(
                    name,
                    ns(world, name),
                    "node",
                    world,
                    address=str(net.network_address + 10 + i),
                    cp_address=str(links.network_address + 2 * link + 1),
                    cp_peer=str(links.network_address + 2 * link),
                    zone=zone,
                    pod_cidr=str(pod_ranges[i]),
                    gateway=str(pod_ranges[i].network_address + 1),
                )
            )
        on_node: dict[str, int] = {}
        for name, node in placed:
            j = on_node.setdefault(node, 0)
            on_node[node] = j + 1
            if j >= 200:
                raise ValueError(f"too many pods on {node}")
            cidr = pod_ranges[node_names.index(node)]
            pod_members.append(
                Member(
                    name,
                    ns(world, name),
                    "pod",
                    world,
                    address=str(cidr.network_address + 10 + j),
                    zone=zones[node],
                    node=node,
                    gateway=str(cidr.network_address + 1),
                )
            )
    return Topology(
        prefix=prefix,
        controlplane=Member("cp", f"{prefix}cp", "controlplane"),
        switches=tuple(switches),
        nodes=tuple(node_members),
        pods=tuple(pod_members),
        subnet=str(net),
        service_cidr=str(ipaddress.IPv4Network(service_cidr)),
        external_cidr=str(ipaddress.IPv4Network(external_cidr)),
        pod_port=pod_port,
    )


Command = tuple[str, ...]


def _ip(netns: str, *args: str) -> Command:
    return ("ip", "-n", netns, *args)


def _veth(netns: str, name: str, peer: str, peer_netns: str) -> Command:
    """A veth pair made inside ``netns`` whose other end is born inside ``peer_netns``."""
    return _ip(
        netns, "link", "add", name, "type", "veth", "peer", "name", peer, "netns", peer_netns
    )


def plan_up(topo: Topology) -> list[Command]:
    """Every ``ip`` command that builds ``topo``, in order (namespaces first)."""
    prefixlen = ipaddress.IPv4Network(topo.subnet).prefixlen
    cmds: list[Command] = [("ip", "netns", "add", m.netns) for m in topo.members]
    cmds += [_ip(m.netns, "link", "set", "lo", "up") for m in topo.members]
    for sw in topo.switches:
        cmds.append(_ip(sw.netns, "link", "add", BRIDGE, "type", "bridge"))
        cmds.append(_ip(sw.netns, "link", "set", BRIDGE, "up"))
        for i, m in enumerate(n for n in topo.nodes if n.world == sw.world):
            port = f"v{i}"
            cmds += [
                _veth(sw.netns, port, NODE_UPLINK, m.netns),
                _ip(sw.netns, "link", "set", port, "master", BRIDGE),
                _ip(sw.netns, "link", "set", port, "up"),
                _ip(m.netns, "addr", "add", f"{m.address}/{prefixlen}", "dev", NODE_UPLINK),
                _ip(m.netns, "link", "set", NODE_UPLINK, "up"),
            ]
    for n in topo.nodes:
        pod_len = ipaddress.IPv4Network(n.pod_cidr).prefixlen
        cmds += [
            _ip(n.netns, "link", "add", POD_BRIDGE, "type", "bridge"),
            _ip(n.netns, "addr", "add", f"{n.gateway}/{pod_len}", "dev", POD_BRIDGE),
            _ip(n.netns, "link", "set", POD_BRIDGE, "up"),
        ]
        for j, pod in enumerate(p for p in topo.pods if p.world == n.world and p.node == n.name):
            port = f"p{j}"
            cmds += [
                _veth(n.netns, port, NODE_UPLINK, pod.netns),
                _ip(n.netns, "link", "set", port, "master", POD_BRIDGE),
                _ip(n.netns, "link", "set", port, "up"),
                _ip(pod.netns, "addr", "add", f"{pod.address}/{pod_len}", "dev", NODE_UPLINK),
                _ip(pod.netns, "link", "set", NODE_UPLINK, "up"),
                _ip(pod.netns, "route", "add", "default", "via", pod.gateway),
            ]
        for other in topo.nodes:
            if other.world == n.world and other.name != n.name:
                cmds.append(_ip(n.netns, "route", "add", other.pod_cidr, "via", other.address))
    cp = topo.controlplane.netns
    for i, n in enumerate(topo.nodes):
        port = f"c{i}"
        cmds += [
            _veth(cp, port, NODE_CP_LINK, n.netns),
            _ip(cp, "addr", "add", f"{n.cp_peer}/31", "dev", port),
            _ip(cp, "link", "set", port, "up"),
            _ip(n.netns, "addr", "add", f"{n.cp_address}/31", "dev", NODE_CP_LINK),
            _ip(n.netns, "link", "set", NODE_CP_LINK, "up"),
            # Before DNAT the kernel routes a ClusterIP like any address: without a route
            # a client's connect() fails with ENETUNREACH before any proxy rule is seen.
            _ip(n.netns, "route", "add", topo.service_cidr, "dev", NODE_UPLINK),
            # externalIPs and LoadBalancer ingress addresses come from here, routed alike.
            _ip(n.netns, "route", "add", topo.external_cidr, "dev", NODE_UPLINK),
        ]
    return cmds


# A node forwards (NodePort traffic for an endpoint elsewhere); nothing else does.
def plan_sysctls(topo: Topology) -> list[tuple[str, str, str]]:
    """(namespace, sysctl path under /proc/sys, value) to write after :func:`plan_up`."""
    return [(n.netns, "net/ipv4/ip_forward", "1") for n in topo.nodes]


def plan_down(topo: Topology) -> list[Command]:
    """Delete every namespace, newest first; their veths and bridges go with them."""
    return [("ip", "netns", "delete", m.netns) for m in reversed(topo.members)]


_NAME = re.compile(r"^sp-(?P<tag>[a-z][a-z0-9]{0,11})-(?P<pid>\d+)-")


def parse_netns_list(text: str) -> list[str]:
    """Names from ``ip netns list`` (lines like ``name (id: 3)``)."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def stale_namespaces(names: Iterable[str], tag: str, alive: Callable[[int], bool]) -> list[str]:
    """The namespaces of ``tag`` whose creating process no longer exists."""
    stale = []
    for name in names:
        m = _NAME.match(name)
        if m and m["tag"] == tag and not alive(int(m["pid"])):
            stale.append(name)
    return sorted(stale)
