"""Every doctor finding, one broken snapshot per case: the code, severity and objects."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from doctor_objects import (
    NS,
    event,
    healthy,
    node,
    pod,
    service,
    written_endpoints,
    written_slices,
    zones,
)

from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import CODE_ORDER, Finding
from sliceplane.doctor.service import near_names
from sliceplane.doctor.snapshot import Snapshot
from sliceplane.mirroring.planner import plan_mirroring

Obj = dict[str, Any]


def _finding(snap: Snapshot, code: str) -> Finding:
    report = diagnose(snap)
    found = [f for f in report.findings if f.code == code]
    assert found, f"{code} not in {[(f.code, f.severity) for f in report.findings]}"
    return found[0]


# --- cases: (snapshot, code, severity, objects that must be named) -------------------------


def missing_service() -> Snapshot:
    others = [service("web-api"), service("db")]
    return Snapshot(NS, "webapi", None, services=others, same_name_elsewhere=["staging"])


def external_name() -> Snapshot:
    svc = service(selector={}, ports=[], type="ExternalName", externalName="db.example.com")
    return healthy(svc, pods=[])


def no_selector_no_endpoints() -> Snapshot:
    return healthy(service(selector={}), pods=[])


def no_selector_skip_mirror() -> Snapshot:
    svc = service(selector={})
    ep = {
        "metadata": {
            "name": "web",
            "namespace": NS,
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 8080}]}],
    }
    return healthy(svc, pods=[], endpoints=ep)


def apiserver_service() -> Snapshot:
    svc = service("kubernetes", selector={}, ports=[{"name": "https", "port": 443}])
    svc["metadata"].update(
        namespace="default", labels={"component": "apiserver", "provider": "kubernetes"}
    )
    return replace(healthy(svc, pods=[]), namespace="default")


def selector_typo() -> Snapshot:
    # The Service asks for app=wbe; the pods say app=web.
    snap = healthy(service(selector={"app": "wbe"}))
    return snap


def pods_in_other_namespace() -> Snapshot:
    elsewhere = [pod(1, namespace="dev"), pod(2, namespace="dev")]
    return healthy(pods=elsewhere, elsewhere_pods=elsewhere)


def readiness_probe_failing() -> Snapshot:
    pods = [pod(1, ready=False), pod(2, ready=False)]
    events = [
        event(
            "Pod",
            "web-1",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 404",
            count=7,
        ),
    ]
    return healthy(pods=pods, events=events)


def one_of_three_not_ready() -> Snapshot:
    return healthy(pods=[pod(1), pod(2), pod(3, ready=False)])


def node_not_ready() -> Snapshot:
    nodes = zones([node(1), node(2, ready=False)], "a", "b")
    return healthy(pods=[pod(1, ready=False, node="node-2")], nodes=nodes)


def all_terminating() -> Snapshot:
    return healthy(pods=[pod(1, deleting=True), pod(2, deleting=True)])


def named_port_typo() -> Snapshot:
    # targetPort "htp": no pod declares it.
    ports = [{"name": "http", "port": 80, "targetPort": "htp", "protocol": "TCP"}]
    return healthy(service(ports=ports))


def named_port_udp() -> Snapshot:
    ports = [{"name": "dns", "port": 53, "targetPort": "http", "protocol": "UDP"}]
    return healthy(service(ports=ports))


def numeric_port_not_declared() -> Snapshot:
    ports = [{"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"}]
    return healthy(service(ports=ports))


def headless_without_ports() -> Snapshot:
    return healthy(service(ports=[], cluster_ip="None"))


def slices_missing() -> Snapshot:
    return replace(healthy(), slices=[])


def slice_ready_flag_stale() -> Snapshot:
    # The slices still say pod web-3 is ready; it is not any more.
    snap = healthy()
    pods = [pod(1), pod(2), pod(3, ready=False)]
    return replace(snap, pods=pods)


def slice_by_hand() -> Snapshot:
    snap = healthy()
    bogus = copy.deepcopy(snap.slices[0])
    bogus["metadata"]["name"] = "web-manual"
    bogus["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = "me"
    bogus["metadata"]["ownerReferences"] = []
    bogus["endpoints"] = [{"addresses": ["192.0.2.99"], "conditions": {"ready": True}}]
    return replace(snap, slices=[*snap.slices, bogus])


def endpoints_stale() -> Snapshot:
    snap = healthy()
    ep = written_endpoints(snap.service or {}, [pod(1)])
    return replace(snap, endpoints=ep)


def hints_dropped() -> Snapshot:
    # Auto asks for hints; two endpoints cannot cover three zones' shares.
    svc = service()
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    nodes = zones([node(1), node(2), node(3)], "a", "b", "c")
    return healthy(svc, pods=[pod(1), pod(2)], nodes=nodes)


def traffic_distribution_without_zones() -> Snapshot:
    svc = service(trafficDistribution="PreferClose")
    nodes = zones([node(1), node(2)], "a", None)
    return healthy(svc, pods=[pod(1), pod(2)], nodes=nodes)


def traffic_distribution_unknown() -> Snapshot:
    return healthy(service(trafficDistribution="PreferFar"))


CASES = [
    pytest.param(
        missing_service,
        "ServiceNotFound",
        "error",
        ["service/prod/webapi", "service/prod/web-api", "service/staging/webapi"],
        id="service-missing-near-name-and-other-namespace",
    ),
    pytest.param(
        external_name, "ExternalNameService", "info", ["service/prod/web"], id="externalname"
    ),
    pytest.param(
        no_selector_no_endpoints,
        "NoSelectorNoEndpoints",
        "error",
        ["service/prod/web"],
        id="no-selector-nothing",
    ),
    pytest.param(
        no_selector_skip_mirror,
        "NoSelectorNoEndpoints",
        "error",
        ["endpoints/prod/web"],
        id="no-selector-skip-mirror",
    ),
    pytest.param(
        apiserver_service,
        "NoSelectorNoEndpoints",
        "warning",
        ["service/default/kubernetes"],
        id="apiserver-own-service-without-endpoints",
    ),
    pytest.param(
        selector_typo,
        "SelectorMatchesNoPods",
        "error",
        ["service/prod/web", "pod/prod/web-1", "pod/prod/web-2", "pod/prod/web-3"],
        id="selector-typo",
    ),
    pytest.param(
        pods_in_other_namespace,
        "PodsInOtherNamespace",
        "error",
        ["pod/dev/web-1", "pod/dev/web-2"],
        id="pods-in-other-namespace",
    ),
    pytest.param(
        readiness_probe_failing,
        "PodsNotReady",
        "error",
        ["pod/prod/web-1", "pod/prod/web-2"],
        id="readiness-probe-failing",
    ),
    pytest.param(
        one_of_three_not_ready,
        "PodsNotReady",
        "warning",
        ["pod/prod/web-3"],
        id="one-of-three-not-ready",
    ),
    pytest.param(
        node_not_ready,
        "PodsNotReady",
        "error",
        ["pod/prod/web-1", "node/node-2"],
        id="node-not-ready",
    ),
    pytest.param(
        all_terminating,
        "PodsTerminating",
        "error",
        ["pod/prod/web-1", "pod/prod/web-2"],
        id="all-terminating",
    ),
    pytest.param(
        named_port_typo,
        "NamedTargetPortMissing",
        "error",
        ["service/prod/web", "pod/prod/web-1"],
        id="named-port-typo",
    ),
    pytest.param(
        named_port_udp,
        "ProtocolMismatch",
        "error",
        ["service/prod/web", "pod/prod/web-1"],
        id="named-port-wrong-protocol",
    ),
    pytest.param(
        numeric_port_not_declared,
        "TargetPortNotExposed",
        "warning",
        ["pod/prod/web-2"],
        id="numeric-port-not-declared",
    ),
    pytest.param(headless_without_ports, "NoPorts", "warning", ["service/prod/web"], id="no-ports"),
    pytest.param(
        slices_missing, "SlicesMissing", "error", ["service/prod/web"], id="slices-missing"
    ),
    pytest.param(
        slice_ready_flag_stale,
        "SlicesStale",
        "error",
        ["endpointslice/prod/web-00000"],
        id="slice-ready-flag-stale",
    ),
    pytest.param(
        slice_by_hand,
        "SliceNotManaged",
        "error",
        ["endpointslice/prod/web-manual"],
        id="slice-made-by-hand",
    ),
    pytest.param(
        endpoints_stale,
        "EndpointsStale",
        "warning",
        ["endpoints/prod/web"],
        id="legacy-endpoints-stale",
    ),
    pytest.param(
        hints_dropped, "HintsDropped", "warning", ["service/prod/web"], id="hints-dropped"
    ),
    pytest.param(
        traffic_distribution_without_zones,
        "NodeWithoutZone",
        "warning",
        ["node/node-2"],
        id="node-without-zone",
    ),
    pytest.param(
        traffic_distribution_without_zones,
        "TrafficDistributionIneffective",
        "warning",
        ["service/prod/web"],
        id="traffic-distribution-endpoint-without-zone",
    ),
    pytest.param(
        traffic_distribution_unknown,
        "TrafficDistributionIneffective",
        "warning",
        ["service/prod/web"],
        id="traffic-distribution-unknown-value",
    ),
]


@pytest.mark.parametrize(("make", "code", "severity", "objects"), CASES)
def test_finding(
    make: Callable[[], Snapshot], code: str, severity: str, objects: list[str]
) -> None:
    snap = make()
    before = copy.deepcopy(snap)
    finding = _finding(snap, code)
    assert finding.severity == severity, finding
    assert set(objects) <= set(finding.objects), finding.objects
    assert finding.message and finding.fix
    assert snap == before  # checks never mutate what they were given
    report = diagnose(snap)
    assert report.ok == (not any(f.severity == "error" for f in report.findings))


def test_healthy_service_has_no_findings() -> None:
    report = diagnose(healthy())
    assert report.findings == [] and report.ok
    assert report.summary.selected_pods == 3 and report.summary.ready_endpoints == 3


def test_every_code_is_ordered_and_tested() -> None:
    tested = {p.values[1] for p in CASES}
    assert tested | {"HeadlessDnsNames", "SubdomainMismatch"} == set(
        CODE_ORDER
    )  # headless: own file


def test_selector_typo_evidence_and_fix() -> None:
    finding = _finding(selector_typo(), "SelectorMatchesNoPods")
    assert finding.evidence == ("3 pod(s) (web-1, web-2, web-3) fail: app=wbe (pod has app=web)",)
    assert """--type merge -p '{"spec":{"selector":{"app":"web"}}}'""" in finding.fix


def test_selector_key_case_typo_patches_the_key() -> None:
    finding = _finding(healthy(service(selector={"App": "web"})), "SelectorMatchesNoPods")
    assert "App=web (pod has app=web)" in finding.evidence[0]
    assert '{"App":null,"app":"web"}' in finding.fix


def test_probe_message_is_evidence() -> None:
    finding = _finding(readiness_probe_failing(), "PodsNotReady")
    assert (
        "Readiness probe failed: HTTP probe failed with statuscode: 404 (x7)"
        in (finding.evidence[0])
    )
    assert "kubectl logs web-1 -n prod" in finding.fix


def test_cause_comes_first() -> None:
    # Pods elsewhere explain the empty selection: printed before it, both errors.
    codes = [f.code for f in diagnose(pods_in_other_namespace()).findings]
    assert codes.index("PodsInOtherNamespace") < codes.index("SelectorMatchesNoPods")


def test_stale_slice_names_the_endpoint() -> None:
    finding = _finding(slice_ready_flag_stale(), "SlicesStale")
    assert any(
        "10.244.3.5 (pod web-3)" in line and "ready=True" in line for line in finding.evidence
    )


def test_slices_packed_differently_are_not_stale() -> None:
    # 3 endpoints in 3 slices of one (another --max-endpoints-per-slice): same endpoints.
    snap = healthy()
    one = snap.slices[0]
    split = []
    for i, ep in enumerate(one["endpoints"]):
        es = copy.deepcopy(one)
        es["metadata"]["name"] = f"web-split-{i}"
        es["endpoints"] = [ep]
        split.append(es)
    assert [f.code for f in diagnose(replace(snap, slices=split)).findings] == []


def test_mirrored_endpoints_missing_slices() -> None:
    svc = service(selector={})
    ep = {
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-ep"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 8080}]}],
    }
    finding = _finding(healthy(svc, pods=[], endpoints=ep), "SlicesMissing")
    assert finding.objects == ("service/prod/web", "endpoints/prod/web")


def test_written_helpers_agree() -> None:
    svc = service()
    assert len(written_slices(svc, [pod(1)], [node(1)])) == 1


@pytest.mark.parametrize(
    ("name", "candidates", "near"),
    [
        pytest.param("wbe", ["web", "db"], ["web"], id="swapped-letters"),
        pytest.param("Web", ["web", "webs"], ["web", "webs"], id="case-first"),
        pytest.param("payments", ["orders", "db"], [], id="nothing-close"),
    ],
)
def test_near_names(name: str, candidates: list[str], near: list[str]) -> None:
    assert near_names(name, candidates) == near


def test_controller_write_failures_are_evidence() -> None:
    failed = event(
        "Service",
        "web",
        "FailedToUpdateEndpointSlices",
        "Error updating Endpoint Slices for Service prod/web: forbidden",
        count=4,
    )
    finding = _finding(replace(slices_missing(), events=[failed]), "SlicesMissing")
    assert finding.evidence[-1] == (
        "event FailedToUpdateEndpointSlices (x4): Error updating Endpoint Slices for Service "
        "prod/web: forbidden"
    )


def _zone_came_back(svc: Obj) -> Snapshot:
    """node-2 had no zone when the controller wrote the slices, and has one now: the
    controller does not rewrite endpoints on node changes, so the live slices lag."""
    nodes = zones([node(1), node(2), node(3)], "a", "b", "c")
    pods = [pod(1), pod(2), pod(3)]
    then = zones(nodes, "a", None, "c")
    return healthy(svc, pods=pods, nodes=nodes, slices=written_slices(svc, pods, then))


def test_live_slice_without_zone_hint_makes_traffic_distribution_ineffective() -> None:
    # Recomputed, every endpoint has a zone; kube-proxy reads the live slice, where web-2
    # has none and no hint, so it ignores every hint of the Service.
    snap = _zone_came_back(service(trafficDistribution="PreferClose"))
    finding = _finding(snap, "TrafficDistributionIneffective")
    assert "1 ready endpoint(s) in the live slices have no zone hint (web-2)" in finding.message
    assert "kubectl annotate service web -n prod" in finding.fix
    stale = _finding(snap, "SlicesStale")
    assert stale.severity == "warning"
    assert "does not rewrite endpoints on node changes" in stale.fix
    assert "NodeWithoutZone" not in [f.code for f in diagnose(snap).findings]


def test_hints_not_added_back_after_the_zone_returns() -> None:
    svc = service()
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    snap = _zone_came_back(svc)
    assert not any(ep.get("hints") for es in snap.slices for ep in es["endpoints"])
    finding = _finding(snap, "HintsDropped")
    assert "3 ready endpoint(s) in the live slices have no hints" in finding.message
    assert "kubectl annotate service web -n prod" in finding.fix


def test_stale_readiness_keeps_the_controller_advice() -> None:
    # A zone and a readiness difference: the controller is behind, not merely unprompted.
    snap = _zone_came_back(service())
    slices = copy.deepcopy(snap.slices)
    slices[0]["endpoints"][0]["conditions"]["ready"] = False
    stale = _finding(replace(snap, slices=slices), "SlicesStale")
    assert stale.severity == "error" and "behind or stopped" in stale.fix


def _hand_written_endpoints(*ips: str) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": NS, "uid": "uid-ep", "resourceVersion": "7"},
        "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"port": 8080}]}],
    }


def _mirrored(svc: Obj, ep: Obj) -> list[Obj]:
    """The slices the mirroring controller writes for ``ep``: named, as created."""
    out = []
    for i, action in enumerate(plan_mirroring(ep, svc, []).actions):
        es = copy.deepcopy(action.slice)
        es["metadata"]["name"] = f"web-mirror-{i}"
        es["metadata"].pop("generateName", None)
        out.append(es)
    return out


def test_mirrored_slices_current() -> None:
    svc = service(selector={})
    ep = _hand_written_endpoints("192.0.2.10")
    snap = healthy(svc, pods=[], endpoints=ep, slices=_mirrored(svc, ep))
    assert [f.code for f in diagnose(snap).findings] == []


def test_mirrored_slice_behind_a_changed_endpoints_is_an_error() -> None:
    # The Endpoints moved to .11 while the mirroring controller was down: the slice still
    # sends every connection to .10.
    svc = service(selector={})
    before = _hand_written_endpoints("192.0.2.10")
    after = _hand_written_endpoints("192.0.2.11")
    snap = healthy(svc, pods=[], endpoints=after, slices=_mirrored(svc, before))
    finding = _finding(snap, "SlicesStale")
    assert finding.severity == "error" and not diagnose(snap).ok
    assert finding.objects == (
        "service/prod/web",
        "endpoints/prod/web",
        "endpointslice/prod/web-mirror-0",
    )
    assert "missing: 192.0.2.11, should be ready=true" in finding.evidence
    assert "extra: 192.0.2.10 in web-mirror-0, ready=True" in finding.evidence


def test_mirrored_slice_behind_a_label_is_a_warning() -> None:
    # Same addresses, only a label the mirroring controller copies: traffic is unaffected.
    svc = service(selector={})
    ep = _hand_written_endpoints("192.0.2.10")
    labelled = copy.deepcopy(ep)
    labelled["metadata"]["labels"] = {"team": "payments"}
    snap = healthy(svc, pods=[], endpoints=labelled, slices=_mirrored(svc, ep))
    finding = _finding(snap, "SlicesStale")
    assert finding.severity == "warning" and diagnose(snap).ok
    assert finding.evidence == ("the mirroring controller would update web-mirror-0",)
