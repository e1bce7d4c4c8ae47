"""A watch that reaches its timeout must not end with a bookmark past events it never sent.

Regression: at ``timeoutSeconds`` the handler left the loop with events still queued in its
store watcher and closed the stream with a BOOKMARK at the store's revision; the client
resumed after that bookmark and never saw the queued events. In a local-cluster run every
informer's watch (all started together, all ``timeoutSeconds=300``) ended at the same
moment, and the pod and Endpoints events committed just then were lost for good: bound pods
stayed Pending, an Endpoints update conflicted until its key was dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
import types
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sliceplane.apiserver import http
from sliceplane.apiserver.http import APIServerApp, ServerOptions
from sliceplane.apiserver.registry import Registry
from sliceplane.storage.store import Store


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}}


async def _watch_across_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, query: str
) -> list[dict[str, Any]]:
    """Open a pods watch, then commit three pods in one batch at the very moment the
    watch's deadline passes; return every event the stream delivered."""
    offset = [0.0]
    fake_time = types.SimpleNamespace(
        monotonic=lambda: time.monotonic() + offset[0], perf_counter=time.perf_counter
    )
    monkeypatch.setattr(http, "time", fake_time)

    store = Store(tmp_path / "db.sqlite")
    await store.start()
    app = APIServerApp(Registry(store), ServerOptions(token=None, bookmark_interval=1e6))
    client = TestClient(TestServer(app.make_app()))
    await client.start_server()
    try:
        first = await store.create("pods", ("default", "a"), pod("a"))
        resp = await client.get(
            "/api/v1/namespaces/default/pods",
            params={"watch": "true", "resourceVersion": str(first.rv), "timeoutSeconds": "60"}
            | dict(p.split("=") for p in query.split("&") if p),
        )
        assert resp.status == 200
        for _ in range(200):  # until the handler has subscribed
            if store._state("pods").watchers:
                break
            await asyncio.sleep(0.01)
        assert store._state("pods").watchers

        # The deadline passes exactly when the batch is applied (and offered to the watcher),
        # so the handler wakes for the first event with the others still queued.
        apply = store._apply

        def apply_after_deadline(batch: list[Any]) -> None:
            offset[0] += 3600.0
            apply(batch)

        monkeypatch.setattr(store, "_apply", apply_after_deadline)
        await asyncio.gather(*(store.create("pods", ("default", n), pod(n)) for n in "bcd"))

        events = [json.loads(line) for line in (await resp.read()).splitlines() if line]
    finally:
        await client.close()
        await store.stop()
    return events


async def test_watch_timeout_sends_queued_events_before_the_final_bookmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = await _watch_across_deadline(tmp_path, monkeypatch, "allowWatchBookmarks=true")
    added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
    assert added == ["b", "c", "d"]
    assert events[-1]["type"] == "BOOKMARK"
    last_event_rv = max(int(e["object"]["metadata"]["resourceVersion"]) for e in events[:-1])
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= last_event_rv


async def test_watch_timeout_without_bookmarks_sends_queued_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = await _watch_across_deadline(tmp_path, monkeypatch, "")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("ADDED", "c"),
        ("ADDED", "d"),
    ]
