"""The protobuf encoder is the inverse of the decoder: every object the controllers write
decodes back to itself."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sliceplane.api.protobuf import MAGIC, decode_k8s_protobuf
from sliceplane.api.protobufencode import ProtobufEncodeError, encode_k8s_protobuf


def endpoint_slice(n: int = 100) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "svc-0-abc",
            "namespace": "bench",
            "uid": "u-1",
            "resourceVersion": "123",
            "generation": 4,
            "creationTimestamp": "2026-12-03T16:50:40Z",
            "labels": {
                "kubernetes.io/service-name": "svc-0",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            "annotations": {
                "endpoints.kubernetes.io/last-change-trigger-time": "2026-12-03T16:50:40Z"
            },
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": "svc-0",
                    "uid": "s-1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"10.1.0.{i}"],
                "conditions": {"ready": i % 2 == 0, "serving": True, "terminating": False},
                "targetRef": {
                    "kind": "Pod",
                    "namespace": "bench",
                    "name": f"p-{i}",
                    "uid": f"u{i}",
                },
                "nodeName": "node-1",
                "zone": "zone-a",
                **({"hints": {"forZones": [{"name": "zone-a"}]}} if i == 3 else {}),
                **({"hostname": "h"} if i == 4 else {}),
            }
            for i in range(n)
        ],
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 8080},
            {"name": "", "protocol": "UDP", "port": 0, "appProtocol": "kubernetes.io/h2c"},
        ],
    }


def test_an_endpoint_slice_round_trips_at_a_third_of_its_json() -> None:
    es = endpoint_slice()
    body = encode_k8s_protobuf(es)
    assert body.startswith(MAGIC)
    assert decode_k8s_protobuf(body) == es
    assert len(body) < len(msgspec.json.encode(es)) / 2


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
        {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": "x", "resourceVersion": "7"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "namespace": "d", "deletionGracePeriodSeconds": -1},
            "spec": {
                "ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}],
                "selector": {"app": "a"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "deletionTimestamp": "2026-01-02T03:04:05Z"},
            "spec": {
                "containers": [
                    {"name": "c", "resources": {"limits": {"cpu": "250m", "memory": "1Gi"}}}
                ]
            },
        },
    ],
)
def test_other_kinds_round_trip(obj: dict[str, Any]) -> None:
    back = decode_k8s_protobuf(encode_k8s_protobuf(obj))
    for key, value in obj.items():
        if isinstance(value, dict) and isinstance(back[key], dict):
            assert {k: back[key].get(k) for k in value} == value
        else:
            assert back[key] == value


def test_objects_without_a_protobuf_form_are_refused() -> None:
    with pytest.raises(ProtobufEncodeError):
        encode_k8s_protobuf({"metadata": {"name": "x"}})
    with pytest.raises(ProtobufEncodeError):
        encode_k8s_protobuf(
            {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": "0"}
        )
