"""Rulesets of two proxies, made comparable: chain names normalised, volatile state dropped.

The differential runs kube-proxy and sliceplane's proxy on the same objects and compares
what each left in the kernel. Two correct proxies may still name a chain differently (the
names carry a hash) or write rules to a dispatch chain in another order, and the kernel
adds state that is not configuration (handles, counters, the members an affinity set
learnt from traffic). These functions take the dumps as the tools print them and return
plain, sorted structures in which only configuration remains:

* nftables (``nft -j list ruleset``): the hash in ``service-``/``endpoint-``/... chain and
  set names (pkg/proxy/nftables/proxier.go: hashAndTruncate) is removed, since the rest
  of the name already says which Service port and endpoint it belongs to; handles and the
  metainfo go; set and map elements are sorted; a set with timeouts keeps its
  definition but not its learnt elements.
* iptables (``iptables-save``): a ``KUBE-SVC-``/``KUBE-SEP-``/... name (a hash of the
  Service port, pkg/proxy/iptables/proxier.go: portProtoHash) is replaced by what the
  chain's own rules say it is for (the Service port of their comments, plus the DNAT
  destination for an endpoint chain), counters and comment lines go, the rules of the
  dispatch chains, whose order carries no meaning, are sorted (the rule marked as the last
  one stays last), and bare jumps to empty chains (no-ops) go with those chains.

:func:`diff` then lists the differences in words. All of it is pure and table-tested.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from typing import Any

Structure = dict[str, Any]

# --------------------------------------------------------------------------- nftables

_NFT_HASHED = re.compile(r"\b(service|local|external|endpoint|affinity|firewall)-[A-Z2-7]{8}-")


def _nft_names(value: Any) -> Any:
    """Every string in ``value`` with the hashes of hashed names removed."""
    if isinstance(value, str):
        return _NFT_HASHED.sub(r"\1-", value)
    if isinstance(value, list):
        return [_nft_names(v) for v in value]
    if isinstance(value, dict):
        return {k: _nft_names(v) for k, v in value.items()}
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def normalize_nft(
    dump: str, *, families: Iterable[str] = ("ip", "ip6"), table: str = "kube-proxy"
) -> Structure:
    """``nft -j list ruleset`` output -> ``{"chains": ..., "sets": ..., "maps": ...}``.

    Keyed by ``"<family> <name>"``; a chain holds its base-chain properties and its rules
    in order (each rule as canonical JSON of its expressions and comment).
    """
    wanted = set(families)
    chains: dict[str, Any] = {}
    sets: dict[str, Any] = {}
    maps: dict[str, Any] = {}
    rules: dict[str, list[str]] = {}
    for item in json.loads(dump).get("nftables", []):
        (kind, body), *_ = item.items()
        if kind == "metainfo" or not isinstance(body, dict):
            continue
        if body.get("family") not in wanted or body.get("table", body.get("name")) != table:
            continue
        if kind == "table":
            continue
        body = _nft_names({k: v for k, v in body.items() if k != "handle"})
        family = body.pop("family")
        body.pop("table", None)
        if kind == "chain":
            chains[f"{family} {body.pop('name')}"] = body
        elif kind == "rule":
            key = f"{family} {body.pop('chain')}"
            rules.setdefault(key, []).append(_canonical(body))
        elif kind in ("set", "map"):
            name = f"{family} {body.pop('name')}"
            elements = body.pop("elem", None) or []
            if "timeout" in (body.get("flags") or []):
                elements = []  # learnt from traffic (affinity), not configured
            body["elem"] = sorted(_canonical(e) for e in elements)
            (sets if kind == "set" else maps)[name] = body
    for key, chain in chains.items():
        chain["rules"] = rules.pop(key, [])
    for key, orphans in rules.items():  # a rule of a chain the dump did not list
        chains[key] = {"rules": orphans}
    _drop_stale(chains, [*chains.values(), *maps.values()])
    return {"chains": chains, "sets": sets, "maps": maps}


def _drop_stale(chains: dict[str, Any], referrers: list[Any]) -> None:
    """Remove empty regular chains nothing refers to: kube-proxy's nftables mode flushes a
    Service's chain when the Service goes and deletes it a sync later, at least a second
    after (pkg/proxy/nftables/proxier.go: staleChains), a delay that carries no meaning."""
    text = _canonical(referrers)
    for key in [k for k, c in chains.items() if not c.get("rules") and "hook" not in c]:
        name = key.split(" ", 1)[1]
        if f'"{name}"' not in text:
            del chains[key]


# --------------------------------------------------------------------------- iptables

_IPT_HASHED = re.compile(r"\bKUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}\b")
_SERVICE_PORT = re.compile(r"(?<![\w/.-])([a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9.-]*(?::[a-z0-9-]+)?)")

# Chains that dispatch on distinct destinations: the order of their rules is not semantic.
_DISPATCH = {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL"}
_LAST_RULE = "this must be the last rule in this chain"


def _parse_iptables_save(dump: str) -> dict[str, tuple[dict[str, str], dict[str, list[list[str]]]]]:
    """``{table: ({chain: policy}, {chain: [rule tokens...]})}``."""
    tables: dict[str, tuple[dict[str, str], dict[str, list[list[str]]]]] = {}
    current: tuple[dict[str, str], dict[str, list[list[str]]]] | None = None
    for line in dump.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], ({}, {}))
        elif current is None:
            raise ValueError(f"iptables-save line outside a table: {line!r}")
        elif line.startswith(":"):
            name, policy, *_ = line[1:].split()
            current[0][name] = policy
        elif line.startswith("-A "):
            tokens = shlex.split(line)
            current[1].setdefault(tokens[1], []).append(tokens[2:])
        else:
            raise ValueError(f"unexpected iptables-save line: {line!r}")
    return tables


def _comments(rule: list[str]) -> list[str]:
    return [rule[i + 1] for i, t in enumerate(rule[:-1]) if t == "--comment"]


def _identity(kind: str, own: list[list[str]], callers: list[list[str]]) -> str | None:
    """What a hashed chain is for, from its rules (or, if it has none, its callers')."""
    for rules in (own, callers):
        for rule in rules:
            for comment in _comments(rule):
                m = _SERVICE_PORT.search(comment)
                if not m:
                    continue
                if kind == "SEP":
                    dest = next(
                        (rule[i + 1] for i, t in enumerate(rule[:-1]) if t == "--to-destination"),
                        None,
                    )
                    if dest is None and rules is own:
                        continue  # the masquerade rule: the DNAT rule names the endpoint
                    return f"KUBE-SEP<{m[1]}@{dest}>" if dest else None
                return f"KUBE-{kind}<{m[1]}>"
    return None


def iptables_chain_names(dump: str) -> dict[str, str]:
    """Hashed chain name -> readable identity, for every hashed chain in ``dump``."""
    names: dict[str, str] = {}
    for _, (declared, rules) in _parse_iptables_save(dump).items():
        chains = set(declared) | set(rules)
        for chain in sorted(chains):
            m = _IPT_HASHED.fullmatch(chain)
            if not m:
                continue
            callers = [r for rs in rules.values() for r in rs if chain in r]
            identity = _identity(m[1], rules.get(chain, []), callers)
            if identity is not None:
                names.setdefault(chain, identity)
    return names


def normalize_iptables(
    dump: str, *, tables: Iterable[str] = ("filter", "nat", "mangle")
) -> Structure:
    """``iptables-save`` output -> ``{table: {"chains": {chain: policy}, "rules": ...}}``."""
    parsed = _parse_iptables_save(dump)
    names = iptables_chain_names(dump)

    def rename(token: str) -> str:
        return _IPT_HASHED.sub(lambda m: names.get(m[0], m[0]), token)

    out: Structure = {}
    for table in tables:
        if table not in parsed:
            continue
        declared, rules = parsed[table]
        _drop_empty_jumps(declared, rules)
        renamed: dict[str, list[str]] = {}
        for chain, chain_rules in rules.items():
            lines = [shlex.join(rename(t) for t in r) for r in chain_rules]
            if chain in _DISPATCH:
                last = [line for line in lines if _LAST_RULE in line]
                lines = sorted(line for line in lines if _LAST_RULE not in line) + last
            renamed[rename(chain)] = lines
        out[table] = {
            "chains": {rename(c): p for c, p in sorted(declared.items())},
            "rules": dict(sorted(renamed.items())),
        }
    return out


def _drop_empty_jumps(declared: dict[str, str], rules: dict[str, list[list[str]]]) -> None:
    """A bare ``-j CHAIN`` to an empty user chain does nothing: drop such rules, and the
    chain when nothing else refers to it (kube-proxy keeps an empty ``KUBE-FIREWALL`` with
    its jumps when localhost NodePorts are off; another proxy may write neither)."""
    empty = {c for c, p in declared.items() if p == "-" and not rules.get(c)}
    for chain, chain_rules in rules.items():
        rules[chain] = [
            r for r in chain_rules if not (len(r) == 2 and r[0] == "-j" and r[1] in empty)
        ]
    referenced = {t for rs in rules.values() for r in rs for t in r}
    for chain in empty - referenced:
        del declared[chain]
        rules.pop(chain, None)


# --------------------------------------------------------------------------- diff


def diff(a: Any, b: Any, *, left: str = "left", right: str = "right", path: str = "") -> list[str]:
    """The differences between two normalised structures, one line each."""
    where = path or "(top)"
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}/{key}" if path else str(key)
            if key not in b:
                out.append(f"{sub}: only in {left}")
            elif key not in a:
                out.append(f"{sub}: only in {right}")
            else:
                out += diff(a[key], b[key], left=left, right=right, path=sub)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if a == b:
            return []
        only_a = [x for x in a if x not in b]
        only_b = [x for x in b if x not in a]
        if not only_a and not only_b:
            return [f"{where}: same entries in another order"]
        return [f"{where}: only in {left}: {x}" for x in only_a] + [
            f"{where}: only in {right}: {x}" for x in only_b
        ]
    if a != b:
        return [f"{where}: {left} has {a!r}, {right} has {b!r}"]
    return []
