"""One live stream per open page, fed by informer handlers: no polling anywhere.

Informer handlers only mark the streams a change can matter to as dirty (an EndpointSlice
of Service S matters to S's page, its namespace's page and the index; a pod to every page
of its namespace; a node to every page). A dirty stream recomputes its page's fragments —
slice cards come from the per-resourceVersion cache in :mod:`.state` — and sends only the
fragments whose hash differs from what it sent before, plus removals. Bursts (a rolling
update) coalesce: a stream recomputes at most once per ``min_interval``, and waits at least
``load_factor`` times as long as its last recomputation took, so under churn the view
takes a bounded share of the CPU it shares with the controllers under ``sliceplane up``.

Wire format (server-sent events): each message is ``event: frags`` with a JSON list of
``{"id", "parent", "html", "h"}`` (insert or replace) and ``{"id", "remove": true}``. The
first message after (re)connecting carries every fragment; the browser skips those whose
``data-h`` it already has, so a reconnect costs no DOM work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sliceplane.api.meta import Obj, labels_of, name_of, namespace_of
from sliceplane.api.wellknown import LABEL_SERVICE_NAME
from sliceplane.view.render import Fragment
from sliceplane.view.state import RESOURCES, ClusterView, Page


def matters_to(page: Page, resource: str, obj: Mapping[str, Any]) -> bool:
    """Whether a change of ``obj`` (of ``resource``) can change ``page``'s fragments."""
    if resource == "nodes":
        return True
    if resource == "namespaces":
        return page.kind == "index"
    ns = namespace_of(obj)
    if page.kind == "index":
        return resource in ("services", "pods", "endpointslices")
    if ns != page.namespace:
        # Pods elsewhere matter to a Service page only as "right labels, wrong namespace".
        return page.kind == "service" and resource == "pods"
    if page.kind == "namespace":
        return resource in ("services", "pods", "endpointslices")
    if resource == "endpointslices":
        labels = labels_of(obj)
        return labels.get(LABEL_SERVICE_NAME) == page.service
    if resource in ("services", "endpoints"):
        return name_of(obj) == page.service
    return True  # pods, events of the namespace


def diff(sent: dict[str, str], frags: list[Fragment]) -> list[dict[str, Any]]:
    """Operations that turn what was sent (``id -> hash``) into ``frags``; updates
    ``sent``."""
    ops: list[dict[str, Any]] = []
    current = {f.key for f in frags}
    for key in [k for k in sent if k not in current]:
        del sent[key]
        ops.append({"id": key, "remove": True})
    for f in frags:
        if sent.get(f.key) != f.hash:
            sent[f.key] = f.hash
            ops.append({"id": f.key, "parent": f.parent, "html": f.html, "h": f.hash})
    return ops


def sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n".encode()


@dataclass(eq=False)
class Subscriber:
    page: Page
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    sent: dict[str, str] = field(default_factory=dict)


class Hub:
    """Streams of every open page; informer handlers mark them dirty."""

    def __init__(
        self,
        view: ClusterView,
        *,
        min_interval: float = 0.1,
        load_factor: float = 4.0,
        heartbeat: float = 15.0,
    ) -> None:
        self.view = view
        self.min_interval = min_interval
        self.load_factor = load_factor
        self.heartbeat = heartbeat
        self.subscribers: set[Subscriber] = set()
        for resource in RESOURCES:
            self._watch(resource)

    def _watch(self, resource: str) -> None:
        def changed(obj: Obj) -> None:
            for sub in self.subscribers:
                if not sub.dirty.is_set() and matters_to(sub.page, resource, obj):
                    sub.dirty.set()

        def deleted(obj: Obj) -> None:
            if resource == "endpointslices":
                self.view.forget_slice(obj)
            changed(obj)

        def updated(old: Obj, new: Obj) -> None:
            changed(old)
            changed(new)

        # The replay of stored objects to a new handler's on_add finds no subscriber yet.
        self.view.informers[resource].add_handler(changed, updated, deleted)

    async def stream(self, page: Page) -> AsyncGenerator[bytes, None]:
        """The stream of one page: all fragments first, then changes as they happen."""
        sub = Subscriber(page)
        self.subscribers.add(sub)
        loop = asyncio.get_running_loop()
        try:
            yield b"retry: 2000\n\n"
            while True:
                started = loop.time()
                ops = diff(sub.sent, self.view.fragments(page))
                spent = loop.time() - started
                if ops:
                    yield sse("frags", json.dumps(ops, separators=(",", ":")))
                try:
                    await asyncio.wait_for(sub.dirty.wait(), self.heartbeat)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                # Coalesce a burst: at most one recomputation per min_interval.
                await asyncio.sleep(max(self.min_interval, self.load_factor * spent))
                sub.dirty.clear()
        finally:
            self.subscribers.discard(sub)
