"""Upstream kube-proxy, unchanged, against sliceplane's API server (issue 10).

The same lab network (two nodes, five pods, the same addresses) is built twice, one after
the other: once with the real kube-apiserver in its control-plane namespace, once with
``sliceplane apiserver`` (:class:`~sliceplane.testenv.proxylab.ProxyLab` with
``apiserver="sliceplane"``). On both, the real kube-proxy runs on the nodes, in nftables
and then in iptables mode, and the proxy differential's catalogue of Services and
EndpointSlices (``test_diff_proxy``: readiness, terminating fallback, zone hints, traffic
policies, NodePort, LoadBalancer with source ranges, externalIPs, affinity, several ports,
TCP and UDP) is created, then changed in place. ClusterIPs and NodePorts are given
explicitly, so the two servers hold the same objects; any difference in what kube-proxy
programs is then what the API server served it.

Compared per mode and phase: the rulesets kube-proxy leaves in each node, normalised
(:mod:`sliceplane.testenv.rulesnorm`: hashes in chain names, handles, counters, learnt
affinity entries), and who answers each Service port from each node.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from proxykit import MODES, Objects, endpoint, endpoint_slice, environment_missing, service
from proxykit import start_lab as _start_lab
from test_diff_proxy import (
    FIREWALLED_LB_IP,
    LB_IP,
    NODES,
    PODS,
    catalogue,
    mutate,
    summary,
)

from sliceplane.testenv.proxylab import APIServerKind, Mode, ProxyLab
from sliceplane.testenv.rulesnorm import diff, normalize_iptables, normalize_nft

MISSING = environment_missing()
pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(1200)]

TAG = "pups"  # namespaces sp-pups-<pid>-..., apart from the other packet tests'
SERVERS: tuple[APIServerKind, APIServerKind] = ("kube-apiserver", "sliceplane")
REPORT_DIR = Path(__file__).resolve().parents[3] / "build" / "differential"
CLUSTER_IP_BASE = "198.19.10."  # inside the lab's 198.19.0.0/16 Service range
NODE_PORT_BASE = 30100
REQUESTS = 40  # as the proxy differential: every endpoint of three answers, all but surely

Observation = dict[str, Any]  # {"rules": {node: structure}, "reach": {target: summary}}


def pin_addresses(objs: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    """Give every Service its ClusterIP and NodePorts, so both servers hold the same ones
    (each would otherwise allocate at random)."""
    node_port = NODE_PORT_BASE
    for index, (svc, _) in enumerate(objs):
        svc["spec"]["clusterIP"] = f"{CLUSTER_IP_BASE}{index + 10}"
        if svc["spec"].get("type") in ("NodePort", "LoadBalancer"):
            for port in svc["spec"]["ports"]:
                port["nodePort"] = node_port
                node_port += 1


def rules(lab: ProxyLab, mode: Mode, node_name: str) -> Any:
    """The node's ruleset, normalised; nothing is set aside: sliceplane's server serves
    the default ServiceCIDR, from which kube-proxy's nftables mode writes its drop rule for
    unallocated ClusterIPs (without it, that rule was the one difference)."""
    node = lab.topology.node(node_name)
    if mode == "iptables":
        return normalize_iptables(lab.dump_rules(node, "iptables"))
    return normalize_nft(lab.in_node(node, ["nft", "-j", "list", "ruleset"]))


def targets(svc: dict[str, Any], lab: ProxyLab) -> list[tuple[str, str, int, str]]:
    out = []
    ingress = [i["ip"] for i in svc.get("status", {}).get("loadBalancer", {}).get("ingress", [])]
    for port in svc["spec"]["ports"]:
        name, number, proto = port["name"], int(port["port"]), port.get("protocol", "TCP")
        out.append((f"{name} cluster IP", svc["spec"]["clusterIP"], number, proto))
        out += [
            (f"{name} external IP", ip, number, proto) for ip in svc["spec"].get("externalIPs", [])
        ]
        out += [(f"{name} load balancer", ip, number, proto) for ip in ingress]
        if "nodePort" in port:
            for n in lab.topology.nodes:
                out.append((f"{name} {n.name} nodePort", n.address, port["nodePort"], proto))
    return out


def observe(lab: ProxyLab, mode: Mode, names: list[str]) -> Observation:
    reach: dict[str, Any] = {}
    for name in names:
        svc = lab.get(f"/api/v1/namespaces/default/services/{name}")
        affinity = svc["spec"].get("sessionAffinity") == "ClientIP"
        for label, host, port, proto in targets(svc, lab):
            for node_name, _ in NODES:
                out = lab.reach(
                    lab.topology.node(node_name),
                    host,
                    port,
                    count=REQUESTS,
                    timeout=1.0,
                    max_errors=1,
                    protocol=proto,
                )
                reach[f"{name} {label} from {node_name}"] = summary(out, affinity)
    return {"rules": {n: rules(lab, mode, n) for n, _ in NODES}, "reach": reach}


def sentinel(lab: ProxyLab, objs: Objects, name: str, cluster_ip: str) -> None:
    svc = service(name)
    svc["spec"]["clusterIP"] = cluster_ip
    objs.service(svc)
    objs.slice(endpoint_slice(name, [endpoint(lab.topology.pod("pod-5"))]))
    for node in lab.topology.nodes:
        lab.converge(
            node,
            cluster_ip,
            80,
            lambda o: o.names == {"pod-5"} and not o.errors,
            timeout=90,
            what=f"sentinel {name} on {node.netns}",
        )


def run_lab(workdir: Path, apiserver: APIServerKind) -> dict[str, Observation]:
    """Every mode and phase on one lab; the observations keyed ``<mode>-<phase>``."""
    out: dict[str, Observation] = {}
    for lab in _start_lab(workdir, apiserver=apiserver, tag=TAG, nodes=NODES, pods=PODS):
        for mode in MODES:
            tag = mode[:3]
            objs = Objects(lab)
            try:
                for node in lab.topology.nodes:
                    lab.start_proxy(node, "kube-proxy", mode)
                lab.announce_zones()
                cat = catalogue(lab, tag)
                pin_addresses(cat)
                for svc, slices in cat:
                    objs.service(svc)
                    for s in slices:
                        objs.slice(s)
                objs.set_load_balancer_ingress(f"lb-{tag}", LB_IP)
                objs.set_load_balancer_ingress(f"fw-{tag}", FIREWALLED_LB_IP)
                sentinel(lab, objs, f"sentinel1-{tag}", f"{CLUSTER_IP_BASE}200")
                names = [svc["metadata"]["name"] for svc, _ in cat]
                out[f"{mode}-phase1"] = observe(lab, mode, names)
                mutate(objs, lab, tag)
                sentinel(lab, objs, f"sentinel2-{tag}", f"{CLUSTER_IP_BASE}201")
                names.remove(f"multi-{tag}")
                out[f"{mode}-phase2"] = observe(lab, mode, names)
                lab.check_proxies()
            finally:
                objs.cleanup()
                lab.stop_proxies()
    return out


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Observation]]:
    seen = {
        server: run_lab(tmp_path_factory.mktemp(f"upstreamproxy-{server}"), server)
        for server in SERVERS
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "upstream-proxy.json").write_text(json.dumps(seen, indent=1, default=str))
    return seen


CASES = [f"{mode}-{phase}" for mode in MODES for phase in ("phase1", "phase2")]


@pytest.mark.parametrize("case", CASES)
def test_kube_proxy_same_rules_and_reach(
    case: str, observations: dict[str, dict[str, Observation]]
) -> None:
    upstream, under_test = (observations[s][case] for s in SERVERS)
    problems = [
        f"{node}: {d}"
        for node in upstream["rules"]
        for d in diff(
            upstream["rules"][node],
            under_test["rules"][node],
            left="on kube-apiserver",
            right="on sliceplane",
        )
    ]
    for target, seen in upstream["reach"].items():
        if under_test["reach"].get(target) != seen:
            other = under_test["reach"].get(target)
            problems.append(f"{target}: on kube-apiserver {seen}, on sliceplane {other}")
    assert not problems, "kube-proxy " + case + ":\n" + "\n".join(problems)


def test_kube_proxy_on_sliceplane_programs_services(
    observations: dict[str, dict[str, Observation]],
) -> None:
    """Not vacuous: through sliceplane's server kube-proxy made the Services answer (the
    plain one from its two ready pods, the empty one refused) and wrote their chains."""
    for mode in MODES:
        seen = observations["sliceplane"][f"{mode}-phase1"]
        tag = mode[:3]
        # pod-1, pod-2 ready, pod-3 not serving, pod-4 without conditions (ready).
        web = seen["reach"][f"web-{tag} http cluster IP from node-a"][0]
        assert web == ("pod-1", "pod-2", "pod-4")
        assert seen["reach"][f"empty-{tag} http cluster IP from node-a"][2] == ("refused",)
        assert f"web-{tag}" in json.dumps(seen["rules"]["node-a"])
