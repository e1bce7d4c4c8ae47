"""Mirroring planner: upstream ``endpointslicemirroring/reconciler_test.go`` ``TestReconcile``
cases (reference §6.9) plus skip rules, recycling and ordering."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from sliceplane.api.ipaddr import classify_ip
from sliceplane.api.subsets import repack_subsets
from sliceplane.endpointslice.types import (
    ANNOTATION_TRIGGER_TIME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    MIRRORING_CONTROLLER_NAME,
)
from sliceplane.mirroring.planner import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_LEADER,
    EVENT_INVALID_IP,
    EVENT_TOO_MANY_ADDRESSES,
    MirroringOptions,
    MirroringPlan,
    plan_mirroring,
    should_mirror,
)

Obj = dict[str, Any]
NS = "test"
NAME = "test-ep"
LAST_APPLIED = '{"apiVersion":"v1","kind":"Endpoints","subsets":[]}'


def port(name: str, number: int, protocol: str = "TCP") -> Obj:
    return {"name": name, "port": number, "protocol": protocol}


def addr(ip: str, hostname: str = "", node: str | None = None) -> Obj:
    out: Obj = {"ip": ip}
    if hostname:
        out["hostname"] = hostname
    if node is not None:
        out["nodeName"] = node
    return out


def subset(ports: list[Obj], ready: Sequence[Obj] = (), not_ready: Sequence[Obj] = ()) -> Obj:
    out: Obj = {"ports": ports}
    if ready:
        out["addresses"] = list(ready)
    if not_ready:
        out["notReadyAddresses"] = list(not_ready)
    return out


def endpoints(
    subsets: list[Obj],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    uid: str = "",
    deleting: bool = False,
) -> Obj:
    meta: Obj = {"name": NAME, "namespace": NS, "uid": uid}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}


SERVICE: Obj = {"metadata": {"name": NAME, "namespace": NS}, "spec": {"ports": []}}


def sport(name: str, number: int, protocol: str = "TCP") -> Obj:
    return {"name": name, "port": number, "protocol": protocol}


def ep(ip: str, hostname: str = "", node: str | None = None, ready: bool | None = None) -> Obj:
    out: Obj = {"addresses": [ip]}
    if hostname:
        out["hostname"] = hostname
    if node is not None:
        out["nodeName"] = node
    if ready is not None:
        out["conditions"] = {"ready": ready}
    return out


def existing(
    endpoints_: list[Obj],
    ports: list[Obj],
    name: str = "test-ep-1",
    address_type: str = "IPv4",
    annotations: dict[str, str] | None = None,
    owner_uid: str | None = None,
) -> Obj:
    # Like upstream's harness: the labels are always exactly the two mirroring labels.
    meta: Obj = {
        "name": name,
        "namespace": NS,
        "resourceVersion": "7",
        "labels": {LABEL_SERVICE_NAME: NAME, LABEL_MANAGED_BY: MIRRORING_CONTROLLER_NAME},
    }
    if annotations:
        meta["annotations"] = annotations
    if owner_uid is not None:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Endpoints", "name": NAME, "uid": owner_uid}
        ]
    return {"metadata": meta, "addressType": address_type, "ports": ports, "endpoints": endpoints_}


def apply(slices: list[Obj], plan: MirroringPlan) -> list[Obj]:
    """What the namespace would hold after the plan's API calls."""
    by_name = {s["metadata"]["name"]: s for s in slices}
    created = 0
    for action in plan.actions:
        obj = action.slice
        if action.verb == "create":
            created += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["name"] = obj["metadata"]["generateName"] + f"gen{created}"
            assert obj["metadata"]["name"] not in by_name
            by_name[obj["metadata"]["name"]] = obj
        elif action.verb == "update":
            assert obj["metadata"]["name"] in by_name
            by_name[obj["metadata"]["name"]] = obj
        else:
            del by_name[obj["metadata"]["name"]]
    return list(by_name.values())


def expect_mirrored(eps: Obj, slices: list[Obj], max_per_subset: int) -> None:
    """Upstream ``expectEndpointSlices``: every slice is labelled and annotated as
    mirrored, and each repacked subset is found, per family, with ready/hostname/node."""
    for s in slices:
        meta = s["metadata"]
        assert meta["name"].startswith(NAME)
        assert meta["labels"][LABEL_SERVICE_NAME] == NAME
        assert meta["labels"][LABEL_MANAGED_BY] == MIRRORING_CONTROLLER_NAME
        annotations = meta.get("annotations") or {}
        assert ANNOTATION_LAST_APPLIED not in annotations
        assert ANNOTATION_TRIGGER_TIME not in annotations
        for key, value in (eps["metadata"].get("annotations") or {}).items():
            if key not in (ANNOTATION_LAST_APPLIED, ANNOTATION_TRIGGER_TIME):
                assert annotations[key] == value
    for sub in repack_subsets(eps["subsets"]):
        ports = sorted((p["name"], p["port"], p["protocol"]) for p in sub.get("ports") or [])
        matching = [
            s
            for s in slices
            if sorted((p["name"], p["port"], p["protocol"]) for p in s["ports"]) == ports
        ]
        assert matching, f"no slice for ports {ports}"
        for family in ("IPv4", "IPv6"):
            expected: dict[str, tuple[bool, Obj]] = {}
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                for a in sub.get(field) or []:
                    parsed = classify_ip(a["ip"])
                    if parsed and parsed[0] == family and len(expected) < max_per_subset:
                        expected[a["ip"]] = (ready, a)
            got = [e for s in matching if s["addressType"] == family for e in s["endpoints"]]
            assert len(got) == len(expected)
            for endpoint in got:
                assert len(endpoint["addresses"]) == 1
                ready, a = expected[endpoint["addresses"][0]]
                assert endpoint["conditions"] == {"ready": ready}
                assert endpoint.get("hostname", "") == a.get("hostname", "")
                assert endpoint.get("nodeName") == a.get("nodeName")


HTTP80_HTTPS443 = [port("http", 80), port("https", 443, "UDP")]
HTTP3000_HTTPS3001 = [port("http", 3000), port("https", 3001, "UDP")]
SLICE_80_443 = [sport("http", 80), sport("https", 443, "UDP")]
TWO_SUBSETS = [
    subset(
        HTTP80_HTTPS443, [addr("10.0.0.1", "pod-1", "node-1"), addr("10.0.0.2", "pod-2", "node-2")]
    ),
    subset(
        HTTP3000_HTTPS3001,
        [
            addr("10.0.1.1", "pod-11", "node-1"),
            addr("10.0.1.2", "pod-12", "node-2"),
            addr("10.0.1.3", "pod-13", "node-3"),
        ],
    ),
]
ONE_HTTP = [subset([port("http", 80)], [addr("10.0.0.1", "pod-1")])]
ONE_HTTP_SLICE_EP = [ep("10.0.0.1", "pod-1", ready=True)]


def case(
    id_: str,
    subsets: list[Obj],
    slices: int,
    actions: int,
    *,
    existing_slices: list[Obj] | None = None,
    max_per_subset: int = 1000,
    desired: int | None = None,
    added: int | None = None,
    updated: int = 0,
    removed: int = 0,
    skipped: int = 0,
    creates: int | None = None,
    updates: int = 0,
    **ep_kwargs: Any,
) -> Any:
    return pytest.param(
        subsets,
        ep_kwargs,
        existing_slices or [],
        max_per_subset,
        slices,
        actions,
        {
            "desired": desired,
            "added": added,
            "updated": updated,
            "removed": removed,
            "skipped": skipped,
            "creates": creates,
            "updates": updates,
        },
        id=id_,
    )


RECONCILE_CASES = [
    case("no-subsets", [], 0, 0, desired=0, added=0, creates=0),
    case("no-addresses", [subset([port("http", 80)])], 0, 0, desired=0, added=0, creates=0),
    case(
        "1-subset-port-address",
        [subset([port("http", 80)], [addr("10.0.0.1", "pod-1", "node-1")])],
        1,
        1,
        desired=1,
        added=1,
        creates=1,
    ),
    case(
        "2-subsets-different-port-and-address",
        [
            subset([port("http", 80)], [addr("10.0.0.1", "pod-1", "node-1")]),
            subset([port("https", 443)], [addr("10.0.0.2", "pod-2", "node-1")]),
        ],
        2,
        2,
        desired=2,
        added=2,
        creates=2,
    ),
    case(
        "2-subsets-different-port-same-address",
        [
            subset([port("http", 80)], [addr("10.0.0.1", "pod-1", "node-1")]),
            subset([port("https", 443)], [addr("10.0.0.1", "pod-1", "node-1")]),
        ],
        1,
        1,
        desired=1,
        added=1,
        creates=1,
    ),
    case(
        "2-subsets-different-address-same-port",
        [
            subset([port("http", 80)], [addr("10.0.0.1", "pod-1", "node-1")]),
            subset([port("http", 80)], [addr("10.0.0.2", "pod-2", "node-1")]),
        ],
        1,
        1,
        desired=2,
        added=2,
        creates=1,
    ),
    case(
        "pending-deletion",
        [subset([port("http", 80)], [addr("10.0.0.1", "pod-1", "node-1")])],
        0,
        0,
        deleting=True,
    ),
    case(
        "existing-slice-same-fields",
        ONE_HTTP,
        1,
        0,
        uid="d8f2c1f6-5285-4b3c-b3c1-9b89f9e7ed7a",
        existing_slices=[
            existing(
                ONE_HTTP_SLICE_EP,
                [sport("http", 80)],
                owner_uid="d8f2c1f6-5285-4b3c-b3c1-9b89f9e7ed7a",
            )
        ],
        added=0,
        creates=0,
    ),
    case(
        "existing-slice-same-fields-different-owner-uid",
        ONE_HTTP,
        1,
        1,
        uid="d8f2c1f6-5285-4b3c-b3c1-9b89f9e7ed7a",
        existing_slices=[
            existing(
                ONE_HTTP_SLICE_EP,
                [sport("http", 80)],
                owner_uid="fb91e798-1875-4857-b5eb-e2c878157b4d",
            )
        ],
        added=0,
        creates=0,
        updates=1,
    ),
    case(
        "existing-slice-with-additional-annotation",
        ONE_HTTP,
        1,
        1,
        existing_slices=[
            existing(ONE_HTTP_SLICE_EP, [sport("http", 80)], annotations={"foo": "bar"})
        ],
        updates=1,
    ),
    case(
        "existing-slice-same-fields-but-the-label",
        ONE_HTTP,
        1,
        1,
        labels={"foo": "bar"},
        existing_slices=[
            existing(ONE_HTTP_SLICE_EP, [sport("http", 80)], annotations={"foo": "bar"})
        ],
        updates=1,
    ),
    case(
        "1-subset-2-ports-2-addresses",
        [TWO_SUBSETS[0]],
        1,
        1,
        desired=2,
        added=2,
        creates=1,
    ),
    case(
        "1-subset-2-ports-2-not-ready-addresses",
        [
            subset(
                HTTP80_HTTPS443,
                not_ready=[
                    addr("10.0.0.1", "pod-1", "node-1"),
                    addr("10.0.0.2", "pod-2", "node-2"),
                ],
            )
        ],
        1,
        1,
        desired=2,
        added=2,
        creates=1,
    ),
    case(
        "1-subset-2-ready-2-not-ready",
        [
            subset(
                HTTP80_HTTPS443,
                [addr("10.1.1.1", "pod-11", "node-1"), addr("10.1.1.2", "pod-12", "node-2")],
                [addr("10.0.0.1", "pod-1", "node-1"), addr("10.0.0.2", "pod-2", "node-2")],
            )
        ],
        1,
        1,
        desired=4,
        added=4,
        creates=1,
    ),
    case("2-subsets-multiple-ports", TWO_SUBSETS, 2, 2, desired=5, added=5, creates=2),
    case(
        "2-subsets-existing-empty-slice",
        TWO_SUBSETS,
        2,
        2,
        existing_slices=[existing([], SLICE_80_443)],
        desired=5,
        added=5,
        creates=1,
        updates=1,
    ),
    case(
        "2-subsets-existing-slice-with-some-addresses",
        TWO_SUBSETS,
        2,
        2,
        existing_slices=[
            existing(
                [
                    ep("10.0.0.2", "pod-2"),
                    {"addresses": ["10.0.0.1", "10.0.0.3"], "hostname": "pod-1"},
                ],
                SLICE_80_443,
            )
        ],
        desired=5,
        added=4,
        updated=1,
        removed=1,
        creates=1,
        updates=1,
    ),
    case(
        "2-subsets-existing-slice-identical-to-subset",
        TWO_SUBSETS,
        2,
        1,
        existing_slices=[
            existing(
                [
                    ep("10.0.0.1", "pod-1", "node-1", ready=True),
                    ep("10.0.0.2", "pod-2", "node-2", ready=True),
                ],
                SLICE_80_443,
            )
        ],
        desired=5,
        added=3,
        creates=1,
    ),
    case(
        "dual-stack",
        [
            subset(
                HTTP80_HTTPS443,
                [
                    addr("2001:db8:2222:3333:4444:5555:6666:7777", "pod-1", "node-1"),
                    addr("10.0.0.2", "pod-2", "node-2"),
                ],
            ),
            subset(
                HTTP3000_HTTPS3001,
                [
                    addr("10.0.1.1", "pod-11", "node-1"),
                    addr("10.0.1.2", "pod-12", "node-2"),
                    addr("2001:db8:3333:4444:5555:6666:7777:8888", "pod-13", "node-3"),
                ],
            ),
        ],
        4,
        4,
        desired=5,
        added=5,
        creates=4,
    ),
    case(
        "ipv6-only",
        [
            subset(
                HTTP80_HTTPS443,
                [
                    addr("2001:db8:1111:3333:4444:5555:6666:7777", "pod-1", "node-1"),
                    addr("2001:db8:2222:3333:4444:5555:6666:7777", "pod-2", "node-2"),
                ],
            ),
            subset(
                HTTP3000_HTTPS3001,
                [
                    addr("2001:db8:3333:3333:4444:5555:6666:7777", "pod-11", "node-1"),
                    addr("2001:db8:4444:3333:4444:5555:6666:7777", "pod-12", "node-2"),
                    addr("2001:db8:5555:3333:4444:5555:6666:7777", "pod-13", "node-3"),
                ],
            ),
        ],
        2,
        2,
        desired=5,
        added=5,
        creates=2,
    ),
    case(
        "some-invalid-addresses",
        [
            subset(
                HTTP80_HTTPS443,
                [
                    addr("2001:db8:1111:3333:4444:5555:6666:7777", "pod-1", "node-1"),
                    addr("this-is-not-an-ip", "pod-2", "node-2"),
                ],
            ),
            subset(
                HTTP3000_HTTPS3001,
                [
                    addr("this-is-also-not-an-ip", "pod-11", "node-1"),
                    addr("2001:db8:4444:3333:4444:5555:6666:7777", "pod-12", "node-2"),
                    addr("2001:db8:5555:3333:4444:5555:6666:7777", "pod-13", "node-3"),
                ],
            ),
        ],
        2,
        2,
        desired=3,
        added=3,
        skipped=2,
        creates=2,
    ),
    case(
        "all-invalid-addresses",
        [
            subset(
                HTTP80_HTTPS443,
                [addr("this-is-not-an-ip1", "pod-1"), addr("this-is-not-an-ip12", "pod-2")],
            ),
            subset(
                HTTP3000_HTTPS3001,
                [
                    addr("this-is-not-an-ip11", "pod-11"),
                    addr("this-is-not-an-ip12", "pod-12"),
                    addr("this-is-not-an-ip3", "pod-13"),
                ],
            ),
        ],
        0,
        0,
        desired=0,
        added=0,
        skipped=5,
        creates=0,
    ),
    case(
        "1-subset-exceeding-max-endpoints-per-subset",
        TWO_SUBSETS,
        2,
        2,
        max_per_subset=2,
        desired=4,
        added=4,
        skipped=1,
        creates=2,
    ),
    case(
        "last-applied-configuration-not-mirrored-on-create",
        ONE_HTTP,
        1,
        1,
        annotations={ANNOTATION_LAST_APPLIED: LAST_APPLIED},
        desired=1,
        added=1,
        creates=1,
    ),
    case(
        "last-applied-configuration-empty-value-not-mirrored",
        ONE_HTTP,
        1,
        1,
        annotations={ANNOTATION_LAST_APPLIED: ""},
        desired=1,
        added=1,
        creates=1,
    ),
    case(
        "annotations-other-than-last-applied-are-mirrored",
        ONE_HTTP,
        1,
        1,
        annotations={ANNOTATION_LAST_APPLIED: LAST_APPLIED, "foo": "bar"},
        desired=1,
        added=1,
        creates=1,
    ),
    case(
        "last-applied-configuration-removed-from-existing-slice",
        ONE_HTTP,
        1,
        1,
        existing_slices=[
            existing(
                ONE_HTTP_SLICE_EP,
                [sport("http", 80)],
                annotations={ANNOTATION_LAST_APPLIED: LAST_APPLIED},
            )
        ],
        updates=1,
    ),
    case(
        "trigger-time-annotation-never-mirrored",
        ONE_HTTP,
        1,
        0,
        annotations={ANNOTATION_TRIGGER_TIME: "2024-01-01T00:00:00Z"},
        existing_slices=[existing(ONE_HTTP_SLICE_EP, [sport("http", 80)])],
    ),
]


@pytest.mark.parametrize(
    ("subsets", "ep_kwargs", "existing_slices", "max_per_subset", "slices", "actions", "totals"),
    RECONCILE_CASES,
)
def test_reconcile(
    subsets: list[Obj],
    ep_kwargs: dict[str, Any],
    existing_slices: list[Obj],
    max_per_subset: int,
    slices: int,
    actions: int,
    totals: dict[str, int | None],
) -> None:
    eps = endpoints(subsets, **ep_kwargs)
    plan = plan_mirroring(eps, SERVICE, existing_slices, MirroringOptions(max_per_subset))
    assert len(plan.actions) == actions, plan.actions
    result = apply(existing_slices, plan)
    assert len(result) == slices
    if slices:
        expect_mirrored(eps, result, max_per_subset)
    if totals["desired"] is not None:
        assert plan.desired_endpoints == totals["desired"]
    if totals["added"] is not None:
        assert plan.endpoints_added == totals["added"]
    assert plan.endpoints_updated == totals["updated"]
    assert plan.endpoints_removed == totals["removed"]
    assert plan.addresses_skipped == totals["skipped"]
    if totals["creates"] is not None:
        assert plan.count("create") == totals["creates"]
    assert plan.count("update") == totals["updates"]
    verbs = [a.verb for a in plan.actions]
    assert verbs == sorted(verbs, key=["create", "update", "delete"].index)


def test_slice_shape_of_a_created_slice() -> None:
    eps = endpoints(
        [
            subset(
                [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "h2c"}],
                [
                    {
                        "ip": "10.0.0.1",
                        "hostname": "pod-1",
                        "nodeName": "node-1",
                        "targetRef": {"kind": "Pod", "namespace": NS, "name": "p1", "uid": "u1"},
                    }
                ],
                [addr("10.0.0.2")],
            )
        ],
        labels={"app": "x", LABEL_SERVICE_NAME: "other"},
        annotations={"foo": "bar", ANNOTATION_TRIGGER_TIME: "2024-01-01T00:00:00Z"},
        uid="ep-uid",
    )
    plan = plan_mirroring(eps, SERVICE, [])
    [action] = plan.actions
    assert action.verb == "create"
    assert action.slice == {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": "test-ep-",
            "namespace": NS,
            "labels": {
                "app": "x",
                LABEL_SERVICE_NAME: NAME,
                LABEL_MANAGED_BY: MIRRORING_CONTROLLER_NAME,
            },
            "annotations": {"foo": "bar"},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "name": NAME,
                    "uid": "ep-uid",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.0.0.1"],
                "conditions": {"ready": True},
                "hostname": "pod-1",
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "namespace": NS, "name": "p1", "uid": "u1"},
            },
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
        ],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "h2c"}],
    }


def test_update_keeps_name_and_resource_version() -> None:
    current = existing([ep("10.0.0.9", "pod-9", ready=True)], [sport("http", 80)])
    plan = plan_mirroring(endpoints(ONE_HTTP), SERVICE, [current])
    [action] = plan.actions
    assert action.verb == "update"
    meta = action.slice["metadata"]
    assert (meta["name"], meta["resourceVersion"]) == ("test-ep-1", "7")
    assert "generateName" not in meta
    assert [e["addresses"] for e in action.slice["endpoints"]] == [["10.0.0.1"]]
    assert (plan.endpoints_added, plan.endpoints_removed) == (1, 1)


def test_not_ready_trumps_ready_for_the_same_address() -> None:
    eps = endpoints([subset([port("http", 80)], [addr("10.0.0.1")], [addr("10.0.0.1")])])
    [action] = plan_mirroring(eps, SERVICE, []).actions
    assert action.slice["endpoints"] == [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": False}}
    ]


def test_truncation_keeps_ready_addresses_first_and_reports_it() -> None:
    ready = [addr(f"10.0.0.{i}") for i in range(1, 4)]
    not_ready = [addr(f"10.0.1.{i}") for i in range(1, 4)]
    eps = endpoints([subset([port("http", 80)], ready, not_ready)])
    plan = plan_mirroring(eps, SERVICE, [], MirroringOptions(max_endpoints_per_subset=4))
    [action] = plan.actions
    got = [(e["addresses"][0], e["conditions"]["ready"]) for e in action.slice["endpoints"]]
    assert got == [("10.0.0.1", True), ("10.0.0.2", True), ("10.0.0.3", True), ("10.0.1.1", False)]
    assert plan.addresses_skipped == 2
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", EVENT_TOO_MANY_ADDRESSES)]
    assert plan.events[0].message == (
        "A max of 4 addresses can be mirrored to EndpointSlices per Endpoints subset. "
        "2 addresses were skipped"
    )


def test_never_splits_at_default_max() -> None:
    ips = [addr(f"10.{i // 250}.{i % 250}.1") for i in range(1200)]
    plan = plan_mirroring(endpoints([subset([port("http", 80)], ips)]), SERVICE, [])
    [action] = plan.actions
    assert len(action.slice["endpoints"]) == 1000
    assert plan.addresses_skipped == 200


def test_invalid_addresses_event() -> None:
    eps = endpoints([subset([port("http", 80)], [addr("nope"), addr("1.2.3.4")])])
    plan = plan_mirroring(eps, SERVICE, [])
    assert [(e.reason, e.message) for e in plan.events] == [
        (EVENT_INVALID_IP, "Skipped 1 invalid IP addresses when mirroring to EndpointSlices")
    ]


def test_extra_slices_of_a_key_are_deleted() -> None:
    first = existing(ONE_HTTP_SLICE_EP, [sport("http", 80)], name="a")
    second = existing([ep("10.0.0.5", ready=True)], [sport("http", 80)], name="b")
    plan = plan_mirroring(endpoints(ONE_HTTP), SERVICE, [first, second])
    assert [(a.verb, a.slice["metadata"]["name"]) for a in plan.actions] == [("delete", "b")]


def test_slices_for_ports_no_longer_wanted_are_recycled_into_updates() -> None:
    stale = existing([ep("10.0.0.1", "pod-1", ready=True)], [sport("http", 8080)], name="old")
    plan = plan_mirroring(endpoints(ONE_HTTP), SERVICE, [stale])
    [action] = plan.actions
    assert action.verb == "update"
    assert action.slice["metadata"]["name"] == "old"
    assert action.slice["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]


def test_recycling_only_pairs_slices_of_one_address_type() -> None:
    stale_v6 = existing([], [sport("http", 8080)], name="old-v6", address_type="IPv6")
    eps = endpoints([subset([port("http", 80)], [addr("10.0.0.1"), addr("fd00::1")])])
    plan = plan_mirroring(eps, SERVICE, [stale_v6])
    summary = [
        (a.verb, a.slice["addressType"], a.slice["metadata"].get("name")) for a in plan.actions
    ]
    assert summary == [("create", "IPv4", None), ("update", "IPv6", "old-v6")]


def test_deleting_endpoints_still_updates_and_deletes() -> None:
    stale = existing([], [sport("http", 8080)], name="old")
    eps = endpoints(
        [subset([port("http", 80)], [addr("10.0.0.1")]), subset([port("x", 1)], [addr("fd00::1")])],
        deleting=True,
    )
    plan = plan_mirroring(eps, SERVICE, [stale])
    assert [(a.verb, a.slice["addressType"]) for a in plan.actions] == [("update", "IPv4")]


def test_fqdn_and_foreign_slices() -> None:
    fqdn = existing([], [sport("http", 80)], name="fqdn", address_type="FQDN")
    foreign = existing([], [sport("http", 80)], name="foreign")
    foreign["metadata"]["labels"][LABEL_MANAGED_BY] = "someone-else"
    plan = plan_mirroring(endpoints(ONE_HTTP), SERVICE, [fqdn, foreign])
    assert [(a.verb, a.slice["metadata"].get("name")) for a in plan.actions] == [
        ("create", None),
        ("delete", "fqdn"),
    ]


def test_target_ref_resource_version_is_not_a_change() -> None:
    ref = {"kind": "Pod", "namespace": NS, "name": "p", "uid": "u", "resourceVersion": "1"}
    eps = endpoints([subset([port("http", 80)], [{"ip": "10.0.0.1", "targetRef": ref}])])
    slice_ep = {
        "addresses": ["10.0.0.1"],
        "conditions": {"ready": True},
        "targetRef": {**ref, "resourceVersion": "2"},
    }
    plan = plan_mirroring(eps, SERVICE, [existing([slice_ep], [sport("http", 80)])])
    assert plan.actions == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10.0.0.1", ("IPv4", "10.0.0.1"), id="v4"),
        pytest.param("010.000.000.001", ("IPv4", "10.0.0.1"), id="v4-leading-zeros"),
        pytest.param("::ffff:10.0.0.1", ("IPv4", "10.0.0.1"), id="v4-mapped"),
        pytest.param(
            "1234::5678:0000:0000:9ABC:DEF0", ("IPv6", "1234::5678:0:0:9abc:def0"), id="v6"
        ),
        pytest.param("fe80::1%eth0", None, id="v6-zone"),
        pytest.param("256.0.0.1", None, id="v4-out-of-range"),
        pytest.param("example.com", None, id="fqdn"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_ip(text: str, expected: tuple[str, str] | None) -> None:
    assert classify_ip(text) == expected


@pytest.mark.parametrize(
    ("eps", "service", "expected"),
    [
        pytest.param(endpoints([]), SERVICE, True, id="selectorless-service"),
        pytest.param(None, SERVICE, False, id="no-endpoints"),
        pytest.param(endpoints([]), None, False, id="no-service"),
        pytest.param(
            endpoints([], labels={LABEL_SKIP_MIRROR: "true"}), SERVICE, False, id="skip-mirror"
        ),
        pytest.param(
            endpoints([], labels={LABEL_SKIP_MIRROR: "false"}), SERVICE, True, id="skip-false"
        ),
        pytest.param(
            endpoints([], annotations={ANNOTATION_LEADER: "{}"}), SERVICE, False, id="leader"
        ),
        pytest.param(
            endpoints([]),
            {"metadata": SERVICE["metadata"], "spec": {"selector": {"app": "x"}}},
            False,
            id="service-with-selector",
        ),
        pytest.param(
            endpoints([]),
            {"metadata": SERVICE["metadata"], "spec": {"selector": {}}},
            True,
            id="empty-selector-is-none",
        ),
    ],
)
def test_should_mirror(eps: Obj | None, service: Obj | None, expected: bool) -> None:
    assert should_mirror(eps, service) is expected


def test_not_mirrored_means_all_mirrored_slices_are_deleted() -> None:
    slices = [existing(ONE_HTTP_SLICE_EP, [sport("http", 80)], name=n) for n in ("a", "b")]
    eps = endpoints(ONE_HTTP, labels={LABEL_SKIP_MIRROR: "true"})
    plan = plan_mirroring(eps, SERVICE, slices)
    assert [(a.verb, a.slice["metadata"]["name"]) for a in plan.actions] == [
        ("delete", "a"),
        ("delete", "b"),
    ]


def test_inputs_are_never_mutated() -> None:
    eps = endpoints(
        [*TWO_SUBSETS, subset([port("x", 9)], [addr("fd00::1")], [addr("10.9.9.9")])],
        labels={"a": "b"},
        annotations={"c": "d", ANNOTATION_LAST_APPLIED: "{}"},
        uid="u",
    )
    slices = [
        existing([ep("10.0.0.2", "pod-2")], SLICE_80_443, owner_uid="old"),
        existing([], [sport("gone", 1)], name="stale", address_type="IPv6"),
        existing([], SLICE_80_443, name="dup"),
    ]
    service = copy.deepcopy(SERVICE)
    before = copy.deepcopy((eps, service, slices))
    plan = plan_mirroring(eps, service, slices, MirroringOptions(2))
    assert (eps, service, slices) == before
    # The planned objects are the planner's own: editing them leaves the inputs alone.
    for action in plan.actions:
        action.slice["metadata"].setdefault("labels", {})["touched"] = "yes"
        for e in action.slice.get("endpoints", []):
            e["addresses"].append("x")
    assert (eps, service, slices) == before
