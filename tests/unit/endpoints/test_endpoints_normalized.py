"""The Endpoints planner's normal form of subsets, which decides whether an existing object
already says what the Service's pods say."""

from __future__ import annotations

from sliceplane.endpoints.planner import _normalized


def test_normalized_drops_empty_and_target_ref_versions() -> None:
    value = {
        "addresses": [
            {
                "ip": "1.2.3.4",
                "hostname": None,
                "nodeName": "",
                "targetRef": {"kind": "Pod", "resourceVersion": "5"},
                "extra": {"a": None, "b": []},
            }
        ],
        "ports": [],
        "notReadyAddresses": None,
    }
    assert _normalized(value) == {
        "addresses": [{"ip": "1.2.3.4", "nodeName": "", "targetRef": {"kind": "Pod"}}]
    }
