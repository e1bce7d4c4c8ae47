"""The store against real SQLite files: revisions, conflicts, watch replay, restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sliceplane.storage.store import KeyExists, RevisionConflict, Store, TooOld


def pod(name: str, ns: str = "default") -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns}}


async def test_create_update_delete_revisions(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    a = await s.create("pods", ("default", "a"), pod("a"))
    b = await s.create("pods", ("default", "b"), pod("b"))
    assert (a.rv, b.rv) == (1, 2)
    assert a.obj["metadata"]["resourceVersion"] == "1"
    with pytest.raises(KeyExists):
        await s.create("pods", ("default", "a"), pod("a"))
    with pytest.raises(RevisionConflict):
        await s.update("pods", ("default", "a"), pod("a"), expect_rv=99)
    a2 = await s.update("pods", ("default", "a"), pod("a"), expect_rv=1)
    assert a2.rv == 3
    gone = await s.delete("pods", ("default", "b"))
    assert gone.rv == 4
    items, rv = s.list_objects("pods")
    assert [i.obj["metadata"]["name"] for i in items] == ["a"]
    assert rv == 4
    await s.stop()


async def test_concurrent_writes_group_commit_and_survive_restart(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    results = await asyncio.gather(
        *(s.create("pods", ("ns", f"p{i}"), pod(f"p{i}", "ns")) for i in range(300))
    )
    assert sorted(r.rv for r in results) == list(range(1, 301))
    assert s.commits < 300  # batched
    await s.stop()
    s2 = Store(tmp_path / "db.sqlite")
    await s2.start()
    items, rv = s2.list_objects("pods", "ns")
    assert len(items) == 300 and rv == 300
    nxt = await s2.create("pods", ("ns", "after"), pod("after", "ns"))
    assert nxt.rv == 301
    await s2.stop()


async def test_watch_replays_history_then_live_and_expires(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite", history_max=5)
    await s.start()
    for i in range(3):
        await s.create("pods", ("default", f"p{i}"), pod(f"p{i}"))
    w = s.watch("pods", "default", 1)
    await s.update("pods", ("default", "p0"), pod("p0"))
    seen = [(e.type, e.item.rv) for e in w.drain()]
    assert seen == [("ADDED", 2), ("ADDED", 3), ("MODIFIED", 4)]
    for i in range(10):
        await s.create("pods", ("other", f"q{i}"), pod(f"q{i}", "other"))
    assert w.drain() == []  # namespace filter
    with pytest.raises(TooOld):
        s.watch("pods", None, 2)
    w.close()
    await s.stop()
