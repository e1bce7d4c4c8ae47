"""iptables-restore input in kube-proxy's iptables layout (``pkg/proxy/iptables/proxier.go``).

:func:`render_port` gives one Service port's :class:`Fragment`: its rules in the shared
top-level chains (``KUBE-SERVICES``, ``KUBE-NODEPORTS``, ``KUBE-EXTERNAL-SERVICES``,
``KUBE-PROXY-FIREWALL``) and its own chains (``KUBE-SVC-``, ``KUBE-SVL-``, ``KUBE-EXT-``,
``KUBE-FW-``, ``KUBE-SEP-``). :func:`restore_input` assembles the input for one
``iptables-restore --noflush``: the top-level chains are always rewritten whole (they are
declared, hence flushed), a Service's own chains only when it changed or on a full sync
— an undeclared chain is left as it is by ``--noflush`` — and chains no longer wanted are
flushed and deleted (``-X``).

Load balancing is the statistic match: rule *i* of *n* has probability ``1/(n-i)``
written ``%0.10f``, the last has none. With more than 1000 endpoints in total ("large
cluster mode") the per-endpoint comments are left out, as upstream does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.model import Endpoint, ServicePortName, spn_order
from sliceplane.proxy.naming import ipt_endpoint_chains, ipt_service_chains
from sliceplane.proxy.topology import PortPlan

FILTER_TOP = (
    "KUBE-SERVICES",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-FORWARD",
    "KUBE-NODEPORTS",
    "KUBE-PROXY-FIREWALL",
)
NAT_TOP = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")

# (table, chain, built-in chain, comment, extra match): the jumps kube-proxy ensures with
# `iptables -C`/`-I` before every restore (upstream's iptablesJumpChains).
JUMPS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("filter", "KUBE-EXTERNAL-SERVICES", "INPUT",
     "kubernetes externally-visible service portals", ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", "KUBE-EXTERNAL-SERVICES", "FORWARD",
     "kubernetes externally-visible service portals", ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", ()),
    ("filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals",
     ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals",
     ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ()),
    ("filter", "KUBE-PROXY-FIREWALL", "INPUT", "kubernetes load balancer firewall",
     ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", "KUBE-PROXY-FIREWALL", "OUTPUT", "kubernetes load balancer firewall",
     ("-m", "conntrack", "--ctstate", "NEW")),
    ("filter", "KUBE-PROXY-FIREWALL", "FORWARD", "kubernetes load balancer firewall",
     ("-m", "conntrack", "--ctstate", "NEW")),
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ()),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ()),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ()),
)  # fmt: skip


def jump_args(jump: tuple[str, str, str, str, tuple[str, ...]]) -> list[str]:
    """The rule (after ``-A BUILTIN``) that jumps from a built-in chain to ours."""
    _table, dst, _src, comment, extra = jump
    return [*extra, "-m", "comment", "--comment", comment, "-j", dst]


def probability(n: int) -> str:
    """``1/n`` as kube-proxy writes it (``%0.10f``); the first few are kept formatted."""
    return _PROBABILITIES[n] if n < len(_PROBABILITIES) else f"{1.0 / n:0.10f}"


_PROBABILITIES = ("", *(f"{1.0 / n:0.10f}" for n in range(1, 257)))


@dataclass(frozen=True, slots=True)
class Fragment:
    filter_rules: tuple[str, ...] = ()
    """``-A KUBE-…`` lines in the filter table's top-level chains."""
    nat_top: tuple[str, ...] = ()
    """``-A KUBE-SERVICES``/``-A KUBE-NODEPORTS`` lines in the nat table."""
    nat_declarations: str = ""
    """The Service port's own nat chains, a ``:CHAIN - [0:0]`` line each, joined."""
    nat_rules: tuple[str, ...] = ()
    """Their ``-A`` lines, one joined string per chain, in the order declared.

    A string per chain rather than a tuple of lines: every Service's fragment is kept for
    partial syncs, and the per-line objects were ~250 bytes more per endpoint (25 MB at
    10,000 Services x 10 endpoints). Per chain rather than one per Service port, because
    :func:`restore_input` orders the chains' rules by chain name."""
    endpoint_chains: int = 0
    """How many of the chains are ``KUBE-SEP-`` (the large-cluster count)."""


def _q(text: str) -> str:
    return f'"{text}"'


def render_port(plan: PortPlan, cfg: RenderConfig, *, large: bool = False) -> Fragment:
    svc = plan.svc
    spn = svc.name
    name = str(spn)
    proto = svc.proto
    names = ipt_service_chains(spn)
    cluster_chain, local_chain = names["svc"], names["svl"]
    ext_chain, fw_chain = names["ext"], names["fw"]
    internal_chain = local_chain if svc.internal_policy_local else cluster_chain
    external_policy_chain = local_chain if svc.external_policy_local else cluster_chain
    has_any = plan.cat.has_any
    uses_fw = has_any and bool(svc.load_balancer_vips and svc.load_balancer_source_ranges)
    lb_chain = fw_chain if uses_fw else ext_chain
    port = str(svc.port)
    match = f"-m {proto} -p {proto}"

    def target(v: str) -> str:
        return "REJECT" if v == "reject" else "DROP"

    def filter_comment(v: str) -> str:
        return _q(f"{name} has no endpoints" if v == "reject" else f"{name} has no local endpoints")

    filt: list[str] = []
    top: list[str] = []
    if plan.has_internal:
        top.append(
            f"-A KUBE-SERVICES -m comment --comment {_q(name + ' cluster IP')} {match} "
            f"-d {svc.cluster_ip} --dport {port} -j {internal_chain}"
        )
    else:
        filt.append(
            f"-A KUBE-SERVICES -m comment --comment {filter_comment(plan.internal_verdict)} "
            f"{match} -d {svc.cluster_ip} --dport {port} -j {target(plan.internal_verdict)}"
        )
    for ip in svc.external_ips:
        if has_any:
            top.append(
                f"-A KUBE-SERVICES -m comment --comment {_q(name + ' external IP')} {match} "
                f"-d {ip} --dport {port} -j {ext_chain}"
            )
        if not plan.has_external:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment "
                f"{filter_comment(plan.external_verdict)} {match} -d {ip} --dport {port} "
                f"-j {target(plan.external_verdict)}"
            )
    for ip in svc.load_balancer_vips:
        if has_any:
            top.append(
                f"-A KUBE-SERVICES -m comment --comment {_q(name + ' loadbalancer IP')} {match} "
                f"-d {ip} --dport {port} -j {lb_chain}"
            )
        if uses_fw:
            filt.append(
                f"-A KUBE-PROXY-FIREWALL -m comment --comment "
                f"{_q(f'{name} traffic not accepted by {fw_chain}')} {match} -d {ip} "
                f"--dport {port} -j DROP"
            )
    if not plan.has_external:
        for ip in svc.load_balancer_vips:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment "
                f"{filter_comment(plan.external_verdict)} {match} -d {ip} --dport {port} "
                f"-j {target(plan.external_verdict)}"
            )
    if svc.node_port:
        if has_any:
            top.append(
                f"-A KUBE-NODEPORTS -m comment --comment {name} {match} "
                f"--dport {svc.node_port} -j {ext_chain}"
            )
        if not plan.has_external:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m comment --comment "
                f"{filter_comment(plan.external_verdict)} -m addrtype --dst-type LOCAL {match} "
                f"--dport {svc.node_port} -j {target(plan.external_verdict)}"
            )
    if svc.health_check_node_port:
        filt.append(
            f"-A KUBE-NODEPORTS -m comment --comment {_q(name + ' health check node port')} "
            f"-m tcp -p tcp --dport {svc.health_check_node_port} -j ACCEPT"
        )

    chains: dict[str, list[str]] = {}
    internal_rules: list[str] = []
    if plan.has_internal:
        args = (
            f"-m comment --comment {_q(name + ' cluster IP')} {match} "
            f"-d {svc.cluster_ip} --dport {port}"
        )
        if cfg.masquerade_all:
            internal_rules.append(f"-A {internal_chain} {args} -j KUBE-MARK-MASQ")
        elif cfg.cluster_cidr:
            internal_rules.append(
                f"-A {internal_chain} {args} ! -s {cfg.cluster_cidr} -j KUBE-MARK-MASQ"
            )
    if plan.uses_external_chain:
        rules = chains.setdefault(ext_chain, [])
        if not svc.external_policy_local:
            rules.append(
                f"-A {ext_chain} -m comment --comment "
                f"{_q(f'masquerade traffic for {name} external destinations')} -j KUBE-MARK-MASQ"
            )
        else:
            if cfg.cluster_cidr:
                rules.append(
                    f"-A {ext_chain} -m comment --comment "
                    f"{_q(f'pod traffic for {name} external destinations')} "
                    f"-s {cfg.cluster_cidr} -j {cluster_chain}"
                )
            rules.append(
                f"-A {ext_chain} -m comment --comment "
                f"{_q(f'masquerade LOCAL traffic for {name} external destinations')} "
                "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"
            )
            rules.append(
                f"-A {ext_chain} -m comment --comment "
                f"{_q(f'route LOCAL traffic for {name} external destinations')} "
                f"-m addrtype --src-type LOCAL -j {cluster_chain}"
            )
        if plan.has_external:
            rules.append(f"-A {ext_chain} -j {external_policy_chain}")
    if uses_fw:
        rules = chains.setdefault(fw_chain, [])
        head = f"-A {fw_chain} -m comment --comment {_q(name + ' loadbalancer IP')}"
        allow_node = False
        for cidr in svc.load_balancer_source_ranges:
            rules.append(f"{head} -s {cidr} -j {ext_chain}")
            if cfg.node_ip and ipaddress.ip_address(cfg.node_ip) in ipaddress.ip_network(cidr):
                allow_node = True
        if allow_node:
            for ip in svc.load_balancer_vips:
                rules.append(f"{head} -s {ip} -j {ext_chain}")
        rules.append(
            f"-A {fw_chain} -m comment --comment "
            f"{_q(f'other traffic to {name} will be dropped by KUBE-PROXY-FIREWALL')}"
        )
    # Each endpoint's KUBE-SEP- name is hashed once here; the cluster and local jump
    # lists and the endpoint chains all read it (every endpoint of either list is in
    # ``reachable``, their union).
    keys = [ep.key for ep in plan.cat.reachable]
    sep_of = dict(zip(keys, ipt_endpoint_chains(spn, keys), strict=True))
    for chain, eps, used in (
        (cluster_chain, plan.cat.cluster, plan.uses_cluster_chain),
        (local_chain, plan.cat.local, plan.uses_local_chain),
    ):
        if not used:
            continue
        rules = chains.setdefault(chain, [])
        if chain == internal_chain:
            rules.extend(internal_rules)
        rules.extend(_endpoint_jumps(plan, name, chain, eps, sep_of, large))
    comment = "" if large else f" -m comment --comment {name}"
    dnat = f" {match} -j DNAT --to-destination "
    declared = list(chains)
    blocks = ["\n".join(rules) for rules in chains.values()]
    for ep in plan.cat.reachable:
        key = ep.key
        sep = sep_of[key]
        declared.append(sep)
        head = f"-A {sep}{comment}"
        if svc.affinity:
            last = f"{head} -m recent --name {sep} --set{dnat}{key}"
        else:
            last = f"{head}{dnat}{key}"
        blocks.append(f"{head} -s {ep.ip} -j KUBE-MARK-MASQ\n{last}")
    return Fragment(
        filter_rules=tuple(filt),
        nat_top=tuple(top),
        nat_declarations="\n".join([f":{n} - [0:0]" for n in declared]),
        nat_rules=tuple(blocks),
        endpoint_chains=len(sep_of),
    )


def _endpoint_jumps(
    plan: PortPlan,
    name: str,
    chain: str,
    eps: tuple[Endpoint, ...],
    sep_of: Mapping[str, str],
    large: bool,
) -> list[str]:
    svc = plan.svc
    out: list[str] = []

    def comment(ep: Endpoint) -> str:
        return "" if large else f" -m comment --comment {_q(f'{name} -> {ep.key}')}"

    if svc.affinity:
        for ep in eps:
            sep = sep_of[ep.key]
            out.append(
                f"-A {chain}{comment(ep)} -m recent --name {sep} --rcheck --seconds "
                f"{svc.session_affinity_seconds} --reap -j {sep}"
            )
    n = len(eps)
    last = n - 1
    head = f"-A {chain}"
    for i, ep in enumerate(eps):
        sep = sep_of[ep.key]
        c = "" if large else comment(ep)
        if i < last:
            out.append(
                f"{head}{c} -m statistic --mode random --probability {probability(n - i)} -j {sep}"
            )
        else:
            out.append(f"{head}{c} -j {sep}")
    return out


def chain_names(frag: Fragment) -> list[str]:
    """The Service port's own nat chains, read back from its declarations."""
    decl = frag.nat_declarations
    return [line[1:-8] for line in decl.split("\n")] if decl else []


def restore_input(
    fragments: Mapping[ServicePortName, Fragment],
    cfg: RenderConfig,
    *,
    write_chains_of: Iterable[ServicePortName] | None,
    delete_chains: Iterable[str] = (),
) -> str:
    """The ``iptables-restore --noflush`` input.

    ``write_chains_of`` None means a full sync (every Service's chains); otherwise only
    those Services' own chains are written. ``delete_chains`` are flushed and removed."""
    mark = cfg.mark
    out: list[str] = ["*filter"]
    out.extend(f":{c} - [0:0]" for c in FILTER_TOP)
    # Fragments in Service order, and for each whether its own chains are written. The
    # Service port names are hashed once each here (their dataclass hash is Python code,
    # and a set or dict lookup per Service and pass was 60 % of this at 10,000 Services).
    keyed = sorted([(spn_order(spn), spn) for spn in fragments])
    frags = [fragments[spn] for _, spn in keyed]
    if write_chains_of is None:
        written = frags
    else:
        wanted = set(write_chains_of)
        written = [f for (_, spn), f in zip(keyed, frags, strict=True) if spn in wanted]
    for frag in frags:
        out.extend(frag.filter_rules)
    out.append("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP")
    out.append(
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {mark}/{mark} -j ACCEPT"
    )
    out.append(
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )
    out.append("COMMIT")
    out.append("*nat")
    out.extend(f":{c} - [0:0]" for c in NAT_TOP)
    deleted = sorted(set(delete_chains))
    # The Service ports' own chains: declared in name order, their rules in reverse name
    # order, after all the top-level chains' rules. Neither order is visible in the
    # kernel (libiptc keeps chains sorted by name whatever the input order, and each
    # chain's rules keep their order), and kube-proxy's own order is that of a Go map;
    # but libiptc looks every declared chain and every jump target up in a sorted list
    # with an index that goes stale as chains are added, and in these orders its walks
    # stay short and in cache: `iptables-legacy-restore` of a 10,000-Service first sync
    # took 5.7-5.8 s instead of 9.4-10.0 s (docs/benchmarks.md §5).
    declared: list[str] = []
    blocks: list[str] = []
    for f in written:
        if f.nat_declarations:
            declared.extend(f.nat_declarations.split("\n"))
            blocks.extend(f.nat_rules)
    # one sort of positions by their ":NAME - [0:0]" line (a space sorts before any
    # character of a name, so this is name order) serves both orders
    order = sorted(range(len(declared)), key=declared.__getitem__)
    rules = [blocks[i] for i in reversed(order)]
    out.extend([declared[i] for i in order])
    if deleted:  # distinct from the declared ones: chains no Service port has any more
        out.extend(sorted(f":{c} - [0:0]" for c in deleted))
    out.append(f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN")
    out.append(f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}")
    out.append(
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully"
    )
    out.append(f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}")
    for frag in frags:
        out.extend(frag.nat_top)
    local = "! -d ::1/128" if cfg.family == 6 else "! -d 127.0.0.0/8"
    out.append(
        "-A KUBE-SERVICES -m comment --comment "
        '"kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
        f"-m addrtype --dst-type LOCAL {local} -j KUBE-NODEPORTS"
    )
    out.extend([block for block in rules if block])
    out.extend(f"-X {c}" for c in deleted)
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def all_chain_names(fragments: Mapping[ServicePortName, Fragment]) -> set[str]:
    return {name for frag in fragments.values() for name in chain_names(frag)}
