"""Table tests of the watch session state machine (``apiserver.watchsession``).

A fake clock drives it: no waiting, every decision (how long to wait, when a bookmark is
due, what a filtered watcher sees, how the stream ends) is an input and an output.
"""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api.errors import BadRequest
from sliceplane.api.labelparser import parse_label_selector
from sliceplane.api.resources import BY_PLURAL
from sliceplane.apiserver.watchsession import (
    MAX_WAIT,
    MIN_WAIT,
    Bookmark,
    Fail,
    Send,
    WatchSession,
    bookmark_object,
    too_large_resource_version,
    watch_params,
)
from sliceplane.storage.store import Event, EventType, Stored

PODS = BY_PLURAL["pods"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stored(name: str, rv: int, **labels: str) -> Stored:
    obj: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)}
    }
    if labels:
        obj["metadata"]["labels"] = labels
    return Stored(obj, b"{}", rv)


def event(kind: EventType, item: Stored, prev: Stored | None = None) -> Event:
    return Event(kind, "pods", ("default", item.obj["metadata"]["name"]), item, prev)


def session(
    clock: FakeClock,
    *,
    since: int = 10,
    timeout: float = 60.0,
    bookmarks: bool = True,
    interval: float = 5.0,
    selector: str | None = None,
) -> WatchSession:
    return WatchSession(
        PODS,
        since,
        timeout=timeout,
        bookmarks=bookmarks,
        bookmark_interval=interval,
        clock=clock,
        label_selector=parse_label_selector(selector) if selector else None,
    )


@pytest.mark.parametrize(
    ("bookmarks", "initial_end", "expected"),
    [
        pytest.param(True, True, ["a", "b", Bookmark(10, initial_end=True)], id="initial-end"),
        pytest.param(False, True, ["a", "b"], id="initial-end-without-bookmarks"),
        pytest.param(True, False, ["a", "b"], id="resume-from-list"),
    ],
)
def test_begin(bookmarks: bool, initial_end: bool, expected: list[Any]) -> None:
    s = session(FakeClock(), bookmarks=bookmarks)
    out = s.begin([stored("a", 3), stored("b", 7)], initial_end=initial_end)
    seen = [o.item.obj["metadata"]["name"] if isinstance(o, Send) else o for o in out]
    assert seen == expected
    assert all(o.type == "ADDED" for o in out if isinstance(o, Send))


@pytest.mark.parametrize(
    ("bookmarks", "interval", "timeout", "elapsed", "expected"),
    [
        pytest.param(True, 5.0, 60.0, 0.0, MAX_WAIT, id="capped-at-a-second"),
        pytest.param(True, 0.5, 60.0, 0.0, 0.5, id="until-the-bookmark"),
        pytest.param(True, 5.0, 0.25, 0.0, 0.25, id="until-the-deadline"),
        pytest.param(False, 0.5, 60.0, 0.0, MAX_WAIT, id="no-bookmarks-ignores-interval"),
        pytest.param(True, 0.0, 60.0, 0.0, MIN_WAIT, id="bookmark-due-now"),
        pytest.param(True, 5.0, 60.0, 60.0, None, id="deadline-reached"),
        pytest.param(True, 5.0, 60.0, 75.0, None, id="deadline-passed"),
    ],
)
def test_wait(
    bookmarks: bool, interval: float, timeout: float, elapsed: float, expected: float | None
) -> None:
    clock = FakeClock()
    s = session(clock, bookmarks=bookmarks, interval=interval, timeout=timeout)
    clock.now += elapsed
    assert s.wait() == expected


@pytest.mark.parametrize(
    ("bookmarks", "advance", "revision", "expected"),
    [
        pytest.param(True, 4.9, 20, [], id="not-due"),
        pytest.param(True, 5.0, 20, [Bookmark(20)], id="due-at-store-revision"),
        pytest.param(True, 5.0, 5, [Bookmark(10)], id="never-behind-the-last-event"),
        pytest.param(False, 50.0, 20, [], id="bookmarks-not-asked-for"),
    ],
)
def test_idle(bookmarks: bool, advance: float, revision: int, expected: list[Any]) -> None:
    clock = FakeClock()
    s = session(clock, bookmarks=bookmarks)
    s.wait()  # the bookmark timer starts with the first wait
    clock.now += advance
    assert s.idle(revision) == expected


def test_bookmark_timer_restarts_after_a_bookmark() -> None:
    clock = FakeClock()
    s = session(clock)
    s.wait()
    clock.now += 5.0
    assert s.idle(20) == [Bookmark(20)]
    assert s.wait() == MAX_WAIT
    clock.now += 4.0
    assert s.idle(21) == []
    clock.now += 1.0
    assert s.idle(21) == [Bookmark(21)]
    assert s.last_rv == 21


A = {"app": "a"}
B = {"app": "b"}


@pytest.mark.parametrize(
    ("kind", "prev", "now", "expected"),
    [
        pytest.param("ADDED", None, A, "ADDED", id="added-matching"),
        pytest.param("ADDED", None, B, None, id="added-other"),
        pytest.param("MODIFIED", A, A, "MODIFIED", id="modified-still-matching"),
        pytest.param("MODIFIED", B, A, "ADDED", id="starts-matching"),
        pytest.param("MODIFIED", A, B, "DELETED", id="stops-matching"),
        pytest.param("MODIFIED", B, B, None, id="never-matching"),
        pytest.param("MODIFIED", None, A, "MODIFIED", id="modified-without-prev"),
        pytest.param("DELETED", A, B, "DELETED", id="deleted-judged-by-prev"),
        pytest.param("DELETED", B, A, None, id="deleted-other"),
    ],
)
def test_filtered_events(
    kind: EventType, prev: dict[str, str] | None, now: dict[str, str], expected: str | None
) -> None:
    s = session(FakeClock(), selector="app=a")
    before = stored("p", 11, **prev) if prev is not None else None
    item = stored("p", 12, **now)
    out = s.event(event(kind, item, before))
    assert out == ([] if expected is None else [Send(expected, item)])
    assert s.last_rv == 12  # filtered out or not, the watcher has seen revision 12


def test_unfiltered_events_pass_as_they_are() -> None:
    s = session(FakeClock())
    item = stored("p", 12)
    assert s.event(event("DELETED", item, item)) == [Send("DELETED", item)]


@pytest.mark.parametrize(
    ("bookmarks", "overflowed", "last"),
    [
        pytest.param(True, False, Bookmark(30), id="pending-then-bookmark"),
        pytest.param(False, False, None, id="pending-without-bookmarks"),
        pytest.param(True, True, "Expired", id="overflow-ends-with-expired"),
    ],
)
def test_end_sends_pending_events_before_the_last_word(
    bookmarks: bool, overflowed: bool, last: Any
) -> None:
    s = session(FakeClock(), bookmarks=bookmarks, selector="app=a")
    pending = [
        event("ADDED", stored("b", 21, **A)),
        event("ADDED", stored("c", 22, **B)),  # filtered out
        event("ADDED", stored("d", 23, **A)),
    ]
    out = s.end(pending, 30, overflowed=overflowed)
    names = [o.item.obj["metadata"]["name"] for o in out if isinstance(o, Send)]
    assert names == ["b", "d"]
    tail = out[-1]
    if last is None:
        assert isinstance(tail, Send)
    elif last == "Expired":
        assert isinstance(tail, Fail) and tail.status["reason"] == "Expired"
    else:
        assert tail == last
    assert s.ended


def test_bookmark_object_shape() -> None:
    assert bookmark_object(PODS, 42, initial_end=True) == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "resourceVersion": "42",
            "creationTimestamp": None,
            "annotations": {"k8s.io/initial-events-end": "true"},
        },
    }


@pytest.mark.parametrize(
    ("query", "since", "bookmarks", "timeout", "lists_first"),
    [
        pytest.param({}, None, False, None, True, id="from-now-with-state"),
        pytest.param({"resourceVersion": "0"}, None, False, None, True, id="rv-0-lists"),
        pytest.param({"resourceVersion": "42"}, 42, False, None, False, id="resume"),
        pytest.param(
            {"resourceVersion": "42", "sendInitialEvents": "true"},
            42,
            False,
            None,
            True,
            id="initial-events-asked",
        ),
        pytest.param(
            {"sendInitialEvents": "false"}, None, False, None, False, id="initial-events-refused"
        ),
        pytest.param(
            {"sendInitialEvents": "bogus", "resourceVersion": "42"},
            42,
            False,
            None,
            True,
            id="any-other-value-is-true",
        ),
        pytest.param(
            {"allowWatchBookmarks": "1", "timeoutSeconds": "30"},
            None,
            True,
            30.0,
            True,
            id="bookmarks-and-timeout",
        ),
    ],
)
def test_watch_params(
    query: dict[str, str],
    since: int | None,
    bookmarks: bool,
    timeout: float | None,
    lists_first: bool,
) -> None:
    p = watch_params(query)
    assert (p.since, p.bookmarks, p.timeout, p.lists_first) == (
        since,
        bookmarks,
        timeout,
        lists_first,
    )


@pytest.mark.parametrize(
    ("query", "text"),
    [
        pytest.param({"timeoutSeconds": "1.5"}, "strconv.ParseInt", id="fractional-timeout"),
        pytest.param({"timeoutSeconds": "nan"}, "invalid syntax", id="nan-timeout"),
        pytest.param({"resourceVersion": "-1"}, "invalid resource version", id="negative-rv"),
    ],
)
def test_watch_params_refused(query: dict[str, str], text: str) -> None:
    with pytest.raises(BadRequest, match=text):
        watch_params(query)


def test_too_large_resource_version() -> None:
    status = too_large_resource_version(50, 40).to_status()
    assert status["code"] == 504
    assert status["message"] == "Too large resource version: 50, current: 40"
    assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert status["details"]["retryAfterSeconds"] == 1


@pytest.mark.parametrize(
    ("query", "send_initial"),
    [
        pytest.param({}, True, id="legacy-from-now-defaults-to-initial-events"),
        pytest.param({"resourceVersion": "0"}, True, id="rv-0-too"),
        pytest.param({"resourceVersion": "5"}, None, id="resume-not-defaulted"),
        pytest.param({"resourceVersionMatch": "NotOlderThan"}, None, id="match-stops-defaults"),
        pytest.param({"sendInitialEvents": "false"}, False, id="refused"),
    ],
)
def test_send_initial_events_defaults(query: dict[str, str], send_initial: bool | None) -> None:
    """kube-apiserver's SetListOptionsDefaults (WatchList on): a watch from "" or "0" sends
    its initial events, so with bookmarks it also ends them with the initial-events-end
    bookmark, as v1.37.2 answered a bare ``?watch=1&allowWatchBookmarks=true``."""
    assert watch_params(query).send_initial is send_initial


@pytest.mark.parametrize(
    ("selector", "unfiltered"),
    [pytest.param(None, True, id="no-selector"), pytest.param("app=a", False, id="label")],
)
def test_unfiltered_relay_moves_the_bookmark_like_event(
    selector: str | None, unfiltered: bool
) -> None:
    """The relay's fast path (every event as it is) leaves the session where
    :meth:`event` per event would: the next bookmark is at the last relayed revision."""
    clock = FakeClock()
    s = session(clock, selector=selector, interval=1.0)
    assert s.unfiltered is unfiltered
    s.wait()
    s.relayed(event("MODIFIED", stored("a", 41)))
    clock.now += 2.0
    assert s.idle(revision=12) == [Bookmark(41)]
