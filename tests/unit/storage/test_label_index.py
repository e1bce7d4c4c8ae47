"""The store's label index against a scan: the real write path (SQLite, group commit) with
random creates, label changes, deletes and re-creates, and after each burst every indexed
answer compared with filtering ``list_objects`` (the same items, in the same order, at the
same revision)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from sliceplane.storage.labelindex import MAX_INDEXED_LABELS
from sliceplane.storage.store import Key, Store, Stored


def pod(name: str, ns: str, labels: dict[str, str]) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"kind": "Pod", "metadata": meta}


def scan(s: Store, ns: str | None, pairs: list[tuple[str, str]]) -> tuple[list[Stored], int]:
    items, rv = s.list_objects("pods", ns)
    return [i for i in items if all(i.labels.get(k) == v for k, v in pairs)], rv


def indexed(s: Store, ns: str | None, pairs: list[tuple[str, str]]) -> tuple[list[Stored], int]:
    listed = s.list_labelled("pods", ns, pairs)
    assert listed is not None
    items, rv = listed
    return [i for i in items if all(i.labels.get(k) == v for k, v in pairs)], rv


async def test_indexed_lists_are_the_scans_whatever_changes(tmp_path: Path) -> None:
    rng = random.Random(5)
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    live: set[Key] = set()

    def labels() -> dict[str, str]:
        out = {}
        if rng.random() < 0.8:
            out["app"] = rng.choice(["web", "db", "cache"])
        if rng.random() < 0.6:
            out["tier"] = rng.choice(["a", "b"])
        return out

    async def churn(n: int) -> None:
        writes = []
        for _ in range(n):
            key = (rng.choice(["x", "y", "z"]), f"p{rng.randrange(80):03d}")
            if key not in live:
                writes.append(s.create("pods", key, pod(key[1], key[0], labels())))
                live.add(key)
            elif rng.random() < 0.7:
                writes.append(s.update("pods", key, pod(key[1], key[0], labels())))
            else:
                writes.append(s.delete("pods", key))
                live.discard(key)
        await asyncio.gather(*writes)  # one group commit: several changes of a key in a batch

    await churn(150)
    queries: list[tuple[str | None, list[tuple[str, str]]]] = [
        ("x", [("app", "web")]),
        (None, [("app", "db")]),
        ("y", [("app", "cache"), ("tier", "b")]),
        (None, [("tier", "a"), ("app", "web")]),
        ("z", [("app", "nope")]),
        ("absent-ns", [("app", "web")]),
    ]
    for _ in range(6):
        for ns, pairs in queries:
            got, want = indexed(s, ns, pairs), scan(s, ns, pairs)
            assert [i.rv for i in got[0]] == [i.rv for i in want[0]]
            assert got[1] == want[1]
        await churn(60)
    assert any(scan(s, ns, p)[0] for ns, p in queries)  # the queries do select something
    await s.stop()


async def test_candidates_come_from_the_rarest_pair(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    for i in range(20):
        await s.create("pods", ("ns", f"p{i:02d}"), pod(f"p{i:02d}", "ns", {"app": "web"}))
    await s.create("pods", ("ns", "special"), pod("special", "ns", {"app": "web", "rare": "1"}))
    listed = s.list_labelled("pods", "ns", [("app", "web"), ("rare", "1")])
    assert listed is not None
    assert [i.obj["metadata"]["name"] for i in listed[0]] == ["special"]
    await s.stop()


async def test_label_keys_beyond_the_cap_are_not_indexed(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    await s.create("pods", ("ns", "a"), pod("a", "ns", {"k0": "v"}))
    for i in range(MAX_INDEXED_LABELS):
        assert s.list_labelled("pods", "ns", [(f"k{i}", "v")]) is not None
    assert s.list_labelled("pods", "ns", [("one-too-many", "v")]) is None
    listed = s.list_labelled("pods", "ns", [("one-too-many", "v"), ("k0", "v")])
    assert listed is not None and [i.obj["metadata"]["name"] for i in listed[0]] == ["a"]
    assert s.list_labelled("nothing-here", None, [("k", "v")]) == ([], s.revision)
    await s.stop()
