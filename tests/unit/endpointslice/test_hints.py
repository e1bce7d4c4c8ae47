"""The hints pass (§2.12): which mechanism runs, its events, and upstream's worked examples."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from sliceplane.endpointslice.hints import make_hints_pass, valid_traffic_distribution
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.topologycache import TopologyCache
from sliceplane.endpointslice.types import EventSpec, HintsResult

Obj = dict[str, Any]

DEPRECATED = "service.kubernetes.io/topology-aware-hints"
MODE = "service.kubernetes.io/topology-mode"
ZONES = ("zone-a", "zone-b", "zone-c")


def service(annotations: dict[str, str] | None = None, td: str | None = None) -> Obj:
    spec: Obj = {"selector": {"foo": "bar"}, "ipFamilies": ["IPv4"]}
    if td is not None:
        spec["trafficDistribution"] = td
    meta: Obj = {"name": "foo", "namespace": "testing"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": spec}


def ep(
    addr: str,
    zone: str | None,
    node: str | None = None,
    *,
    ready: bool = True,
    hint: str | None = None,
) -> Obj:
    out: Obj = {"addresses": [addr], "conditions": {"ready": ready}}
    if zone is not None:
        out["zone"] = zone
    if node is not None:
        out["nodeName"] = node
    if hint is not None:
        out["hints"] = {"forZones": [{"name": hint}]}
    return out


def sl(*endpoints: Obj, name: str | None = None, address_type: str = "IPv4") -> Obj:
    out: Obj = {"addressType": address_type, "endpoints": list(endpoints)}
    if name is not None:
        out["metadata"] = {"name": name, "resourceVersion": "3"}
    return out


def cluster_nodes(per_zone: int = 10, cpu: str = "100m") -> list[Obj]:
    """TestReconcileTopology's cluster: 3 zones, ``per_zone`` ready nodes of equal CPU."""
    return [
        {
            "metadata": {"name": f"node-{z}-{i}", "labels": {"topology.kubernetes.io/zone": z}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "allocatable": {"cpu": cpu},
            },
        }
        for z in ZONES
        for i in range(per_zone)
    ]


def topology() -> TopologyCache:
    cache = TopologyCache()
    cache.set_nodes(cluster_nodes())
    return cache


def zone_hints(slices: list[Obj]) -> Counter[str]:
    return Counter(
        z["name"]
        for s in slices
        for e in s["endpoints"]
        for z in (e.get("hints") or {}).get("forZones") or []
    )


def cross_zone(slices: list[Obj]) -> int:
    return sum(
        1
        for s in slices
        for e in s["endpoints"]
        if e.get("hints") and e["hints"]["forZones"][0]["name"] != e.get("zone")
    )


def all_slices(result: HintsResult) -> list[Obj]:
    return [*result.to_create, *result.to_update, *result.unchanged]


def any_hints(slices: list[Obj]) -> bool:
    return any(e.get("hints") is not None for s in slices for e in s["endpoints"])


def enabled(addr: str = "IPv4") -> EventSpec:
    return EventSpec(
        "Normal",
        "TopologyAwareHintsEnabled",
        f"Topology Aware Hints has been enabled, addressType: {addr}",
    )


def disabled(
    message: str = "Topology Aware Hints has been disabled", addr: str = "IPv4"
) -> EventSpec:
    return EventSpec("Warning", "TopologyAwareHintsDisabled", f"{message}, addressType: {addr}")


# ---------------------------------------------------------------------------------------------
# TestReconcileTopology worked examples, on the pass itself
# ---------------------------------------------------------------------------------------------

# Pods i*100+j on node j of zone i, as upstream; the slices group them like its slicePods.
SLICE_ZONE_C = sl(*(ep(f"1.2.3.{n}", "zone-c") for n in (27, 28, 29)), name="zone-c")
SLICE_A_C = sl(
    ep("1.2.3.5", "zone-a"),
    ep("1.2.3.6", "zone-a"),
    ep("1.2.3.25", "zone-c"),
    ep("1.2.3.26", "zone-c"),
    name="zone-a-c",
)
SLICE_A_B = sl(
    ep("1.2.3.7", "zone-a"),
    ep("1.2.3.8", "zone-a"),
    ep("1.2.3.16", "zone-b"),
    ep("1.2.3.17", "zone-b"),
    ep("1.2.3.18", "zone-b"),
    name="zone-a-b",
)


@pytest.mark.parametrize(
    ("with_cache", "annotation", "existing", "want_hints", "want_cross", "want_updates", "events"),
    [
        pytest.param(
            False,
            "auto",
            [SLICE_ZONE_C],
            None,
            0,
            0,
            [],
            id="no change, topologyCache disabled, annotation == auto",
        ),
        pytest.param(
            True,
            "auto",
            [SLICE_ZONE_C],
            {"zone-a": 1, "zone-b": 1, "zone-c": 1},
            2,
            1,
            [enabled()],
            id="enabling topologyCache, hintsAnnotation == auto",
        ),
        pytest.param(
            True,
            "auto",
            [SLICE_A_C],
            None,
            0,
            0,
            [
                disabled(
                    "Unable to allocate minimum required endpoints to each zone without "
                    "exceeding overload threshold (4 endpoints, 3 zones)"
                )
            ],
            id="topology enabled, hintsAnnotation==auto, ratio beyond threshold",
        ),
        pytest.param(
            True,
            "Auto",
            [SLICE_A_C, SLICE_A_B],
            {"zone-a": 3, "zone-b": 3, "zone-c": 3},
            1,
            2,
            [enabled()],
            id="topology enabled, hintsAnnotation==Auto, more slices and endpoints",
        ),
        pytest.param(
            True,
            "disabled",
            [SLICE_A_C, SLICE_A_B],
            None,
            0,
            0,
            [],
            id="topology enabled, hintsAnnotation==disabled, more slices and endpoints",
        ),
    ],
)
def test_reconcile_topology_worked_examples(
    with_cache: bool,
    annotation: str,
    existing: list[Obj],
    want_hints: dict[str, int] | None,
    want_cross: int,
    want_updates: int,
    events: list[EventSpec],
) -> None:
    cache = topology() if with_cache else None
    hints_pass = make_hints_pass(cache)
    unchanged = copy.deepcopy(existing)
    result = hints_pass(service({DEPRECATED: annotation}), "IPv4", [], [], unchanged)

    assert result.to_create == []
    assert len(result.to_update) == want_updates
    assert len(result.unchanged) == len(existing) - want_updates
    assert result.events == events
    if want_hints is None:
        assert not any_hints(all_slices(result))
    else:
        slices = all_slices(result)
        assert all(len(e["hints"]["forZones"]) == 1 for s in slices for e in s["endpoints"])
        assert zone_hints(slices) == Counter(want_hints)
        assert cross_zone(slices) == want_cross
        assert cache is not None
        assert cache.hints_by_address_type("testing/foo") == {"IPv4": want_hints}
    assert unchanged == existing  # the listed slices themselves are never edited


# ---------------------------------------------------------------------------------------------
# Which mechanism runs (TestReconcile_TrafficDistribution and the §2.12 decision)
# ---------------------------------------------------------------------------------------------


def six_endpoints() -> Obj:
    """TestReconcile_TrafficDistribution: node-0/zone-a {0}, node-1/zone-b {1,2,3},
    node-2/zone-c {4,5}, in one new slice."""
    where = ["zone-a", "zone-b", "zone-b", "zone-b", "zone-c", "zone-c"]
    return sl(*(ep(f"1.2.3.{4 + i}", z, f"node-{ZONES.index(z)}") for i, z in enumerate(where)))


@pytest.mark.parametrize(
    (
        "with_cache",
        "prefer_same",
        "td",
        "annotations",
        "want_hints",
        "want_cross",
        "want_nodes",
        "events",
    ),
    [
        pytest.param(
            True,
            True,
            "PreferClose",
            {DEPRECATED: "Disabled"},
            {"zone-a": 1, "zone-b": 3, "zone-c": 2},
            0,
            False,
            [],
            id="trafficDistribution=PreferClose, topologyAnnotation=Disabled",
        ),
        pytest.param(
            True,
            False,
            "PreferSameZone",
            {DEPRECATED: "Disabled"},
            {},
            0,
            False,
            [],
            id="PreferSameZone ignored without the PreferSameTrafficDistribution option",
        ),
        pytest.param(
            True,
            True,
            "PreferSameZone",
            None,
            {"zone-a": 1, "zone-b": 3, "zone-c": 2},
            0,
            False,
            [],
            id="PreferSameZone with the option",
        ),
        pytest.param(
            True,
            True,
            "PreferSameNode",
            None,
            {"zone-a": 1, "zone-b": 3, "zone-c": 2},
            0,
            True,
            [],
            id="PreferSameNode with the option sets node hints too",
        ),
        pytest.param(
            True,
            True,
            "PreferClose",
            {DEPRECATED: "Auto"},
            {"zone-a": 2, "zone-b": 2, "zone-c": 2},
            1,
            False,
            [enabled()],
            id="trafficDistribution=PreferClose, topologyAnnotation=Auto",
        ),
        pytest.param(
            True,
            True,
            None,
            None,
            {},
            0,
            False,
            [],
            id="trafficDistribution=<empty>, topologyAnnotation=<empty>",
        ),
        pytest.param(
            True,
            True,
            "PreferFar",
            None,
            {},
            0,
            False,
            [],
            id="unknown trafficDistribution removes hints",
        ),
        pytest.param(
            False,
            True,
            "PreferClose",
            {MODE: "auto"},
            {},
            0,
            False,
            [],
            id="annotation without a cache: hints removed, trafficDistribution ignored",
        ),
        pytest.param(
            False,
            True,
            "PreferClose",
            None,
            {"zone-a": 1, "zone-b": 3, "zone-c": 2},
            0,
            False,
            [],
            id="no cache, PreferClose",
        ),
    ],
)
def test_decision(
    with_cache: bool,
    prefer_same: bool,
    td: str | None,
    annotations: dict[str, str] | None,
    want_hints: dict[str, int],
    want_cross: int,
    want_nodes: bool,
    events: list[EventSpec],
) -> None:
    hints_pass = make_hints_pass(
        topology() if with_cache else None, prefer_same_traffic_distribution=prefer_same
    )
    create = [six_endpoints()]
    # A stale hint on the way in proves "removes" really removes.
    create[0]["endpoints"][0]["hints"] = {"forZones": [{"name": "zone-c"}]}
    result = hints_pass(service(annotations, td), "IPv4", create, [], [])
    assert result.to_update == [] and result.unchanged == []
    assert result.events == events
    assert zone_hints(result.to_create) == Counter(want_hints)
    assert cross_zone(result.to_create) == want_cross
    node_hints = [
        (e.get("hints") or {}).get("forNodes") for s in result.to_create for e in s["endpoints"]
    ]
    if want_nodes:
        assert node_hints == [[{"name": e["nodeName"]}] for e in create[0]["endpoints"]]
    else:
        assert node_hints == [None] * 6
    if not want_hints:
        assert not any_hints(result.to_create)


@pytest.mark.parametrize(
    ("value", "prefer_same", "want"),
    [
        pytest.param("PreferClose", False, True, id="PreferClose always"),
        pytest.param("PreferSameZone", False, False, id="PreferSameZone gated off"),
        pytest.param("PreferSameNode", False, False, id="PreferSameNode gated off"),
        pytest.param("PreferSameZone", True, True, id="PreferSameZone gated on"),
        pytest.param("PreferSameNode", True, True, id="PreferSameNode gated on"),
        pytest.param(None, True, False, id="unset"),
        pytest.param("preferClose", True, False, id="case matters"),
    ],
)
def test_valid_traffic_distribution(value: str | None, prefer_same: bool, want: bool) -> None:
    assert valid_traffic_distribution(value, prefer_same=prefer_same) is want


# ---------------------------------------------------------------------------------------------
# Switching the annotation off
# ---------------------------------------------------------------------------------------------


def _hinted_cache() -> tuple[TopologyCache, list[Obj]]:
    """A cache that published hints for testing/foo, and the slice it published."""
    cache = topology()
    on = make_hints_pass(cache)
    first = on(service({MODE: "Auto"}), "IPv4", [], [], [copy.deepcopy(SLICE_ZONE_C)])
    assert first.events == [enabled()]
    published = copy.deepcopy(first.to_update[0])
    return cache, [published]


def test_annotation_removed_warns_clears_cache_and_strips_hints() -> None:
    cache, existing = _hinted_cache()
    listed = copy.deepcopy(existing)
    result = make_hints_pass(cache)(service(), "IPv4", [], [], listed)
    assert result.events == [disabled()]
    assert not cache.has_populated_hints("testing/foo")
    assert cache.hints_by_address_type("testing/foo") is None
    assert result.unchanged == []
    assert len(result.to_update) == 1 and not any_hints(result.to_update)
    assert result.to_update[0] is not listed[0]
    assert listed == existing  # still hinted: the deep copy was stripped, not the original
    # Next sync: nothing cached any more, so no second warning.
    again = make_hints_pass(cache)(service(), "IPv4", [], [], result.to_update)
    assert again.events == [] and again.to_update == []


def test_annotation_removed_with_traffic_distribution_keeps_fitting_slices() -> None:
    cache, _ = _hinted_cache()
    own = sl(ep("1.2.3.40", "zone-a", hint="zone-a"), name="own")
    cross = sl(ep("1.2.3.41", "zone-b", hint="zone-a"), name="cross")
    result = make_hints_pass(cache)(service(None, "PreferClose"), "IPv4", [], [], [own, cross])
    assert result.events == [disabled()]
    assert result.unchanged == [own]  # not stripped first: trafficdist agrees with its hint
    assert [s["metadata"]["name"] for s in result.to_update] == ["cross"]
    assert zone_hints(result.to_update) == Counter({"zone-b": 1})
    assert cross["endpoints"][0]["hints"] == {"forZones": [{"name": "zone-a"}]}


def test_dual_stack_disable_warns_once_per_service() -> None:
    # The "had hints" flag is per Service: the first family's pass clears it.
    cache = topology()
    cache.set_hints("testing/foo", "IPv4", {"zone-a": 1})
    cache.set_hints("testing/foo", "IPv6", {"zone-a": 1})
    off = make_hints_pass(cache)
    assert off(service(), "IPv4", [], [], []).events == [disabled()]
    assert off(service(), "IPv6", [], [], []).events == []
    assert cache.hints_by_address_type("testing/foo") is None


def test_enabled_event_once_then_quiet_while_hints_fit() -> None:
    cache = topology()
    on = make_hints_pass(cache)
    svc = service({DEPRECATED: "auto"})
    first = on(svc, "IPv4", [], [], [copy.deepcopy(SLICE_A_C), copy.deepcopy(SLICE_A_B)])
    assert first.events == [enabled()]
    second = on(svc, "IPv4", [], [], copy.deepcopy(first.to_update))
    assert second.events == [] and second.to_update == [] and len(second.unchanged) == 2


# ---------------------------------------------------------------------------------------------
# Inputs outside to_create/to_update are never mutated
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("with_cache", "annotations", "td", "prehinted"),
    [
        pytest.param(True, {DEPRECATED: "auto"}, None, False, id="annotation algorithm"),
        pytest.param(True, {DEPRECATED: "auto"}, None, True, id="annotation, unchanged hinted"),
        pytest.param(True, None, None, True, id="strip after disabling"),
        pytest.param(True, None, "PreferClose", False, id="trafficdist"),
        pytest.param(False, None, "PreferSameNode", True, id="trafficdist, no cache"),
        pytest.param(True, {DEPRECATED: "auto"}, None, None, id="annotation failure path"),
    ],
)
def test_inputs_outside_creates_and_updates_are_not_mutated(
    with_cache: bool,
    annotations: dict[str, str] | None,
    td: str | None,
    prehinted: bool | None,
) -> None:
    cache = topology() if with_cache else None
    if cache is not None:
        cache.set_hints("testing/foo", "IPv4", {"zone-a": 9})
    svc = service(annotations, td)
    if prehinted is None:  # a ready zone-less endpoint makes the annotation algorithm give up
        unchanged = [sl(ep("1.2.3.1", "zone-a", hint="zone-a"), ep("1.2.3.2", None), name="x")]
    else:
        unchanged = [copy.deepcopy(SLICE_A_C), copy.deepcopy(SLICE_A_B)]
        if prehinted:
            for s in unchanged:
                for e in s["endpoints"]:
                    e["hints"] = {"forZones": [{"name": "zone-b"}]}
    create = [sl(ep("1.2.3.9", "zone-b"), ep("1.2.3.10", "zone-c"))]
    update = [sl(ep("1.2.3.11", "zone-c"), name="u")]
    create_list, update_list, unchanged_list = list(create), list(update), list(unchanged)
    before_svc, before_unchanged = copy.deepcopy(svc), copy.deepcopy(unchanged)

    result = make_hints_pass(cache)(svc, "IPv4", create_list, update_list, unchanged_list)

    assert svc == before_svc
    assert unchanged == before_unchanged
    assert (create_list, update_list, unchanged_list) == (create, update, unchanged)
    originals = {id(s) for s in unchanged}
    assert not any(id(s) in originals for s in (*result.to_create, *result.to_update))
    # Everything is accounted for exactly once.
    assert len(result.to_create) == 1
    assert len(result.to_update) + len(result.unchanged) == 1 + len(unchanged)


# ---------------------------------------------------------------------------------------------
# End to end through the planner
# ---------------------------------------------------------------------------------------------


def _pod(n: int, node: str) -> Obj:
    ip = f"1.2.3.{4 + n}"
    return {
        "metadata": {"namespace": "testing", "name": f"pod{n}", "labels": {"foo": "bar"}},
        "spec": {"containers": [{"name": "c"}], "nodeName": node},
        "status": {
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def test_end_to_end_through_plan_service() -> None:
    nodes = cluster_nodes(per_zone=4)
    node_map = {n["metadata"]["name"]: n for n in nodes}
    cache = TopologyCache()
    cache.set_nodes(nodes)
    hints_pass = make_hints_pass(cache)
    svc = service({MODE: "Auto"})
    svc["metadata"]["uid"] = "testing-foo"
    svc["spec"]["ports"] = [{"name": "foo", "protocol": "TCP", "targetPort": 80}]
    placement = ["zone-a"] * 4 + ["zone-b"] * 3 + ["zone-c"] * 2
    pods = [_pod(i, f"node-{z}-{i % 4}") for i, z in enumerate(placement)]
    options = ReconcilerOptions()

    def plan(svc: Obj, existing: list[Obj]) -> Any:
        return plan_service(svc, pods, node_map, existing, options, None, hints=hints_pass)

    first = plan(svc, [])
    assert [a.verb for a in first.actions] == ["create"]
    assert first.events == [enabled()]
    created = copy.deepcopy(first.actions[0].slice)
    assert zone_hints([created]) == Counter({"zone-a": 3, "zone-b": 3, "zone-c": 3})
    assert cross_zone([created]) == 1
    created["metadata"]["name"] = created["metadata"].pop("generateName") + "x1"

    # Same inputs, hints already published: nothing to write, nothing to say.
    second = plan(svc, [created])
    assert second.actions == [] and second.events == []

    # The annotation goes away with no trafficDistribution: one update strips the hints.
    plain = copy.deepcopy(svc)
    del plain["metadata"]["annotations"]
    before = copy.deepcopy(created)
    third = plan(plain, [created])
    assert [a.verb for a in third.actions] == ["update"]
    assert third.events == [disabled()]
    assert not any_hints([third.actions[0].slice])
    assert created == before

    # Then trafficDistribution: PreferClose hints every endpoint for its own zone.
    stripped = copy.deepcopy(third.actions[0].slice)
    close = copy.deepcopy(plain)
    close["spec"]["trafficDistribution"] = "PreferClose"
    fourth = plan(close, [stripped])
    assert [a.verb for a in fourth.actions] == ["update"] and fourth.events == []
    assert zone_hints([fourth.actions[0].slice]) == Counter({"zone-a": 4, "zone-b": 3, "zone-c": 2})
    assert cross_zone([fourth.actions[0].slice]) == 0
