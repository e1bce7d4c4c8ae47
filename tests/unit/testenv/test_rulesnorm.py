"""Normalising two proxies' rulesets: hashed names, volatile state and dispatch order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sliceplane.testenv.rulesnorm import (
    diff,
    iptables_chain_names,
    normalize_iptables,
    normalize_nft,
)

# An excerpt of kube-proxy's iptables-save output (nat table, one Service, two endpoints),
# plus a declared, empty chain.
SAVE_A = (Path(__file__).parent / "testdata" / "kube-proxy-iptables.save").read_text()


def _other_hashes(save: str) -> str:
    """The same ruleset as another proxy might name it (different hashes), with the two
    dispatch rules swapped and other counters."""
    out = (
        save.replace("CDGGSHYLG3RE2FKL", "ZZZZZZZZZZZZZZZZ")
        .replace("MUEWWDF45G6ID44Q", "YYYYYYYYYYYYYYYY")
        .replace("FT3TERJ7CKAJ5WID", "XXXXXXXXXXXXXXXX")
        .replace("[12:720]", "[0:0]")
    )
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if "default/web:http cluster IP" in line)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return "\n".join(lines) + "\n"


def test_iptables_chain_identities_come_from_the_rules() -> None:
    assert iptables_chain_names(SAVE_A) == {
        "KUBE-SVC-CDGGSHYLG3RE2FKL": "KUBE-SVC<default/web:http>",
        "KUBE-SEP-MUEWWDF45G6ID44Q": "KUBE-SEP<default/web:http@198.18.0.100:8080>",
        "KUBE-SEP-FT3TERJ7CKAJ5WID": "KUBE-SEP<default/web:http@198.18.0.101:8080>",
        # Declared but empty: named after the rule that jumps to it.
        "KUBE-SVC-AAAAAAAAAAAAAAAA": "KUBE-SVC<default/api:http>",
    }


def test_iptables_same_configuration_under_other_names_is_equal() -> None:
    a, b = normalize_iptables(SAVE_A), normalize_iptables(_other_hashes(SAVE_A))
    assert a == b
    rules = a["nat"]["rules"]
    # The recent-module set name is a chain name too, renamed alike.
    assert "--name 'KUBE-SEP<default/web:http@198.18.0.100:8080>'" in " ".join(
        rules["KUBE-SEP<default/web:http@198.18.0.100:8080>"]
    )
    # The rule marked as last stays last after sorting the dispatch chain.
    assert "must be the last rule" in rules["KUBE-SERVICES"][-1]
    assert a["nat"]["chains"]["PREROUTING"] == "ACCEPT"


def test_iptables_order_inside_a_service_chain_still_counts() -> None:
    lines = SAVE_A.splitlines()
    i = next(n for n, line in enumerate(lines) if "--probability" in line)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    a, b = normalize_iptables(SAVE_A), normalize_iptables("\n".join(lines))
    assert diff(a, b) == ["nat/rules/KUBE-SVC<default/web:http>: same entries in another order"]


def test_iptables_a_changed_rule_is_reported() -> None:
    changed = SAVE_A.replace("--probability 0.50000000000", "--probability 0.25000000000")
    out = diff(normalize_iptables(SAVE_A), normalize_iptables(changed), left="kp", right="sp")
    assert len(out) == 2
    assert out[0].startswith("nat/rules/KUBE-SVC<default/web:http>: only in kp: ")
    assert "0.50000000000" in out[0] and "0.25000000000" in out[1]


def test_iptables_bare_jumps_to_empty_chains_are_no_ops() -> None:
    base = (
        "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-FORWARD - [0:0]\n-A INPUT -j KUBE-FORWARD\n"
        "-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
    )
    with_firewall = base.replace(":KUBE-FORWARD", ":KUBE-FIREWALL - [0:0]\n:KUBE-FORWARD").replace(
        "-A INPUT -j KUBE-FORWARD", "-A INPUT -j KUBE-FIREWALL\n-A INPUT -j KUBE-FORWARD"
    )
    assert normalize_iptables(with_firewall) == normalize_iptables(base)
    # A jump with matches, or to a chain that has rules, stays.
    matched = with_firewall.replace("-A INPUT -j KUBE-FIREWALL", "-A INPUT -p tcp -j KUBE-FIREWALL")
    assert "KUBE-FIREWALL" in normalize_iptables(matched)["filter"]["chains"]
    assert normalize_iptables(base)["filter"]["rules"]["INPUT"] == ["-j KUBE-FORWARD"]


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("-A KUBE-SERVICES -j ACCEPT", id="rule-outside-table"),
        pytest.param("*nat\nbogus", id="unknown-line"),
    ],
)
def test_iptables_malformed_dumps_are_refused(line: str) -> None:
    with pytest.raises(ValueError):
        normalize_iptables(line)


def _nft(*items: dict[str, Any]) -> str:
    return json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}, *items]})


TABLE = {"table": {"family": "ip", "name": "kube-proxy", "handle": 3}}
SVC = "service-SUSTUHLJ-default/web/tcp/http"
EP = "endpoint-S33KW5FV-default/web/tcp/http__198.18.0.100/8080"


def _ruleset(handle: int, svc: str = SVC, ep: str = EP, learnt: list[Any] | None = None) -> str:
    return _nft(
        TABLE,
        {"table": {"family": "ip6", "name": "kube-proxy", "handle": 4}},
        {"table": {"family": "ip", "name": "filter", "handle": 5}},
        {
            "chain": {
                "family": "ip",
                "table": "kube-proxy",
                "name": "nat-output",
                "handle": handle,
                "type": "nat",
                "hook": "output",
                "prio": -100,
                "policy": "accept",
            }
        },
        {"chain": {"family": "ip", "table": "kube-proxy", "name": svc, "handle": handle + 1}},
        {"chain": {"family": "ip", "table": "kube-proxy", "name": ep, "handle": handle + 2}},
        # A stale chain, flushed, referenced by nothing: kube-proxy deletes it a sync later.
        {
            "chain": {
                "family": "ip",
                "table": "kube-proxy",
                "name": f"service-{handle}AAAAAAA-x/y/tcp/p",
                "handle": handle + 3,
            }
        },
        {
            "rule": {
                "family": "ip",
                "table": "kube-proxy",
                "chain": svc,
                "handle": handle + 9,
                "expr": [{"goto": {"target": ep}}],
            }
        },
        {
            "rule": {
                "family": "ip",
                "table": "kube-proxy",
                "chain": ep,
                "handle": handle + 10,
                "expr": [{"dnat": {"addr": "198.18.0.100", "port": 8080}}],
            }
        },
        {
            "map": {
                "family": "ip",
                "table": "kube-proxy",
                "name": "service-ips",
                "handle": handle + 4,
                "map": "verdict",
                "type": ["ipv4_addr"],
                "elem": [
                    ["198.19.0.3", {"goto": {"target": svc}}],
                    ["198.19.0.2", {"goto": {"target": svc}}],
                ],
            }
        },
        {
            "set": {
                "family": "ip",
                "table": "kube-proxy",
                "handle": handle + 5,
                "type": "ipv4_addr",
                "name": "affinity-S33KW5FV-default/web/tcp/http__198.18.0.100/8080",
                "flags": ["timeout"],
                "timeout": 10800,
                **({"elem": learnt} if learnt else {}),
            }
        },
        {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 1, "expr": []}},
    )


def test_nft_hashes_handles_and_learnt_elements_are_dropped() -> None:
    a = normalize_nft(_ruleset(10), families=("ip",))
    b = normalize_nft(
        _ruleset(
            50,
            svc="service-ABCDEFGH-default/web/tcp/http",
            ep="endpoint-IJKLMNOP-default/web/tcp/http__198.18.0.100/8080",
            learnt=[{"elem": {"val": "198.18.0.10", "expires": 10799}}],
        ),
        families=("ip",),
    )
    assert a == b
    assert sorted(a["chains"]) == [
        "ip endpoint-default/web/tcp/http__198.18.0.100/8080",
        "ip nat-output",
        "ip service-default/web/tcp/http",
    ]
    assert a["chains"]["ip nat-output"]["hook"] == "output"
    assert a["maps"]["ip service-ips"]["elem"][0].startswith('[{"goto"') is False
    assert a["sets"]["ip affinity-default/web/tcp/http__198.18.0.100/8080"]["elem"] == []


def test_nft_families_and_other_tables_are_left_out() -> None:
    n = normalize_nft(_ruleset(10), families=("ip",))
    assert all(key.startswith("ip ") for key in n["chains"])
    assert "ip INPUT" not in n["chains"]


def test_nft_a_different_endpoint_is_reported() -> None:
    other = _ruleset(10).replace('"port": 8080', '"port": 9090')
    out = diff(normalize_nft(_ruleset(10)), normalize_nft(other), left="kp", right="sp")
    assert len(out) == 2 and all(
        "endpoint-default/web/tcp/http__198.18.0.100/8080" in d for d in out
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param({"x": 1}, {"x": 1}, [], id="equal"),
        pytest.param({"x": 1}, {}, ["x: only in L"], id="only-left"),
        pytest.param({}, {"y": {"z": 1}}, ["y: only in R"], id="only-right"),
        pytest.param({"x": {"y": 1}}, {"x": {"y": 2}}, ["x/y: L has 1, R has 2"], id="value"),
        pytest.param(
            {"x": [1, 2]}, {"x": [2, 1]}, ["x: same entries in another order"], id="order"
        ),
        pytest.param({"x": [1]}, {"x": [2]}, ["x: only in L: 1", "x: only in R: 2"], id="list"),
    ],
)
def test_diff(a: Any, b: Any, expected: list[str]) -> None:
    assert diff(a, b, left="L", right="R") == expected
