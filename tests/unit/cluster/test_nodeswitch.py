from __future__ import annotations

from typing import Any

import pytest

from sliceplane.cluster.nodeswitch import ANNOTATION_STOPPED, wants_stopped


@pytest.mark.parametrize(
    ("node", "stopped"),
    [
        pytest.param({"metadata": {"name": "n"}}, False, id="no-annotations"),
        pytest.param({"metadata": {"annotations": None}}, False, id="null-annotations"),
        pytest.param({}, False, id="no-metadata"),
        pytest.param({"metadata": {"annotations": {ANNOTATION_STOPPED: "true"}}}, True, id="true"),
        pytest.param(
            {"metadata": {"annotations": {ANNOTATION_STOPPED: "True"}}}, False, id="only-lowercase"
        ),
        pytest.param({"metadata": {"annotations": {ANNOTATION_STOPPED: ""}}}, False, id="empty"),
    ],
)
def test_wants_stopped(node: dict[str, Any], stopped: bool) -> None:
    assert wants_stopped(node) is stopped
