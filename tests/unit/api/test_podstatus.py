"""Table tests for the condition and pod IP readers every layer shares."""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.api.podstatus import (
    condition,
    condition_true,
    find_condition,
    is_ready,
    pod_ips,
    status_condition,
    without_condition,
)


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        pytest.param({}, None, id="no-status"),
        pytest.param({"status": None}, None, id="null-status"),
        pytest.param({"status": {"conditions": None}}, None, id="null-conditions"),
        pytest.param(
            {"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}},
            None,
            id="other-type-only",
        ),
        pytest.param(
            {
                "status": {
                    "conditions": [
                        "junk",
                        {"type": "Ready", "status": "False", "reason": "a"},
                        {"type": "Ready", "status": "True", "reason": "b"},
                    ]
                }
            },
            {"type": "Ready", "status": "False", "reason": "a"},
            id="first-of-type-wins-non-objects-skipped",
        ),
    ],
)
def test_condition(obj: dict[str, Any], want: dict[str, Any] | None) -> None:
    assert condition(obj, "Ready") == want


@pytest.mark.parametrize(
    ("status", "want"),
    [
        pytest.param("True", True, id="true"),
        pytest.param("False", False, id="false"),
        pytest.param("Unknown", False, id="unknown"),
        pytest.param(None, False, id="no-status-field"),
    ],
)
def test_condition_true_and_is_ready(status: str | None, want: bool) -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": status}]}}
    assert condition_true(obj, "Ready") is want
    assert is_ready(obj) is want
    assert condition_true(obj, "ContainersReady") is False


@pytest.mark.parametrize(
    ("pod", "want"),
    [
        pytest.param({}, [], id="no-status"),
        pytest.param({"status": {"podIPs": None}}, [], id="null-list"),
        pytest.param(
            {"status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": ""}, {}, {"ip": "fd00::1"}]}},
            ["10.0.0.1", "fd00::1"],
            id="order-kept-empty-skipped",
        ),
    ],
)
def test_pod_ips(pod: dict[str, Any], want: list[str]) -> None:
    assert pod_ips(pod) == want


def test_conditions_of_any_kind_and_status_being_built() -> None:
    progressing = {"type": "Progressing", "status": "True"}
    first_failure = {"type": "ReplicaFailure", "status": "False"}
    conds: list[Any] = ["junk", first_failure, progressing, {"type": "ReplicaFailure"}]
    assert find_condition(conds, "ReplicaFailure") is first_failure
    assert find_condition(None, "Progressing") is None
    assert status_condition({"conditions": conds}, "Progressing") is progressing
    assert status_condition({}, "Progressing") is None
    assert without_condition(conds, "ReplicaFailure") == ["junk", progressing]
    assert without_condition(None, "PodScheduled") == []
