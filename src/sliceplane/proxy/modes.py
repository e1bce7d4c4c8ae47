"""The kernel modes: render with the pure renderers, apply through a backend.

A backend is either the real command (:mod:`sliceplane.proxy.backends`) or a fake kernel
(:mod:`sliceplane.proxy.fakes`); the mode keeps what it last applied (fragments, element
owners, chains waiting to be deleted) and commits it only when the backend accepted the
transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sliceplane.proxy import iptables as ipt
from sliceplane.proxy import nftables as nft
from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.model import ServicePortName
from sliceplane.proxy.naming import is_ipt_service_chain
from sliceplane.proxy.proxier import NeedFullSync
from sliceplane.proxy.topology import PortPlan


class NftBackend(Protocol):
    def run(self, text: str) -> None: ...
    def list_chains(self) -> list[str]: ...
    def list_sets(self) -> list[str]: ...


class IptBackend(Protocol):
    def restore(self, text: str, *, noflush: bool = True) -> None: ...
    def ensure_chain(self, table: str, chain: str) -> None: ...
    def ensure_rule_first(self, table: str, chain: str, rule: str) -> None: ...
    def ensure_jumps(self, jumps: Sequence[tuple[str, str, str, str]]) -> None: ...
    def delete_rule(self, table: str, chain: str, rule: str) -> None: ...
    def delete_chain(self, table: str, chain: str) -> None: ...
    def list_chains(self, table: str) -> list[str]: ...


STALE_CHAIN_DELAY = 1.0
"""kube-proxy deletes a flushed service chain only a second later: before Linux 6.2 the
kernel notices a chain is unreferenced only some time after the map element went away."""


class NftablesMode:
    name = "nftables"

    def __init__(
        self,
        backend: NftBackend,
        cfg: RenderConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.cfg = cfg
        self.clock = clock
        self.fragments: dict[ServicePortName, nft.Fragment] = {}
        self.elements = nft.ElementStore()
        self.stale: dict[str, float] = {}
        self._first = True
        self.last_text = ""

    def _delete_stale(self) -> None:
        now = self.clock()
        ripe = {c for c, t in self.stale.items() if now - t >= STALE_CHAIN_DELAY}
        if not ripe:
            return
        for c in ripe:
            del self.stale[c]
        existing = set(self.backend.list_chains())
        ripe &= existing
        if ripe:
            try:
                self.backend.run(nft.delete_chains(self.cfg, ripe))
            except Exception:
                pass  # still referenced or already gone: the next full sync sorts it out

    def sync(
        self, plans: Mapping[ServicePortName, PortPlan], changed: set[ServicePortName] | None
    ) -> None:
        self._delete_stale()
        if changed is None:
            # The two listings are nft processes reading the table from the kernel; they
            # run in threads while the rules are rendered (the GIL is free while they
            # wait), as iptables mode does with its probes.
            with ThreadPoolExecutor(2, thread_name_prefix="nft-list") as pool:
                chains = pool.submit(self.backend.list_chains)
                sets = pool.submit(self.backend.list_sets)
                frags = {spn: nft.render_port(p, self.cfg) for spn, p in plans.items()}
                existing_chains, existing_sets = chains.result(), sets.result()
            tx = nft.full_transaction(
                frags,
                self.cfg,
                first=self._first,
                existing_chains=existing_chains,
                existing_sets=existing_sets,
            )
        else:
            upd: dict[ServicePortName, nft.Fragment | None] = {
                spn: (nft.render_port(plans[spn], self.cfg) if spn in plans else None)
                for spn in changed
            }
            tx = nft.partial_transaction(self.fragments, self.elements, upd, self.cfg)
        if tx.text:
            self.backend.run(tx.text)
        self.last_text = tx.text
        self._first = False
        self.fragments, self.elements = tx.fragments, tx.elements
        now = self.clock()
        wanted = tx.written_chains
        if wanted is None:
            wanted = {name for f in self.fragments.values() for name, _ in f.chains}
        for c in list(self.stale):
            if c in wanted:
                del self.stale[c]
        for c in tx.stale_chains:
            self.stale.setdefault(c, now)

    def render_full(self, plans: Mapping[ServicePortName, PortPlan]) -> str:
        frags = {spn: nft.render_port(p, self.cfg) for spn, p in plans.items()}
        return nft.full_transaction(frags, self.cfg, first=False).text

    def cleanup(self) -> None:
        self.backend.run(nft.cleanup(self.cfg))


class IptablesMode:
    name = "iptables"

    def __init__(self, backend: IptBackend, cfg: RenderConfig) -> None:
        self.backend = backend
        self.cfg = cfg
        self.fragments: dict[ServicePortName, ipt.Fragment] = {}
        self.large = False
        self.total_endpoints = 0
        self.last_text = ""

    def ensure_jumps(self) -> None:
        self.backend.ensure_jumps(
            [(j[0], j[1], j[2], " ".join(_quote(ipt.jump_args(j)))) for j in ipt.JUMPS]
        )

    def _jumps_then_chains(self) -> list[str]:
        self.ensure_jumps()
        return self.backend.list_chains("nat")

    def sync(
        self, plans: Mapping[ServicePortName, PortPlan], changed: set[ServicePortName] | None
    ) -> None:
        if changed is None:
            total = sum(len(p.cat.reachable) for p in plans.values())
        else:  # kept up to date instead of recounted: partial syncs stay O(changes)
            total = self.total_endpoints
            total -= sum(_frag_endpoints(self.fragments[s]) for s in changed if s in self.fragments)
            total += sum(len(p.cat.reachable) for p in plans.values())
        large = total > self.cfg.large_cluster_threshold
        if changed is not None and large != self.large:
            raise NeedFullSync("iptables large-cluster mode changed")
        if changed is None:
            # Only on full syncs, as kube-proxy does: each check is an iptables process
            # that reads the whole table from the kernel, which costs more than the
            # partial restore itself once thousands of Services exist. A jump deleted by
            # hand comes back with the next full sync.
            # The kernel tools run in a thread while the rules are rendered: they wait on
            # processes (the GIL is free), so the two overlap on a second core.
            with ThreadPoolExecutor(1, thread_name_prefix="iptables-probe") as pool:
                probe = pool.submit(self._jumps_then_chains)
                frags = {spn: ipt.render_port(p, self.cfg, large=large) for spn, p in plans.items()}
                existing = probe.result()
            wanted = ipt.all_chain_names(frags)
            stale = {c for c in existing if is_ipt_service_chain(c) and c not in wanted}
            text = ipt.restore_input(frags, self.cfg, write_chains_of=None, delete_chains=stale)
        else:
            frags = dict(self.fragments)
            old_chains: set[str] = set()
            for spn in changed:
                old = frags.pop(spn, None)
                if old is not None:
                    old_chains |= set(ipt.chain_names(old))
                if spn in plans:
                    frags[spn] = ipt.render_port(plans[spn], self.cfg, large=large)
            # chain names hash the Service port, so only the changed ports' own chains
            # can have gone away
            wanted = {n for spn in changed if spn in frags for n in ipt.chain_names(frags[spn])}
            text = ipt.restore_input(
                frags,
                self.cfg,
                write_chains_of=changed,
                delete_chains=old_chains - wanted,
            )
        self.backend.restore(text)
        self.last_text = text
        self.fragments = frags
        self.large = large
        self.total_endpoints = total

    def render_full(self, plans: Mapping[ServicePortName, PortPlan]) -> str:
        large = sum(len(p.cat.reachable) for p in plans.values()) > self.cfg.large_cluster_threshold
        frags = {spn: ipt.render_port(p, self.cfg, large=large) for spn, p in plans.items()}
        return ipt.restore_input(frags, self.cfg, write_chains_of=None)

    def cleanup(self) -> None:
        for jump in ipt.JUMPS:
            table, _dst, src, _comment, _extra = jump
            self.backend.delete_rule(table, src, " ".join(_quote(ipt.jump_args(jump))))
        lines: list[str] = []
        for table in ("filter", "nat"):
            ours = [
                c
                for c in self.backend.list_chains(table)
                if c in OWN_CHAINS or is_ipt_service_chain(c)
            ]
            if not ours:
                continue
            lines.append(f"*{table}")
            lines.extend(f":{c} - [0:0]" for c in ours)
            lines.extend(f"-X {c}" for c in ours)
            lines.append("COMMIT")
        if lines:
            self.backend.restore("\n".join(lines) + "\n")


OWN_CHAINS = frozenset((*ipt.FILTER_TOP, *ipt.NAT_TOP, "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER"))
"""Top-level chains kube-proxy's iptables and IPVS modes create (kubelet's KUBE-FIREWALL
and canaries are not ours to delete)."""


def _frag_endpoints(frag: ipt.Fragment) -> int:
    return frag.endpoint_chains


def _quote(args: list[str]) -> list[str]:
    return [f'"{a}"' if " " in a else a for a in args]
