"""The watch history is bounded by events, bytes and age; objects by etcd's size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from sliceplane.storage.history import ENTRY_OVERHEAD, Entry, History
from sliceplane.storage.store import MAX_OBJECT_BYTES, ObjectTooLarge, Store, TooOld


def entry(rv: int, size: int = 100, at: float = 0.0, resource: str = "pods") -> Entry:
    return Entry(rv, "ADDED", resource, ("ns", f"o{rv}"), b"x" * size, None, 0, at)


@pytest.mark.parametrize(
    ("bounds", "entries", "now", "kept", "compacted"),
    [
        pytest.param(
            (3, 10**9, 10**9), [entry(i) for i in range(1, 6)], 0.0, [3, 4, 5], 2, id="events"
        ),
        pytest.param(
            (100, 2 * (1000 + ENTRY_OVERHEAD), 10**9),
            [entry(i, 1000) for i in range(1, 6)],
            0.0,
            [4, 5],
            3,
            id="bytes",
        ),
        pytest.param(
            (100, 10**9, 60.0),
            [entry(1, at=0), entry(2, at=30), entry(3, at=50), entry(4, at=95)],
            100.0,
            [3, 4],
            2,
            id="age",
        ),
        pytest.param(
            (100, 10**9, 60.0),
            [entry(1, at=0), entry(2, at=1)],
            1000.0,
            [],
            2,
            id="age-all",
        ),
        pytest.param(
            (3, 10**9, 10**9),
            [entry(1), entry(2, resource="svc"), entry(3), entry(4, resource="svc"), entry(5)],
            0.0,
            [3, 4, 5],
            2,
            id="global-order-across-resources",
        ),
    ],
)
def test_trim(
    bounds: tuple[int, int, float],
    entries: list[Entry],
    now: float,
    kept: list[int],
    compacted: int,
) -> None:
    h = History(*bounds)
    for e in entries:
        h.append(e)
    assert h.trim(now) == compacted
    left = sorted(e.rv for r in ("pods", "svc") for e in h.since(r, 0))
    assert left == kept
    assert h.bytes == sum(e.cost for e in entries if e.rv in kept)


def test_since_returns_only_newer_entries_of_the_resource() -> None:
    h = History(100, 10**9, 10**9)
    for e in [entry(1), entry(2, resource="svc"), entry(3), entry(4)]:
        h.append(e)
    assert [e.rv for e in h.since("pods", 1)] == [3, 4]
    assert [e.rv for e in h.since("pods", 4)] == []
    assert [e.rv for e in h.since("nodes", 0)] == []


def big(name: str, size: int, label: str = "a") -> dict[str, object]:
    return {
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "labels": {"v": label}},
        "data": {"blob": "z" * size},
    }


async def test_patching_a_huge_object_keeps_history_within_its_byte_bound(tmp_path: Path) -> None:
    limit = 8 * 1024 * 1024
    s = Store(tmp_path / "db.sqlite", history_bytes=limit)
    await s.start()
    await s.create("configmaps", ("ns", "huge"), big("huge", 1_400_000))
    for i in range(20):  # the probe's "twenty one-label patches"
        await s.update("configmaps", ("ns", "huge"), big("huge", 1_400_000, str(i)))
    assert s.history_bytes <= limit
    assert 4 <= s.history_len <= 6
    # A watch from inside the window replays the versions, decoded only when asked for.
    since = s.oldest_watchable
    w = s.watch("configmaps", None, since)
    replay = w.drain()
    assert [e.item.rv for e in replay] == list(range(since + 1, s.revision + 1))
    assert replay[-1].item.obj["metadata"]["labels"] == {"v": "19"}
    assert replay[-1].prev is not None and replay[-1].prev.labels == {"v": "18"}
    with pytest.raises(TooOld):
        s.watch("configmaps", None, since - 1)
    w.close()
    await s.stop()
    # A restart loads no more than the bounds allow either.
    s = Store(tmp_path / "db.sqlite", history_bytes=limit)
    await s.start()
    assert s.history_bytes <= limit
    await s.stop()


async def test_history_is_trimmed_by_age(tmp_path: Path) -> None:
    now = [1000.0]
    s = Store(tmp_path / "db.sqlite", history_seconds=60.0, clock=lambda: now[0])
    await s.start()
    for i in range(5):
        await s.create("pods", ("ns", f"p{i}"), {"metadata": {"name": f"p{i}"}})
    now[0] += 61
    await s.create("pods", ("ns", "late"), {"metadata": {"name": "late"}})
    assert s.history_len == 1 and s.oldest_watchable == 5
    with pytest.raises(TooOld):
        s.watch("pods", None, 4)
    s.watch("pods", None, 5).close()  # a client that saw everything may still resume
    await s.stop()


async def test_objects_over_etcds_request_limit_are_refused(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    ok = await s.create("configmaps", ("ns", "a"), big("a", MAX_OBJECT_BYTES - 500))
    with pytest.raises(ObjectTooLarge, match="etcdserver: request is too large"):
        await s.create("configmaps", ("ns", "b"), big("b", MAX_OBJECT_BYTES))
    with pytest.raises(ObjectTooLarge):
        await s.update("configmaps", ("ns", "a"), big("a", 3 * MAX_OBJECT_BYTES))
    assert s.get("configmaps", ("ns", "b")) is None
    assert s.get("configmaps", ("ns", "a")) is not None
    assert s.get("configmaps", ("ns", "a")).rv == ok.rv  # type: ignore[union-attr]
    # A refused write takes no revision.
    nxt = await s.create("configmaps", ("ns", "c"), big("c", 10))
    assert nxt.rv == ok.rv + 1
    await s.stop()


async def test_a_watcher_that_never_reads_is_closed_at_its_backlog(tmp_path: Path) -> None:
    """Issue 16: a watch that never reads is dropped, its queue never beyond the bound."""
    s = Store(tmp_path / "db.sqlite", watcher_backlog=50)
    await s.start()
    w = s.watch("pods", None, s.revision)
    for i in range(120):
        await s.create("pods", ("ns", f"p{i}"), {"metadata": {"name": f"p{i}"}})
    assert w.closed and w.overflowed
    held = w.drain()
    assert len(held) == 50  # what it held when it fell behind, and nothing since
    # Unsubscribed: later writes are not offered to it.
    await s.create("pods", ("ns", "later"), {"metadata": {"name": "later"}})
    assert w.drain() == []
    await s.stop()


def versions(sizes: list[int], first_prev: bytes | None = None) -> list[Entry]:
    """Successive entries of one object: each one's previous version is the bytes object
    of the entry before it (as the store hands them over); ``first_prev`` the version
    written before the window."""
    out: list[Entry] = []
    prev = first_prev
    for i, size in enumerate(sizes, start=1):
        raw = bytes([i]) * size
        typ = "ADDED" if prev is None else "MODIFIED"
        out.append(Entry(i, typ, "pods", ("ns", "p"), raw, prev, i - 1, 0.0))  # type: ignore[arg-type]
        prev = raw
    return out


def test_a_previous_version_is_charged_once_whoever_keeps_it() -> None:
    """Versions of 1,000, 2,000 and 3,000 bytes: while the window holds them all, each is
    charged once (the previous versions are the earlier entries' bytes); once an entry is
    compacted its bytes live on as the next entry's previous version and are charged there."""
    h = History(3, 10**9, 10**9)
    for e in versions([1000, 2000, 3000]):
        h.append(e)
    assert h.bytes == 6000 + 3 * ENTRY_OVERHEAD
    h.max_events = 2
    h.trim(0.0)  # version 1 stays alive as version 2's previous object
    assert h.bytes == 1000 + 2000 + 3000 + 2 * ENTRY_OVERHEAD
    h.max_events = 1
    h.trim(0.0)
    assert h.bytes == 2000 + 3000 + ENTRY_OVERHEAD
    h.max_events = 0
    h.trim(0.0)
    assert h.bytes == 0


def test_an_update_of_an_object_written_before_the_window_charges_its_previous_version() -> None:
    h = History(10, 10**9, 10**9)
    old = b"o" * 5000
    for e in versions([1000, 1000], first_prev=old):
        h.append(e)
    assert h.bytes == 5000 + 2000 + 2 * ENTRY_OVERHEAD
    # And the byte bound holds what is really kept: no more than two such versions fit.
    h.max_bytes = 5000 + 1000 + ENTRY_OVERHEAD
    h.trim(0.0)
    assert [e.rv for e in h.since("pods", 0)] == [2]
    assert h.bytes == 1000 + 1000 + ENTRY_OVERHEAD
