"""TriggerTimeTracker (trigger_time_tracker_test.go) and EndpointSliceTracker
(endpointslice_tracker_test.go) cases."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fixtures import new_pod

from sliceplane.api.meta import parse_time
from sliceplane.endpointbase.triggertime import TriggerTimeTracker
from sliceplane.endpointslice.tracker import DELETION_EXPECTED, EndpointSliceTracker
from sliceplane.endpointslice.types import LABEL_SERVICE_NAME

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T = [T0 + timedelta(seconds=i) for i in range(6)]


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _svc(created: datetime, name: str = "my-service") -> Any:
    return {"metadata": {"namespace": "ns", "name": name, "creationTimestamp": _stamp(created)}}


def _pod(n: int, ready_at: datetime | None) -> Any:
    pod = new_pod(n, namespace="ns")
    if ready_at is None:
        pod["status"]["conditions"] = []
    else:
        pod["status"]["conditions"][0]["lastTransitionTime"] = _stamp(ready_at)
    return pod


Step = tuple[str, Any, list[Any], datetime | None]


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([("sync", _svc(T[2]), [], T[2])], id="new-service-no-pods"),
        pytest.param(
            [("sync", _svc(T[3]), [_pod(1, T[1]), _pod(2, T[2]), _pod(3, T[4])], T[3])],
            id="new-service-existing-pods",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [], T[0]),
                ("sync", _svc(T[0]), [_pod(1, T[2]), _pod(2, T[1])], T[1]),
            ],
            id="pods-added",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [_pod(1, T[1]), _pod(2, T[2]), _pod(3, T[3])], T[0]),
                ("sync", _svc(T[0]), [_pod(1, T[5]), _pod(2, T[4]), _pod(3, T[3])], T[4]),
            ],
            id="pods-updated",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [_pod(1, T[1]), _pod(2, T[2])], T[0]),
                ("sync", _svc(T[0]), [_pod(1, T[1]), _pod(2, T[2])], None),
            ],
            id="pods-updated-no-op",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [_pod(1, T[1]), _pod(2, T[2])], T[0]),
                ("sync", _svc(T[0]), [_pod(1, T[1])], None),
                ("sync", _svc(T[0]), [_pod(1, T[1]), _pod(2, T[4])], T[4]),
            ],
            id="pod-deleted-then-added",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [_pod(1, T[1]), _pod(2, T[2])], T[0]),
                ("delete", None, [], None),
                ("sync", _svc(T[3]), [_pod(1, T[1]), _pod(2, T[2])], T[3]),
            ],
            id="service-deleted-then-added",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [_pod(1, T[1])], T[0]),
                ("sync", {**_svc(T[0]), "spec": {"changed": True}}, [_pod(1, T[1])], None),
            ],
            id="service-updated-no-pod-change",
        ),
        pytest.param(
            [
                ("sync", _svc(T[0]), [_pod(1, None)], T[0]),
                ("sync", _svc(T[0]), [_pod(1, None), _pod(2, T[3])], T[3]),
            ],
            id="pods-without-ready-condition-ignored",
        ),
    ],
)
def test_trigger_time_tracker(steps: list[Step]) -> None:
    tracker = TriggerTimeTracker()
    for op, svc, pods, want in steps:
        if op == "delete":
            tracker.delete_service("ns", "my-service")
            continue
        assert tracker.compute(svc, pods) == want


def test_trigger_time_compares_times_not_their_spelling() -> None:
    """The same instant written another way is no change; a later one is."""
    tracker = TriggerTimeTracker()
    svc = _svc(T[0])
    tracker.compute(svc, [_pod(1, T[1])])
    respelled = _pod(1, None)
    respelled["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "lastTransitionTime": T[1].isoformat()}
    ]
    assert tracker.compute(svc, [respelled]) is None
    assert tracker.compute(svc, [respelled]) is None
    assert tracker.compute(svc, [_pod(1, T[2])]) == T[2]


def test_trigger_time_same_pod_objects_are_no_change() -> None:
    """Objects seen last time are skipped; a new pod among them still counts."""
    tracker = TriggerTimeTracker()
    svc = _svc(T[0])
    pods = [_pod(1, T[1]), _pod(2, None)]
    assert tracker.compute(svc, pods) == T[0]
    assert tracker.compute(svc, pods) is None
    assert tracker.compute(svc, [*pods, _pod(3, T[3])]) == T[3]
    assert tracker.compute(svc, [pods[0], _pod(2, T[2])]) == T[2]


def test_trigger_time_keys_by_namespace_and_name() -> None:
    tracker = TriggerTimeTracker()
    assert tracker.compute(_svc(T[0], "a"), []) == T[0]
    assert tracker.compute(_svc(T[1], "b"), []) == T[1]
    assert tracker.compute(_svc(T[0], "a"), []) is None


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        pytest.param("2026-01-01T00:00:00Z", T0, id="zulu"),
        pytest.param("2026-01-01T02:00:00+02:00", T0, id="offset"),
        pytest.param(
            "2026-01-01T00:00:00.123456789Z",
            T0 + timedelta(microseconds=123456),
            id="nanos-truncated",
        ),
        pytest.param(None, None, id="unset"),
        pytest.param("", None, id="empty"),
        pytest.param("garbage", None, id="garbage"),
    ],
)
def test_parse_time(raw: Any, want: datetime | None) -> None:
    assert parse_time(raw) == want


# --- EndpointSliceTracker -----------------------------------------------------------------


def _slice(
    ns: str = "ns1", svc: str = "svc1", uid: str = "original", generation: int = 1
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "example-1",
            "namespace": ns,
            "uid": uid,
            "generation": generation,
            "labels": {LABEL_SERVICE_NAME: svc},
        }
    }


ES1 = _slice()
ES1_OTHER_NS = _slice(ns="ns2", uid="diff-ns")
ES1_OTHER_SVC = _slice(svc="svc2", uid="diff-svc")
ES1_NEWER = _slice(generation=2)


@pytest.mark.parametrize(
    ("check", "has", "should_sync"),
    [
        pytest.param(ES1, True, False, id="same-slice"),
        pytest.param(ES1_OTHER_NS, False, True, id="different-namespace"),
        pytest.param(ES1_OTHER_SVC, False, True, id="different-service"),
        pytest.param(ES1_NEWER, True, True, id="newer-generation"),
    ],
)
def test_tracker_update(check: Any, has: bool, should_sync: bool) -> None:
    tracker = EndpointSliceTracker()
    tracker.update(ES1)
    assert tracker.has(check) is has
    assert tracker.should_sync(check) is should_sync


def _svc_obj(uid: str = "") -> dict[str, Any]:
    return {"metadata": {"name": "svc1", "namespace": "ns1", "uid": uid}}


@pytest.mark.parametrize(
    ("record", "listed", "stale"),
    [
        pytest.param(None, [], False, id="empty-tracker"),
        pytest.param([], [], False, id="empty-slices"),
        pytest.param([("update", ES1)], [ES1], False, id="matching"),
        pytest.param([("update", ES1_NEWER)], [ES1], True, id="newer-in-tracker"),
        pytest.param([("update", ES1)], [ES1_NEWER], False, id="newer-in-params"),
        pytest.param([("delete", ES1)], [ES1], True, id="expected-deletion-listed"),
        pytest.param([("delete", ES1)], [], False, id="expected-deletion-gone"),
        pytest.param([("update", ES1)], [], True, id="tracked-but-missing"),
    ],
)
def test_tracker_stale_slices(record: Any, listed: list[Any], stale: bool) -> None:
    tracker = EndpointSliceTracker()
    if record is not None:
        tracker.update(
            {
                "metadata": {
                    "namespace": "ns1",
                    "uid": "seed",
                    "labels": {LABEL_SERVICE_NAME: "svc1"},
                }
            }
        )
        tracker.handle_deletion(
            {
                "metadata": {
                    "namespace": "ns1",
                    "uid": "seed",
                    "labels": {LABEL_SERVICE_NAME: "svc1"},
                }
            }
        )
        for op, es in record:
            (tracker.update if op == "update" else tracker.expect_deletion)(es)
    assert tracker.stale_slices(_svc_obj(), listed) is stale


def test_tracker_stale_slices_forgets_writes_for_a_recreated_service() -> None:
    tracker = EndpointSliceTracker()
    assert tracker.stale_slices(_svc_obj("uid-a"), []) is False
    tracker.update(ES1)
    assert tracker.stale_slices(_svc_obj("uid-a"), []) is True
    assert tracker.stale_slices(_svc_obj("uid-b"), []) is False
    assert tracker.has(ES1) is False


@pytest.mark.parametrize(
    ("expect", "check", "delete", "has", "should_sync", "handled"),
    [
        pytest.param(ES1, ES1, ES1, True, True, True, id="same-slice"),
        pytest.param(
            ES1_OTHER_NS, ES1_OTHER_NS, ES1_OTHER_NS, True, True, False, id="different-namespace"
        ),
        pytest.param(
            ES1_OTHER_NS,
            ES1,
            ES1_OTHER_NS,
            True,
            False,
            False,
            id="different-namespace-check-original",
        ),
        pytest.param(
            ES1_OTHER_SVC, ES1_OTHER_SVC, ES1_OTHER_SVC, True, True, False, id="different-service"
        ),
        pytest.param(
            ES1_OTHER_SVC, ES1, ES1, True, False, False, id="expect-other-service-delete-original"
        ),
        pytest.param(ES1_NEWER, ES1_NEWER, ES1_NEWER, True, True, True, id="different-generation"),
        pytest.param(ES1_NEWER, ES1, ES1, True, True, True, id="expect-newer-delete-original"),
    ],
)
def test_tracker_deletion(
    expect: Any, check: Any, delete: Any, has: bool, should_sync: bool, handled: bool
) -> None:
    tracker = EndpointSliceTracker()
    tracker.update(ES1)
    tracker.expect_deletion(expect)
    assert tracker.has(check) is has
    assert tracker.should_sync(check) is should_sync
    assert tracker.handle_deletion(ES1) is handled
    assert tracker.has(ES1) is False


def test_tracker_unknown_deletion_is_expected() -> None:
    assert EndpointSliceTracker().handle_deletion(ES1) is True


@pytest.mark.parametrize(
    ("ns", "name", "has", "should_sync"),
    [
        pytest.param("ns1", "svc1", False, True, id="same-service"),
        pytest.param("ns2", "svc1", True, False, id="different-namespace"),
        pytest.param("ns1", "svc2", True, False, id="different-service"),
    ],
)
def test_tracker_delete_service(ns: str, name: str, has: bool, should_sync: bool) -> None:
    tracker = EndpointSliceTracker()
    tracker.update(ES1)
    tracker.delete_service(ns, name)
    assert tracker.has(ES1) is has
    assert tracker.should_sync(ES1) is should_sync


def test_tracker_does_not_keep_caller_objects() -> None:
    tracker = EndpointSliceTracker()
    es = copy.deepcopy(ES1)
    tracker.update(es)
    es["metadata"]["generation"] = 5
    assert tracker.should_sync(es) is True
    tracker.expect_deletion(es)
    assert tracker.stale_slices(_svc_obj(), [es]) is True
    assert DELETION_EXPECTED == -1
