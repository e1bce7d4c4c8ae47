"""Paging snapshots and the key index against a model: the store's real write path
(SQLite, group commit) with random creates, updates, deletes and re-creates between the
pages, and every page compared with the collection as it was when the first page was cut."""

from __future__ import annotations

import random
from pathlib import Path

from sliceplane.storage.keyindex import LOAD, KeyIndex
from sliceplane.storage.store import Key, Store, Stored


def pod(name: str, ns: str, gen: int) -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"g": str(gen)}}}


def test_key_index_keeps_order_across_splits_and_removals() -> None:
    rng = random.Random(7)
    index = KeyIndex()
    model: set[Key] = set()
    for step in range(6 * LOAD):
        key = (rng.choice("abc"), f"n{rng.randrange(4 * LOAD):05d}")
        if key in model and step % 3 == 0:
            index.remove(key)
            model.discard(key)
        elif key not in model:
            index.add(key)
            model.add(key)
    ordered = sorted(model)
    assert list(index.walk(("", ""))) == ordered
    assert len(index) == len(ordered)
    probe = ordered[len(ordered) // 2]
    assert list(index.walk(probe, after=True)) == ordered[ordered.index(probe) + 1 :]
    assert list(index.walk(probe)) == ordered[ordered.index(probe) :]
    assert index.count_between(("b", ""), ("b\x00", "")) == sum(1 for k in model if k[0] == "b")
    index.remove(("zz", "absent"))  # no error, no change
    assert len(index) == len(ordered)
    assert KeyIndex(reversed(ordered)).rank(probe) == ordered.index(probe)


async def test_pages_show_the_first_pages_revision_whatever_changes(tmp_path: Path) -> None:
    rng = random.Random(11)
    s = Store(tmp_path / "db.sqlite")
    await s.start()
    live: dict[Key, int] = {}
    gen = 0

    async def churn(n: int) -> None:
        nonlocal gen
        for _ in range(n):
            gen += 1
            key = (rng.choice(["a", "b", "c"]), f"p{rng.randrange(60):03d}")
            if key not in live:
                await s.create("pods", key, pod(key[1], key[0], gen))
                live[key] = gen
            elif rng.random() < 0.5:
                await s.update("pods", key, pod(key[1], key[0], gen))
                live[key] = gen
            else:
                await s.delete("pods", key)
                del live[key]

    def seen(items: list[Stored]) -> list[tuple[Key, int]]:
        return [
            ((i.obj["metadata"]["namespace"], i.obj["metadata"]["name"]), int(i.labels["g"]))
            for i in items
        ]

    await churn(200)
    for round_ in range(40):
        namespace = rng.choice([None, "a", "b"])
        expected = sorted((k, g) for k, g in live.items() if namespace in (None, k[0]))
        keep_even = round_ % 4 == 3
        if keep_even:
            expected = [(k, g) for k, g in expected if g % 2 == 0]
        snap = s.snapshot("pods", namespace)
        assert snap.count == sum(1 for k in live if namespace in (None, k[0]))
        got: list[Stored] = []
        after = None
        limit = rng.randrange(1, 9)
        while True:
            page, last = snap.page(
                after, limit, (lambda i: int(i.labels["g"]) % 2 == 0) if keep_even else None
            )
            assert len(page) <= limit
            got += page
            await churn(rng.randrange(0, 15))  # between pages, as a client's pages are
            if last is None:
                break
            assert len(page) == limit
            after = last
        assert seen(got) == expected, round_
        snap.close()
    assert all(not st.snapshots for st in s._resources.values())
    # The index the pages walked is the live collection's, in order.
    items, _ = s.list_objects("pods")
    assert seen(items) == sorted(live.items())
    items, _ = s.list_objects("pods", "b")
    assert seen(items) == sorted((k, g) for k, g in live.items() if k[0] == "b")
    assert s.count_in("pods", "c") == sum(1 for k in live if k[0] == "c")
    await s.stop()
