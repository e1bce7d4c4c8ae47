"""The scale report's pure parts: the synthetic Service's writes and the units."""

from __future__ import annotations

import copy

import pytest

from sliceplane.report.output import human
from sliceplane.report.workload import initial_state, pod_ip, service_manifest


def state(pods: int, per_slice: int = 10):  # type: ignore[no-untyped-def]
    svc = service_manifest("ns")
    svc["spec"]["clusterIP"] = "10.96.0.10"
    svc["spec"]["ipFamilies"] = ["IPv4"]
    return initial_state(svc, pods, per_slice)


def test_initial_slices_pack_every_pod() -> None:
    s = state(95)
    actions = s.slice_actions()
    assert [a.verb for a in actions] == ["create"] * 10
    assert sum(len(a.slice["endpoints"]) for a in actions) == 95


def test_one_pod_change_is_one_slice_update_and_the_whole_endpoints() -> None:
    s = state(95)
    # Pretend the creates were stored, with names.
    s.slices = []
    for i, a in enumerate(s.slice_actions()):
        stored = copy.deepcopy(a.slice)
        stored["metadata"]["name"] = f"web-{i}"
        stored["metadata"]["resourceVersion"] = str(i + 1)
        s.slices.append(stored)
    before = s.endpoints_object()
    assert sum(len(ss.get("addresses") or []) for ss in before["subsets"]) == 95
    s.set_ready(47, False)
    actions = s.slice_actions()
    assert [a.verb for a in actions] == ["update"]
    (ep,) = [e for e in actions[0].slice["endpoints"] if e["targetRef"]["name"].endswith("00047")]
    assert ep["conditions"]["ready"] is False
    after = s.endpoints_object()
    ready = sum(len(ss.get("addresses") or []) for ss in after["subsets"])
    not_ready = sum(len(ss.get("notReadyAddresses") or []) for ss in after["subsets"])
    assert (ready, not_ready) == (94, 1)


def test_replacement_pods_have_new_names_and_addresses() -> None:
    s = state(3)
    old = s.pods[1]
    s.replace(1, 2)
    assert s.pods[1]["metadata"]["name"] != old["metadata"]["name"]
    assert s.pods[1]["status"]["podIP"] != old["status"]["podIP"]
    assert len({p["status"]["podIP"] for p in s.pods}) == 3


def test_pod_ips_are_distinct() -> None:
    assert len({pod_ip(i) for i in range(70_000)}) == 70_000


@pytest.mark.parametrize(
    ("n", "text"),
    [
        pytest.param(999, "999 B", id="bytes"),
        pytest.param(1_500_000, "1.5 MB", id="kep-object"),
        pytest.param(7_500_000_000, "7.5 GB", id="kep-fanout"),
        pytest.param(26_602, "26.6 kB", id="kilo"),
    ],
)
def test_human_uses_decimal_units_like_kep_752(n: int, text: str) -> None:
    assert human(n) == text
