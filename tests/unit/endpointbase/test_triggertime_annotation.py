from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sliceplane.api.wellknown import ANNOTATION_TRIGGER_TIME
from sliceplane.endpointbase.triggertime import set_trigger_time, trigger_time_of

T = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        pytest.param(
            {"metadata": {"annotations": {ANNOTATION_TRIGGER_TIME: "2026-01-02T03:04:05.12Z"}}},
            T,
            id="nano-text",
        ),
        pytest.param(
            {"metadata": {"annotations": {ANNOTATION_TRIGGER_TIME: "soon"}}}, None, id="garbage"
        ),
        pytest.param({"metadata": {"annotations": None}}, None, id="null-annotations"),
        pytest.param({}, None, id="no-metadata"),
    ],
)
def test_trigger_time_of(obj: dict[str, Any], want: datetime | None) -> None:
    assert trigger_time_of(obj) == want


def test_set_then_read_round_trips() -> None:
    es: dict[str, Any] = {"metadata": {"name": "s"}}
    set_trigger_time(es, T)
    assert es["metadata"]["annotations"][ANNOTATION_TRIGGER_TIME] == "2026-01-02T03:04:05.12Z"
    assert trigger_time_of(es) == T
    set_trigger_time(es, None)
    assert trigger_time_of(es) is None and es["metadata"]["annotations"] == {}
