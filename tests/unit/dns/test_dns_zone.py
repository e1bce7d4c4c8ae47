"""The zone builder: incremental updates, immutable snapshots, CoreDNS's object rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sliceplane.dns.zone import (
    NO_PORT,
    Address,
    Port,
    ZoneBuilder,
    service_from_object,
    slice_from_object,
)

Obj = dict[str, Any]


def service(name: str = "web", ips: list[str] | None = None) -> Obj:
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": {
            "clusterIP": (ips or ["10.0.0.1"])[0],
            "clusterIPs": ips or ["10.0.0.1"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
    }


def slice_(name: str, ips: list[str], ready: list[bool | None] | None = None) -> Obj:
    ready = ready or [True] * len(ips)
    return {
        "metadata": {
            "namespace": "default",
            "name": name,
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {} if r is None else {"ready": r}}
            for ip, r in zip(ips, ready, strict=True)
        ],
    }


@pytest.mark.parametrize(
    ("obj", "want_ips", "want_ports"),
    [
        pytest.param(service(), ("10.0.0.1",), (Port("http", "TCP", 80),), id="clusterip"),
        pytest.param(
            {"metadata": {"namespace": "d", "name": "x"}, "spec": {"clusterIP": "10.0.0.2"}},
            ("10.0.0.2",),
            (Port("", "", NO_PORT),),
            id="no-clusterIPs-no-ports",
        ),
        pytest.param(
            service(ips=["10.0.0.3", "fd00::3"]),
            ("10.0.0.3", "fd00::3"),
            (Port("http", "TCP", 80),),
            id="dual-stack",
        ),
    ],
)
def test_service_conversion(
    obj: Obj, want_ips: tuple[str, ...], want_ports: tuple[Port, ...]
) -> None:
    s = service_from_object(obj)
    assert (s.cluster_ips, s.ports) == (want_ips, want_ports)


def test_slice_keeps_ready_and_unknown_readiness_only() -> None:
    s = slice_from_object(slice_("a", ["10.1.0.1", "10.1.0.2", "10.1.0.3"], [True, False, None]))
    assert s.addresses == (Address("10.1.0.1"), Address("10.1.0.3"))
    long_target = slice_("b", ["10.1.0.4"])
    long_target["endpoints"][0]["targetRef"] = {"name": "p" * 64}
    assert slice_from_object(long_target).addresses == (Address("10.1.0.4"),)


def test_builder_incremental_and_snapshots_immutable() -> None:
    clock = iter(range(100, 200))
    b = ZoneBuilder(now=lambda: next(clock))
    b.put_namespace({"metadata": {"name": "default"}})
    svc = service()
    frozen_input = copy.deepcopy(svc)
    b.put_service(svc)
    b.put_slice(slice_("a", ["10.1.0.1"]))
    b.mark_synced()
    z1 = b.snapshot()
    assert b.snapshot() is z1  # nothing changed: the same snapshot
    assert [a.ip for s in z1.slices[("default", "web")] for a in s.addresses] == ["10.1.0.1"]
    assert z1.serial == 102 and z1.synced

    b.put_slice(slice_("a", ["10.1.0.2"]))
    b.put_slice(slice_("b", ["10.1.0.3"]))
    z2 = b.snapshot()
    assert z2 is not z1 and z2.serial == 104
    assert [a.ip for s in z2.slices[("default", "web")] for a in s.addresses] == [
        "10.1.0.2",
        "10.1.0.3",
    ]
    assert set(z2.slices_by_ip) == {"10.1.0.2", "10.1.0.3"}
    # the old snapshot did not move
    assert [a.ip for s in z1.slices[("default", "web")] for a in s.addresses] == ["10.1.0.1"]
    assert set(z1.slices_by_ip) == {"10.1.0.1"}

    b.delete_slice(slice_("a", []))
    b.delete_slice(slice_("b", []))
    b.delete_service(svc)
    z3 = b.snapshot()
    assert ("default", "web") not in z3.slices and not z3.slices_by_ip
    assert not z3.services and not z3.services_by_ip
    assert svc == frozen_input  # inputs never mutated


def test_unchanged_object_is_not_a_change() -> None:
    b = ZoneBuilder()
    b.put_service(service())
    n = b.changes
    b.put_service(copy.deepcopy(service()))
    assert b.changes == n


def test_pods_terminating_or_finished_leave_the_index() -> None:
    b = ZoneBuilder()
    pod: Obj = {
        "metadata": {"namespace": "default", "name": "p"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.4.0.1"}]},
    }
    b.put_pod(pod)
    assert "10.4.0.1" in b.snapshot().pods_by_ip
    gone = copy.deepcopy(pod)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    b.put_pod(gone)
    assert "10.4.0.1" not in b.snapshot().pods_by_ip


def test_snapshots_of_an_index_keep_their_contents_while_it_changes() -> None:
    """Layered snapshots (base + changes) equal a copy taken at the time, however the
    builder's index changes afterwards, across compactions."""
    import random

    from sliceplane.dns.zone import _Versioned

    rng = random.Random(3)
    index: _Versioned[int, int] = _Versioned()
    taken: list[tuple[dict[int, int], Any]] = []
    for step in range(3000):
        key = rng.randrange(300)
        if rng.random() < 0.3:
            index.pop(key, None)
        else:
            index[key] = step
        if step % 37 == 0:
            taken.append((dict(index.current), index.snapshot()))
    for want, snap in taken:
        assert dict(snap) == want
        assert len(snap) == len(want)
        for key in range(300):
            assert snap.get(key) == want.get(key)
            assert (key in snap) == (key in want)
