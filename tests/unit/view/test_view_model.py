"""The view's records: endpoint states, ports, Services, slices, legacy Endpoints, events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.api.wellknown import ANNOTATION_OVER_CAPACITY, ANNOTATION_TOPOLOGY_MODE
from sliceplane.view import model


def ep(ip: str, **conditions: Any) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": conditions}


@pytest.mark.parametrize(
    ("conditions", "state"),
    [
        pytest.param({}, "ready", id="nil-means-ready"),
        pytest.param({"ready": True, "serving": True}, "ready", id="ready"),
        pytest.param({"ready": False}, "not-ready", id="not-ready-serving-follows"),
        pytest.param({"ready": False, "serving": True}, "not-ready", id="serving-not-terminating"),
        pytest.param(
            {"ready": False, "serving": True, "terminating": True},
            "serving-terminating",
            id="terminating-serving",
        ),
        pytest.param(
            {"ready": False, "serving": False, "terminating": True}, "terminating", id="terminating"
        ),
        pytest.param(
            {"ready": False, "terminating": True}, "terminating", id="serving-nil-follows"
        ),
    ],
)
def test_endpoint_state(conditions: dict[str, Any], state: str) -> None:
    assert model.endpoint_state(ep("10.0.0.1", **conditions)) == state


@pytest.mark.parametrize(
    ("port", "text"),
    [
        pytest.param({"port": 80}, "80/TCP", id="bare"),
        pytest.param({"port": 80, "targetPort": 80, "protocol": "UDP"}, "80/UDP", id="same-target"),
        pytest.param(
            {"name": "http", "port": 80, "targetPort": "web"}, "http 80/TCP→web", id="named-target"
        ),
        pytest.param(
            {"port": 80, "targetPort": 8080, "nodePort": 30080},
            "80/TCP→8080 node:30080",
            id="node-port",
        ),
    ],
)
def test_format_port(port: dict[str, Any], text: str) -> None:
    assert model.format_port(port) == text


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        pytest.param({"spec": {"trafficDistribution": "PreferClose"}}, "PreferClose", id="field"),
        pytest.param(
            {"metadata": {"annotations": {ANNOTATION_TOPOLOGY_MODE: "Auto"}}, "spec": {}},
            "topology-mode=Auto",
            id="annotation",
        ),
        pytest.param({"spec": {}}, "", id="none"),
    ],
)
def test_traffic_distribution(service: dict[str, Any], expected: str) -> None:
    assert model.traffic_distribution(service) == expected


def test_service_row_counts_dual_stack_endpoints_once_per_family() -> None:
    svc = {
        "metadata": {"namespace": "shop", "name": "api"},
        "spec": {
            "clusterIPs": ["10.96.0.10", "fd00::10"],
            "ports": [{"port": 80, "targetPort": 8080}],
            "selector": {"app": "api", "tier": "web"},
        },
    }
    slices = [
        {"addressType": "IPv4", "endpoints": [ep("10.1.0.1"), ep("10.1.0.2", ready=False)]},
        {"addressType": "IPv6", "endpoints": [ep("fd00::1")]},
        {"addressType": "IPv4", "endpoints": [ep("10.1.0.1")]},  # a duplicate across slices
    ]
    row = model.service_row(svc, slices)
    assert row.type == "ClusterIP"
    assert row.cluster_ips == ("10.96.0.10", "fd00::10")
    assert row.ports == ("80/TCP→8080",)
    assert row.selector == "app=api,tier=web"
    assert (row.ready_endpoints, row.endpoints, row.slices) == (2, 3, 3)


def test_external_name_shows_target() -> None:
    svc = {
        "metadata": {"name": "x"},
        "spec": {"type": "ExternalName", "externalName": "db.example"},
    }
    assert model.service_row(svc, []).cluster_ips == ("→ db.example",)


def test_slice_card_sorts_by_zone_and_node_and_reads_hints() -> None:
    es = {
        "metadata": {
            "name": "web-abc",
            "generation": 4,
            "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": ["10.0.2.1"],
                "zone": "b",
                "nodeName": "n2",
                "targetRef": {"kind": "Pod", "name": "web-2"},
            },
            {
                "addresses": ["10.0.1.1"],
                "zone": "a",
                "nodeName": "n1",
                "targetRef": {"kind": "Pod", "name": "web-1"},
                "hints": {"forZones": [{"name": "a"}], "forNodes": [{"name": "n1"}]},
                "conditions": {"ready": False, "serving": True, "terminating": True},
            },
        ],
    }
    before = copy.deepcopy(es)
    card = model.slice_card(es)
    assert es == before  # never mutates what the cache handed out
    assert (card.name, card.address_type, card.generation) == ("web-abc", "IPv4", 4)
    assert card.ports == ("http 8080/TCP",)
    assert card.managed_by == "endpointslice-controller.k8s.io"
    assert [e.pod for e in card.endpoints] == ["web-1", "web-2"]
    assert card.endpoints[0].hint_zones == ("a",)
    assert card.endpoints[0].hint_nodes == ("n1",)
    assert card.counts()["serving-terminating"] == 1
    assert model.zones_and_nodes([card]) == (["a", "b"], ["n1", "n2"])


def test_legacy_endpoints() -> None:
    ep_obj = {
        "metadata": {"annotations": {ANNOTATION_OVER_CAPACITY: "truncated"}},
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.2", "targetRef": {"name": "b"}}],
                "notReadyAddresses": [{"ip": "10.0.0.1", "nodeName": "n1"}],
                "ports": [{"port": 80, "protocol": "TCP"}],
            }
        ],
    }
    view = model.legacy_endpoints(ep_obj)
    assert view.ready == (("10.0.0.2", "b"),)
    assert view.not_ready == (("10.0.0.1", "n1"),)
    assert view.ports == ("80/TCP",)
    assert view.over_capacity == "truncated"
    assert not model.legacy_endpoints(None).exists


def test_event_rows_newest_first_and_limited() -> None:
    events = [
        {
            "lastTimestamp": f"2026-01-01T00:00:0{i}Z",
            "type": "Warning" if i == 2 else "Normal",
            "reason": f"R{i}",
            "involvedObject": {"kind": "Pod", "name": f"p{i}"},
            "message": "m",
            "count": i,
        }
        for i in range(5)
    ]
    rows = model.event_rows(events, limit=3)
    assert [r.reason for r in rows] == ["R4", "R3", "R2"]
    assert rows[2].type == "Warning"
    assert rows[0].object == "Pod/p4"
