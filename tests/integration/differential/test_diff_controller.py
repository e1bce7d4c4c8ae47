"""Differential test of the endpoint controllers: kube-controller-manager vs sliceplane.

The same traces (Nodes, Services, Pods, Endpoints created, updated and deleted in the same
order; Pods get their IPs and readiness through the status subresource, there is no
kubelet) are applied to two real kube-apiservers. One is served by kube-controller-manager's
endpointslice, endpointslice-mirroring and endpoints controllers, the other by sliceplane's
``Manager`` (kube-controller-manager there runs only the garbage collector and the
namespace controller). After every segment of a trace both sides are polled until they
stop changing, and the EndpointSlices (controller-managed and mirrored) and Endpoints are
compared as upstream's own tests compare them. Write counts of EndpointSlices come from
each kube-apiserver's ``apiserver_request_total``; sliceplane must not write more.

Deliberate differences are listed in docs/upstream-differences.md; the per-trace figures
land in build/differential/controller-report.json.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from diffkit import (
    MISSING,
    Op,
    Pair,
    apply_op,
    converge,
    diff,
    request_counts,
    start_pair,
    stop_pair,
    write_report,
    writes,
)

from sliceplane.client.client import Client

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(600)]


@dataclass
class Trace:
    name: str
    segments: list[list[Op]]
    aggregate_hints: bool = False
    cleanup: list[Op] = field(default_factory=list)
    loose_sizes: frozenset[int] = frozenset()
    """Segments after which slice sizes depend on which endpoint went to which slice, a
    random choice upstream too (hash-map order, reference §2.8 step 5): there only the
    number of slices and the endpoints themselves are compared, not the sizes."""


REPORT: dict[str, Any] = {}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    p = start_pair(tmp_path_factory.mktemp("diffctl"))
    try:
        yield p
    finally:
        stop_pair(p)
        if REPORT:
            path = write_report("controller-report.json", REPORT)
            print(f"\ncontroller differential report: {path}")


@pytest.fixture
async def clients(pair: Pair) -> AsyncIterator[tuple[Client, Client]]:
    if pair.manager.error is not None:
        raise pair.manager.error
    up = await Client.connect(pair.upstream.kubeconfig)
    sp = await Client.connect(pair.sliceplane.kubeconfig)
    try:
        yield up, sp
    finally:
        await up.close()
        await sp.close()


# --------------------------------------------------------------------------- trace builders


def node(name: str, **kw: Any) -> Op:
    return Op("node", {"name": name, **kw})


def svc(name: str, selector: dict[str, str] | None = None, **kw: Any) -> Op:
    return Op("svc", {"name": name, "selector": selector, **kw})


def svc_patch(name: str, patch: dict[str, Any]) -> Op:
    return Op("svc_patch", {"name": name, "patch": patch})


def pods(prefix: str, n: int, *, start: int = 0, net: int = 1, **kw: Any) -> Op:
    """``n`` pods ``prefix-i`` with IPs 10.<net>.<i//250>.<i%250+1>."""
    out = []
    for i in range(start, start + n):
        p = {"name": f"{prefix}-{i}", "ips": [f"10.{net}.{i // 250}.{i % 250 + 1}"], **kw}
        p["labels"] = dict(kw.get("labels", {"app": prefix}))
        out.append(p)
    return Op("pods", {"pods": out})


def names(prefix: str, idx: range | list[int]) -> list[str]:
    return [f"{prefix}-{i}" for i in idx]


def pod_status(pod_names: list[str], **kw: Any) -> Op:
    return Op("pod_status", {"names": pod_names, **kw})


def del_pods(pod_names: list[str], grace: int | None = 0) -> Op:
    return Op("del_pods", {"names": pod_names, "grace": grace})


PORT_HTTP = [{"name": "http", "port": 80, "targetPort": 8080}]


def deterministic_traces() -> list[Trace]:
    web = {"app": "web"}
    t: list[Trace] = []
    t.append(Trace("placeholder-no-pods", [[svc("web", web)]]))
    t.append(
        Trace(
            "250-pods-100-100-50",
            [
                [node("n1", zone="z1"), pods("web", 250, node="n1"), svc("web", web)],
                # targetPort 8080 -> 8081: every slice rewritten in place, sizes stay.
                [
                    svc_patch(
                        "web",
                        {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8081}]}},
                    )
                ],
                # a Service label reaches every slice
                [svc_patch("web", {"metadata": {"labels": {"foo": "bar"}}})],
                # reserved labels on the Service change nothing
                [
                    svc_patch(
                        "web",
                        {
                            "metadata": {
                                "labels": {
                                    "kubernetes.io/service-name": "other",
                                    "service.kubernetes.io/headless": "",
                                }
                            }
                        },
                    )
                ],
                # scale down by 60 (deleted outright), then up by 45
                [del_pods(names("web", range(0, 250, 4))[:60])],
                [pods("web", 45, start=250, node="n1")],
            ],
            loose_sizes=frozenset({4, 5}),
        )
    )
    t.append(
        Trace(
            "readiness-flips",
            [
                [node("n1", zone="z1"), pods("web", 20, node="n1"), svc("web", web)],
                [pod_status(names("web", range(0, 20, 4)), ready=False, ips=None)],
                [pod_status(names("web", range(0, 20, 4)), ready=True, ltt="2026-01-02T00:00:00Z")],
                [
                    pod_status(
                        names("web", range(0, 20, 2)), ready=False, ltt="2026-01-03T00:00:00Z"
                    )
                ],
            ],
        )
    )
    t.append(
        Trace(
            "terminating-pods",
            [
                [node("n1", zone="z1"), pods("web", 6, node="n1"), svc("web", web)],
                # graceful deletion without a kubelet leaves the pods terminating
                [del_pods(names("web", [0, 1]), grace=30)],
                [pod_status(["web-1"], ready=False, ltt="2026-01-02T00:00:00Z")],
                [del_pods(names("web", [0]))],
            ],
        )
    )
    t.append(
        Trace(
            "publish-not-ready",
            [
                [
                    node("n1", zone="z1"),
                    pods("web", 4, node="n1", ready=False),
                    pods("web", 2, start=4, node="n1"),
                    pods("web", 2, start=6, node="ghost"),
                    svc("web", web, publishNotReadyAddresses=True),
                ],
                [del_pods(names("web", [4]), grace=30)],
                [svc_patch("web", {"spec": {"publishNotReadyAddresses": False}})],
            ],
        )
    )
    t.append(
        Trace(
            "named-ports-differing-numbers",
            [
                [
                    node("n1", zone="z1"),
                    *[
                        Op(
                            "pods",
                            {
                                "pods": [
                                    {
                                        "name": f"web-{i}",
                                        "labels": web,
                                        "node": "n1",
                                        "ips": [f"10.1.0.{i + 1}"],
                                        "ports": [{"name": "http", "containerPort": 8080 + i % 3}],
                                    }
                                    for i in range(30)
                                ]
                            },
                        )
                    ],
                    svc(
                        "web",
                        web,
                        ports=[
                            {"name": "http", "port": 80, "targetPort": "http"},
                            {"name": "metrics", "port": 9090, "targetPort": "metrics"},
                        ],
                    ),
                ],
                [
                    # one pod gains the metrics port: a port set of its own
                    Op(
                        "pods",
                        {
                            "pods": [
                                {
                                    "name": "web-x",
                                    "labels": web,
                                    "node": "n1",
                                    "ips": ["10.1.1.1"],
                                    "ports": [
                                        {"name": "http", "containerPort": 8080},
                                        {"name": "metrics", "containerPort": 9100},
                                    ],
                                }
                            ]
                        },
                    ),
                ],
            ],
        )
    )
    t.append(
        Trace(
            "pods-on-missing-node",
            [
                [
                    node("n1", zone="z1"),
                    pods("web", 3, node="n1"),
                    pods("web", 3, start=3, node="ghost"),
                    svc("web", web),
                ],
                [node("ghost", zone="z2")],
            ],
        )
    )
    t.append(
        Trace(
            "all-pods-on-missing-node",
            [
                [pods("web", 3, node="ghost"), svc("web", web)],
            ],
        )
    )
    t.append(
        Trace(
            "headless",
            [
                [
                    node("n1", zone="z1"),
                    Op(
                        "pods",
                        {
                            "pods": [
                                {
                                    "name": f"db-{i}",
                                    "labels": {"app": "db"},
                                    "node": "n1",
                                    "ips": [f"10.1.0.{i + 1}"],
                                    "hostname": f"db-{i}",
                                    "subdomain": "db" if i < 2 else "other",
                                }
                                for i in range(3)
                            ]
                        },
                    ),
                    svc("db", {"app": "db"}, clusterIP="None"),
                    svc("db-noports", {"app": "db"}, clusterIP="None", ports=[]),
                ],
            ],
        )
    )
    t.append(
        Trace(
            "selectorless-mirroring",
            [
                [
                    svc("ext", None),
                    Op(
                        "endpoints",
                        {
                            "name": "ext",
                            "labels": {"team": "x"},
                            "annotations": {"note": "mirrored"},
                            "subsets": [
                                {
                                    "addresses": [
                                        {"ip": "10.5.0.1"},
                                        {"ip": "10.5.0.2", "hostname": "b"},
                                    ],
                                    "notReadyAddresses": [{"ip": "10.5.0.3"}],
                                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                                },
                                {
                                    "addresses": [{"ip": "10.5.0.4"}],
                                    "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
                                },
                                {
                                    "addresses": [{"ip": "fd00::5"}],
                                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                                },
                            ],
                        },
                    ),
                ],
                [
                    Op(
                        "endpoints",
                        {
                            "name": "ext",
                            "update": True,
                            "subsets": [
                                {
                                    "addresses": [{"ip": "10.5.0.1"}, {"ip": "10.5.0.9"}],
                                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                                }
                            ],
                        },
                    )
                ],
                [
                    svc("orphan-endpoints-only", None, ports=PORT_HTTP),
                    Op(
                        "endpoints",
                        {
                            "name": "no-service",
                            "subsets": [
                                {
                                    "addresses": [{"ip": "10.5.1.1"}],
                                    "ports": [{"port": 80, "protocol": "TCP"}],
                                }
                            ],
                        },
                    ),
                ],
                [
                    Op(
                        "endpoints",
                        {
                            "name": "ext",
                            "update": True,
                            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                            "subsets": [
                                {
                                    "addresses": [{"ip": "10.5.0.1"}],
                                    "ports": [{"port": 8080, "protocol": "TCP"}],
                                }
                            ],
                        },
                    )
                ],
                [
                    Op(
                        "endpoints",
                        {
                            "name": "ext",
                            "update": True,
                            "subsets": [
                                {
                                    "addresses": [{"ip": "10.5.0.7"}],
                                    "ports": [{"port": 8080, "protocol": "TCP"}],
                                }
                            ],
                        },
                    )
                ],
                [Op("del_endpoints", {"name": "ext"})],
            ],
        )
    )
    t.append(
        Trace(
            "service-deletion",
            [
                [node("n1", zone="z1"), pods("web", 10, node="n1"), svc("web", web)],
                [Op("del_svc", {"name": "web"})],
                [svc("web", web)],
            ],
        )
    )
    t.append(
        Trace(
            "dual-stack",
            [
                [
                    node("n1", zone="z1"),
                    Op(
                        "pods",
                        {
                            "pods": [
                                {
                                    "name": f"web-{i}",
                                    "labels": web,
                                    "node": "n1",
                                    "ips": [f"10.1.0.{i + 1}", f"fd00:10:1::{i + 1:x}"]
                                    if i % 3
                                    else [f"10.1.0.{i + 1}"],
                                }
                                for i in range(9)
                            ]
                        },
                    ),
                    svc("web", web, ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv4", "IPv6"]),
                    svc("web6", web, ipFamilyPolicy="SingleStack", ipFamilies=["IPv6"]),
                    svc("headless-ds", web, clusterIP="None", ipFamilyPolicy="PreferDualStack"),
                ],
                [
                    svc_patch(
                        "web", {"spec": {"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}}
                    )
                ],
            ],
        )
    )
    zones = [node("za", zone="zone-a"), node("zb", zone="zone-b"), node("zc", zone="zone-c")]
    t.append(
        Trace(
            "traffic-distribution-prefer-close",
            [
                [
                    *zones,
                    node("nozone"),
                    pods("web", 3, node="za"),
                    pods("web", 2, start=3, node="zb"),
                    pods("web", 1, start=5, node="zc", ready=False),
                    pods("web", 1, start=6, node="nozone"),
                    svc("web", web, trafficDistribution="PreferClose"),
                ],
                [
                    pod_status(["web-5"], ready=True, ltt="2026-01-02T00:00:00Z"),
                    pod_status(["web-0"], ready=False, ltt="2026-01-02T00:00:00Z"),
                ],
                [svc_patch("web", {"spec": {"trafficDistribution": None}})],
                [svc_patch("web", {"spec": {"trafficDistribution": "PreferSameNode"}})],
            ],
        )
    )
    cpu_zones = [node(f"t{z}", zone=f"zone-{z}", ready=True, cpu="4") for z in "abc"]
    t.append(
        Trace(
            "topology-mode-auto",
            [
                [
                    *cpu_zones,
                    pods("web", 4, node="ta"),
                    pods("web", 3, start=4, node="tb"),
                    pods("web", 2, start=7, node="tc"),
                    svc("web", web, annotations={"service.kubernetes.io/topology-mode": "Auto"}),
                    pods("few", 3, node="tc", labels={"app": "few"}),
                    svc(
                        "few",
                        {"app": "few"},
                        annotations={"service.kubernetes.io/topology-mode": "Auto"},
                    ),
                    pods("four", 2, node="ta", labels={"app": "four"}),
                    pods("four", 2, start=2, node="tc", labels={"app": "four"}),
                    svc(
                        "four",
                        {"app": "four"},
                        annotations={"service.kubernetes.io/topology-mode": "Auto"},
                    ),
                ],
                [pods("web", 3, start=9, node="tc")],
                [
                    svc_patch(
                        "web",
                        {
                            "metadata": {
                                "annotations": {"service.kubernetes.io/topology-mode": "Disabled"}
                            }
                        },
                    )
                ],
            ],
            aggregate_hints=True,
            cleanup=[Op("del_node", {"name": f"t{z}"}) for z in "abc"],
        )
    )
    t.append(
        Trace(
            "external-name-and-type-change",
            [
                [
                    node("n1"),
                    pods("web", 3, node="n1"),
                    svc(
                        "ext",
                        None,
                        type="ExternalName",
                        externalName="example.com",
                        ports=PORT_HTTP,
                    ),
                    svc("web", web),
                ],
                # switching to ExternalName: upstream stops reconciling, slices stay
                [
                    svc_patch(
                        "web",
                        {
                            "spec": {
                                "type": "ExternalName",
                                "externalName": "example.com",
                                "clusterIP": None,
                                "clusterIPs": None,
                                "ipFamilies": None,
                                "ipFamilyPolicy": None,
                            }
                        },
                    )
                ],
            ],
        )
    )
    t.append(
        Trace(
            "selector-change-and-removal",
            [
                [
                    node("n1"),
                    pods("a", 3, node="n1"),
                    pods("b", 2, node="n1", net=2),
                    svc("web", {"app": "a"}),
                ],
                [svc_patch("web", {"spec": {"selector": {"app": "b"}}})],
                [svc_patch("web", {"spec": {"selector": None}})],
            ],
        )
    )
    t.append(
        Trace(
            "pod-relabel-between-services",
            [
                [
                    node("n1"),
                    pods("p", 6, node="n1", labels={"app": "a"}),
                    svc("sa", {"app": "a"}),
                    svc("sb", {"app": "b"}),
                ],
                [
                    Op(
                        "pod_patch",
                        {
                            "names": names("p", [0, 1]),
                            "patch": {"metadata": {"labels": {"app": "b"}}},
                        },
                    )
                ],
                [
                    Op(
                        "pod_patch",
                        {
                            "names": names("p", [2]),
                            "patch": {"metadata": {"labels": {"app": None}}},
                        },
                    )
                ],
            ],
        )
    )
    t.append(
        Trace(
            "terminal-phases-and-no-ip",
            [
                [
                    node("n1"),
                    pods("web", 6, node="n1"),
                    Op(
                        "pods",
                        {
                            "pods": [
                                {
                                    "name": "noip",
                                    "labels": web,
                                    "node": "n1",
                                    "ready": False,
                                    "phase": "Pending",
                                }
                            ]
                        },
                    ),
                    svc("web", web),
                ],
                [
                    pod_status(["web-0"], phase="Succeeded", ready=False, ips=["10.1.0.1"]),
                    pod_status(["web-1"], phase="Failed", ready=False, ips=["10.1.0.2"]),
                ],
            ],
        )
    )
    t.append(
        Trace(
            "multi-port-protocols",
            [
                [
                    node("n1"),
                    Op(
                        "pods",
                        {
                            "pods": [
                                {
                                    "name": f"dns-{i}",
                                    "labels": {"app": "dns"},
                                    "node": "n1",
                                    "ips": [f"10.1.0.{i + 1}"],
                                    "ports": [
                                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                        {"name": "dns-tcp", "containerPort": 53},
                                    ],
                                }
                                for i in range(4)
                            ]
                        },
                    ),
                    svc(
                        "dns",
                        {"app": "dns"},
                        ports=[
                            {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
                            {
                                "name": "dns-tcp",
                                "port": 53,
                                "targetPort": "dns-tcp",
                                "protocol": "TCP",
                                "appProtocol": "dns",
                            },
                            {"name": "missing", "port": 99, "targetPort": "nope"},
                        ],
                    ),
                ],
            ],
        )
    )
    return t


# --------------------------------------------------------------------------- random traces


def random_trace(seed: int) -> Trace:
    """A small random sequence over 2 services, 2 (+1 late) nodes and up to 8 pods."""
    rnd = random.Random(seed)
    existing: dict[str, dict[str, Any]] = {}
    terminating: set[str] = set()
    svcs = {"s0": {"app": "a"}, "s1": {"app": "b"}}
    live_svcs = set(svcs)
    late_node = False
    seg0: list[Op] = [node("n0", zone="z0"), node("n1", zone="z1")]
    for name, sel in svcs.items():
        seg0.append(svc(name, sel, ports=[{"name": "http", "port": 80, "targetPort": "http"}]))
    segments: list[list[Op]] = [seg0]
    ltt = 0

    def stamp() -> str:
        nonlocal ltt
        ltt += 1
        return f"2026-02-01T00:{ltt // 60:02d}:{ltt % 60:02d}Z"

    for _ in range(rnd.randint(2, 3)):
        seg: list[Op] = []
        for _ in range(rnd.randint(3, 6)):
            choice = rnd.random()
            free = [f"p{i}" for i in range(8) if f"p{i}" not in existing]
            alive = [p for p in existing if p not in terminating]
            if choice < 0.35 and free:
                name = rnd.choice(free)
                i = int(name[1:])
                spec = {
                    "name": name,
                    "labels": {"app": rnd.choice("ab")},
                    "node": rnd.choice(["n0", "n1", "n2"]),
                    "ips": [f"10.9.0.{i + 1}"],
                    "ready": rnd.random() < 0.7,
                    "ports": [{"name": "http", "containerPort": rnd.choice([8080, 8081])}],
                    "ltt": stamp(),
                }
                existing[name] = spec
                seg.append(Op("pods", {"pods": [spec]}))
            elif choice < 0.5 and alive:
                name = rnd.choice(alive)
                seg.append(
                    pod_status(
                        [name], ready=rnd.random() < 0.5, ips=existing[name]["ips"], ltt=stamp()
                    )
                )
            elif choice < 0.6 and alive:
                name = rnd.choice(alive)
                seg.append(
                    Op(
                        "pod_patch",
                        {
                            "names": [name],
                            "patch": {"metadata": {"labels": {"app": rnd.choice("ab")}}},
                        },
                    )
                )
            elif choice < 0.7 and existing:
                name = rnd.choice(sorted(existing))
                graceful = name not in terminating and rnd.random() < 0.5
                seg.append(del_pods([name], grace=30 if graceful else 0))
                if graceful:
                    terminating.add(name)
                else:
                    existing.pop(name)
                    terminating.discard(name)
            elif choice < 0.8 and live_svcs:
                name = rnd.choice(sorted(live_svcs))
                patch = rnd.choice(
                    [
                        {"spec": {"publishNotReadyAddresses": rnd.random() < 0.5}},
                        {"metadata": {"labels": {"tier": rnd.choice(["x", "y"])}}},
                        {
                            "spec": {
                                "ports": [
                                    {
                                        "name": "http",
                                        "port": 80,
                                        "targetPort": rnd.choice([8080, "http"]),
                                    }
                                ]
                            }
                        },
                    ]
                )
                seg.append(svc_patch(name, patch))
            elif choice < 0.88:
                if live_svcs and rnd.random() < 0.5:
                    name = rnd.choice(sorted(live_svcs))
                    seg.append(Op("del_svc", {"name": name}))
                    live_svcs.discard(name)
                else:
                    gone = sorted(set(svcs) - live_svcs)
                    if gone:
                        name = gone[0]
                        seg.append(
                            svc(
                                name,
                                svcs[name],
                                ports=[{"name": "http", "port": 80, "targetPort": "http"}],
                            )
                        )
                        live_svcs.add(name)
            elif not late_node:
                late_node = True
                seg.append(node("n2", zone="z2"))
        if seg:
            segments.append(seg)
    return Trace(f"random-{seed}", segments)


RANDOM_SEEDS = [11, 23, 37, 41, 59, 61, 73, 89, 97, 101, 113, 127, 131, 149]
TRACES = deterministic_traces() + [random_trace(s) for s in RANDOM_SEEDS]


# --------------------------------------------------------------------------- the test


async def _both(up: Client, sp: Client, ns: str, op: Op) -> None:
    await asyncio.gather(apply_op(up, ns, op), apply_op(sp, ns, op))


@pytest.mark.parametrize("trace", TRACES, ids=[t.name for t in TRACES])
async def test_controller_differential(
    trace: Trace, clients: tuple[Client, Client], tmp_path: Path
) -> None:
    up, sp = clients
    ns = f"d-{uuid.uuid4().hex[:6]}"
    await asyncio.gather(
        up.create("namespaces", {"metadata": {"name": ns}}),
        sp.create("namespaces", {"metadata": {"name": ns}}),
    )
    record: dict[str, Any] = {"segments": []}
    REPORT[trace.name] = record
    problems: list[str] = []
    try:
        for index, segment in enumerate(trace.segments):
            before = await asyncio.gather(
                request_counts(up, "endpointslices"), request_counts(sp, "endpointslices")
            )
            for op in segment:
                await _both(up, sp, ns, op)
            loose = index in trace.loose_sizes
            a, b, waited = await converge(
                up, sp, ns, aggregate_hints=trace.aggregate_hints, sizes=not loose
            )
            after = await asyncio.gather(
                request_counts(up, "endpointslices"), request_counts(sp, "endpointslices")
            )
            w_up, w_sp = writes(before[0], after[0]), writes(before[1], after[1])
            differences = diff(a.comparable(sizes=not loose), b.comparable(sizes=not loose))
            record["segments"].append(
                {
                    "ops": [repr(o) for o in segment],
                    "writes_upstream": w_up,
                    "writes_sliceplane": w_sp,
                    "converged_after_s": round(waited, 2),
                    "differences": differences,
                    "slices_upstream": {k: v["sizes"] for k, v in a.slices.items()},
                    "slices_sliceplane": {k: v["sizes"] for k, v in b.slices.items()},
                }
            )
            if differences:
                problems.append(f"segment {index}: " + "\n  ".join(differences[:20]))
    finally:
        for op in trace.cleanup:
            await _both(up, sp, ns, op)
    record["writes_upstream"] = total_up = sum(s["writes_upstream"] for s in record["segments"])
    record["writes_sliceplane"] = total_sp = sum(s["writes_sliceplane"] for s in record["segments"])
    # Per trace, with one write of slack: whether a placeholder is written before the first
    # pods turn ready (create, then update) or after (one create) is a race on both sides.
    if total_sp > total_up + 1:
        problems.append(f"sliceplane wrote {total_sp} EndpointSlices, upstream {total_up}")
    assert not problems, f"trace {trace.name} diverged:\n" + "\n".join(problems)


def test_trace_count() -> None:
    assert len(TRACES) >= 30
