"""Differential: sliceplane's proxy against upstream kube-proxy, packet by packet (issue #13).

Two worlds of the same network (:mod:`sliceplane.testenv.netns`): the same two nodes and
five pods at the same addresses, twice, and one real kube-apiserver both reach. kube-proxy
runs on the nodes of world ``k``; the proxy under test runs on the nodes of world ``s``
*as the same nodes* (same Node objects, same addresses, same zones). One catalogue of
Services and EndpointSlices exercises what a proxy decides (readiness, serving-terminating
fallback, zone hints, internal and external traffic policy Local, NodePort, LoadBalancer
with and without source ranges, externalIPs, ClientIP affinity, several ports, TCP and
UDP on one port, no endpoints); a second phase changes it in place, so
that the incremental syncs are compared too.

After each phase, once a sentinel Service created last answers everywhere (every earlier
object has then reached both proxies: informers deliver in order), for every Service port
and node: the set of pods a client in each world reaches, or how it fails, must be the
same; and the rulesets, normalised (:mod:`sliceplane.testenv.rulesnorm`), must be equal.

With ``SLICEPLANE_PROXY_DIFF_CONTROL=1`` kube-proxy also runs in both worlds: the control
experiment that shows the comparison itself reports nothing when nothing differs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from proxykit import (
    MODES,
    Objects,
    endpoint,
    endpoint_slice,
    environment_missing,
    service,
    sliceplane_proxy_missing,
    start_lab,
)

from sliceplane.testenv.netns import Member
from sliceplane.testenv.proxylab import Impl, Mode, Outcome, ProxyLab
from sliceplane.testenv.rulesnorm import diff, normalize_iptables, normalize_nft

MISSING = environment_missing()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)

NODES = (("node-a", "zone-a"), ("node-b", "zone-b"))
# pod-1, pod-2 and pod-5 on node-a, pod-3 and pod-4 on node-b.
PODS = (("pod-1", "node-a"), ("pod-2", "node-a"), ("pod-3", "node-b"), ("pod-4", "node-b"))
PODS += (("pod-5", "node-a"),)
UPSTREAM, UNDER_TEST = "k", "s"
N = 40
REPORT_DIR = Path(__file__).resolve().parents[3] / "build" / "differential"
# LoadBalancer ingress addresses (what a cloud controller would write) and an externalIP,
# from the range the nodes route to their bridge (netns.topology's external_cidr).
LB_IP = "198.18.2.10"
FIREWALLED_LB_IP = "198.18.2.11"
EXTERNAL_IP = "198.18.2.20"
MOVED_EXTERNAL_IP = "198.18.2.21"


# kube-proxy configured as sliceplane behaves where docs/upstream-differences.md says the
# two differ by design: no localhost NodePorts (so no route_localnet, no KUBE-FIREWALL).
KUBE_PROXY_FLAGS: dict[str, tuple[str, ...]] = {
    "nftables": (),
    "iptables": ("--iptables-localhost-nodeports=false",),
}


# The control (kube-proxy in both worlds) doubles the module's time; it is run on demand,
# e.g. after changing the normalisation: SLICEPLANE_PROXY_DIFF_CONTROL=1.
CONTROL = os.environ.get("SLICEPLANE_PROXY_DIFF_CONTROL", "") not in ("", "0")


def _pairs() -> list[Any]:
    missing = sliceplane_proxy_missing()
    out = []
    for mode in MODES:
        if CONTROL:
            out.append(pytest.param((mode, "kube-proxy"), id=f"{mode}-control"))
        marks = [pytest.mark.skip(reason=missing)] if missing else []
        out.append(pytest.param((mode, "sliceplane"), id=f"{mode}-sliceplane", marks=marks))
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyLab]:
    yield from start_lab(
        tmp_path_factory.mktemp("diffproxy"),
        nodes=NODES,
        pods=PODS,
        worlds=(UPSTREAM, UNDER_TEST),
    )


@dataclass
class Twins:
    lab: ProxyLab
    mode: Mode
    impl: Impl

    def nodes(self, world: str) -> list[Member]:
        return [n for n in self.lab.topology.nodes if n.world == world]


@pytest.fixture(scope="module", params=_pairs())
def twins(request: pytest.FixtureRequest, lab: ProxyLab) -> Iterator[Twins]:
    mode, impl = request.param
    try:
        for node in lab.topology.nodes:
            this = "kube-proxy" if node.world == UPSTREAM else impl
            lab.start_proxy(
                node, this, mode, extra=KUBE_PROXY_FLAGS[mode] if this == "kube-proxy" else ()
            )
        # kube-proxy may miss its zone at start (an upstream race; see announce_zones).
        lab.announce_zones()
        yield Twins(lab, mode, impl)
    finally:
        lab.stop_proxies()


# --------------------------------------------------------------------------- catalogue


def _pod(lab: ProxyLab, i: int) -> Member:
    return lab.topology.pod(f"pod-{i}")


def catalogue(lab: ProxyLab, tag: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Services and their slices, named with ``tag`` so each parameter has its own."""
    p = {i: _pod(lab, i) for i in range(1, 6)}
    two_ports = service(f"multi-{tag}")
    two_ports["spec"]["ports"].append({"name": "alt", "port": 81, "targetPort": 8080})
    multi_slice = endpoint_slice(f"multi-{tag}", [endpoint(p[1]), endpoint(p[2])])
    multi_slice["ports"].append({"name": "alt", "port": 8080, "protocol": "TCP"})
    # One port number, both protocols (as for DNS).
    dns = service(f"dns-{tag}", port=53, protocol="UDP")
    dns["spec"]["ports"].append({"name": "tcp", "port": 53, "targetPort": 8080})
    dns_slice = endpoint_slice(f"dns-{tag}", [endpoint(p[3]), endpoint(p[5])], protocol="UDP")
    dns_slice["ports"].append({"name": "tcp", "port": 8080, "protocol": "TCP"})
    lb = service(f"lb-{tag}", type="LoadBalancer")
    # Only node-a may use this load balancer: from node-b its address is firewalled.
    fw = service(f"fw-{tag}", type="LoadBalancer", loadBalancerSourceRanges=["198.18.0.10/32"])
    return [
        (
            service(f"web-{tag}"),
            [
                endpoint_slice(
                    f"web-{tag}",
                    [
                        endpoint(p[1]),
                        endpoint(p[2]),
                        endpoint(p[3], ready=False, serving=False),
                        endpoint(p[4], ready=None),
                    ],
                )
            ],
        ),
        (
            service(f"term-{tag}"),
            [
                endpoint_slice(
                    f"term-{tag}",
                    [
                        endpoint(p[1], ready=False, serving=True, terminating=True),
                        endpoint(p[2], ready=False, serving=False, terminating=True),
                    ],
                )
            ],
        ),
        (
            service(f"zones-{tag}", trafficDistribution="PreferSameZone"),
            [
                endpoint_slice(
                    f"zones-{tag}",
                    [
                        endpoint(p[1], hint_zones=["zone-a"]),
                        endpoint(p[2], hint_zones=["zone-a"]),
                        endpoint(p[3], hint_zones=["zone-b"]),
                    ],
                )
            ],
        ),
        (
            service(f"itp-{tag}", internalTrafficPolicy="Local"),
            [endpoint_slice(f"itp-{tag}", [endpoint(p[1]), endpoint(p[2])])],
        ),
        (
            service(f"np-{tag}", type="NodePort"),
            [endpoint_slice(f"np-{tag}", [endpoint(p[i]) for i in (1, 2, 3)])],
        ),
        (
            service(f"etp-{tag}", type="NodePort", externalTrafficPolicy="Local"),
            [endpoint_slice(f"etp-{tag}", [endpoint(p[3])])],
        ),
        (lb, [endpoint_slice(f"lb-{tag}", [endpoint(p[4])])]),
        (fw, [endpoint_slice(f"fw-{tag}", [endpoint(p[1]), endpoint(p[2])])]),
        (
            service(f"ext-{tag}", externalIPs=[EXTERNAL_IP]),
            [endpoint_slice(f"ext-{tag}", [endpoint(p[2]), endpoint(p[3])])],
        ),
        (
            service(f"sticky-{tag}", sessionAffinity="ClientIP"),
            [endpoint_slice(f"sticky-{tag}", [endpoint(p[i]) for i in (1, 2, 3)])],
        ),
        (service(f"empty-{tag}"), []),
        (two_ports, [multi_slice]),
        (dns, [dns_slice]),
        # Two slices of one Service, with the same endpoint in both (one copy terminating):
        # the proxy merges them and keeps the ready copy.
        (
            service(f"split-{tag}"),
            [
                endpoint_slice(f"split-{tag}", [endpoint(p[1]), endpoint(p[2])], suffix="1"),
                endpoint_slice(
                    f"split-{tag}",
                    [endpoint(p[2], ready=False, serving=True, terminating=True), endpoint(p[3])],
                    suffix="2",
                ),
            ],
        ),
    ]


def mutate(objs: Objects, lab: ProxyLab, tag: str) -> None:
    """Phase two: changes that each proxy applies as an incremental sync."""
    p = {i: _pod(lab, i) for i in range(1, 6)}
    objs.replace_endpoints(
        f"web-{tag}-1",
        [endpoint(p[1], ready=False, serving=False), endpoint(p[2]), endpoint(p[5])],
    )
    objs.replace_endpoints(f"term-{tag}-1", [endpoint(p[3])])
    objs.patch_service(f"itp-{tag}", {"spec": {"internalTrafficPolicy": "Cluster"}})
    objs.patch_service(f"np-{tag}", {"spec": {"externalTrafficPolicy": "Local"}})
    objs.patch_service(f"sticky-{tag}", {"spec": {"sessionAffinity": "None"}})
    objs.slice(endpoint_slice(f"empty-{tag}", [endpoint(p[4])]))
    objs.replace_endpoints(f"zones-{tag}-1", [endpoint(p[1]), endpoint(p[3])])
    objs.delete_service(f"multi-{tag}")
    objs.replace_endpoints(
        f"dns-{tag}-1", [endpoint(p[3], ready=False, serving=False), endpoint(p[5])]
    )
    objs.patch_service(f"fw-{tag}", {"spec": {"loadBalancerSourceRanges": ["198.18.0.11/32"]}})
    objs.patch_service(f"ext-{tag}", {"spec": {"externalIPs": [MOVED_EXTERNAL_IP]}})


# --------------------------------------------------------------------------- observing


def sentinel(twins: Twins, objs: Objects, name: str) -> None:
    """Create a Service last and wait until it answers on every node of both worlds."""
    lab = twins.lab
    svc = objs.service(service(name))
    objs.slice(endpoint_slice(name, [endpoint(_pod(lab, 5))]))
    ip = svc["spec"]["clusterIP"]
    for node in lab.topology.nodes:
        lab.converge(
            node,
            ip,
            80,
            lambda o: o.names == {"pod-5"} and not o.errors,
            timeout=60,
            what=f"sentinel {name} on {node.netns}",
        )


def summary(out: Outcome, affinity: bool) -> tuple[Any, ...]:
    """What must agree between the worlds: who answered (for ClientIP affinity: how many,
    since which endpoint a client sticks to is random), the source address the pods saw
    (masqueraded or not) and how requests failed."""
    errors = tuple(sorted(out.errors))
    clients = tuple(sorted(out.clients))
    if affinity:
        return (len(out.answers), clients, errors)
    return (tuple(sorted(out.answers)), clients, errors)


def targets(lab: ProxyLab, svc: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(label, host, port, protocol) a client tries: each ClusterIP port, externalIP and
    load-balancer address, and each node's NodePort."""
    out = []
    ingress = [i["ip"] for i in svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
    for port in svc["spec"]["ports"]:
        name, number, proto = port["name"], int(port["port"]), port.get("protocol", "TCP")
        out.append((f"{name} cluster IP", svc["spec"]["clusterIP"], number, proto))
        for ip in svc["spec"].get("externalIPs", []):
            out.append((f"{name} external IP", ip, number, proto))
        for ip in ingress:
            out.append((f"{name} load balancer", ip, number, proto))
        if "nodePort" in port:
            for n in lab.topology.nodes:
                if n.world == UPSTREAM:
                    out.append((f"{name} {n.name} nodePort", n.address, port["nodePort"], proto))
    return out


def reach_differences(twins: Twins, services: list[dict[str, Any]], phase: str) -> list[str]:
    """Per Service port, node and world: who answers. A target whose worlds disagree is
    measured again (twice at most) before it counts, so that one answer slowed past the
    short timeout by a loaded machine is not taken for a drop."""
    lab = twins.lab
    problems = []
    observed: dict[str, Any] = {}
    for svc in services:
        svc = lab.get(f"/api/v1/namespaces/default/services/{svc['metadata']['name']}")
        affinity = svc["spec"].get("sessionAffinity") == "ClientIP"
        for label, host, port, proto in targets(lab, svc):
            for name, _ in NODES:
                for _attempt in range(3):
                    seen = {}
                    for world in (UPSTREAM, UNDER_TEST):
                        client = lab.topology.node(name, world)
                        out = lab.reach(
                            client, host, port, count=N, timeout=1.0, max_errors=1, protocol=proto
                        )
                        seen[world] = summary(out, affinity)
                    observed[f"{svc['metadata']['name']} {label} from {name}"] = seen
                    if seen[UPSTREAM] == seen[UNDER_TEST]:
                        break
                else:
                    problems.append(
                        f"{svc['metadata']['name']} {label} from {name}: kube-proxy gets "
                        f"{seen[UPSTREAM]}, {twins.impl} gets {seen[UNDER_TEST]}"
                        " (answers, client addresses, errors)"
                    )
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    report = REPORT_DIR / f"proxy-{twins.mode}-{twins.impl}-{phase}-reach.json"
    report.write_text(json.dumps(observed, indent=1, sort_keys=True))
    return problems


# What kube-proxy writes and sliceplane leaves out by design, each a row of
# docs/upstream-differences.md (Proxy). Taken out of both sides before comparing, so that
# any other difference fails the test.
CANARY = "KUBE-PROXY-CANARY"  # row "canary chains"
_NFACCT = re.compile(r" -m nfacct --nfacct-name \S+")  # row "nfacct counters"
_BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


def without_upstream_only_iptables(ruleset: dict[str, Any]) -> dict[str, Any]:
    for table in list(ruleset):
        chains, rules = ruleset[table]["chains"], ruleset[table]["rules"]
        chains.pop(CANARY, None)
        rules.pop(CANARY, None)
        for chain, lines in rules.items():
            rules[chain] = [_NFACCT.sub("", line) for line in lines]
        if set(chains) <= _BUILTIN and not any(rules.values()):
            del ruleset[table]  # only the canary lived there (mangle)
    return ruleset


def rules(twins: Twins, node: Member) -> Any:
    lab = twins.lab
    if twins.mode == "nftables":
        dump = lab._in_node(node, ["nft", "-j", "list", "ruleset"])
        # IPv4 only: kube-proxy also programs an (empty) ip6 table whenever the kernel has
        # IPv6, sliceplane only the families of its Node (row "address families").
        tables = sorted(
            f"{t['table']['family']} {t['table']['name']}"
            for t in json.loads(dump)["nftables"]
            if "table" in t and t["table"]["family"] != "ip6"
        )
        kp = normalize_nft(dump, families=("ip",))
        return {"tables": tables, "kube-proxy": kp}
    return without_upstream_only_iptables(normalize_iptables(lab.dump_rules(node, "iptables")))


def rule_differences(twins: Twins, phase: str) -> list[str]:
    lab = twins.lab
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, _ in NODES:
        upstream = rules(twins, lab.topology.node(name, UPSTREAM))
        under_test = rules(twins, lab.topology.node(name, UNDER_TEST))
        stem = REPORT_DIR / f"proxy-{twins.mode}-{twins.impl}-{phase}-{name}"
        Path(f"{stem}.kube-proxy.json").write_text(json.dumps(upstream, indent=1))
        Path(f"{stem}.{twins.impl}.json").write_text(json.dumps(under_test, indent=1))
        right = f"{twins.impl} (world {UNDER_TEST})"
        problems += [
            f"{name}: {d}" for d in diff(upstream, under_test, left="kube-proxy", right=right)
        ]
    return problems


def compare(twins: Twins, services: list[dict[str, Any]], phase: str) -> None:
    reach = reach_differences(twins, services, phase)
    rules_ = rule_differences(twins, phase)
    assert not reach and not rules_, "\n".join(
        ["reachability:", *reach, "rules (normalised):", *rules_]
    )


@pytest.fixture(scope="module")
def phases(twins: Twins) -> Iterator[dict[str, Any]]:
    """The catalogue, created once per pair; removed at the end."""
    objs = Objects(twins.lab)
    tag = f"{twins.mode[:3]}{'c' if twins.impl == 'kube-proxy' else 's'}"
    try:
        yield {"objs": objs, "tag": tag, "services": []}
    finally:
        objs.cleanup()


def test_phase1_same_reach_and_rules(twins: Twins, phases: dict[str, Any]) -> None:
    objs, tag = phases["objs"], phases["tag"]
    for svc, slices in catalogue(twins.lab, tag):
        created = objs.service(svc)
        phases["services"].append(created)
        for s in slices:
            objs.slice(s)
    objs.set_load_balancer_ingress(f"lb-{tag}", LB_IP)
    objs.set_load_balancer_ingress(f"fw-{tag}", FIREWALLED_LB_IP)
    sentinel(twins, objs, f"sentinel1-{tag}")
    compare(twins, phases["services"], "phase1")


def test_phase2_same_after_incremental_changes(twins: Twins, phases: dict[str, Any]) -> None:
    objs, tag = phases["objs"], phases["tag"]
    if not phases["services"]:
        pytest.skip("phase 1 did not create the catalogue")
    mutate(objs, twins.lab, tag)
    sentinel(twins, objs, f"sentinel2-{tag}")
    remaining = [s for s in phases["services"] if s["metadata"]["name"] != f"multi-{tag}"]
    compare(twins, remaining, "phase2")
