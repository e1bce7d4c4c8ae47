"""In-memory kernels for the apply path: a fake nftables table and fake iptables tables.

Each applies a whole transaction or nothing (the kernel's promise for ``nft -f`` and
``iptables-restore``), refuses what the kernel refuses (a rule in a missing chain, a jump
or ``goto`` to a missing chain, deleting a missing element or a chain still referenced,
adding an element whose key exists with another value), and dumps its state as sorted
lines, so tests compare states, not transactions (knftables' ``Fake.Dump`` does the same).
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field


class FakeError(Exception):
    """The transaction was refused; the state is unchanged."""


@dataclass
class _Container:
    kind: str  # "set" | "map"
    spec: str
    elements: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (value, comment)


@dataclass
class _Chain:
    spec: str
    rules: list[str] = field(default_factory=list)


@dataclass
class _NftState:
    table: str | None = None
    chains: dict[str, _Chain] = field(default_factory=dict)
    containers: dict[str, _Container] = field(default_factory=dict)


_REF = re.compile(r"\b(?:goto|jump) (\S+)")
_SETREF = re.compile(r"@([A-Za-z0-9_./-]+)")
_ELEM = re.compile(r"^\{ (?P<body>.*) \}$")


def _split_element(body: str) -> tuple[str, str, str]:
    value = ""
    if " : " in body:
        body, value = body.rsplit(" : ", 1)
    comment = ""
    m = re.search(r' comment "([^"]*)"$', body)
    if m:
        comment = m.group(1)
        body = body[: m.start()]
    return body, value, comment


class FakeNft:
    """One nftables table (``ip kube-proxy`` or ``ip6 kube-proxy``)."""

    def __init__(self, family: str = "ip", table: str = "kube-proxy") -> None:
        self.prefix = f"{family} {table}"
        self.state = _NftState()
        self.transactions = 0

    # backend interface
    def run(self, text: str) -> None:
        state = copy.deepcopy(self.state)
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                self._apply(state, line)
            except FakeError as exc:
                raise FakeError(f"line {n}: {exc}: {line}") from None
        self.state = state
        self.transactions += 1

    def list_chains(self) -> list[str]:
        return sorted(self.state.chains) if self.state.table else []

    def list_sets(self) -> list[str]:
        return sorted(n for n, c in self.state.containers.items() if c.kind == "set")

    def _apply(self, st: _NftState, line: str) -> None:
        verb, rest = line.split(" ", 1)
        kind, rest = rest.split(" ", 1)
        if kind == "table":
            if rest.split(" {")[0] != self.prefix:
                raise FakeError("wrong table")
            if verb == "add":
                st.table = st.table or self.prefix
            elif verb == "delete":
                if st.table is None:
                    raise FakeError("no such table")
                st.table, st.chains, st.containers = None, {}, {}
            return
        if not rest.startswith(self.prefix + " "):
            raise FakeError("wrong table")
        if st.table is None:
            raise FakeError("no such table")
        rest = rest[len(self.prefix) + 1 :]
        name, _, tail = rest.partition(" ")
        if kind == "chain":
            self._chain(st, verb, name, tail)
        elif kind in ("set", "map"):
            self._container(st, verb, kind, name, tail)
        elif kind == "rule":
            if verb != "add":
                raise FakeError("unsupported")
            chain = st.chains.get(name)
            if chain is None:
                raise FakeError(f"no chain {name}")
            self._check_refs(st, tail)
            chain.rules.append(tail)
        elif kind == "element":
            self._element(st, verb, name, tail)
        else:
            raise FakeError(f"unknown object {kind}")

    def _check_refs(self, st: _NftState, text: str) -> None:
        for ref in _REF.findall(text):
            if ref not in st.chains:
                raise FakeError(f"no chain {ref}")
        for ref in _SETREF.findall(text):
            if ref not in st.containers:
                raise FakeError(f"no set {ref}")

    def _referenced(self, st: _NftState, pattern: re.Pattern[str], name: str) -> bool:
        for chain in st.chains.values():
            for rule in chain.rules:
                if name in pattern.findall(rule):
                    return True
        for c in st.containers.values():
            for value, _ in c.elements.values():
                if name in pattern.findall(value):
                    return True
        return False

    def _chain(self, st: _NftState, verb: str, name: str, spec: str) -> None:
        if verb == "add":
            got = st.chains.get(name)
            if got is None:
                st.chains[name] = _Chain(spec)
            elif spec and got.spec and spec != got.spec:
                raise FakeError("chain exists with other properties")
        elif verb == "flush":
            if name not in st.chains:
                raise FakeError(f"no chain {name}")
            st.chains[name].rules.clear()
        elif verb == "delete":
            if name not in st.chains:
                raise FakeError(f"no chain {name}")
            if st.chains[name].rules:
                raise FakeError("chain not empty")
            if self._referenced(st, _REF, name):
                raise FakeError(f"chain {name} in use")
            del st.chains[name]
        else:
            raise FakeError("unsupported")

    def _container(self, st: _NftState, verb: str, kind: str, name: str, spec: str) -> None:
        got = st.containers.get(name)
        if verb == "add":
            if got is None:
                st.containers[name] = _Container(kind, spec)
            elif got.kind != kind or (spec and spec != got.spec):
                raise FakeError(f"{kind} {name} exists with other properties")
        elif verb == "flush":
            if got is None or got.kind != kind:
                raise FakeError(f"no {kind} {name}")
            got.elements.clear()
        elif verb == "delete":
            if got is None or got.kind != kind:
                raise FakeError(f"no {kind} {name}")
            if self._referenced(st, _SETREF, name):
                raise FakeError(f"{kind} {name} in use")
            del st.containers[name]
        else:
            raise FakeError("unsupported")

    def _element(self, st: _NftState, verb: str, name: str, tail: str) -> None:
        c = st.containers.get(name)
        if c is None:
            raise FakeError(f"no set or map {name}")
        m = _ELEM.match(tail)
        if m is None:
            raise FakeError("bad element")
        key, value, comment = _split_element(m.group("body"))
        if verb == "add":
            if (c.kind == "map") != bool(value):
                raise FakeError("element value does not fit the container")
            self._check_refs(st, value)
            old = c.elements.get(key)
            if old is not None and old[0] != value:
                raise FakeError("element exists with another value")
            c.elements[key] = (value, comment)
        elif verb == "delete":
            if key not in c.elements:
                raise FakeError(f"no element {key}")
            del c.elements[key]
        else:
            raise FakeError("unsupported")

    def dump(self) -> str:
        """The state as sorted ``add`` lines (empty when the table does not exist)."""
        st = self.state
        if st.table is None:
            return ""
        p = self.prefix
        out = [f"add table {p}"]
        objs: list[str] = []
        rules: list[str] = []
        elems: list[str] = []
        for name, c in st.containers.items():
            objs.append(f"add {c.kind} {p} {name} {c.spec}".rstrip())
            for key, (value, comment) in c.elements.items():
                cm = f' comment "{comment}"' if comment else ""
                v = f" : {value}" if value else ""
                elems.append(f"add element {p} {name} {{ {key}{cm}{v} }}")
        for name, chain in st.chains.items():
            objs.append(f"add chain {p} {name} {chain.spec}".rstrip())
            rules.extend(f"add rule {p} {name} {r}" for r in chain.rules)
        # rules keep their order within a chain; chains are sorted by name
        rules.sort(key=lambda r: r.split(" ")[4])
        return "\n".join([*out, *sorted(objs), *rules, *sorted(elems)]) + "\n"


@dataclass
class _IptTable:
    chains: dict[str, list[str]] = field(default_factory=dict)


BUILTIN = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
}

_TARGETS = {"ACCEPT", "DROP", "REJECT", "RETURN", "MARK", "MASQUERADE", "DNAT", "SNAT"}


class FakeIptables:
    """The filter, nat and mangle tables of one family, driven by restore input."""

    def __init__(self) -> None:
        self.tables = {t: _IptTable({c: [] for c in cs}) for t, cs in BUILTIN.items()}
        self.transactions = 0

    def restore(self, text: str, *, noflush: bool = True) -> None:
        tables = copy.deepcopy(self.tables)
        table: _IptTable | None = None
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                if line.startswith("*"):
                    name = line[1:]
                    if name not in tables:
                        raise FakeError(f"no table {name}")
                    table = tables[name]
                    if not noflush:
                        for chain in list(table.chains):
                            if chain in BUILTIN[name]:
                                table.chains[chain] = []
                            else:
                                del table.chains[chain]
                elif line == "COMMIT":
                    table = None
                elif table is None:
                    raise FakeError("no table selected")
                elif line.startswith(":"):
                    chain = line[1:].split(" ")[0]
                    table.chains[chain] = []
                elif line.startswith("-A "):
                    self._append(table, line)
                elif line.startswith("-X "):
                    chain = line[3:].strip()
                    if chain not in table.chains:
                        raise FakeError(f"no chain {chain}")
                    if any(_jump_target(r) == chain for rs in table.chains.values() for r in rs):
                        raise FakeError(f"chain {chain} in use")
                    del table.chains[chain]
                else:
                    raise FakeError("unsupported line")
            except FakeError as exc:
                raise FakeError(f"line {n}: {exc}: {line}") from None
        if table is not None:
            raise FakeError("missing COMMIT")
        self.tables = tables
        self.transactions += 1

    def _append(self, table: _IptTable, line: str) -> None:
        parts = shlex.split(line)
        chain = parts[1]
        if chain not in table.chains:
            raise FakeError(f"no chain {chain}")
        target = _jump_target(line)
        if target and target not in _TARGETS and target not in table.chains:
            raise FakeError(f"no chain {target}")
        table.chains[chain].append(line[len("-A ") + len(chain) + 1 :])

    # the `iptables -C/-I/-N/-F/-X/-D` calls of the real backend
    def ensure_chain(self, table: str, chain: str) -> None:
        self.tables[table].chains.setdefault(chain, [])

    def ensure_jumps(self, jumps: Sequence[tuple[str, str, str, str]]) -> None:
        for table, chain, src, rule in jumps:
            self.ensure_chain(table, chain)
            self.ensure_rule_first(table, src, rule)

    def ensure_rule_first(self, table: str, chain: str, rule: str) -> None:
        rules = self.tables[table].chains[chain]
        if rule not in rules:
            rules.insert(0, rule)

    def delete_rule(self, table: str, chain: str, rule: str) -> None:
        rules = self.tables[table].chains.get(chain, [])
        if rule in rules:
            rules.remove(rule)

    def delete_chain(self, table: str, chain: str) -> None:
        self.tables[table].chains.pop(chain, None)

    def list_chains(self, table: str) -> list[str]:
        return sorted(self.tables[table].chains)

    def dump(self) -> str:
        """Per table: sorted chain lines, then each chain's rules in order, chains sorted."""
        out: list[str] = []
        for tname in ("filter", "nat", "mangle"):
            t = self.tables[tname]
            custom = sorted(c for c in t.chains if c not in BUILTIN[tname])
            if not custom and not any(t.chains[c] for c in BUILTIN[tname]):
                continue
            out.append(f"*{tname}")
            out.extend(f":{c} - [0:0]" for c in custom)
            for c in sorted(t.chains):
                out.extend(f"-A {c} {r}" for r in t.chains[c])
            out.append("COMMIT")
        return "\n".join(out) + "\n" if out else ""


def _jump_target(rule: str) -> str | None:
    m = re.search(r"(?:^|\s)-[jg] (\S+)", rule)
    return m.group(1) if m else None


@dataclass
class FakeIpvs:
    """Virtual servers, an ipset and the kube-ipvs0 addresses: replaced all at once."""

    services: dict[str, list[str]] = field(default_factory=dict)
    ipsets: dict[str, set[str]] = field(default_factory=dict)
    addresses: set[str] = field(default_factory=set)
    transactions: int = 0

    def apply(
        self,
        services: dict[str, list[str]],
        ipsets: dict[str, set[str]],
        addresses: set[str],
    ) -> None:
        self.services = {k: list(v) for k, v in services.items()}
        self.ipsets = {k: set(v) for k, v in ipsets.items()}
        self.addresses = set(addresses)
        self.transactions += 1

    def dump(self) -> str:
        out: list[str] = []
        for vs in sorted(self.services):
            out.append(vs)
            out.extend(sorted(self.services[vs]))
        for name in sorted(self.ipsets):
            out.extend(f"add {name} {e}" for e in sorted(self.ipsets[name]))
        out.extend(f"address {a}" for a in sorted(self.addresses))
        return "\n".join(out) + "\n" if out else ""
