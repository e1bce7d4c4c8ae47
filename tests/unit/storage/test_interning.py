"""Shared subtrees: identical parts of different objects become one copy, the bytes and
dicts the store hands out are unchanged, and no earlier version is changed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec

from sliceplane.storage.interning import Interner
from sliceplane.storage.store import Store


def pod(name: str, when: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app": "web"},
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": when,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
                }
            ],
        },
        "spec": {"containers": [{"name": "c", "image": "x"}], "nodeName": name, "x": {}},
    }


async def test_identical_parts_are_shared_and_served_unchanged(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    a = await s.create("pods", ("default", "a"), pod("a", "T1"))
    b = await s.create("pods", ("default", "b"), pod("b", "T1"))
    c = await s.create("pods", ("default", "c"), pod("c", "T2"))
    for item, name, when in ((a, "a", "T1"), (b, "b", "T1"), (c, "c", "T2")):
        expected = pod(name, when)
        expected["metadata"]["resourceVersion"] = str(item.rv)
        assert item.obj == expected
        assert msgspec.json.decode(item.raw) == expected
    ma, mb, mc = (i.obj["metadata"] for i in (a, b, c))
    assert ma["managedFields"][0] is mb["managedFields"][0]
    assert ma["managedFields"][0] is not mc["managedFields"][0]  # another time
    assert ma["labels"] is mc["labels"]
    assert a.obj["spec"]["containers"] is c.obj["spec"]["containers"]
    # A later version shares with the earlier one without changing it.
    before = copy.deepcopy(a.obj)
    changed = pod("a", "T1")
    changed["spec"]["containers"] = [{"name": "c", "image": "y"}]
    a2 = await s.update("pods", ("default", "a"), changed)
    assert a.obj == before
    assert a2.obj["spec"]["containers"] == [{"name": "c", "image": "y"}]
    assert b.obj["spec"]["containers"] == [{"name": "c", "image": "x"}]
    gone = await s.delete("pods", ("default", "b"))
    assert gone.obj["spec"] == b.obj["spec"] and gone.obj["metadata"]["name"] == "b"
    await s.stop()
    # After a restart the loaded objects share again.
    s2 = Store(tmp_path / "db.sqlite")
    await s2.start()
    items, _ = s2.list_objects("pods", "default")
    assert [i.obj["metadata"]["name"] for i in items] == ["a", "c"]
    assert items[0].obj["metadata"]["labels"] is items[1].obj["metadata"]["labels"]
    await s2.stop()


def test_the_table_stays_bounded_and_keeps_what_is_still_asked_for() -> None:
    table = Interner(max_entries=4)
    hot = table.shared({"hot": 1})
    for i in range(20):
        table.shared({"cold": i})
        assert table.shared({"hot": 1}) is hot
    assert len(table) <= 8
