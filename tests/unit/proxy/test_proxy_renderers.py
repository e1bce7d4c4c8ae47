"""Golden renders (upstream's own expected rulesets), incremental sync and drift repair,
through the fake kernels (all-or-nothing, sorted dumps)."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
from proxy_scenarios import (
    GOLDEN,
    NODE,
    UPSTREAM_CFG,
    endpoint_slice,
    norm_ipt,
    norm_nft,
    service,
    upstream_overall,
)

from sliceplane.proxy.config import RenderConfig
from sliceplane.proxy.fakes import FakeError, FakeIptables, FakeNft
from sliceplane.proxy.iptables import probability
from sliceplane.proxy.modes import IptablesMode, NftablesMode
from sliceplane.proxy.proxier import Proxier

Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def nft_proxier(cfg: RenderConfig = UPSTREAM_CFG) -> tuple[Proxier, FakeNft, NftablesMode]:
    fake = FakeNft("ip6" if cfg.family == 6 else "ip")
    mode = NftablesMode(fake, cfg, clock=Clock())
    return Proxier(NODE, cfg.family, mode), fake, mode


def ipt_proxier(cfg: RenderConfig = UPSTREAM_CFG) -> tuple[Proxier, FakeIptables, IptablesMode]:
    fake = FakeIptables()
    mode = IptablesMode(fake, cfg)
    return Proxier(NODE, cfg.family, mode), fake, mode


def load(p: Proxier, services: list[Obj], slices: list[Obj]) -> None:
    for s in services:
        p.on_service(s)
    for es in slices:
        p.on_slice(es)


def test_nftables_matches_upstream_overall() -> None:
    p, fake, _ = nft_proxier()
    load(p, *upstream_overall())
    p.sync()
    expected = (GOLDEN / "upstream_nft_overall.txt").read_text()
    assert norm_nft(fake.dump()) == norm_nft(expected)


def test_iptables_matches_upstream_overall() -> None:
    p, fake, mode = ipt_proxier()
    load(p, *upstream_overall())
    p.sync()
    expected = norm_ipt((GOLDEN / "upstream_iptables_overall.txt").read_text())
    assert norm_ipt(mode.last_text) == expected
    # and the fake kernel accepted it, with the jumps from the built-in chains in place
    assert "KUBE-SVC-XPGD46QRK7WJZT7O" in fake.list_chains("nat")
    assert any("-j KUBE-SERVICES" in r for r in fake.tables["nat"].chains["PREROUTING"])


def test_statistic_probabilities() -> None:
    assert [probability(n) for n in (3, 2)] == ["0.3333333333", "0.5000000000"]
    p, _, mode = ipt_proxier()
    p.on_service(service("ns", "web", "172.30.0.9"))
    p.on_slice(endpoint_slice("ns", "web", [{"addresses": [f"10.1.0.{i}"]} for i in (1, 2, 3)]))
    p.sync()
    svc_rules = [line for line in mode.last_text.splitlines() if "-> 10.1.0." in line]
    assert [("--probability" in r, r.split("--probability ")[-1][:12]) for r in svc_rules] == [
        (True, "0.3333333333"),
        (True, "0.5000000000"),
        (False, svc_rules[2].split("--probability ")[-1][:12]),
    ]


# -- golden files of our own for the scenarios upstream's overall test does not cover ---


def scenarios() -> dict[str, tuple[RenderConfig, list[Obj], list[Obj]]]:
    local_itp = service("ns", "itp", "10.96.0.20", spec={"internalTrafficPolicy": "Local"})
    mixed = [
        {"addresses": ["10.244.1.5"], "nodeName": NODE, "conditions": {"ready": True}},
        {"addresses": ["10.244.2.5"], "nodeName": "node-b", "conditions": {"ready": False}},
        {
            "addresses": ["10.244.2.6"],
            "nodeName": "node-b",
            "conditions": {"ready": False, "serving": True, "terminating": True},
        },
    ]
    terminating_only = [
        {
            "addresses": ["10.244.3.7"],
            "nodeName": "node-c",
            "conditions": {"ready": False, "serving": True, "terminating": True},
        }
    ]
    zoned = [
        {"addresses": ["10.244.1.8"], "hints": {"forZones": [{"name": "zone-a"}]}},
        {"addresses": ["10.244.2.8"], "hints": {"forZones": [{"name": "zone-b"}]}},
    ]
    v6 = RenderConfig(family=6, cluster_cidr="fd00:10:244::/56", node_ip="2001:db8::1")
    return {
        "ipv4-policies": (
            RenderConfig(cluster_cidr="10.244.0.0/16", node_ip="192.168.0.2"),
            [
                local_itp,
                service("ns", "itp-none", "10.96.0.21", spec={"internalTrafficPolicy": "Local"}),
                service("ns", "term", "10.96.0.22"),
                service("ns", "zoned", "10.96.0.23"),
                service(
                    "ns", "udp", "10.96.0.24",
                    ports=[{"name": "dns", "port": 53, "protocol": "UDP"}],
                ),
            ],
            [
                endpoint_slice("ns", "itp", mixed),
                endpoint_slice("ns", "itp-none", mixed[1:]),
                endpoint_slice("ns", "term", terminating_only),
                endpoint_slice("ns", "zoned", zoned),
            ],
        ),
        "ipv6-nodeport-affinity": (
            v6,
            [
                service(
                    "ns", "web6", "fd00:10:96::10",
                    type="NodePort",
                    ports=[{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
                    spec={
                        "sessionAffinity": "ClientIP",
                        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                    },
                ),
            ],
            [
                endpoint_slice(
                    "ns", "web6",
                    [{"addresses": ["fd00:10:244:1::5"], "nodeName": NODE},
                     {"addresses": ["fd00:10:244:2::5"]}],
                    port_name="http", family="IPv6",
                )
            ],
        ),
    }  # fmt: skip


@pytest.mark.parametrize("mode_name", ["nftables", "iptables"])
@pytest.mark.parametrize("scenario", ["ipv4-policies", "ipv6-nodeport-affinity"])
def test_golden(mode_name: str, scenario: str) -> None:
    cfg, services, slices = scenarios()[scenario]
    if mode_name == "nftables":
        p, fake, _ = nft_proxier(cfg)
    else:
        p, fake, _ = ipt_proxier(cfg)  # type: ignore[assignment]
    p.zone = "zone-a"
    load(p, services, slices)
    p.sync()
    got = fake.dump()
    path = GOLDEN / f"{mode_name}-{scenario}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()


# -- incremental sync ----------------------------------------------------------------


def _steps() -> list[tuple[str, Obj]]:
    """A trace of changes applied one by one on top of the upstream scenario."""
    services, slices = upstream_overall()
    svc1 = services[0]
    es1 = slices[0]
    grow = copy.deepcopy(es1)
    grow["endpoints"].append({"addresses": ["10.180.0.9"], "nodeName": "other-node"})
    unready = copy.deepcopy(grow)
    unready["endpoints"][0]["conditions"] = {"ready": False}
    aff = copy.deepcopy(svc1)
    aff["spec"]["sessionAffinity"] = "ClientIP"
    aff["spec"]["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 100}}
    new_svc = service("ns7", "svc7", "172.30.0.47")
    new_es = endpoint_slice("ns7", "svc7", [{"addresses": ["10.180.0.1"], "nodeName": NODE}])
    es6 = endpoint_slice("ns6", "svc6", [{"addresses": ["10.180.0.6"]}])
    return [
        ("slice", grow),
        ("slice", unready),
        ("service", aff),
        ("service", new_svc),
        ("slice", new_es),  # shares a hairpin element with ns1/svc1
        ("slice", es6),  # reject -> endpoints
        ("delete-slice", es6),  # endpoints -> reject
        ("delete-service", svc1),  # the hairpin element stays for ns7/svc7
        ("delete-slice", new_es),
        ("delete-service", new_svc),
    ]


def _apply(p: Proxier, kind: str, obj: Obj) -> None:
    {
        "slice": p.on_slice,
        "service": p.on_service,
        "delete-slice": p.on_slice_delete,
        "delete-service": p.on_service_delete,
    }[kind](obj)


@pytest.mark.parametrize("mode_name", ["nftables", "iptables"])
def test_partial_syncs_converge_to_the_full_sync_state(mode_name: str) -> None:
    make = nft_proxier if mode_name == "nftables" else ipt_proxier
    p, fake, mode = make()  # type: ignore[operator]
    services, slices = upstream_overall()
    load(p, services, slices)
    p.sync()
    done: list[tuple[str, Obj]] = []
    for kind, obj in _steps():
        _apply(p, kind, obj)
        done.append((kind, obj))
        result = p.sync()
        assert not result.full
        ref, ref_fake, _ = make()
        load(ref, services, slices)
        for k, o in done:
            _apply(ref, k, o)
        ref.sync()
        if mode_name == "nftables":
            # stale chains are deleted a second later; compare what is referenced
            mode.clock.now += 2  # type: ignore[attr-defined]
            mode._delete_stale()  # type: ignore[attr-defined]
        assert fake.dump() == ref_fake.dump(), f"after {kind} {obj['metadata']['name']}"


def test_nft_partial_touches_only_the_changed_service() -> None:
    p, _fake, mode = nft_proxier()
    load(p, *upstream_overall())
    p.sync()
    _, slices = upstream_overall()
    es4 = copy.deepcopy(slices[3])
    es4["endpoints"].append({"addresses": ["10.180.0.40"]})
    p.on_slice(es4)
    result = p.sync()
    assert not result.full and result.changed_ports == 1
    lines = mode.last_text.splitlines()
    assert lines and all("ns4/svc4" in line or "10.180.0.40" in line for line in lines), lines
    assert not any(line.startswith(("flush map", "flush set", "add table")) for line in lines)


def test_ipt_partial_writes_only_the_changed_service_chains() -> None:
    p, _fake, mode = ipt_proxier()
    load(p, *upstream_overall())
    p.sync()
    _, slices = upstream_overall()
    es4 = copy.deepcopy(slices[3])
    es4["endpoints"].append({"addresses": ["10.180.0.40"]})
    p.on_slice(es4)
    p.sync()
    declared = [
        line[1:].split(" ")[0]
        for line in mode.last_text.splitlines()
        if line.startswith(":KUBE-S") and line[1:].startswith(("KUBE-SVC", "KUBE-SEP"))
    ]
    assert declared and all(
        c.startswith("KUBE-SVC-4SW47YFZTEDKD3PK") or c.startswith("KUBE-SEP-") for c in declared
    )
    seps = [line for line in mode.last_text.splitlines() if line.startswith("-A KUBE-SEP-")]
    assert seps and all("ns4/svc4:p80" in line for line in seps)


def test_ipt_jumps_are_checked_on_full_syncs_only() -> None:
    """kube-proxy ensures its jump rules only when it does not try a partial sync: each
    check is an iptables process reading the whole table, dearer than a partial restore."""
    p, fake, _ = ipt_proxier()
    load(p, *upstream_overall())
    p.sync()
    jump = fake.tables["nat"].chains["PREROUTING"][0]
    fake.tables["nat"].chains["PREROUTING"].clear()
    _, slices = upstream_overall()
    es4 = copy.deepcopy(slices[3])
    es4["endpoints"].append({"addresses": ["10.180.0.40"]})
    p.on_slice(es4)
    assert not p.sync().full
    assert fake.tables["nat"].chains["PREROUTING"] == []
    assert p.sync(full=True).full
    assert fake.tables["nat"].chains["PREROUTING"] == [jump]


@pytest.mark.parametrize("mode_name", ["nftables", "iptables"])
def test_full_sync_repairs_drift(mode_name: str) -> None:
    make = nft_proxier if mode_name == "nftables" else ipt_proxier
    p, fake, _ = make()  # type: ignore[operator]
    load(p, *upstream_overall())
    p.sync()
    good = fake.dump()
    if isinstance(fake, FakeNft):
        fake.state.chains["service-ULMVA6XW-ns1/svc1/tcp/p80"].rules.clear()
        del fake.state.containers["service-ips"].elements["172.30.0.43 . tcp . 80"]
        fake.run("add chain ip kube-proxy service-XXXXXXXX-ns9/gone/tcp/p80\n")
    else:
        fake.tables["nat"].chains["KUBE-SVC-XPGD46QRK7WJZT7O"].clear()
        fake.tables["nat"].chains["KUBE-SEP-GONEGONEGONEGONE"] = []
        fake.tables["nat"].chains["PREROUTING"].clear()
    assert fake.dump() != good
    p.sync(full=True)
    if isinstance(fake, FakeNft):
        p.mode.clock.now += 2  # type: ignore[attr-defined]
        p.sync()  # deletes the stale chain a second later
    assert fake.dump() == good


def test_failed_transaction_changes_nothing_and_forces_full_sync() -> None:
    p, fake, _ = nft_proxier()
    load(p, *upstream_overall())
    p.sync()
    good = fake.dump()
    # someone deleted an element the next partial sync wants to delete
    del fake.state.containers["service-ips"].elements["172.30.0.41 . tcp . 80"]
    drifted = fake.dump()
    services, _ = upstream_overall()
    p.on_service_delete(services[0])
    with pytest.raises(FakeError):
        p.sync()
    assert fake.dump() == drifted  # all or nothing
    assert p.need_full
    result = p.sync()
    assert result.full
    assert "172.30.0.41" not in fake.dump() and good != fake.dump()


def test_dry_run_text_is_the_full_ruleset() -> None:
    p, fake, _ = nft_proxier()
    load(p, *upstream_overall())
    text = p.dry_run()
    assert fake.transactions == 0  # nothing applied
    other = FakeNft()
    other.run(text)
    p.sync()
    assert other.dump() == fake.dump()


# -- IPVS: rendered, golden-tested, applied to a fake (CI kernels have no ip_vs) -------


def test_ipvs_golden_and_fake_apply() -> None:
    from sliceplane.proxy.fakes import FakeIpvs
    from sliceplane.proxy.ipvs import IpvsMode

    ipvs, ipt = FakeIpvs(), FakeIptables()
    mode = IpvsMode(ipvs, ipt, UPSTREAM_CFG)
    p = Proxier(NODE, 4, mode)
    load(p, *upstream_overall())
    p.sync()
    got = mode.last_text + "# fake state\n" + ipvs.dump()
    path = GOLDEN / "ipvs-upstream-overall.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()
    # the virtual servers follow the traffic policy
    assert (
        "-a -t 172.30.0.44:80 -r 10.180.0.4:80 -m -w 1"
        in ipvs.services["-A -t 172.30.0.44:80 -s rr"]
    )
    assert ipvs.services["-A -t 172.30.0.46:80 -s rr"] == []  # no endpoints
    assert ipvs.services["-A -t 192.168.99.22:80 -s rr"] == []  # eTP Local, no local one
    assert "-A -t 172.30.0.45:80 -s rr -p 10800" in ipvs.services  # ClientIP affinity
    assert "172.30.0.41" in ipvs.addresses
    # an endpoint change reaches the fake
    _, slices = upstream_overall()
    es = copy.deepcopy(slices[0])
    es["endpoints"].append({"addresses": ["10.180.0.9"]})
    p.on_slice(es)
    p.sync()
    assert len(ipvs.services["-A -t 172.30.0.41:80 -s rr"]) == 2
    assert ipvs.transactions == 2
    mode.cleanup()
    assert ipvs.dump() == ""


def test_iptables_large_cluster_mode_flip_turns_partial_into_full() -> None:
    p, fake, mode = ipt_proxier()
    p.on_service(service("ns", "big", "172.30.1.1"))
    eps = [{"addresses": [f"10.1.{i // 250}.{i % 250 + 1}"]} for i in range(999)]
    p.on_slice(endpoint_slice("ns", "big", eps))
    p.sync()
    assert not mode.large and "-m comment --comment ns/big:p80 -s" in mode.last_text
    p.on_service(service("ns", "more", "172.30.1.2"))
    p.on_slice(
        endpoint_slice("ns", "more", [{"addresses": ["10.2.0.1"]}, {"addresses": ["10.2.0.2"]}])
    )
    result = p.sync()  # 1,001 endpoints now: every endpoint rule loses its comment
    assert result.full and mode.large and not p.need_full
    assert "-m comment --comment ns/big:p80 -s" not in fake.dump()


@pytest.mark.parametrize(
    "text", ["", "ns1/svc1:p80tcp", "ns2/svc2:p80tcp10.180.0.1:80", "é/ü:x" * 40]
)
def test_chain_hash_prefix_is_base32_of_sha256(text: str) -> None:
    """The pair-table encoder gives exactly the first characters base64.b32encode gives."""
    import base64
    import hashlib

    from sliceplane.proxy.naming import _b32

    full = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()
    assert _b32(text, 16) == full[:16]
    assert _b32(text, 8) == full[:8]
