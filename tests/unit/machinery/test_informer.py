from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sliceplane.api.errors import Expired, Gone, InternalError
from sliceplane.machinery.clock import FakeClock
from sliceplane.machinery.informer import (
    Informer,
    InformerOptions,
    ListPage,
    Obj,
    WatchEvent,
    namespace_index,
    object_key,
    strip_managed_fields,
)

_END = object()


def pod(ns: str, name: str, app: str = "web") -> Obj:
    return {"metadata": {"namespace": ns, "name": name, "labels": {"app": app}}}


class FakeListWatcher:
    """An in-memory collection with a revision counter, paginated list and controllable
    watch streams. ``push`` feeds the open stream; ``end``/``fail`` close it."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.rv = 10
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.expire_next_continue = False
        self.list_errors: list[Exception] = []
        self.watch_errors: list[Exception] = []
        self._stream: asyncio.Queue[object] | None = None

    # server-side mutations (not visible on the open watch unless pushed)
    def put(self, obj: Obj) -> Obj:
        self.rv += 1
        stored = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.rv)}}
        self.objects[object_key(stored)] = stored
        return stored

    def remove(self, key: str) -> Obj:
        self.rv += 1
        old = self.objects.pop(key)
        return {**old, "metadata": {**old["metadata"], "resourceVersion": str(self.rv)}}

    # ListWatcher
    async def list(
        self,
        *,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> ListPage:
        self.list_calls.append({"rv": resource_version, "limit": limit, "continue": continue_})
        if self.list_errors:
            raise self.list_errors.pop(0)
        if continue_ and self.expire_next_continue:
            self.expire_next_continue = False
            raise Expired("continue token expired")
        keys = sorted(self.objects)
        start = int(continue_.split(":")[0]) if continue_ else 0
        end = start + (limit or len(keys))
        nxt = f"{end}:{self.rv}" if end < len(keys) else None
        return ListPage([self.objects[k] for k in keys[start:end]], str(self.rv), nxt)

    def watch(
        self, *, resource_version: str, timeout_seconds: int | None, allow_bookmarks: bool
    ) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append({"rv": resource_version, "bookmarks": allow_bookmarks})
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._stream = queue
        errors = self.watch_errors

        async def gen() -> AsyncIterator[WatchEvent]:
            if errors:
                raise errors.pop(0)
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, WatchEvent)
                yield item

        return gen()

    def push(self, type_: Any, obj: Obj) -> None:
        assert self._stream is not None
        self._stream.put_nowait(WatchEvent(type_, obj))

    def end(self) -> None:
        assert self._stream is not None
        self._stream.put_nowait(_END)

    def fail(self, exc: BaseException) -> None:
        assert self._stream is not None
        self._stream.put_nowait(exc)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def on_add(self, obj: Obj) -> None:
        self.events.append(("add", object_key(obj), obj["metadata"].get("resourceVersion", "")))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", object_key(new), new["metadata"]["resourceVersion"]))

    def on_delete(self, obj: Obj) -> None:
        self.events.append(("delete", object_key(obj), obj["metadata"]["resourceVersion"]))

    def take(self) -> list[tuple[str, str, str]]:
        out, self.events = self.events, []
        return out


async def start(
    lw: FakeListWatcher, clock: FakeClock, page_size: int = 500
) -> tuple[Informer, Recorder, asyncio.Task[None]]:
    inf = Informer(lw, clock, InformerOptions(page_size=page_size), name="pods")
    inf.add_index("namespace", namespace_index)
    rec = Recorder()
    inf.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    task = asyncio.create_task(inf.run())
    await asyncio.wait_for(inf.wait_for_sync(), 1)
    await clock.settle()
    return inf, rec, task


async def stop(inf: Informer, task: asyncio.Task[None]) -> None:
    inf.stop()
    await asyncio.wait_for(task, 1)


async def test_paginated_initial_list_syncs_and_watches_from_list_rv() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    for i in range(5):
        lw.put(pod("ns", f"p{i}"))
    inf, rec, task = await start(lw, clock, page_size=2)
    assert [c["continue"] for c in lw.list_calls] == [None, "2:15", "4:15"]
    assert all(c["limit"] == 2 and c["rv"] is None for c in lw.list_calls)
    assert inf.has_synced()
    assert sorted(inf.store.keys()) == [f"ns/p{i}" for i in range(5)]
    assert [e[0] for e in rec.take()] == ["add"] * 5
    assert lw.watch_calls == [{"rv": "15", "bookmarks": True}]
    await stop(inf, task)


async def test_watch_events_update_store_handlers_and_rv() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put(pod("ns", "a"))
    inf, rec, task = await start(lw, clock)
    rec.take()
    lw.push("ADDED", lw.put(pod("ns", "b")))
    lw.push("MODIFIED", lw.put(pod("ns", "a", app="api")))
    lw.push("DELETED", lw.remove("ns/b"))
    lw.push("DELETED", {"metadata": {"namespace": "ns", "name": "never", "resourceVersion": "15"}})
    await clock.settle()
    assert rec.take() == [("add", "ns/b", "12"), ("update", "ns/a", "13"), ("delete", "ns/b", "14")]
    assert inf.store.keys() == ["ns/a"]
    a = inf.store.get("ns/a")
    assert a is not None and a["metadata"]["labels"] == {"app": "api"}
    assert inf.last_resource_version == "15"
    await stop(inf, task)


async def test_modified_with_same_rv_is_still_delivered() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    a = lw.put(pod("ns", "a"))
    inf, rec, task = await start(lw, clock)
    rec.take()
    lw.push("MODIFIED", a)
    await clock.settle()
    assert rec.take() == [("update", "ns/a", "11")]
    await stop(inf, task)


async def test_bookmark_advances_rv_and_disconnect_rewatches_from_it() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put(pod("ns", "a"))
    inf, rec, task = await start(lw, clock)
    rec.take()
    lw.push("BOOKMARK", {"metadata": {"resourceVersion": "42"}})
    await clock.settle()
    assert inf.last_resource_version == "42"
    assert rec.take() == []
    lw.fail(ConnectionResetError("peer went away"))
    await clock.settle()
    assert len(lw.watch_calls) == 1  # backing off
    await clock.advance(0.8)
    assert lw.watch_calls[-1]["rv"] == "42"
    assert len(lw.list_calls) == 1  # no relist for a plain disconnect
    await stop(inf, task)


async def test_normal_watch_end_rewatches_from_last_event_rv() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    inf, _rec, task = await start(lw, clock)
    lw.push("ADDED", lw.put(pod("ns", "a")))
    lw.end()
    await clock.settle()
    assert [c["rv"] for c in lw.watch_calls] == ["10", "11"]
    assert len(lw.list_calls) == 1
    await stop(inf, task)


async def test_watch_failures_back_off_exponentially_and_reset_after_success() -> None:
    clock = FakeClock(start=0.0)
    lw = FakeListWatcher()
    inf, _rec, task = await start(lw, clock)
    lw.watch_errors = [InternalError("x"), InternalError("y"), InternalError("z")]
    lw.fail(InternalError("first"))
    delays: list[float] = []
    for _ in range(4):
        await clock.settle()
        deadline = clock.next_deadline()
        assert deadline is not None
        delays.append(round(deadline - clock.now(), 6))
        await clock.advance(deadline - clock.now())
    assert delays == [0.8, 1.6, 3.2, 6.4]
    assert len(lw.watch_calls) == 5
    assert clock.next_deadline() is None  # the fifth watch is open
    lw.push("ADDED", lw.put(pod("ns", "a")))  # a healthy stream...
    lw.fail(InternalError("again"))
    await clock.advance(0.8)  # ...resets the backoff
    assert len(lw.watch_calls) == 6
    await stop(inf, task)


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("error-event", id="error-event-410"),
        pytest.param("raise-expired", id="raised-expired"),
        pytest.param("raise-gone", id="raised-gone"),
        pytest.param("watch-start-expired", id="expired-on-watch-start"),
    ],
)
async def test_410_relists_and_delivers_the_diff(how: str) -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put(pod("ns", "keep"))
    lw.put(pod("ns", "change"))
    lw.put(pod("ns", "vanish"))
    inf, rec, task = await start(lw, clock)
    rec.take()
    # Changes the informer never saw on its watch:
    lw.remove("ns/vanish")
    lw.put(pod("ns", "change", app="api"))
    lw.put(pod("other", "new"))
    if how == "error-event":
        lw.push("ERROR", Expired("too old").to_status())
    elif how == "raise-expired":
        lw.fail(Expired("too old"))
    elif how == "raise-gone":
        lw.fail(Gone("gone"))
    else:
        lw.watch_errors = [Expired("too old")]
        lw.end()  # an empty, instant stream counts as unhealthy: back off, then 410
        await clock.advance(0.8)
    await clock.settle()
    assert len(lw.list_calls) == 2
    events = rec.take()
    assert events == [
        ("delete", "ns/vanish", "13"),
        ("update", "ns/change", "15"),
        ("update", "ns/keep", "11"),
        ("add", "other/new", "16"),
    ]
    assert sorted(inf.store.keys()) == ["ns/change", "ns/keep", "other/new"]
    assert inf.store.index_keys("namespace", "ns") == ["ns/change", "ns/keep"]
    assert lw.watch_calls[-1]["rv"] == "16"
    await stop(inf, task)


async def test_expired_continue_token_restarts_list_from_scratch() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    for i in range(3):
        lw.put(pod("ns", f"p{i}"))
    lw.expire_next_continue = True
    inf, rec, task = await start(lw, clock, page_size=2)
    assert [c["continue"] for c in lw.list_calls] == [None, "2:13", None, "2:13"]
    assert [e[1] for e in rec.take()] == ["ns/p0", "ns/p1", "ns/p2"]
    await stop(inf, task)


async def test_list_failure_retries_with_backoff_before_sync() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put(pod("ns", "a"))
    lw.list_errors = [InternalError("down"), InternalError("still down")]
    inf = Informer(lw, clock, name="pods")
    task = asyncio.create_task(inf.run())
    await clock.settle()
    assert not inf.has_synced()
    await clock.advance(0.8)
    assert not inf.has_synced() and len(lw.list_calls) == 2
    await clock.advance(1.6)
    assert inf.has_synced()
    await stop(inf, task)


async def test_indexes_follow_adds_moves_and_deletes() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put(pod("a", "p1", app="web"))
    lw.put(pod("b", "p2", app="web"))
    inf, _rec, task = await start(lw, clock)
    inf.add_index("app", lambda o: [o["metadata"]["labels"]["app"]])  # backfilled
    assert [object_key(o) for o in inf.store.by_index("app", "web")] == ["a/p1", "b/p2"]
    assert [object_key(o) for o in inf.store.by_index("namespace", "b")] == ["b/p2"]
    lw.push("MODIFIED", lw.put(pod("a", "p1", app="db")))
    lw.push("DELETED", lw.remove("b/p2"))
    await clock.settle()
    assert inf.store.by_index("app", "web") == []
    assert inf.store.index_keys("app", "db") == ["a/p1"]
    assert inf.store.by_index("namespace", "b") == []
    with pytest.raises(ValueError):
        inf.add_index("app", namespace_index)
    await stop(inf, task)


async def test_cluster_scoped_keys_and_late_handlers_get_current_state() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put({"metadata": {"name": "node-1"}})
    inf, _, task = await start(lw, clock)
    assert inf.store.keys() == ["node-1"]
    assert inf.store.by_index("namespace", "") == []
    late = Recorder()
    inf.add_handler(on_add=late.on_add)
    assert late.take() == [("add", "node-1", "11")]
    await stop(inf, task)


async def test_failing_handler_does_not_stop_the_informer() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    inf = Informer(lw, clock)

    def broken(obj: Obj) -> None:
        raise RuntimeError("bad handler")

    rec = Recorder()
    inf.add_handler(on_add=broken)
    inf.add_handler(on_add=rec.on_add)
    task = asyncio.create_task(inf.run())
    await inf.wait_for_sync()
    await clock.settle()
    lw.push("ADDED", lw.put(pod("ns", "a")))
    await clock.settle()
    assert rec.take() == [("add", "ns/a", "11")]
    await stop(inf, task)


async def test_cancelling_run_propagates() -> None:
    clock = FakeClock()
    inf = Informer(FakeListWatcher(), clock)
    task = asyncio.create_task(inf.run())
    await inf.wait_for_sync()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_repeated_410_without_progress_backs_off_between_relists() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    inf, _rec, task = await start(lw, clock)
    lw.watch_errors = [Expired("a"), Expired("b"), Expired("c")]
    lw.push("ERROR", Expired("too old").to_status())
    await clock.settle()
    assert len(lw.list_calls) == 2  # first relist is immediate
    await clock.advance(0.7)
    assert len(lw.list_calls) == 2
    await clock.advance(0.1)
    assert len(lw.list_calls) == 3
    await clock.advance(1.6)
    assert len(lw.list_calls) == 4
    await stop(inf, task)


def test_watch_timeouts_are_spread_like_client_gos() -> None:
    """Informers started together must not all re-watch at the same instant."""
    from sliceplane.machinery.informer import _jittered

    seen = {_jittered(300) for _ in range(200)}
    assert all(v is not None and 300 <= v <= 600 for v in seen)
    assert len(seen) > 50
    assert _jittered(None) is None


def test_strip_managed_fields_leaves_its_argument_alone() -> None:
    obj = {"metadata": {"name": "a", "managedFields": [{"manager": "m"}]}, "spec": {"x": 1}}
    trimmed = strip_managed_fields(obj)
    assert trimmed == {"metadata": {"name": "a"}, "spec": {"x": 1}}
    assert obj["metadata"]["managedFields"] == [{"manager": "m"}]
    assert trimmed["spec"] is obj["spec"]
    plain = {"metadata": {"name": "b"}}
    assert strip_managed_fields(plain) is plain


async def test_transform_applies_to_listed_watched_and_deleted_objects() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    managed = [{"manager": "kubelet", "operation": "Update"}]

    def with_fields(ns: str, name: str, app: str = "web") -> Obj:
        obj = pod(ns, name, app)
        obj["metadata"]["managedFields"] = managed
        return obj

    lw.put(with_fields("ns", "listed"))
    inf = Informer(lw, clock, name="pods", transform=strip_managed_fields)
    seen: list[tuple[str, Obj]] = []
    inf.add_handler(
        lambda o: seen.append(("add", o)),
        lambda _old, new: seen.append(("update", new)),
        lambda o: seen.append(("delete", o)),
    )
    task = asyncio.create_task(inf.run())
    await asyncio.wait_for(inf.wait_for_sync(), 1)
    await clock.settle()
    lw.push("ADDED", lw.put(with_fields("ns", "watched")))
    lw.push("MODIFIED", lw.put(with_fields("ns", "listed", app="db")))
    lw.push("DELETED", lw.remove("ns/watched"))
    await clock.settle()
    assert [(kind, object_key(o)) for kind, o in seen] == [
        ("add", "ns/listed"),
        ("add", "ns/watched"),
        ("update", "ns/listed"),
        ("delete", "ns/watched"),
    ]
    assert all("managedFields" not in o["metadata"] for _, o in seen)
    stored = inf.store.get("ns/listed")
    assert stored is not None and stored["metadata"]["labels"] == {"app": "db"}
    assert "managedFields" not in stored["metadata"]
    assert lw.objects["ns/listed"]["metadata"]["managedFields"] == managed  # untouched
    await stop(inf, task)


async def test_sorted_keys_follow_membership_not_updates() -> None:
    clock = FakeClock()
    lw = FakeListWatcher()
    lw.put(pod("a", "p2", app="web"))
    lw.put(pod("a", "p1", app="web"))
    inf, _rec, task = await start(lw, clock)
    inf.add_index("app", lambda o: [o["metadata"]["labels"]["app"]])
    first = inf.store.sorted_keys("app", "web")
    assert first == ("a/p1", "a/p2")
    lw.push("MODIFIED", lw.put(pod("a", "p1", app="web")))  # same index values
    await clock.settle()
    assert inf.store.sorted_keys("app", "web") is first
    lw.push("ADDED", lw.put(pod("a", "p0", app="web")))
    lw.push("MODIFIED", lw.put(pod("a", "p2", app="db")))
    await clock.settle()
    assert inf.store.sorted_keys("app", "web") == ("a/p0", "a/p1")
    assert inf.store.index_keys("app", "db") == ["a/p2"]
    lw.push("DELETED", lw.remove("a/p1"))
    await clock.settle()
    assert inf.store.sorted_keys("app", "web") == ("a/p0",)
    assert inf.store.sorted_keys("app", "none") == ()
    await stop(inf, task)
