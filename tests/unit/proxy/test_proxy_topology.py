"""CategorizeEndpoints: the cases of upstream's ``pkg/proxy/topology_test.go``.

Endpoints are written as Go's zero values would be (``ready``/``serving``/``terminating``
false unless given), so every case reads as upstream's does.
"""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.proxy.model import Endpoint, ServiceName, ServicePort, ServicePortName
from sliceplane.proxy.topology import categorize, plan_port

SPN = ServicePortName(ServiceName("ns", "svc"), "p", "TCP")


def ep(key: str, z: tuple[str, ...] = (), n: tuple[str, ...] = (), **kw: Any) -> Endpoint:
    ip, port = key.rsplit(":", 1)
    return Endpoint(
        ip=ip,
        port=int(port),
        ready=kw.get("ready", False),
        serving=kw.get("serving", False),
        terminating=kw.get("terminating", False),
        is_local=kw.get("local", False),
        zone_hints=frozenset(z) or None,
        node_hints=frozenset(n) or None,
    )


def svc(**kw: Any) -> ServicePort:
    return ServicePort(name=SPN, cluster_ip="172.30.0.1", port=80, **kw)


R = {"ready": True}
ZONED = [
    ep("10.1.2.3:80", ("zone-a",), **R),
    ep("10.1.2.4:80", ("zone-b",), **R),
    ep("10.1.2.5:80", ("zone-c",), **R),
    ep("10.1.2.6:80", ("zone-a",), **R),
]
NODED = [
    ep("10.1.2.3:80", ("zone-a",), ("node-1",), **R),
    ep("10.1.2.4:80", ("zone-b",), ("node-2",), **R),
    ep("10.1.2.5:80", ("zone-c",), ("node-3",), **R),
    ep("10.1.2.6:80", ("zone-a",), ("node-4",), **R),
]
ETP_LOCAL_ZONED = [
    ep("10.1.2.3:80", ("zone-a",), ready=True, local=True),
    ep("10.1.2.4:80", ("zone-b",), ready=True, local=True),
    ep("10.1.2.5:80", ("zone-c",), **R),
    ep("10.1.2.6:80", ("zone-a",), **R),
]
TWO_LOCAL_REMOTE = [ep("10.0.0.0:80", ready=True, local=True), ep("10.0.0.1:80", **R)]
TWO_REMOTE = [ep("10.0.0.0:80", **R), ep("10.0.0.1:80", **R)]
ST = {"serving": True, "terminating": True}

# (node name, zone, service, endpoints, cluster, local, all, only_remote)
# cluster/local None: the service does not use that kind; all None: the non-None one.
CASES = [
    pytest.param(
        "", "zone-a", svc(), ZONED, {"10.1.2.3:80", "10.1.2.6:80"}, None, None, False,
        id="topology: all hinted, zone matches",
    ),
    pytest.param(
        "", "zone-a", svc(external_policy_local=True, node_port=8080), ETP_LOCAL_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"}, {"10.1.2.3:80", "10.1.2.4:80"},
        {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}, False,
        id="eTP Local: topology ignored for local endpoints",
    ),
    pytest.param(
        "", "zone-a", svc(internal_policy_local=True, node_port=8080), ETP_LOCAL_ZONED,
        {"10.1.2.3:80", "10.1.2.6:80"}, {"10.1.2.3:80", "10.1.2.4:80"},
        {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}, False,
        id="iTP Local: topology ignored for local endpoints",
    ),
    pytest.param(
        "", "", svc(), [ep("10.1.2.3:80", ("zone-a",), **R)], {"10.1.2.3:80"}, None, None,
        False, id="node without zone label",
    ),
    pytest.param(
        "", "zone-b", svc(), [ep("10.1.2.3:80", ("zone-a",), **R)], {"10.1.2.3:80"}, None,
        None, False, id="node in another zone: no filtering",
    ),
    pytest.param(
        "", "zone-a", svc(),
        [*ZONED[:3], ep("10.1.2.6:80", ("zone-a",))],
        {"10.1.2.3:80"}, None, None, False, id="unready endpoint",
    ),
    pytest.param(
        "", "zone-a", svc(),
        [ep("10.1.2.3:80", ("zone-a",)), ZONED[1], ZONED[2], ep("10.1.2.6:80", ("zone-a",))],
        {"10.1.2.4:80", "10.1.2.5:80"}, None, None, False,
        id="only unready endpoints in same zone: no filtering",
    ),
    pytest.param(
        "", "zone-a", svc(), [ZONED[0], ZONED[1], ep("10.1.2.5:80", **R), ZONED[3]],
        {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}, None, None, False,
        id="one endpoint missing hints: no filtering",
    ),
    pytest.param(
        "", "zone-c", svc(),
        [
            ep("10.1.2.3:80", ("zone-a", "zone-b", "zone-c"), **R),
            ep("10.1.2.4:80", ("zone-b", "zone-c"), **R),
            ep("10.1.2.5:80", ("zone-b", "zone-d"), **R),
            ep("10.1.2.6:80", ("zone-c",), **R),
        ],
        {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"}, None, None, False,
        id="several zone hints per endpoint",
    ),
    # Upstream's "PreferSameNode falls back to same-zone when feature gate disabled": the
    # gate is GA and locked on in the pinned version, so that case cannot happen here.
    pytest.param(
        "node-1", "zone-a", svc(), NODED, {"10.1.2.3:80"}, None, None, False,
        id="PreferSameNode available",
    ),
    pytest.param(
        "node-1", "zone-a", svc(), [NODED[0], ep("10.1.2.4:80", **R), NODED[2], NODED[3]],
        {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}, None, None, False,
        id="PreferSameNode ignored if one endpoint unhinted",
    ),
    pytest.param(
        "node-0", "zone-a", svc(), NODED, {"10.1.2.3:80", "10.1.2.6:80"}, None, None, False,
        id="PreferSameNode falls back to zone when no endpoint for the node",
    ),
    pytest.param(
        "", "zone-a", svc(external_policy_local=True, node_port=8080),
        [
            ep("10.0.0.0:80", ("zone-a",), ready=True, local=True),
            ep("10.0.0.1:80", ("zone-b",), ready=True, local=True),
            ep("10.0.0.2:80", ("zone-a",), **R),
            ep("10.0.0.3:80", ("zone-b",), **R),
        ],
        {"10.0.0.0:80", "10.0.0.2:80"}, {"10.0.0.0:80", "10.0.0.1:80"},
        {"10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80"}, False,
        id="topology and localness disagree: union",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True), [], None, set(), set(), False,
        id="iTP Local, no endpoints",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True), TWO_REMOTE, None, set(), set(), True,
        id="iTP Local, all endpoints remote",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True),
        [ep("10.0.0.0:80", ready=True, local=True), ep("10.0.0.1:80", ready=True, local=True)],
        None, {"10.0.0.0:80", "10.0.0.1:80"}, None, False, id="iTP Local, all local",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True), TWO_LOCAL_REMOTE, None, {"10.0.0.0:80"},
        None, False, id="iTP Local, some local",
    ),
    pytest.param(
        "", "", svc(), [ep("10.0.0.0:80"), ep("10.0.0.1:80")], set(), None, set(), False,
        id="Cluster, endpoints not ready",
    ),
    pytest.param(
        "", "", svc(), [ep("10.0.0.0:80"), ep("10.0.0.1:80", **R)], {"10.0.0.1:80"}, None,
        None, False, id="Cluster, some ready",
    ),
    pytest.param(
        "", "", svc(),
        [ep("10.0.0.0:80", local=True, **ST), ep("10.0.0.1:80", **ST)],
        {"10.0.0.0:80", "10.0.0.1:80"}, None, None, False,
        id="Cluster, all terminating: serving-terminating fallback",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True, node_port=8080), TWO_LOCAL_REMOTE,
        {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80"}, {"10.0.0.0:80", "10.0.0.1:80"}, False,
        id="iTP Local, eTP Cluster, some local",
    ),
    pytest.param(
        "", "", svc(external_policy_local=True, node_port=8080), TWO_LOCAL_REMOTE,
        {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80"}, {"10.0.0.0:80", "10.0.0.1:80"}, False,
        id="iTP Cluster, eTP Local, some local",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        TWO_LOCAL_REMOTE, {"10.0.0.0:80", "10.0.0.1:80"}, {"10.0.0.0:80"},
        {"10.0.0.0:80", "10.0.0.1:80"}, False, id="iTP Local, eTP Local, some local",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        TWO_REMOTE, {"10.0.0.0:80", "10.0.0.1:80"}, set(), {"10.0.0.0:80", "10.0.0.1:80"},
        False, id="iTP Local, eTP Local, all remote",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        [ep("10.0.0.0:80", **ST), ep("10.0.0.1:80", **ST)],
        {"10.0.0.0:80", "10.0.0.1:80"}, set(), {"10.0.0.0:80", "10.0.0.1:80"}, True,
        id="iTP Local, eTP Local, all remote and terminating",
    ),
    pytest.param(
        "", "", svc(external_policy_local=True, node_port=8080),
        [
            ep("10.0.0.0:80", **R),
            ep("10.0.0.1:80", local=True),
            ep("10.0.0.2:80", local=True, **ST),
            ep("10.0.0.3:80", **ST),
        ],
        {"10.0.0.0:80"}, {"10.0.0.2:80"}, {"10.0.0.0:80", "10.0.0.2:80"}, False,
        id="iTP Cluster, eTP Local, terminating endpoints",
    ),
    pytest.param(
        "", "", svc(external_policy_local=True),
        [ep("10.0.0.0:80", **R), ep("10.0.0.1:80", ready=True, local=True)],
        {"10.0.0.0:80", "10.0.0.1:80"}, None, {"10.0.0.0:80", "10.0.0.1:80"}, False,
        id="eTP ignored when not externally accessible",
    ),
    pytest.param(
        "", "", svc(internal_policy_local=True),
        [ep("10.0.0.0:80", **R), ep("10.0.0.1:80", ready=True, local=True)],
        None, {"10.0.0.1:80"}, {"10.0.0.1:80"}, False,
        id="iTP Local internal-only: no cluster endpoints",
    ),
    pytest.param("", "", svc(), [], None, None, None, False, id="no endpoints at all"),
    pytest.param(
        "", "zone-a", svc(), [ep("10.0.0.0:80")], set(), None, None, False,
        id="one endpoint neither ready nor serving nor terminating",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("node", "zone", "service", "endpoints", "cluster", "local", "all_", "only_remote"), CASES
)
def test_categorize(
    node: str,
    zone: str,
    service: ServicePort,
    endpoints: list[Endpoint],
    cluster: set[str] | None,
    local: set[str] | None,
    all_: set[str] | None,
    only_remote: bool,
) -> None:
    got = categorize(endpoints, service, node, zone)
    assert {e.key for e in got.cluster} == (cluster or set())
    assert {e.key for e in got.local} == (local or set())
    if cluster and not local:
        expected_all = cluster
    elif local and not cluster:
        expected_all = local
    else:
        expected_all = all_ or set()
    assert {e.key for e in got.reachable} == expected_all
    assert [e.key for e in got.reachable] == sorted(e.key for e in got.reachable)
    assert got.has_any == (bool(expected_all) or only_remote)


@pytest.mark.parametrize(
    ("service", "endpoints", "internal", "external"),
    [
        pytest.param(svc(), [], "reject", "reject", id="no endpoints: reject both"),
        pytest.param(svc(), TWO_REMOTE, "", "", id="endpoints: accept"),
        pytest.param(
            svc(internal_policy_local=True), TWO_REMOTE, "drop", "",
            id="iTP Local without local endpoints: drop ClusterIP traffic",
        ),
        pytest.param(
            svc(external_policy_local=True, node_port=30080), TWO_REMOTE, "", "drop",
            id="eTP Local without local endpoints: drop external traffic",
        ),
        pytest.param(
            svc(external_policy_local=True, node_port=30080), TWO_LOCAL_REMOTE, "", "",
            id="eTP Local with a local endpoint: accept",
        ),
        pytest.param(
            svc(), [ep("10.0.0.0:80", serving=True, terminating=False)], "reject", "reject",
            id="serving but not terminating nor ready: nothing usable",
        ),
    ],
)  # fmt: skip
def test_plan_verdicts(
    service: ServicePort, endpoints: list[Endpoint], internal: str, external: str
) -> None:
    plan = plan_port(service, endpoints, "node-1", "")
    assert plan.internal_verdict == internal
    assert plan.external_verdict == external
    assert plan.has_internal == (internal == "")
    assert plan.has_external == (external == "")


def test_external_endpoints_follow_policy() -> None:
    plan = plan_port(svc(external_policy_local=True, node_port=30080), TWO_LOCAL_REMOTE, "n", "")
    assert [e.key for e in plan.internal_endpoints] == ["10.0.0.0:80", "10.0.0.1:80"]
    assert [e.key for e in plan.external_endpoints] == ["10.0.0.0:80"]
