"""Tables for the trafficDistribution heuristic (upstream ``trafficdist_test.go``, §6.5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.endpointslice.trafficdist import reconcile_hints

Obj = dict[str, Any]


def ep(
    addr: str,
    zone: str | None = None,
    node: str | None = None,
    *,
    ready: bool | None = True,
    zones: list[str] | None = None,
    nodes: list[str] | None = None,
) -> Obj:
    """An endpoint; ``zones``/``nodes`` give its current hints (None: no hints field)."""
    out: Obj = {"addresses": [addr], "conditions": {} if ready is None else {"ready": ready}}
    if zone is not None:
        out["zone"] = zone
    if node is not None:
        out["nodeName"] = node
    if zones is not None or nodes is not None:
        hints: Obj = {}
        if zones is not None:
            hints["forZones"] = [{"name": z} for z in zones]
        if nodes is not None:
            hints["forNodes"] = [{"name": n} for n in nodes]
        out["hints"] = hints
    return out


def sl(*endpoints: Obj, name: str | None = None) -> Obj:
    out: Obj = {"addressType": "IPv4", "endpoints": list(endpoints)}
    if name is not None:
        out["metadata"] = {"name": name, "resourceVersion": "7"}
    return out


def _four_creates_four_updates() -> tuple[list[Obj], list[Obj]]:
    creates = [
        sl(ep("10.0.0.1", "zone-a", "node-1"), ep("10.0.0.2", "zone-b", "node-2")),
        sl(ep("10.0.0.3", "zone-a", "node-3"), ep("10.0.0.4", "zone-b", "node-4")),
    ]
    updates = [
        sl(ep("10.0.0.5", "zone-a", "node-5"), ep("10.0.0.6", "zone-a", "node-6"), name="u1"),
        sl(ep("10.0.0.7", "zone-b", "node-7"), ep("10.0.0.8", "zone-c", "node-8"), name="u2"),
    ]
    return creates, updates


def _with_own_hints(slices: list[Obj], *, zones: bool, nodes: bool) -> list[Obj]:
    out = copy.deepcopy(slices)
    for s in out:
        for e in s["endpoints"]:
            hints: Obj = {}
            if zones and "zone" in e:
                hints["forZones"] = [{"name": e["zone"]}]
            if nodes and "nodeName" in e:
                hints["forNodes"] = [{"name": e["nodeName"]}]
            if hints:
                e["hints"] = hints
    return out


def _without_zones(slices: list[Obj]) -> list[Obj]:
    out = copy.deepcopy(slices)
    for s in out:
        for e in s["endpoints"]:
            e.pop("zone", None)
    return out


_C, _U = _four_creates_four_updates()
_C_NOZONE, _U_NOZONE = _without_zones(_C), _without_zones(_U)

CASES = [
    pytest.param(
        "PreferClose",
        _C,
        _U,
        [],
        _with_own_hints(_C, zones=True, nodes=False),
        _with_own_hints(_U, zones=True, nodes=False),
        [],
        id="should set zone hints with PreferClose",
    ),
    pytest.param(
        "PreferSameZone",
        _C,
        _U,
        [],
        _with_own_hints(_C, zones=True, nodes=False),
        _with_own_hints(_U, zones=True, nodes=False),
        [],
        id="should set zone hints with PreferSameZone",
    ),
    pytest.param(
        "PreferSameNode",
        _C,
        _U,
        [],
        _with_own_hints(_C, zones=True, nodes=True),
        _with_own_hints(_U, zones=True, nodes=True),
        [],
        id="should set zone and node hints with PreferSameNode",
    ),
    pytest.param(
        "PreferClose",
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-b"]), name="u")],
        [
            sl(ep("10.0.0.2", "zone-b", "node-2", zones=["zone-c"]), name="wrong"),
            sl(ep("10.0.0.3", "zone-c", "node-3"), name="missing"),
        ],
        [],
        [
            sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"]), name="u"),
            sl(ep("10.0.0.2", "zone-b", "node-2", zones=["zone-b"]), name="wrong"),
            sl(ep("10.0.0.3", "zone-c", "node-3", zones=["zone-c"]), name="missing"),
        ],
        [],
        id="should correct incorrect hints with PreferClose",
    ),
    pytest.param(
        "PreferClose",
        _C_NOZONE,
        _U_NOZONE,
        [],
        _C_NOZONE,
        _U_NOZONE,
        [],
        id="should not create hints with PreferClose if there are no zones",
    ),
    pytest.param(
        "PreferSameNode",
        _C_NOZONE,
        _U_NOZONE,
        [],
        _with_own_hints(_C_NOZONE, zones=True, nodes=True),
        _with_own_hints(_U_NOZONE, zones=True, nodes=True),
        [],
        id="should create only node hints with PreferSameNode if there are no zones",
    ),
    pytest.param(
        "PreferClose",
        [],
        [],
        [sl(ep("10.0.0.2", "zone-b", "node-2", ready=False), name="unready")],
        [],
        [],
        [sl(ep("10.0.0.2", "zone-b", "node-2", ready=False), name="unready")],
        id="unready endpoints should not trigger updates",
    ),
    pytest.param(
        "Unknown",
        [
            sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"])),
            sl(ep("10.0.0.3", "zone-a", "node-3", zones=["zone-a"])),
        ],
        [sl(ep("10.0.0.5", "zone-a", "node-5", zones=["zone-a"]), name="u")],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1")), sl(ep("10.0.0.3", "zone-a", "node-3"))],
        [sl(ep("10.0.0.5", "zone-a", "node-5"), name="u")],
        [],
        id="should remove hints when trafficDistribution is unrecognized",
    ),
    pytest.param(
        None,
        [],
        [sl(ep("10.0.0.5", "zone-a", "node-5", zones=["zone-a"]), name="u")],
        [sl(ep("10.0.0.6", "zone-b", "node-6", zones=["zone-b"]), name="hinted")],
        [],
        [
            sl(ep("10.0.0.5", "zone-a", "node-5"), name="u"),
            sl(ep("10.0.0.6", "zone-b", "node-6"), name="hinted"),
        ],
        [],
        id="should remove hints when trafficDistribution is unset",
    ),
    # Beyond upstream's table: the edges of needsUpdate and update.
    pytest.param(
        "PreferClose",
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"]), name="ok")],
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"]), name="ok")],
        id="correct own-zone hints keep an unchanged slice unchanged",
    ),
    pytest.param(
        "PreferClose",
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"], nodes=["node-1"]), name="n")],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"]), name="n")],
        [],
        id="stale node hint under PreferClose triggers an update that drops it",
    ),
    pytest.param(
        "PreferSameNode",
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"]), name="z")],
        [],
        [sl(ep("10.0.0.1", "zone-a", "node-1", zones=["zone-a"], nodes=["node-1"]), name="z")],
        [],
        id="missing node hint under PreferSameNode triggers an update",
    ),
    pytest.param(
        "PreferClose",
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", zones=["zone-a", "zone-b"]), name="two")],
        [],
        [sl(ep("10.0.0.1", "zone-a", zones=["zone-a"]), name="two")],
        [],
        id="two zone hints are incorrect and get replaced by one",
    ),
    pytest.param(
        "PreferClose",
        [],
        [],
        [sl(ep("10.0.0.1", node="node-1", zones=["zone-a"]), name="stale")],
        [],
        [sl(ep("10.0.0.1", node="node-1"), name="stale")],
        [],
        id="zone hint on an endpoint without zone is stale",
    ),
    pytest.param(
        "PreferClose",
        [sl(ep("10.0.0.1", "zone-a", ready=False, zones=["zone-z"]), ep("10.0.0.2", "zone-b"))],
        [],
        [],
        [
            sl(
                ep("10.0.0.1", "zone-a", ready=False, zones=["zone-z"]),
                ep("10.0.0.2", "zone-b", zones=["zone-b"]),
            )
        ],
        [],
        [],
        id="not-ready endpoints are neither hinted nor cleared",
    ),
    pytest.param(
        "PreferClose",
        [sl(ep("10.0.0.1", "zone-a", ready=None))],
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", ready=None))],
        [],
        [],
        id="unknown readiness counts as not ready",
    ),
    pytest.param(
        None,
        [],
        [],
        [sl(ep("10.0.0.1", "zone-a", ready=False, zones=["zone-a"]), name="nr")],
        [],
        [sl(ep("10.0.0.1", "zone-a", ready=False), name="nr")],
        [],
        id="default heuristic strips hints of not-ready endpoints too",
    ),
    pytest.param(
        "PreferClose",
        [sl(ep("10.0.0.1", ""))],
        [],
        [],
        [sl(ep("10.0.0.1", "", zones=[""]))],
        [],
        [],
        id="an empty zone string still counts as a zone",
    ),
]


@pytest.mark.parametrize(
    ("td", "create", "update", "unchanged", "want_create", "want_update", "want_unchanged"),
    CASES,
)
def test_reconcile_hints(
    td: str | None,
    create: list[Obj],
    update: list[Obj],
    unchanged: list[Obj],
    want_create: list[Obj],
    want_update: list[Obj],
    want_unchanged: list[Obj],
) -> None:
    create, update, unchanged = (copy.deepcopy(x) for x in (create, update, unchanged))
    got_create, got_update, got_unchanged = reconcile_hints(td, create, update, unchanged)
    assert got_create == want_create
    assert got_update == want_update
    assert got_unchanged == want_unchanged


def test_reconcile_hints_does_not_mutate_unchanged_slices() -> None:
    original = sl(ep("10.0.0.1", "zone-a", "node-1"), name="orig")
    cloned = copy.deepcopy(original)
    unchanged = [original]
    _, updates, still = reconcile_hints("PreferClose", [], [], unchanged)
    assert original == cloned
    assert unchanged == [original]  # the caller's list is not filtered in place
    assert still == []
    assert updates[0] is not original
    assert updates[0]["endpoints"][0]["hints"] == {"forZones": [{"name": "zone-a"}]}


def test_reconcile_hints_returns_new_lists_and_edits_planner_copies_in_place() -> None:
    create = [sl(ep("10.0.0.1", "zone-a"))]
    update = [sl(ep("10.0.0.2", "zone-b"), name="u")]
    got_create, got_update, _ = reconcile_hints("PreferClose", create, update, [])
    assert got_create is not create and got_update is not update
    assert got_create[0] is create[0] and got_update[0] is update[0]
    assert create[0]["endpoints"][0]["hints"] == {"forZones": [{"name": "zone-a"}]}
