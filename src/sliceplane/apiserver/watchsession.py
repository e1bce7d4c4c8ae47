"""One watch request's decisions, without I/O: what to send, when, and how it ends.

A watch stream is a small state machine. It starts with the synthetic ADDED events of
the current state (and, for ``sendInitialEvents=true``, a bookmark that marks their end),
then relays store events through the request's selectors (an object that starts or stops
matching is ADDED or DELETED for this watcher, as upstream's watch cache filter does),
sends a bookmark whenever it has been idle for the bookmark interval, and ends at its
deadline or when the server stops. At the end it sends what the store watcher still holds,
then a bookmark (or, if the watcher overflowed, an Expired error so the client relists):
a bookmark past unsent events would make the client resume after them and lose them.

:class:`WatchSession` takes the inputs (events, idle wake-ups, the store's revision) and
returns the outputs; time comes from an injected clock, so every path is a table test.
``http`` only reads the store watcher and writes what the session returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sliceplane.api import errors
from sliceplane.api.fieldselectors import FieldSelector
from sliceplane.api.resources import ResourceInfo
from sliceplane.api.selectors import LabelSelector
from sliceplane.apiserver.registry import matches
from sliceplane.apiserver.requestbody import (
    parse_bool,
    parse_int64,
    parse_resource_version,
    send_initial_events,
)
from sliceplane.storage.store import Event, Stored

# Longest single wait for an event, so the server's stop is noticed within a second.
MAX_WAIT = 1.0
# What a wait is asked for when no time is left before the next decision.
MIN_WAIT = 0.001


@dataclass(frozen=True, slots=True)
class Send:
    """An object event for this watcher (``type`` after selector filtering)."""

    type: str
    item: Stored


@dataclass(frozen=True, slots=True)
class Bookmark:
    """A BOOKMARK at ``rv``; ``initial_end`` marks the end of the initial events."""

    rv: int
    initial_end: bool = False


@dataclass(frozen=True, slots=True)
class Fail:
    """An ERROR event carrying a ``meta/v1`` Status; the stream ends after it."""

    status: dict[str, Any]


Output = Send | Bookmark | Fail


@dataclass(frozen=True, slots=True)
class WatchParams:
    """A watch request's query, parsed (``ListOptions`` as upstream decodes it)."""

    since: int | None
    """Resume after this revision; None for resourceVersion "" or "0" (from now)."""
    bookmarks: bool
    send_initial: bool | None
    """``sendInitialEvents`` as kube-apiserver defaults it (true for a watch from "" or
    "0" that asks nothing else, :func:`~sliceplane.apiserver.requestbody.send_initial_events`)."""
    timeout: float | None
    """``timeoutSeconds``; None: the server's default (jittered, like upstream's)."""

    @property
    def lists_first(self) -> bool:
        """Whether the stream starts with the current state as ADDED events: asked for
        (``sendInitialEvents=true``), or implied by resourceVersion "" or "0" unless
        refused (``sendInitialEvents=false``)."""
        return self.send_initial is True or (self.since is None and self.send_initial is not False)


def watch_params(query: Mapping[str, str]) -> WatchParams:
    """Parse a watch's query; ``BadRequest`` with upstream's text for a bad integer."""
    timeout_s = query.get("timeoutSeconds")
    # An integer, as upstream parses it: nan, inf, 1e400 or 1.5 are a 400, never a
    # deadline that cannot be reached.
    timeout = float(parse_int64(timeout_s)) if timeout_s else None
    return WatchParams(
        since=parse_resource_version(query.get("resourceVersion", "")) or None,
        bookmarks=parse_bool(query.get("allowWatchBookmarks")),
        send_initial=send_initial_events(query, watch=True),
        timeout=timeout,
    )


def too_large_resource_version(since: int, current: int) -> errors.Timeout:
    """What a watch from a revision the store has not reached answers (after the brief
    wait the watch cache grants it): 504 with ``ResourceVersionTooLarge``, retry in 1s."""
    return errors.Timeout(
        f"Too large resource version: {since}, current: {current}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


class WatchSession:
    """The decisions of one watch from revision ``since`` until ``timeout`` seconds pass."""

    def __init__(
        self,
        info: ResourceInfo,
        since: int,
        *,
        timeout: float,
        bookmarks: bool,
        bookmark_interval: float,
        clock: Callable[[], float],
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> None:
        self.info = info
        self.last_rv = since
        self.bookmarks = bookmarks
        self.bookmark_interval = bookmark_interval
        self._clock = clock
        self._label = label_selector
        self._field = field_selector
        self.deadline = clock() + timeout
        self._next_bookmark: float | None = None
        self.ended = False

    # ------------------------------------------------------------------ start

    def begin(self, initial: Iterable[Stored], *, initial_end: bool) -> list[Output]:
        """The synthetic ADDED events, then the initial-events-end bookmark if asked for."""
        out: list[Output] = [Send("ADDED", item) for item in initial]
        if initial_end and self.bookmarks:
            out.append(Bookmark(self.last_rv, initial_end=True))
        return out

    # ------------------------------------------------------------------ relaying

    def wait(self) -> float | None:
        """How long the next wait for an event may last; None once the deadline passed."""
        now = self._clock()
        if self._next_bookmark is None:
            self._next_bookmark = now + self.bookmark_interval
        remaining = self.deadline - now
        if remaining <= 0:
            return None
        wait = min(remaining, max(0.0, self._next_bookmark - now)) if self.bookmarks else remaining
        return min(wait, MAX_WAIT) if wait > 0 else MIN_WAIT

    @property
    def unfiltered(self) -> bool:
        """Whether every store event reaches this watcher as it is (no selectors): the
        relay may then send the events' lines without asking :meth:`event` per event."""
        return self._label is None and self._field is None

    def relayed(self, last: Event) -> None:
        """An unfiltered watcher sent a run of events ending with ``last``."""
        self.last_rv = last.item.rv

    def event(self, ev: Event) -> list[Output]:
        """A store event: what this watcher sees of it (maybe nothing)."""
        self.last_rv = ev.item.rv
        kind = self.transform(ev)
        return [] if kind is None else [Send(kind, ev.item)]

    def idle(self, revision: int) -> list[Output]:
        """A wait ended with no event: a bookmark at ``revision`` if one is due."""
        if not self.bookmarks or self._next_bookmark is None:
            return []
        if self._clock() < self._next_bookmark:
            return []
        cur = max(self.last_rv, revision)
        self.last_rv = cur
        self._next_bookmark = self._clock() + self.bookmark_interval
        return [Bookmark(cur)]

    # ------------------------------------------------------------------ end

    def end(self, pending: Iterable[Event], revision: int, *, overflowed: bool) -> list[Output]:
        """The stream's last words: ``pending`` (what the closed store watcher still held,
        every event up to ``revision``), then a bookmark at ``revision``, or Expired if the
        watcher overflowed and lost events."""
        cur = max(self.last_rv, revision)
        out: list[Output] = []
        for ev in pending:
            kind = self.transform(ev)
            if kind is not None:
                out.append(Send(kind, ev.item))
        if overflowed:
            out.append(
                Fail(errors.Expired("watch closed: the client fell too far behind").to_status())
            )
        elif self.bookmarks:
            out.append(Bookmark(cur))
        self.ended = True
        return out

    # ------------------------------------------------------------------ filtering

    def transform(self, ev: Event) -> str | None:
        """Map a store event to what a filtered watcher sees (objects entering/leaving)."""
        label_sel, field_sel = self._label, self._field
        if label_sel is None and field_sel is None:
            return ev.type
        info = self.info
        if ev.type == "DELETED":
            base = ev.prev or ev.item
            return "DELETED" if matches(info, base, label_sel, field_sel) else None
        now = matches(info, ev.item, label_sel, field_sel)
        if ev.type == "ADDED":
            return "ADDED" if now else None
        if ev.prev is None:
            return "MODIFIED" if now else None
        before = matches(info, ev.prev, label_sel, field_sel)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        if before:
            return "DELETED"
        return None


class EventLines:
    """Each event's JSON line (``{"type":...,"object":...}`` and the newline) built once
    and shared by every watcher that sends it.

    Why: a write fans out to every watcher of its resource; building the line per watcher
    copied the object's bytes once more for each of them. Keyed by the identity of the
    version's bytes (kept in the entry, so the id cannot be reused while cached; the watch
    history holds the same bytes anyway); bounded by clearing, since only the events of the
    current burst are asked for again.
    """

    def __init__(self, max_entries: int = 2048) -> None:
        self._lines: dict[tuple[int, str], tuple[bytes, bytes]] = {}
        self._max = max_entries

    def line(self, type_: str, item: Stored) -> bytes:
        raw = item.raw
        key = (id(raw), type_)
        hit = self._lines.get(key)
        if hit is not None and hit[0] is raw:
            return hit[1]
        line = b'{"type":"' + type_.encode() + b'","object":' + raw + b"}\n"
        if len(self._lines) >= self._max:
            self._lines.clear()
        self._lines[key] = (raw, line)
        return line


def bookmark_object(info: ResourceInfo, rv: int, initial_end: bool = False) -> dict[str, Any]:
    """The object of a BOOKMARK event: only kind, apiVersion and the resourceVersion."""
    meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
