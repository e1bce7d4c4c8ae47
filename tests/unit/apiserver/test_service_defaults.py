"""Service defaulting of session affinity, as upstream's SetDefaults_Service.

Found by running the real kube-proxy against sliceplane's server: a Service patched from
ClientIP to None kept its sessionAffinityConfig here and lost it on kube-apiserver.
"""

from __future__ import annotations

from typing import Any

import pytest

from sliceplane.apiserver.defaults import default_service

DEFAULT = {"clientIP": {"timeoutSeconds": 10800}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"sessionAffinity": "None", "sessionAffinityConfig": DEFAULT}, None),
        ({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}, None),
        ({"sessionAffinity": "ClientIP"}, DEFAULT),
        ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {}}, DEFAULT),
        ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {}}}, DEFAULT),
        (
            {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": None}},
            DEFAULT,
        ),
        (
            {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": None}},
            },
            DEFAULT,
        ),
        (
            {
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
            },
            {"clientIP": {"timeoutSeconds": 60}},
        ),
        # The wrong type is kept for validation to report, not defaulted away.
        ({"sessionAffinity": "ClientIP", "sessionAffinityConfig": 3}, 3),
    ],
)
def test_session_affinity_config_defaulting(spec: dict[str, Any], expected: Any) -> None:
    obj: dict[str, Any] = {"spec": dict(spec)}
    default_service(obj)
    assert obj["spec"].get("sessionAffinityConfig") == expected
