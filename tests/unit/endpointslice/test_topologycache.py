"""Tables for the annotation-driven hints (upstream ``topologycache/*_test.go``, §6.4)."""

from __future__ import annotations

import copy
import threading
from fractions import Fraction
from typing import Any

import pytest

from sliceplane.api.quantity import milli_cpu, parse_quantity
from sliceplane.endpointslice.topologycache import (
    Allocation,
    TopologyCache,
    get_allocations,
    get_giving_and_receiving_zones,
    get_hints_by_zone,
    hints_enabled,
    redistribute_hints,
    remove_hints_from_slices,
    service_overloaded,
    total_ready_endpoints,
)
from sliceplane.endpointslice.types import EventSpec

Obj = dict[str, Any]

DEPRECATED = "service.kubernetes.io/topology-aware-hints"
MODE = "service.kubernetes.io/topology-mode"


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------


def ep(
    addr: str = "10.0.0.1",
    zone: str | None = None,
    *,
    ready: bool | None = True,
    hint: str | list[str] | None = None,
) -> Obj:
    out: Obj = {"addresses": [addr], "conditions": {} if ready is None else {"ready": ready}}
    if zone is not None:
        out["zone"] = zone
    if hint is not None:
        names = [hint] if isinstance(hint, str) else hint
        out["hints"] = {"forZones": [{"name": n} for n in names]}
    return out


def sl(*endpoints: Obj, name: str | None = None) -> Obj:
    out: Obj = {"addressType": "IPv4", "endpoints": list(endpoints)}
    if name is not None:
        out["metadata"] = {"name": name}
    return out


def node(
    zone: str | None,
    cpu: Any = "1000m",
    *,
    ready: str | None = "True",
    labels: dict[str, str] | None = None,
) -> Obj:
    all_labels = dict(labels or {})
    if zone is not None:
        all_labels["topology.kubernetes.io/zone"] = zone
    status: Obj = {"allocatable": {} if cpu is None else {"cpu": cpu}}
    if ready is not None:
        status["conditions"] = [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": ready},
        ]
    return {"metadata": {"name": f"node-{zone}", "labels": all_labels}, "status": status}


def cache_with(milli_by_zone: dict[str, int] | None) -> TopologyCache:
    """A cache whose ratios are ``milli / total`` per zone (None: no usable nodes)."""
    cache = TopologyCache()
    nodes = [node(z, f"{m}m") for z, m in (milli_by_zone or {}).items()]
    cache.set_nodes(nodes)
    return cache


def hinted(slice_: Obj, *hints: str | None) -> Obj:
    """``slice_`` with its endpoints' hints replaced, in order (None: no hints)."""
    out = copy.deepcopy(slice_)
    for e, h in zip(out["endpoints"], hints, strict=True):
        e.pop("hints", None)
        if h is not None:
            e["hints"] = {"forZones": [{"name": h}]}
    return out


def disabled(message: str) -> EventSpec:
    return EventSpec("Warning", "TopologyAwareHintsDisabled", f"{message}, addressType: IPv4")


ENABLED = EventSpec(
    "Normal",
    "TopologyAwareHintsEnabled",
    "Topology Aware Hints has been enabled, addressType: IPv4",
)
NODE_INFO = (
    "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes"
)


# ---------------------------------------------------------------------------------------------
# TestAddHints
# ---------------------------------------------------------------------------------------------

_TWO = sl(ep("10.1.2.3", "zone-a"), ep("10.1.2.4", "zone-b"))
_MIXED = sl(
    ep("10.1.2.3", "zone-a"),
    ep("10.1.2.4", "zone-b"),
    ep("10.1.2.5", "zone-b", ready=False),
    ep("10.1.2.6", "zone-b", ready=None),
)
_C1 = sl(ep("10.1.2.3", "zone-a"), ep("10.1.2.4", "zone-b"))
_C2 = sl(ep("10.1.3.3", "zone-c"), ep("10.1.3.4", "zone-c"), ep("10.1.3.4", "zone-a"))
_U1 = sl(ep("10.2.2.3", "zone-a"), ep("10.2.2.4", "zone-a"), name="u1")
_U2 = sl(ep("10.2.3.3", "zone-b"), ep("10.2.3.4", "zone-c"), ep("10.2.3.4", "zone-a"), name="u2")

ADD_HINTS_CASES = [
    pytest.param(None, [], [], [], [], [], [disabled(NODE_INFO)], None, id="empty"),
    pytest.param(
        None,
        [sl(ep("10.1.2.3", "zone-a"))],
        [],
        [],
        [sl(ep("10.1.2.3", "zone-a"))],
        [],
        [disabled(NODE_INFO)],
        None,
        id="slice to create, no zone ratios",
    ),
    pytest.param(
        {"zone-a": 300, "zone-b": 400, "zone-c": 300},
        [_TWO],
        [],
        [],
        [_TWO],
        [],
        [disabled("Insufficient number of endpoints (2 endpoints, 3 zones)")],
        None,
        id="slice to create with 2 endpoints, zone ratios require 3",
    ),
    pytest.param(
        {"zone-a": 450, "zone-b": 550},
        [_TWO],
        [],
        [],
        [hinted(_TWO, "zone-a", "zone-b")],
        [],
        [ENABLED],
        {"IPv4": {"zone-a": 1, "zone-b": 1}},
        id="slice to create with 2 endpoints, zone ratios only require 2",
    ),
    pytest.param(
        {"zone-a": 450, "zone-b": 550},
        [_MIXED],
        [],
        [],
        [hinted(_MIXED, "zone-a", "zone-b", None, None)],
        [],
        [ENABLED],
        {"IPv4": {"zone-a": 1, "zone-b": 1}},
        id="slice to create with 2 ready, 1 unready, 1 unknown endpoints, "
        "zone ratios only require 2",
    ),
    pytest.param(
        {"zone-a": 350, "zone-b": 350, "zone-c": 300},
        [_C1, _C2],
        [_U1, _U2],
        [],
        [hinted(_C1, "zone-b", "zone-b"), hinted(_C2, "zone-c", "zone-c", "zone-a")],
        [hinted(_U1, "zone-a", "zone-a"), hinted(_U2, "zone-b", "zone-c", "zone-a")],
        [ENABLED],
        {"IPv4": {"zone-a": 4, "zone-b": 3, "zone-c": 3}},
        id="slices to create and update within 3 zone threshold",
    ),
    # Beyond upstream's table.
    pytest.param(
        {"zone-a": 100, "zone-b": 100, "zone-c": 100},
        [
            sl(
                *(
                    ep(f"10.0.0.{i}", z)
                    for i, z in enumerate(["zone-a", "zone-a", "zone-c", "zone-c"])
                )
            )
        ],
        [],
        [],
        [
            sl(
                *(
                    ep(f"10.0.0.{i}", z)
                    for i, z in enumerate(["zone-a", "zone-a", "zone-c", "zone-c"])
                )
            )
        ],
        [],
        [
            disabled(
                "Unable to allocate minimum required endpoints to each zone without exceeding "
                "overload threshold (4 endpoints, 3 zones)"
            )
        ],
        None,
        id="minimum per zone exceeds the endpoints",
    ),
    pytest.param(
        {"zone-a": 500, "zone-b": 500},
        [sl(ep("10.0.0.1", "zone-a"), ep("10.0.0.2"), ep("10.0.0.3", "zone-b"))],
        [],
        [sl(ep("10.0.0.9", "zone-b", hint="zone-b"), name="kept")],
        [sl(ep("10.0.0.1", "zone-a"), ep("10.0.0.2"), ep("10.0.0.3", "zone-b"))],
        [sl(ep("10.0.0.9", "zone-b"), name="kept")],
        [disabled("One or more endpoints do not have a zone specified")],
        None,
        id="ready endpoint without zone removes all hints",
    ),
    pytest.param(
        {"zone-a": 500, "zone-b": 500},
        [sl(ep("10.0.0.1", ready=False), ep("10.0.0.2", "zone-a"), ep("10.0.0.3", "zone-a"))],
        [],
        [sl(ep("10.0.0.9", "zone-b", hint="zone-b"), ep("10.0.0.8", hint="zone-b"), name="k")],
        [
            sl(
                ep("10.0.0.1", ready=False),
                ep("10.0.0.2", "zone-a", hint="zone-a"),
                ep("10.0.0.3", "zone-a", hint="zone-a"),
            )
        ],
        [],
        [ENABLED],
        {"IPv4": {"zone-a": 2, "zone-b": 2}},
        id="fitting unchanged slice stays and counts; not-ready zone-less endpoint is ignored",
    ),
    pytest.param(
        {"zone-a": 500, "zone-b": 500},
        [sl(ep("10.0.0.1", "zone-a"), ep("10.0.0.2", "zone-a"))],
        [],
        [
            sl(ep("10.0.0.9", "zone-b", hint="zone-x"), name="unknown-zone"),
            sl(ep("10.0.0.8", "zone-b"), name="no-hint"),
        ],
        [sl(ep("10.0.0.1", "zone-a", hint="zone-a"), ep("10.0.0.2", "zone-a", hint="zone-a"))],
        [
            sl(ep("10.0.0.9", "zone-b", hint="zone-b"), name="unknown-zone"),
            sl(ep("10.0.0.8", "zone-b", hint="zone-b"), name="no-hint"),
        ],
        [ENABLED],
        {"IPv4": {"zone-a": 2, "zone-b": 2}},
        id="unchanged slices with unknown-zone or missing hints are rewritten",
    ),
    pytest.param(
        {"zone-a": 500, "zone-b": 500},
        [],
        [],
        [
            sl(*(ep(f"10.0.0.{i}", "zone-a", hint="zone-a") for i in range(3)), name="a"),
            sl(ep("10.0.1.1", "zone-b", hint="zone-b"), name="b"),
        ],
        [],
        [
            sl(
                ep("10.0.0.0", "zone-a", hint="zone-b"),
                ep("10.0.0.1", "zone-a", hint="zone-a"),
                ep("10.0.0.2", "zone-a", hint="zone-a"),
                name="a",
            ),
        ],
        [ENABLED],
        {"IPv4": {"zone-a": 2, "zone-b": 2}},
        id="unchanged slice beyond a zone maximum is rewritten and rebalanced",
    ),
]


@pytest.mark.parametrize(
    (
        "cpu",
        "create",
        "update",
        "unchanged",
        "want_create",
        "want_update",
        "want_events",
        "want_cache",
    ),
    ADD_HINTS_CASES,
)
def test_add_hints(
    cpu: dict[str, int] | None,
    create: list[Obj],
    update: list[Obj],
    unchanged: list[Obj],
    want_create: list[Obj],
    want_update: list[Obj],
    want_events: list[EventSpec],
    want_cache: dict[str, dict[str, int]] | None,
) -> None:
    cache = cache_with(cpu)
    create, update, unchanged = (copy.deepcopy(x) for x in (create, update, unchanged))
    before_unchanged = copy.deepcopy(unchanged)
    got_create, got_update, events = cache.add_hints("ns/svc", "IPv4", create, update, unchanged)
    assert got_create == want_create
    assert got_update == want_update
    assert events == want_events
    assert cache.hints_by_address_type("ns/svc") == want_cache
    assert cache.has_populated_hints("ns/svc") is (want_cache is not None)
    assert unchanged == before_unchanged


def test_add_hints_on_a_fresh_cache_reports_one_zone() -> None:
    # Before any set_nodes the ratios are empty, not missing: upstream's NewTopologyCache.
    cache = TopologyCache()
    _, _, events = cache.add_hints("ns/svc", "IPv6", [sl(ep("::1", "zone-a"))], [], [])
    assert events == [
        EventSpec(
            "Warning",
            "TopologyAwareHintsDisabled",
            "Nodes only ready in one zone, addressType: IPv6",
        )
    ]


def test_add_hints_enabled_event_only_when_newly_hinted_and_failure_clears() -> None:
    cache = cache_with({"zone-a": 500, "zone-b": 500})
    first = [sl(ep("10.0.0.1", "zone-a"), ep("10.0.0.2", "zone-b"))]
    assert cache.add_hints("ns/svc", "IPv4", first, [], [])[2] == [ENABLED]
    second = [sl(ep("10.0.0.1", "zone-a"), ep("10.0.0.2", "zone-b"))]
    assert cache.add_hints("ns/svc", "IPv4", second, [], [])[2] == []
    assert cache.has_populated_hints("ns/svc")
    # Too few endpoints now: hints go, and so does the cache entry.
    third = [sl(ep("10.0.0.1", "zone-a", hint="zone-a"))]
    got_create, _, events = cache.add_hints("ns/svc", "IPv4", third, [], [])
    assert events == [disabled("Insufficient number of endpoints (1 endpoints, 2 zones)")]
    assert "hints" not in got_create[0]["endpoints"][0]
    assert not cache.has_populated_hints("ns/svc")
    assert cache.hints_by_address_type("ns/svc") is None


def test_plan_hints_reports_what_stayed_unchanged() -> None:
    cache = cache_with({"zone-a": 500, "zone-b": 500})
    keep = sl(ep("10.0.0.1", "zone-a", hint="zone-a"), name="keep")
    redo = sl(ep("10.0.0.2", "zone-b"), name="redo")
    creates, updates, kept, _ = cache.plan_hints("ns/svc", "IPv4", [], [], [keep, redo])
    assert creates == []
    assert kept == [keep] and kept[0] is keep
    assert updates == [hinted(redo, "zone-b")] and updates[0] is not redo
    assert "hints" not in redo["endpoints"][0]


# ---------------------------------------------------------------------------------------------
# TestSetNodes
# ---------------------------------------------------------------------------------------------

CP = {"node-role.kubernetes.io/control-plane": ""}

SET_NODES_CASES = [
    pytest.param([], False, None, None, id="empty"),
    pytest.param([node("zone-a")], False, None, None, id="single node"),
    pytest.param([node("zone-a"), node("zone-a")], False, None, None, id="single zone"),
    pytest.param(
        [node("zone-a"), node("zone-b")],
        True,
        {"zone-a": 1000, "zone-b": 1000},
        {"zone-a": 0.5, "zone-b": 0.5},
        id="2 zones",
    ),
    pytest.param(
        [node("zone-a", ready="False"), node("zone-b")],
        False,
        None,
        None,
        id="2 zones, unready node in 1, ready node in 1",
    ),
    pytest.param(
        [node("zone-a"), node("zone-b", labels=CP)],
        False,
        None,
        None,
        id="2 zones, control plane node in 1, ready node in 1",
    ),
    pytest.param(
        [node("zone-a"), node("zone-b"), node("zone-b", ready="False")],
        True,
        {"zone-a": 1000, "zone-b": 1000},
        {"zone-a": 0.5, "zone-b": 0.5},
        id="2 zones, unready node in 1, ready node in 2",
    ),
    pytest.param(
        [node("zone-a"), node("zone-b"), node("zone-b", labels=CP)],
        True,
        {"zone-a": 1000, "zone-b": 1000},
        {"zone-a": 0.5, "zone-b": 0.5},
        id="2 zones, control plane node in 1, ready node in 2",
    ),
    pytest.param(
        [
            node("zone-a", "1000m"),
            node("zone-a", "1000m"),
            node("zone-a", "1000m"),
            node("zone-a", "2000m"),
            node("zone-b", "3000m"),
            node("zone-b", "1500m"),
            node("zone-c", "500m"),
        ],
        True,
        {"zone-a": 5000, "zone-b": 4500, "zone-c": 500},
        {"zone-a": 0.5, "zone-b": 0.45, "zone-c": 0.05},
        id="3 zones, 4 nodes in 1, 2 nodes in 1, 1 node in 1",
    ),
    # Beyond upstream's table.
    pytest.param(
        [node("zone-a"), node(None), node("zone-b")],
        False,
        None,
        None,
        id="a counted node without zone makes info insufficient",
    ),
    pytest.param(
        [node("zone-a"), node(""), node("zone-b")],
        False,
        None,
        None,
        id="an empty zone label is no zone",
    ),
    pytest.param(
        [node("zone-a"), node("zone-b", "0")],
        False,
        None,
        None,
        id="zero allocatable CPU makes info insufficient",
    ),
    pytest.param(
        [node("zone-a"), node("zone-b", None)],
        False,
        None,
        None,
        id="missing allocatable CPU makes info insufficient",
    ),
    pytest.param(
        [
            node("zone-a"),
            node("zone-b"),
            node(None, labels={"node-role.kubernetes.io/master": "x"}),
        ],
        True,
        {"zone-a": 1000, "zone-b": 1000},
        {"zone-a": 0.5, "zone-b": 0.5},
        id="master-labelled node is ignored even without zone",
    ),
    pytest.param(
        [node("zone-a"), node("zone-b"), node(None, ready=None)],
        True,
        {"zone-a": 1000, "zone-b": 1000},
        {"zone-a": 0.5, "zone-b": 0.5},
        id="node without Ready condition is ignored",
    ),
    pytest.param(
        [node("zone-a", "2"), node("zone-b", "1.5"), node("zone-b", "500m"), node("zone-c", "4k")],
        True,
        {"zone-a": 2000, "zone-b": 2000, "zone-c": 4_000_000},
        {"zone-a": 2000 / 4_004_000, "zone-b": 2000 / 4_004_000, "zone-c": 4_000_000 / 4_004_000},
        id="quantity forms: plain, decimal, milli, kilo",
    ),
    pytest.param(
        [node("zone-a", "0.0001"), node("zone-a", "0.0001"), node("zone-b", "1m")],
        True,
        {"zone-a": 1, "zone-b": 1},
        {"zone-a": 0.5, "zone-b": 0.5},
        id="sub-milli CPU is summed exactly, then rounded up",
    ),
]


@pytest.mark.parametrize(("nodes", "sufficient", "milli", "ratios"), SET_NODES_CASES)
def test_set_nodes(
    nodes: list[Obj],
    sufficient: bool,
    milli: dict[str, int] | None,
    ratios: dict[str, float] | None,
) -> None:
    cache = TopologyCache()
    cache.set_nodes(nodes)
    assert cache.sufficient_node_info is sufficient
    assert cache.milli_cpu_by_zone == milli
    assert cache.cpu_ratios_by_zone == ratios


def test_set_nodes_replaces_previous_ratios() -> None:
    cache = cache_with({"zone-a": 100, "zone-b": 300})
    assert cache.cpu_ratios_by_zone == {"zone-a": 0.25, "zone-b": 0.75}
    cache.set_nodes([node("zone-a")])
    assert cache.cpu_ratios_by_zone is None
    assert not cache.sufficient_node_info


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("2", Fraction(2), id="integer"),
        pytest.param("500m", Fraction(1, 2), id="milli"),
        pytest.param("1.5", Fraction(3, 2), id="decimal"),
        pytest.param("4k", Fraction(4000), id="kilo"),
        pytest.param("1Ki", Fraction(1024), id="binary"),
        pytest.param("1e3", Fraction(1000), id="exponent"),
        pytest.param("1E-3", Fraction(1, 1000), id="negative exponent"),
        pytest.param(".5", Fraction(1, 2), id="leading dot"),
        pytest.param("250u", Fraction(1, 4000), id="micro"),
        pytest.param(3, Fraction(3), id="json number"),
        pytest.param("abc", None, id="not a number"),
        pytest.param("1Z", None, id="unknown suffix"),
        pytest.param("", None, id="empty"),
        pytest.param(True, None, id="bool"),
    ],
)
def test_parse_quantity(text: Any, value: Fraction | None) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("value", "milli"),
    [
        pytest.param(Fraction(2), 2000, id="whole"),
        pytest.param(Fraction(1, 10000), 1, id="rounds up"),
        pytest.param(Fraction(1500, 1000), 1500, id="exact"),
    ],
)
def test_milli_cpu(value: Fraction, milli: int) -> None:
    assert milli_cpu(value) == milli


def test_topology_cache_race() -> None:
    """set_nodes and add_hints from two threads: no crash, and a consistent end state."""
    nodes = [
        node("zone-a", "1000m"),
        node("zone-a", "1000m"),
        node("zone-a", "1000m"),
        node("zone-a", "2000m"),
        node("zone-b", "3000m"),
        node("zone-b", "1500m"),
        node("zone-c", "500m"),
    ]
    cache = TopologyCache()
    errors: list[BaseException] = []

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                for _ in range(200):
                    fn()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        return run

    def add() -> None:
        slices = [sl(ep("10.1.2.3", "zone-a"), ep("10.1.2.4", "zone-b"))]
        cache.add_hints("ns/svc", "IPv4", slices, [], [])

    threads = [
        threading.Thread(target=guarded(lambda: cache.set_nodes(nodes))),
        threading.Thread(target=guarded(add)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.cpu_ratios_by_zone == {"zone-a": 0.5, "zone-b": 0.45, "zone-c": 0.05}
    # 2 endpoints for 3 zones: the last add_hints always fails, so nothing stays cached.
    assert cache.hints_by_address_type("ns/svc") is None


# ---------------------------------------------------------------------------------------------
# utils: getAllocations, giving/receiving, redistribute, getHintsByZone, totals, overload
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratios", "n", "want", "problem"),
    [
        pytest.param(None, 5, None, NODE_INFO, id="no ratios"),
        pytest.param({}, 5, None, "Nodes only ready in one zone", id="no zones"),
        pytest.param({"a": 1.0}, 5, None, "Nodes only ready in one zone", id="one zone"),
        pytest.param(
            {"a": 0.5, "b": 0.5},
            1,
            None,
            "Insufficient number of endpoints (1 endpoints, 2 zones)",
            id="more zones than endpoints",
        ),
        pytest.param(
            {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3},
            4,
            None,
            "Unable to allocate minimum required endpoints to each zone without exceeding "
            "overload threshold (4 endpoints, 3 zones)",
            id="minimums exceed endpoints",
        ),
        pytest.param(
            {"a": 0.5, "b": 0.5},
            2,
            {"a": Allocation(1, 1, 1.0), "b": Allocation(1, 1, 1.0)},
            None,
            id="exact fit",
        ),
        pytest.param(
            {"a": 0.35, "b": 0.35, "c": 0.30},
            10,
            {"a": Allocation(3, 4, 3.5), "b": Allocation(3, 4, 3.5), "c": Allocation(3, 4, 3.0)},
            None,
            id="3 zones, 10 endpoints",
        ),
        pytest.param(
            {"a": 0.9, "b": 0.1},
            10,
            {"a": Allocation(8, 9, 9.0), "b": Allocation(1, 2, 1.0)},
            None,
            id="skewed: desired keeps the exact share",
        ),
        pytest.param(
            {"a": 0.05, "b": 0.95},
            10,
            {"a": Allocation(1, 2, 1.0), "b": Allocation(8, 9, 9.5)},
            None,
            id="desired raised to the minimum",
        ),
    ],
)
def test_get_allocations(
    ratios: dict[str, float] | None,
    n: int,
    want: dict[str, Allocation] | None,
    problem: str | None,
) -> None:
    assert get_allocations(ratios, n) == (want, problem)


def _desired(**zones: float) -> dict[str, Allocation]:
    return {f"zone-{z}": Allocation(desired=d) for z, d in zones.items()}


def _zc(**zones: int) -> dict[str, int]:
    return {f"zone-{z}": n for z, n in zones.items()}


@pytest.mark.parametrize(
    ("allocations", "allocated", "giving", "receiving"),
    [
        pytest.param({}, {}, {}, {}, id="empty"),
        pytest.param(
            _desired(a=1.2, b=1.1, c=1.0),
            _zc(a=1, b=1, c=1),
            {},
            {},
            id="simple allocation with no need for rebalancing",
        ),
        pytest.param(
            _desired(a=5.1, b=5.1, c=5.8),
            _zc(a=16),
            _zc(a=10),
            _zc(b=5, c=5),
            id="preference for same zone even when giving an extra endpoint would result in "
            "slightly better distribution",
        ),
        pytest.param(
            _desired(a=5.0, b=5.6, c=5.4),
            _zc(a=16),
            _zc(a=11),
            _zc(b=6, c=5),
            id="when 2 zones need < 1 endpoint, give to zone that needs endpoint most",
        ),
        pytest.param(
            _desired(a=5.0, b=5.6, c=5.4),
            _zc(b=8, c=8),
            _zc(b=2, c=3),
            _zc(a=5),
            id="when 2 zones have extra endpoints, give from zone with most extra",
        ),
        pytest.param(
            _desired(a=5.0, b=5.0, c=5.0),
            _zc(a=6, b=6, c=6),
            {},
            {},
            id="ensure function can handle unexpected data (more allocated than allocations)",
        ),
        pytest.param(
            _desired(a=-5.0, b=-5.0, c=-5.0),
            _zc(a=6, b=6, c=6),
            {},
            {},
            id="ensure function can handle unexpected data (negative allocations)",
        ),
        pytest.param(
            _desired(a=5.0, b=5.0, c=5.0),
            _zc(a=-4, b=-3, c=-2),
            {},
            {},
            id="ensure function can handle unexpected data (negative allocated)",
        ),
        pytest.param(
            _desired(a=5.0, b=5.0, c=5.0),
            _zc(a=-40, b=20, c=20),
            _zc(b=15, c=15),
            _zc(a=30),
            id="ensure function can handle unexpected data (negative for 1 zone)",
        ),
    ],
)
def test_get_giving_and_receiving_zones(
    allocations: dict[str, Allocation],
    allocated: dict[str, int],
    giving: dict[str, int],
    receiving: dict[str, int],
) -> None:
    assert get_giving_and_receiving_zones(allocations, allocated) == (giving, receiving)


@pytest.mark.parametrize(
    ("slices", "giving", "receiving", "want", "want_hints"),
    [
        pytest.param([], {}, {}, {}, [], id="empty"),
        pytest.param(
            [sl(ep(zone="zone-a", hint="zone-a"))],
            _zc(a=1),
            _zc(b=1),
            _zc(a=-1, b=1),
            [["zone-b"]],
            id="single endpoint",
        ),
        pytest.param(
            [sl(*(ep(zone="zone-a", hint="zone-a") for _ in range(3)))],
            _zc(a=2),
            _zc(b=1, c=1),
            _zc(a=-2, b=1, c=1),
            [["zone-b", "zone-c", "zone-a"]],
            id="endpoints from 1 zone redistributed to 2 other zones",
        ),
        pytest.param(
            [
                sl(
                    ep(zone="zone-a", hint="zone-a", ready=False),
                    ep(zone="zone-b", hint="zone-b"),
                    ep(zone="zone-a", hint="zone-a"),
                    ep(zone="zone-a", hint="zone-a"),
                )
            ],
            _zc(a=1),
            _zc(c=1),
            _zc(a=-1, c=1),
            [["zone-a", "zone-b", "zone-c", "zone-a"]],
            id="not-ready and non-giving endpoints are skipped",
        ),
    ],
)
def test_redistribute_hints(
    slices: list[Obj],
    giving: dict[str, int],
    receiving: dict[str, int],
    want: dict[str, int],
    want_hints: list[list[str]],
) -> None:
    slices = copy.deepcopy(slices)
    giving_before, receiving_before = dict(giving), dict(receiving)
    assert redistribute_hints(slices, giving, receiving) == want
    got_hints = [[e["hints"]["forZones"][0]["name"] for e in s["endpoints"]] for s in slices]
    assert got_hints == want_hints
    assert (giving, receiving) == (giving_before, receiving_before)


def _max(**zones: int) -> dict[str, Allocation]:
    return {f"zone-{z}": Allocation(maximum=m) for z, m in zones.items()}


@pytest.mark.parametrize(
    ("slice_", "allocated", "allocations", "want"),
    [
        pytest.param(sl(), {}, {}, {}, id="empty"),
        pytest.param(
            sl(ep(zone="zone-a", hint="zone-a")),
            _zc(a=1),
            _max(a=3),
            _zc(a=1),
            id="single zone hint",
        ),
        pytest.param(
            sl(
                ep(zone="zone-a", hint="zone-a"),
                ep(zone="zone-a", hint="zone-a", ready=False),
                ep(zone="zone-a", hint="zone-a", ready=None),
            ),
            _zc(a=1),
            _max(a=3),
            _zc(a=1),
            id="single zone hint with 1 unready endpoint and 1 unknown endpoint",
        ),
        pytest.param(
            sl(
                ep(zone="zone-a", hint="zone-a"),
                ep(zone="zone-a", hint="zone-b"),
                ep(zone="zone-b", hint="zone-b"),
            ),
            _zc(a=1, b=1, c=1),
            _max(a=3, b=3, c=3),
            _zc(a=1, b=2),
            id="multiple zone hints",
        ),
        pytest.param(
            sl(ep(zone="zone-a", hint="zone-non-existent")),
            _zc(a=1, b=1, c=1),
            _max(a=3),
            None,
            id="invalid by zones that no longer requires any allocations",
        ),
        pytest.param(
            sl(ep(zone="zone-a")),
            {},
            _max(a=3),
            None,
            id="invalid by endpoints with nil hints",
        ),
        pytest.param(
            sl(
                {
                    "addresses": ["10.0.0.1"],
                    "zone": "zone-a",
                    "conditions": {"ready": True},
                    "hints": {"forZones": []},
                }
            ),
            {},
            _max(a=3),
            None,
            id="invalid by endpoint with no hints",
        ),
        pytest.param(
            sl(ep(zone="zone-a", hint="zone-a"), ep(zone="zone-a", hint="zone-a")),
            _zc(a=1),
            _max(a=2),
            None,
            id="invalid by hints that would make minimum allocations impossible",
        ),
    ],
)
def test_get_hints_by_zone(
    slice_: Obj,
    allocated: dict[str, int],
    allocations: dict[str, Allocation],
    want: dict[str, int] | None,
) -> None:
    assert get_hints_by_zone(slice_, allocated, allocations) == want


def _n(ready: int, unready: int) -> Obj:
    return sl(
        *(ep(f"10.1.2.{i}") for i in range(ready)),
        *(ep(f"10.1.2.{ready + i}", ready=False) for i in range(unready)),
    )


@pytest.mark.parametrize(
    ("create", "update", "unchanged", "want"),
    [
        pytest.param([], [], [], 0, id="empty"),
        pytest.param([_n(0, 0)], [], [], 0, id="empty slice"),
        pytest.param([_n(15, 0), _n(8, 0)], [], [], 23, id="multiple slices"),
        pytest.param(
            [_n(15, 0), _n(8, 0)], [_n(2, 0)], [_n(100, 0), _n(90, 0)], 215, id="slices for all"
        ),
        pytest.param(
            [_n(15, 3), _n(5, 4)],
            [_n(3, 8)],
            [_n(98, 2), _n(90, 6)],
            211,
            id="slices for all with some unready",
        ),
    ],
)
def test_total_ready_endpoints(
    create: list[Obj], update: list[Obj], unchanged: list[Obj], want: int
) -> None:
    assert total_ready_endpoints(create, update, unchanged) == want


@pytest.mark.parametrize(
    ("counts", "ratios", "want"),
    [
        pytest.param({}, None, False, id="no hints, never overloaded"),
        pytest.param(_zc(a=1, b=1), None, True, id="ratios gone"),
        pytest.param(_zc(a=1, b=1), {}, True, id="ratios empty"),
        pytest.param(_zc(a=2), {"zone-a": 0.5, "zone-b": 0.5}, True, id="zone missing"),
        pytest.param(_zc(a=5, b=5), {"zone-a": 0.5, "zone-b": 0.5}, False, id="balanced"),
        # total 10, zone-b share 0.7 → minimum ceil(7/1.2) = 6 > 5
        pytest.param(_zc(a=5, b=5), {"zone-a": 0.3, "zone-b": 0.7}, True, id="below minimum"),
        # zone-b minimum: 10 * 0.6 * (1 / 1.2) is exactly 5.0 in floats, so ceil gives 5
        pytest.param(_zc(a=5, b=5), {"zone-a": 0.4, "zone-b": 0.6}, False, id="at minimum"),
    ],
)
def test_service_overloaded(
    counts: dict[str, int], ratios: dict[str, float] | None, want: bool
) -> None:
    assert service_overloaded(counts, ratios) is want


def test_get_overloaded_services() -> None:
    cache = cache_with({"zone-a": 500, "zone-b": 500})
    cache.set_hints("ns/balanced", "IPv4", _zc(a=5, b=5))
    cache.set_hints("ns/skewed", "IPv4", _zc(a=9, b=1))
    cache.set_hints("ns/dual", "IPv4", _zc(a=5, b=5))
    cache.set_hints("ns/dual", "IPv6", _zc(a=5))
    assert cache.get_overloaded_services() == ["ns/dual", "ns/skewed"]
    cache.set_nodes([])  # nodes gone: every hinted service is overloaded
    assert cache.get_overloaded_services() == ["ns/balanced", "ns/dual", "ns/skewed"]
    cache.remove_hints("ns/dual", "IPv4")
    cache.remove_hints("ns/dual", "IPv6")
    assert cache.get_overloaded_services() == ["ns/balanced", "ns/skewed"]


def test_remove_hints_is_per_address_type_but_clears_the_service_flag() -> None:
    cache = TopologyCache()
    cache.set_hints("ns/svc", "IPv4", _zc(a=1))
    cache.set_hints("ns/svc", "IPv6", _zc(b=1))
    cache.remove_hints("ns/svc", "IPv4")
    assert cache.hints_by_address_type("ns/svc") == {"IPv6": _zc(b=1)}
    assert not cache.has_populated_hints("ns/svc")
    cache.remove_hints("ns/svc", "IPv6")
    assert cache.hints_by_address_type("ns/svc") is None


def test_remove_hints_from_slices() -> None:
    create = [sl(ep("10.0.0.1", "zone-a", hint="zone-a"))]
    update = [sl(ep("10.0.0.2", "zone-a", hint="zone-b", ready=False), name="u")]
    clean = sl(ep("10.0.0.3", "zone-a"), name="clean")
    dirty = sl(ep("10.0.0.4", "zone-a"), ep("10.0.0.5", "zone-b", hint="zone-b"), name="dirty")
    dirty_before = copy.deepcopy(dirty)
    unchanged = [clean, dirty]
    got_create, got_update, got_unchanged = remove_hints_from_slices(create, update, unchanged)
    assert got_create == [sl(ep("10.0.0.1", "zone-a"))] and got_create[0] is create[0]
    assert got_update == [
        sl(ep("10.0.0.2", "zone-a", ready=False), name="u"),
        sl(ep("10.0.0.4", "zone-a"), ep("10.0.0.5", "zone-b"), name="dirty"),
    ]
    assert got_unchanged == [clean] and got_unchanged[0] is clean
    assert dirty == dirty_before and unchanged == [clean, dirty]


# ---------------------------------------------------------------------------------------------
# Test_hintsEnabled (upstream utils_test.go of the reconciler package)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "want"),
    [
        pytest.param(None, False, id="empty annotations"),
        pytest.param({"topology-hints": "enabled"}, False, id="different annotations"),
        pytest.param({DEPRECATED: "enabled"}, False, id="hints annotation == enabled"),
        pytest.param({DEPRECATED: "aUto"}, False, id="hints annotation == aUto"),
        pytest.param({DEPRECATED: "auto"}, True, id="hints annotation == auto"),
        pytest.param({DEPRECATED: "Auto"}, True, id="hints annotation == Auto"),
        pytest.param({DEPRECATED: "disabled"}, False, id="hints annotation == disabled"),
        pytest.param({MODE: "enabled"}, False, id="mode annotation == enabled"),
        pytest.param({MODE: "aUto"}, False, id="mode annotation == aUto"),
        pytest.param({MODE: "auto"}, True, id="mode annotation == auto"),
        pytest.param({MODE: "Auto"}, True, id="mode annotation == Auto"),
        pytest.param({MODE: "disabled"}, False, id="mode annotation == disabled"),
        pytest.param(
            {MODE: "disabled", DEPRECATED: "auto"},
            True,
            id="mode annotation == disabled, hints annotation == auto",
        ),
        pytest.param(
            {MODE: "auto", DEPRECATED: "disabled"},
            False,
            id="mode annotation == auto, hints annotation == disabled",
        ),
        pytest.param({MODE: "auto", DEPRECATED: ""}, False, id="empty deprecated key still wins"),
        pytest.param({MODE: " Auto"}, False, id="no trimming"),
    ],
)
def test_hints_enabled(annotations: dict[str, str] | None, want: bool) -> None:
    assert hints_enabled(annotations) is want
