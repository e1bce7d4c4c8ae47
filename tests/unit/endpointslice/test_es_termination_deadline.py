"""How soon a pod that starts terminating must reach its Service's slices."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.endpointslice.controller import _termination_deadline


def pod(deleted: bool = False, grace: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "ns"}
    if deleted:
        meta["deletionTimestamp"] = "2026-11-28T10:00:00Z"
    if grace is not None:
        meta["deletionGracePeriodSeconds"] = grace
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (pod(), pod(), None),  # nothing happened
        (pod(), pod(deleted=True, grace=30), 15.0),  # half the grace period
        (pod(), pod(deleted=True, grace=2), 1.0),
        (pod(), pod(deleted=True, grace=0), 0.0),  # no window at all: now
        (pod(), pod(deleted=True), 0.0),  # grace unknown: now
        (pod(deleted=True, grace=30), pod(deleted=True, grace=30), None),  # already known
        (pod(deleted=True, grace=30), pod(deleted=True, grace=10), 5.0),  # shortened
        (pod(deleted=True, grace=30), pod(deleted=True, grace=30), None),
    ],
)
def test_termination_deadline(
    old: dict[str, Any], new: dict[str, Any], expected: float | None
) -> None:
    assert _termination_deadline(old, new) == expected
