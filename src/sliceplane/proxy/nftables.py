"""nftables rules in kube-proxy's nftables layout (``pkg/proxy/nftables/proxier.go``).

Pure functions: :func:`render_port` turns one Service port's plan into a
:class:`Fragment` (its chains, its map/set elements, its affinity sets); :func:`setup`
writes the table, base chains, dispatch maps and helper chains; :func:`transaction` turns
(previous fragments, new fragments) into one ``nft -f`` transaction:

* a **full** transaction sets everything up again, flushes every map and set and re-adds
  all elements, rewrites every service chain and flushes chains that exist in the kernel
  but are no longer wanted — so whatever was changed by hand is repaired;
* a **partial** transaction touches only the Services that changed: their chains are
  re-created (add + flush + rules), their elements added or deleted, their chains that are
  gone flushed (deleted on a later sync, as kube-proxy does for kernels before 6.2).

Elements shared between Services (the hairpin set) are reference counted by owner, so a
partial change never deletes an element another Service still needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.model import Endpoint, ServicePortName, join_host_port, spn_order
from sliceplane.proxy.naming import nft_endpoint_base, nft_port_base
from sliceplane.proxy.topology import PortPlan

TABLE = "kube-proxy"

# container name -> kind; the order is the order of their declaration in setup()
SETS = ("cluster-ips", "nodeport-ips", "hairpin-connections")
MAPS = (
    "firewall-ips",
    "no-endpoint-nodeports",
    "no-endpoint-services",
    "service-ips",
    "service-nodeports",
)

BASE_CHAINS = (
    ("filter-prerouting-pre-dnat", "filter", "prerouting", "-110"),
    ("filter-output-pre-dnat", "filter", "output", "-110"),
    ("filter-input", "filter", "input", "0"),
    ("filter-forward", "filter", "forward", "0"),
    ("filter-output", "filter", "output", "0"),
    ("nat-prerouting", "nat", "prerouting", "-100"),
    ("nat-output", "nat", "output", "-100"),
    ("nat-postrouting", "nat", "postrouting", "100"),
)

JUMP_CHAINS = (
    ("nodeport-endpoints-check", "filter-input", "ct state new "),
    ("service-endpoints-check", "filter-input", "ct state new "),
    ("service-endpoints-check", "filter-forward", "ct state new "),
    ("service-endpoints-check", "filter-output", "ct state new "),
    ("firewall-check", "filter-prerouting-pre-dnat", "ct state new "),
    ("firewall-check", "filter-output-pre-dnat", "ct state new "),
    ("services", "nat-output", ""),
    ("services", "nat-prerouting", ""),
    ("masquerading", "nat-postrouting", ""),
    ("cluster-ips-check", "filter-forward", "ct state new "),
    ("cluster-ips-check", "filter-output", "ct state new "),
)


@dataclass(frozen=True, slots=True)
class Element:
    container: str
    key: str
    value: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Fragment:
    """Everything one Service port owns in the table."""

    chains: tuple[tuple[str, tuple[str, ...]], ...] = ()
    elements: tuple[Element, ...] = ()
    affinity_sets: tuple[tuple[str, int], ...] = ()


def _fam(cfg: RenderConfig) -> tuple[str, str]:
    return ("ip6", "ipv6_addr") if cfg.family == 6 else ("ip", "ipv4_addr")


def _q(text: str) -> str:
    return '"' + text[:128] + '"'


def _masq(cfg: RenderConfig) -> str:
    return f"mark set mark or {cfg.mark}"


def render_port(plan: PortPlan, cfg: RenderConfig) -> Fragment:
    """One Service port's chains, elements and affinity sets (upstream's per-service loop)."""
    svc = plan.svc
    ipx = _fam(cfg)[0]
    proto = svc.proto
    base = nft_port_base(svc.name)
    cluster_chain = "service-" + base
    local_chain = "local-" + base
    ext_chain = "external-" + base
    fw_chain = "firewall-" + base
    comment = str(svc.name)
    port = str(svc.port)
    chains: dict[str, list[str]] = {}
    elements: list[Element] = []
    affinity: list[tuple[str, int]] = []

    for ep in plan.cat.reachable:
        if svc.affinity:
            chains.setdefault("endpoint-" + nft_endpoint_base(svc.name, ep.ip, ep.port), [])
        if ep.is_local:
            elements.append(
                Element("hairpin-connections", f"{ep.ip} . {ep.ip} . {proto} . {ep.port}")
            )
    if plan.uses_cluster_chain:
        chains.setdefault(cluster_chain, [])
    if plan.uses_local_chain:
        chains.setdefault(local_chain, [])
    internal_chain = local_chain if svc.internal_policy_local else cluster_chain
    external_policy_chain = local_chain if svc.external_policy_local else cluster_chain
    if plan.uses_external_chain:
        chains.setdefault(ext_chain, [])

    def verdict(v: str) -> str:
        return "goto reject-chain" if v == "reject" else "drop"

    elements.append(Element("cluster-ips", svc.cluster_ip))
    if plan.has_internal:
        elements.append(
            Element("service-ips", f"{svc.cluster_ip} . {proto} . {port}", f"goto {internal_chain}")
        )
    else:
        elements.append(
            Element(
                "no-endpoint-services",
                f"{svc.cluster_ip} . {proto} . {port}",
                verdict(plan.internal_verdict),
                comment,
            )
        )
    for ip in svc.external_ips:
        if plan.cat.has_any:
            elements.append(Element("service-ips", f"{ip} . {proto} . {port}", f"goto {ext_chain}"))
        if not plan.has_external:
            elements.append(
                Element(
                    "no-endpoint-services",
                    f"{ip} . {proto} . {port}",
                    verdict(plan.external_verdict),
                    comment,
                )
            )
    uses_fw = bool(svc.load_balancer_vips and svc.load_balancer_source_ranges)
    if uses_fw:
        chains.setdefault(fw_chain, [])
    for ip in svc.load_balancer_vips:
        if plan.cat.has_any:
            elements.append(Element("service-ips", f"{ip} . {proto} . {port}", f"goto {ext_chain}"))
        if uses_fw:
            elements.append(Element("firewall-ips", f"{ip} . {proto} . {port}", f"goto {fw_chain}"))
    if not plan.has_external:
        for ip in svc.load_balancer_vips:
            elements.append(
                Element(
                    "no-endpoint-services",
                    f"{ip} . {proto} . {port}",
                    verdict(plan.external_verdict),
                    comment,
                )
            )
    if svc.node_port:
        if plan.cat.has_any:
            elements.append(
                Element("service-nodeports", f"{proto} . {svc.node_port}", f"goto {ext_chain}")
            )
        if not plan.has_external:
            elements.append(
                Element(
                    "no-endpoint-nodeports",
                    f"{proto} . {svc.node_port}",
                    verdict(plan.external_verdict),
                    comment,
                )
            )

    if plan.uses_external_chain:
        rules = chains[ext_chain]
        if not svc.external_policy_local:
            rules.append(f'{_masq(cfg)} comment "masquerade"')
        else:
            if cfg.cluster_cidr:
                rules.append(
                    f"{ipx} saddr {cfg.cluster_cidr} goto {cluster_chain} "
                    'comment "short-circuit pod traffic"'
                )
            rules.append(f'fib saddr type local {_masq(cfg)} comment "masquerade local traffic"')
            rules.append(
                f'fib saddr type local goto {cluster_chain} comment "short-circuit local traffic"'
            )
        if plan.has_external:
            rules.append(f"goto {external_policy_chain}")

    if uses_fw:
        sources = list(svc.load_balancer_source_ranges)
        if cfg.node_ip and _contains_any(sources, cfg.node_ip):
            sources.extend(svc.load_balancer_vips)
        chains[fw_chain].append(f"{ipx} saddr != {{ {' , '.join(sources)} }} drop")

    if svc.affinity:
        for ep in plan.cat.reachable:
            affinity.append(
                (
                    "affinity-" + nft_endpoint_base(svc.name, ep.ip, ep.port),
                    svc.session_affinity_seconds,
                )
            )

    for chain, eps, used in (
        (cluster_chain, plan.cat.cluster, plan.uses_cluster_chain),
        (local_chain, plan.cat.local, plan.uses_local_chain),
    ):
        if not used:
            continue
        if svc.affinity:
            chains[chain].extend(_endpoint_jumps(svc.name, eps, ipx))
        else:
            chains[chain].append(_endpoint_dnat(proto, eps, ipx))
    if svc.affinity:
        for ep in plan.cat.reachable:
            ep_base = nft_endpoint_base(svc.name, ep.ip, ep.port)
            chains["endpoint-" + ep_base] = [
                f"update @affinity-{ep_base} {{ {ipx} saddr }}",
                f"meta l4proto {proto} dnat to {join_host_port(ep.ip, ep.port)}",
            ]
    return Fragment(
        chains=tuple((name, tuple(rules)) for name, rules in chains.items()),
        elements=tuple(elements),
        affinity_sets=tuple(affinity),
    )


def _contains_any(cidrs: Iterable[str], ip: str) -> bool:
    import ipaddress

    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(c, strict=False) for c in cidrs)


def _endpoint_dnat(proto: str, eps: tuple[Endpoint, ...], ipx: str) -> str:
    if len(eps) == 1:
        return f"meta l4proto {proto} dnat to {join_host_port(eps[0].ip, eps[0].port)}"
    elements = " , ".join(f"{i} : {ep.ip} . {ep.port}" for i, ep in enumerate(eps))
    return (
        f"meta l4proto {proto} dnat {ipx} addr . port to numgen random mod {len(eps)} "
        f"map {{ {elements} }}"
    )


def _endpoint_jumps(spn: ServicePortName, eps: tuple[Endpoint, ...], ipx: str) -> list[str]:
    out: list[str] = []
    vmap: list[str] = []
    for i, ep in enumerate(eps):
        base = nft_endpoint_base(spn, ep.ip, ep.port)
        out.append(f"{ipx} saddr @affinity-{base} goto endpoint-{base}")
        vmap.append(f"{i} : goto endpoint-{base}")
    out.append(f"numgen random mod {len(eps)} vmap {{ {' , '.join(vmap)} }}")
    return out


# -- transactions ----------------------------------------------------------------------


def _p(cfg: RenderConfig) -> str:
    return f"{_fam(cfg)[0]} {TABLE}"


def setup(cfg: RenderConfig, *, first: bool) -> list[str]:
    """Table, base chains, helper chains, maps and sets (upstream's ``setupNFTables``).

    Every map and set is flushed: the full transaction re-adds every element after it."""
    ipx, addr = _fam(cfg)
    p = _p(cfg)
    local, not_local = (
        ("ip6 daddr ::1", "ip6 daddr != ::1")
        if cfg.family == 6
        else ("ip daddr 127.0.0.0/8", "ip daddr != 127.0.0.0/8")
    )
    del local
    out = [f'add table {p} {{ comment "rules for kube-proxy" ; }}']
    if first:
        for name, *_ in BASE_CHAINS:
            out.append(f"add chain {p} {name}")
            out.append(f"delete chain {p} {name}")
    for name, kind, hook, prio in BASE_CHAINS:
        out.append(f"add chain {p} {name} {{ type {kind} hook {hook} priority {prio} ; }}")
        out.append(f"flush chain {p} {name}")
    created: set[str] = set()

    def ensure(chain: str, comment: str = "") -> None:
        if chain in created:
            return
        created.add(chain)
        suffix = f" {{ comment {_q(comment)} ; }}" if comment else ""
        out.append(f"add chain {p} {chain}{suffix}")
        out.append(f"flush chain {p} {chain}")

    for dst, src, extra in JUMP_CHAINS:
        ensure(dst)
        out.append(f"add rule {p} {src} {extra}jump {dst}")
    for chain in ("services", "cluster-ips-check", "masquerading"):
        ensure(chain)
    out.append(
        f"add set {p} hairpin-connections {{ type {addr} . {addr} . inet_proto . inet_service ; "
        'comment "service hairpin connections" ; }'
    )
    out.append(
        f"add rule {p} masquerading mark and {cfg.mark} != 0 mark set mark xor {cfg.mark} "
        "masquerade fully-random"
    )
    out.append(
        f"add rule {p} masquerading ct status dnat {ipx} saddr . {ipx} daddr . meta l4proto . "
        "th dport @hairpin-connections masquerade fully-random"
    )
    out.append(f'add set {p} cluster-ips {{ type {addr} ; comment "Active ClusterIPs" ; }}')
    out.append(
        f"add rule {p} cluster-ips-check {ipx} daddr @cluster-ips reject "
        'comment "Reject traffic to invalid ports of ClusterIPs"'
    )
    if cfg.service_cidrs:
        out.append(
            f"add rule {p} cluster-ips-check {ipx} daddr {{ {' , '.join(cfg.service_cidrs)} }} "
            'drop comment "Drop traffic to unallocated ClusterIPs"'
        )
    out.append(
        f'add set {p} nodeport-ips {{ type {addr} ; comment "IPs that accept NodePort traffic" ; }}'
    )
    match_all = not cfg.nodeport_ips
    if match_all:
        out.append(f"delete set {p} nodeport-ips")
    out.append(
        f"add map {p} no-endpoint-services {{ type {addr} . inet_proto . inet_service : verdict ; "
        'comment "vmap to drop or reject packets to services with no endpoints" ; }'
    )
    out.append(
        f"add map {p} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ; "
        'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }'
    )
    out.append(
        f"add chain {p} reject-chain "
        '{ comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }'
    )
    out.append(f"flush chain {p} reject-chain")
    out.append(f"add rule {p} reject-chain reject")
    out.append(
        f"add rule {p} service-endpoints-check {ipx} daddr . meta l4proto . th dport "
        "vmap @no-endpoint-services"
    )
    if match_all:
        out.append(
            f"add rule {p} nodeport-endpoints-check {not_local} meta l4proto . th dport "
            "vmap @no-endpoint-nodeports"
        )
    else:
        out.append(
            f"add rule {p} nodeport-endpoints-check {ipx} daddr @nodeport-ips "
            "meta l4proto . th dport vmap @no-endpoint-nodeports"
        )
    out.append(
        f"add map {p} firewall-ips {{ type {addr} . inet_proto . inet_service : verdict ; "
        'comment "destinations that are subject to LoadBalancerSourceRanges" ; }'
    )
    ensure("firewall-check")
    out.append(
        f"add rule {p} firewall-check {ipx} daddr . meta l4proto . th dport vmap @firewall-ips"
    )
    out.append(
        f"add map {p} service-ips {{ type {addr} . inet_proto . inet_service : verdict ; "
        'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }'
    )
    out.append(
        f"add map {p} service-nodeports {{ type inet_proto . inet_service : verdict ; "
        'comment "NodePort traffic" ; }'
    )
    if cfg.masquerade_all:
        out.append(
            f"add rule {p} services {ipx} daddr @cluster-ips {_masq(cfg)} "
            'comment "masquerade all clusterIP traffic"'
        )
    elif cfg.cluster_cidr:
        out.append(
            f"add rule {p} services {ipx} daddr @cluster-ips {ipx} saddr != {cfg.cluster_cidr} "
            f'{_masq(cfg)} comment "masquerade clusterIP traffic from outside cluster"'
        )
    out.append(f"add rule {p} services {ipx} daddr . meta l4proto . th dport vmap @service-ips")
    if match_all:
        out.append(
            f"add rule {p} services fib daddr type local {not_local} meta l4proto . th dport "
            "vmap @service-nodeports"
        )
    else:
        out.append(
            f"add rule {p} services {ipx} daddr @nodeport-ips meta l4proto . th dport "
            "vmap @service-nodeports"
        )
    containers = [c for c in (*SETS, *MAPS) if not (match_all and c == "nodeport-ips")]
    for c in containers:
        kind = "set" if c in SETS else "map"
        out.append(f"flush {kind} {p} {c}")
    for ip in cfg.nodeport_ips:
        out.append(f"add element {p} nodeport-ips {{ {ip} }}")
    return out


def _element_line(p: str, verb: str, e: Element) -> str:
    comment = f" comment {_q(e.comment)}" if e.comment and verb == "add" else ""
    value = f" : {e.value}" if e.value and verb == "add" else ""
    return f"{verb} element {p} {e.container} {{ {e.key}{comment}{value} }}"


@dataclass
class ElementStore:
    """Elements by (container, key), with the Service ports that want each one."""

    owners: dict[tuple[str, str], dict[ServicePortName, Element]] = field(default_factory=dict)

    def effective(self, ck: tuple[str, str]) -> Element | None:
        by = self.owners.get(ck)
        if not by:
            return None
        return by[min(by)]

    def replace(
        self, owner: ServicePortName, old: Iterable[Element], new: Iterable[Element]
    ) -> set[tuple[str, str]]:
        touched: set[tuple[str, str]] = set()
        for e in old:
            ck = (e.container, e.key)
            by = self.owners.get(ck)
            if by is not None and by.pop(owner, None) is not None:
                touched.add(ck)
                if not by:
                    del self.owners[ck]
        for e in new:
            ck = (e.container, e.key)
            self.owners.setdefault(ck, {})[owner] = e
            touched.add(ck)
        return touched

    def copy(self) -> ElementStore:
        return ElementStore({k: dict(v) for k, v in self.owners.items()})


def _chain_lines(p: str, name: str, rules: Iterable[str]) -> list[str]:
    out = [f"add chain {p} {name}", f"flush chain {p} {name}"]
    out.extend(f"add rule {p} {name} {r}" for r in rules)
    return out


def _set_line(p: str, cfg: RenderConfig, name: str, timeout: int) -> str:
    addr = _fam(cfg)[1]
    return f"add set {p} {name} {{ type {addr} ; flags dynamic,timeout ; timeout {timeout}s ; }}"


@dataclass
class Transaction:
    text: str
    fragments: dict[ServicePortName, Fragment]
    elements: ElementStore
    stale_chains: set[str]
    """Service chains flushed by this transaction and no longer wanted (to delete later)."""
    written_chains: set[str] | None = None
    """Service chains this transaction (re)created; None: all of them (a full sync)."""


def full_transaction(
    fragments: Mapping[ServicePortName, Fragment],
    cfg: RenderConfig,
    *,
    first: bool,
    existing_chains: Iterable[str] = (),
    existing_sets: Iterable[str] = (),
) -> Transaction:
    p = _p(cfg)
    lines = setup(cfg, first=first)
    store = ElementStore()
    wanted_chains: set[str] = set()
    wanted_sets: set[str] = set()
    order = sorted(fragments, key=spn_order)
    for spn in order:
        frag = fragments[spn]
        store.replace(spn, (), frag.elements)
        for name, rules in frag.chains:
            wanted_chains.add(name)
            lines.extend(_chain_lines(p, name, ()))
            del rules
        for name, timeout in frag.affinity_sets:
            wanted_sets.add(name)
            lines.append(_set_line(p, cfg, name, timeout))
    for ck in sorted(store.owners):
        e = store.effective(ck)
        if e is not None:
            lines.append(_element_line(p, "add", e))
    for spn in order:
        for name, rules in fragments[spn].chains:
            lines.extend(f"add rule {p} {name} {r}" for r in rules)
    stale = {c for c in existing_chains if "/" in c and c not in wanted_chains}
    for c in sorted(stale):
        lines.append(f"flush chain {p} {c}")
    for s in sorted(existing_sets):
        if s.startswith("affinity-") and s not in wanted_sets:
            lines.append(f"delete set {p} {s}")
    return Transaction("\n".join(lines) + "\n", dict(fragments), store, stale)


def partial_transaction(
    previous: Mapping[ServicePortName, Fragment],
    store: ElementStore,
    changed: Mapping[ServicePortName, Fragment | None],
    cfg: RenderConfig,
) -> Transaction:
    """Only the changed Service ports (None: the port is gone).

    ``store`` is updated in place (copying it would make every partial sync O(all
    elements)); if the kernel then refuses the transaction, the proxier's next sync is a
    full one, which builds a new store and does not read this one."""
    p = _p(cfg)
    lines: list[str] = []
    new_store = store
    fragments = dict(previous)
    touched: set[tuple[str, str]] = set()
    before: dict[tuple[str, str], Element | None] = {}
    wanted_now: set[str] = set()
    dropped_chains: set[str] = set()
    rules_out: list[str] = []
    set_lines: list[str] = []
    for spn in sorted(changed):
        old = previous.get(spn) or Fragment()
        new = changed[spn]
        new_frag = new or Fragment()
        for e in (*old.elements, *new_frag.elements):
            ck = (e.container, e.key)
            if ck not in before:
                before[ck] = new_store.effective(ck)
        touched |= new_store.replace(spn, old.elements, new_frag.elements)
        new_names = {name for name, _ in new_frag.chains}
        wanted_now |= new_names
        for name, rules in new_frag.chains:
            lines.extend(_chain_lines(p, name, ()))
            rules_out.extend(f"add rule {p} {name} {r}" for r in rules)
        dropped_chains |= {name for name, _ in old.chains if name not in new_names}
        old_sets = {name for name, _ in old.affinity_sets}
        new_sets = {name for name, _ in new_frag.affinity_sets}
        for name, timeout in new_frag.affinity_sets:
            set_lines.append(_set_line(p, cfg, name, timeout))
        for name in sorted(old_sets - new_sets):
            set_lines.append(f"delete set {p} {name}")
        if new is None:
            fragments.pop(spn, None)
        else:
            fragments[spn] = new
    dropped_chains -= wanted_now
    lines.extend(s for s in set_lines if s.startswith("add set"))
    for ck in sorted(touched):
        old_e, new_e = before.get(ck), new_store.effective(ck)
        if old_e == new_e:
            continue
        if old_e is not None:
            lines.append(_element_line(p, "delete", old_e))
        if new_e is not None:
            lines.append(_element_line(p, "add", new_e))
    lines.extend(rules_out)
    for c in sorted(dropped_chains):
        lines.append(f"flush chain {p} {c}")
    lines.extend(s for s in set_lines if s.startswith("delete set"))
    text = "\n".join(lines) + "\n" if lines else ""
    return Transaction(text, fragments, new_store, dropped_chains, wanted_now)


def delete_chains(cfg: RenderConfig, chains: Iterable[str]) -> str:
    p = _p(cfg)
    return "".join(f"delete chain {p} {c}\n" for c in sorted(chains))


def cleanup(cfg: RenderConfig) -> str:
    """Remove the whole table (add first, so deleting never fails)."""
    p = _p(cfg)
    return f"add table {p}\ndelete table {p}\n"
