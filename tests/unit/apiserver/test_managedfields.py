"""Managed fields recorded by Update operations, as upstream's field manager records them."""

from __future__ import annotations

from typing import Any

from sliceplane.api.fieldtypes import type_for
from sliceplane.apiserver import managedfields as mf

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:00:01Z"


def svc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec}


def record(
    live: Any, new: Any, entries: list[mf.Entry], manager: str, now: str, subresource: str = ""
) -> list[mf.Entry]:
    t = type_for("", "v1", "Service")
    assert t is not None
    return mf.record_update(
        t,
        "Service",
        live,
        new,
        entries,
        manager,
        "v1",
        subresource,
        mf.ignored_fields("services", subresource),
        now,
    )


def by_manager(entries: list[mf.Entry]) -> dict[str, Any]:
    return {e["manager"]: e for e in mf.encode(entries)}


def test_create_records_what_the_request_set_without_status_and_server_metadata() -> None:
    new = svc(type="ClusterIP")
    new["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    new["metadata"]["uid"] = "x"
    (entry,) = mf.encode(record(None, new, [], "kubectl-create", T0))
    assert entry == {
        "manager": "kubectl-create",
        "operation": "Update",
        "apiVersion": "v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:type": {}}},
    }


def test_a_second_manager_takes_over_what_it_changes() -> None:
    first = record(None, svc(type="ClusterIP", sessionAffinity="None"), [], "a", T0)
    second = record(
        svc(type="ClusterIP", sessionAffinity="None"),
        svc(type="NodePort", sessionAffinity="None"),
        first,
        "b",
        T1,
    )
    got = by_manager(second)
    assert got["a"]["fieldsV1"] == {"f:spec": {"f:sessionAffinity": {}}}
    assert got["a"]["time"] == T0
    assert got["b"]["fieldsV1"] == {"f:spec": {"f:type": {}}}


def test_no_change_keeps_entries_and_times() -> None:
    first = record(None, svc(type="ClusterIP"), [], "a", T0)
    again = record(svc(type="ClusterIP"), svc(type="ClusterIP"), first, "a", T1)
    assert mf.encode(again) == mf.encode(first)


def test_removed_fields_leave_every_owner_and_empty_entries_go() -> None:
    first = record(None, svc(type="ClusterIP"), [], "a", T0)
    gone = record(svc(type="ClusterIP"), svc(), first, "b", T1)
    assert mf.encode(gone) == []


def test_status_writes_are_their_own_entries_and_ignore_spec() -> None:
    live = svc(type="ClusterIP")
    new = svc(type="NodePort")
    new["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    (entry,) = mf.encode(record(live, new, [], "ctrl", T0, "status"))
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {
        "f:status": {
            "f:conditions": {".": {}, 'k:{"type":"Ready"}': {".": {}, "f:status": {}, "f:type": {}}}
        }
    }


def test_request_entries_replace_live_ones_and_reset() -> None:
    live = svc()
    live["metadata"]["managedFields"] = mf.encode(record(None, svc(type="A"), [], "a", T0))
    mine = svc()
    mine["metadata"]["managedFields"] = [
        {
            "manager": "z",
            "operation": "Apply",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:type": {}}},
        }
    ]
    assert [e.identity.manager for e in mf.starting_entries(live, mine, "")] == ["z"]
    assert [e.identity.manager for e in mf.starting_entries(live, mine, "status")] == ["a"]
    mine["metadata"]["managedFields"] = [{}]
    assert mf.starting_entries(live, mine, "") == []
    mine["metadata"]["managedFields"] = []
    assert [e.identity.manager for e in mf.starting_entries(live, mine, "")] == ["a"]


def test_more_than_ten_updaters_fold_into_ancient_changes() -> None:
    entries: list[mf.Entry] = []
    live = svc()
    for i in range(12):
        new = svc(**{f"f{i}": "x"})
        new["spec"].update(live["spec"])
        entries = record(live, new, entries, f"m{i:02}", f"2026-01-01T00:00:{i:02}Z")
        live = new
    names = sorted(by_manager(entries))
    assert len(names) == 10 and "ancient-changes" in names and "m00" not in names


def test_manager_from_user_agent() -> None:
    assert mf.manager_from_user_agent("kubectl/v1.37.1 (linux/amd64) kubernetes/abc") == "kubectl"
    assert mf.manager_from_user_agent("") == ""
    assert len(mf.manager_from_user_agent("x" * 300)) == 128
