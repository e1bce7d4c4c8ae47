"""IPVS mode: virtual servers, ipsets and the iptables helpers (``pkg/proxy/ipvs``).

One virtual server per ClusterIP:port, externalIP:port, LoadBalancer IP:port and
NodePort on the node's address, scheduler ``rr``, ClientIP affinity as persistence
(``-p timeout``); one masqueraded real server per endpoint the policy selects (the
external ones use the Local endpoints under ``externalTrafficPolicy: Local``). The
addresses go on the dummy ``kube-ipvs0`` interface; the ipsets (``KUBE-CLUSTER-IP``,
``KUBE-LOOP-BACK``, ``KUBE-EXTERNAL-IP``, ``KUBE-LOAD-BALANCER``, ``KUBE-NODE-PORT-TCP``/
``-UDP``) feed a few iptables rules for masquerading.

The CI kernels have no ``ip_vs`` module: this mode is rendered and golden-tested, and its
apply path runs against :class:`~sliceplane.proxy.fakes.FakeIpvs`; with a real backend it
uses ``ipvsadm-restore``/``ipset restore`` when the machine has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sliceplane.proxy.backends import BackendError, _run, require
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.fakes import FakeIpvs
from sliceplane.proxy.model import Endpoint, ServicePortName, join_host_port
from sliceplane.proxy.modes import IptBackend
from sliceplane.proxy.topology import PortPlan, merge_plans

SETS = {
    "KUBE-CLUSTER-IP": (
        "hash:ip,port",
        "Kubernetes service cluster ip + port for masquerade purpose",
    ),
    "KUBE-LOOP-BACK": (
        "hash:ip,port,ip",
        "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
    ),
    "KUBE-EXTERNAL-IP": (
        "hash:ip,port",
        "Kubernetes service external ip + port for masquerade and filter purpose",
    ),
    "KUBE-LOAD-BALANCER": ("hash:ip,port", "Kubernetes service lb portal"),
    "KUBE-NODE-PORT-TCP": ("bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
    "KUBE-NODE-PORT-UDP": ("bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
}

_PROTO_FLAG = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}


@dataclass
class IpvsState:
    services: dict[str, list[str]] = field(default_factory=dict)
    """``-A`` line of each virtual server -> its ``-a`` real-server lines."""
    ipsets: dict[str, set[str]] = field(default_factory=dict)
    addresses: set[str] = field(default_factory=set)


def _vs(proto: str, ip: str, port: int) -> str:
    return f"{_PROTO_FLAG.get(proto, '-t')} {join_host_port(ip, port)}"


def render_state(plans: Mapping[ServicePortName, PortPlan], cfg: RenderConfig) -> IpvsState:
    st = IpvsState(ipsets={name: set() for name in SETS})
    for spn in sorted(plans):
        plan = plans[spn]
        svc = plan.svc
        proto = svc.proto
        persist = f" -p {svc.session_affinity_seconds}" if svc.affinity else ""

        def add(
            ip: str,
            port: int,
            eps: tuple[Endpoint, ...],
            proto: str = proto,
            persist: str = persist,
        ) -> None:
            vs = _vs(proto, ip, port)
            st.services[f"-A {vs} -s rr{persist}"] = [
                f"-a {vs} -r {join_host_port(ep.ip, ep.port)} -m -w 1" for ep in eps
            ]

        add(svc.cluster_ip, svc.port, plan.internal_endpoints)
        st.addresses.add(svc.cluster_ip)
        st.ipsets["KUBE-CLUSTER-IP"].add(f"{svc.cluster_ip},{proto}:{svc.port}")
        for ep in plan.cat.reachable:
            if ep.is_local:
                st.ipsets["KUBE-LOOP-BACK"].add(f"{ep.ip},{proto}:{ep.port},{ep.ip}")
        external = plan.external_endpoints if plan.cat.has_any else ()
        for ip in svc.external_ips:
            add(ip, svc.port, external)
            st.addresses.add(ip)
            st.ipsets["KUBE-EXTERNAL-IP"].add(f"{ip},{proto}:{svc.port}")
        for ip in svc.load_balancer_vips:
            add(ip, svc.port, external)
            st.addresses.add(ip)
            st.ipsets["KUBE-LOAD-BALANCER"].add(f"{ip},{proto}:{svc.port}")
        if svc.node_port and cfg.node_ip:
            add(cfg.node_ip, svc.node_port, external)
            if proto in ("tcp", "udp"):
                st.ipsets[f"KUBE-NODE-PORT-{proto.upper()}"].add(str(svc.node_port))
    return st


def ipvsadm_text(st: IpvsState) -> str:
    lines: list[str] = []
    for vs in sorted(st.services):
        lines.append(vs)
        lines.extend(sorted(st.services[vs]))
    return "\n".join(lines) + "\n" if lines else ""


def ipset_text(st: IpvsState, cfg: RenderConfig) -> str:
    family = "inet6" if cfg.family == 6 else "inet"
    lines: list[str] = []
    for name, (kind, comment) in SETS.items():
        opts = "range 0-65535" if kind.startswith("bitmap") else f"family {family} hashsize 1024"
        lines.append(f'create {name} {kind} {opts} comment "{comment}" -exist')
        lines.append(f"flush {name}")
        lines.extend(f"add {name} {e}" for e in sorted(st.ipsets.get(name, ())))
    return "\n".join(lines) + "\n"


def iptables_text(st: IpvsState, cfg: RenderConfig) -> str:
    mark = cfg.mark
    lo = "::1/128" if cfg.family == 6 else "127.0.0.0/8"
    out = [
        "*filter",
        ":KUBE-FORWARD - [0:0]",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {mark}/{mark} -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "COMMIT",
        "*nat",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        ":KUBE-NODE-PORT - [0:0]",
        ":KUBE-LOAD-BALANCER - [0:0]",
        f'-A KUBE-POSTROUTING -m comment --comment "{SETS["KUBE-LOOP-BACK"][1]}" '
        "-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE",
        f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
        f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}",
        f"-A KUBE-SERVICES -s {lo} -j RETURN",
    ]
    for proto in ("TCP", "UDP"):
        name = f"KUBE-NODE-PORT-{proto}"
        if st.ipsets.get(name):
            out.append(
                f'-A KUBE-NODE-PORT -p {proto.lower()} -m comment --comment "{SETS[name][1]}" '
                f"-m set --match-set {name} dst -j KUBE-MARK-MASQ"
            )
    if st.ipsets.get("KUBE-LOAD-BALANCER"):
        out.append(
            f'-A KUBE-SERVICES -m comment --comment "{SETS["KUBE-LOAD-BALANCER"][1]}" '
            "-m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER"
        )
    if st.ipsets.get("KUBE-CLUSTER-IP"):
        head = (
            f'-A KUBE-SERVICES -m comment --comment "{SETS["KUBE-CLUSTER-IP"][1]}" '
            "-m set --match-set KUBE-CLUSTER-IP"
        )
        if cfg.masquerade_all:
            out.append(f"{head} dst,dst -j KUBE-MARK-MASQ")
        elif cfg.cluster_cidr:
            out.append(f"{head} dst,dst ! -s {cfg.cluster_cidr} -j KUBE-MARK-MASQ")
        else:
            out.append(f"{head} src,dst -j KUBE-MARK-MASQ")
    if st.ipsets.get("KUBE-EXTERNAL-IP"):
        head = (
            f'-A KUBE-SERVICES -m comment --comment "{SETS["KUBE-EXTERNAL-IP"][1]}" '
            "-m set --match-set KUBE-EXTERNAL-IP dst,dst"
        )
        out.append(f"{head} -j KUBE-MARK-MASQ")
        out.append(f"{head} -m addrtype --dst-type LOCAL -j ACCEPT")
    out.append("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT")
    out.append("-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ")
    out.append("COMMIT")
    return "\n".join(out) + "\n"


JUMPS = (
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals"),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals"),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules"),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules"),
)


def full_text(st: IpvsState, cfg: RenderConfig) -> str:
    addrs = "".join(f"# kube-ipvs0 {a}\n" for a in sorted(st.addresses))
    return (
        ipvsadm_text(st)
        + "# ipset restore\n"
        + ipset_text(st, cfg)
        + "# iptables-restore\n"
        + iptables_text(st, cfg)
        + addrs
    )


class IpvsMode:
    """IPVS through a fake (tests) or ``ipvsadm-restore`` + ``ipset`` (a kernel with ip_vs)."""

    name = "ipvs"

    def __init__(self, ipvs: FakeIpvs | None, ipt: IptBackend, cfg: RenderConfig) -> None:
        self.ipvs = ipvs
        self.ipt = ipt
        self.cfg = cfg
        self.plans: dict[ServicePortName, PortPlan] = {}
        self.last_text = ""

    def sync(
        self, plans: Mapping[ServicePortName, PortPlan], changed: set[ServicePortName] | None
    ) -> None:
        # IPVS state is declarative (upstream diffs it through netlink): recompute it whole
        # from the kept plans, apply it whole.
        merged = merge_plans(self.plans, plans, changed)
        st = render_state(merged, self.cfg)
        for table, dst, src, comment in JUMPS:
            self.ipt.ensure_chain(table, dst)
            self.ipt.ensure_rule_first(table, src, f'-m comment --comment "{comment}" -j {dst}')
        if self.ipvs is not None:
            self.ipvs.apply(st.services, st.ipsets, st.addresses)
        else:
            self._apply_real(st)
        self.ipt.restore(iptables_text(st, self.cfg))
        self.plans = merged
        self.last_text = full_text(st, self.cfg)

    def _apply_real(self, st: IpvsState) -> None:
        for tool in ("ipvsadm-restore", "ipset"):
            require(tool)
        _run(["ip", "link", "add", "kube-ipvs0", "type", "dummy"], check=False)
        _run(["ipset", "restore"], ipset_text(st, self.cfg))
        _run(["ipvsadm", "--clear"])
        _run(["ipvsadm-restore"], ipvsadm_text(st))
        for a in sorted(st.addresses):
            plen = 128 if ":" in a else 32
            _run(["ip", "addr", "replace", f"{a}/{plen}", "dev", "kube-ipvs0"], check=False)

    def render_full(self, plans: Mapping[ServicePortName, PortPlan]) -> str:
        return full_text(render_state(plans, self.cfg), self.cfg)

    def cleanup(self) -> None:
        if self.ipvs is not None:
            self.ipvs.apply({}, {}, set())
        else:
            try:
                require("ipvsadm")
            except BackendError:
                return
            _run(["ipvsadm", "--clear"], check=False)
            _run(["ip", "link", "del", "kube-ipvs0"], check=False)
            for name in SETS:
                _run(["ipset", "destroy", name], check=False)
        for table, dst, src, comment in JUMPS:
            self.ipt.delete_rule(table, src, f'-m comment --comment "{comment}" -j {dst}')
