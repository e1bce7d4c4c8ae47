"""Writes encoded as protobuf (``--kube-api-content-type``) store on the real kube-apiserver
exactly what the same writes as JSON store."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from diffkit import BINARIES, MISSING

from sliceplane.api import errors
from sliceplane.client.client import PROTOBUF, Client
from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

NS = "pb"
SERVER_SET = ("name", "uid", "resourceVersion", "creationTimestamp", "managedFields")


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("diffpb"),
        binaries=BINARIES,
        with_controller_manager=False,
        unsafe_no_fsync=True,
    )
    with cp:
        yield cp


def a_slice(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kubernetes.io/service-name": "web"},
            "annotations": {
                "endpoints.kubernetes.io/last-change-trigger-time": "2026-12-03T10:00:00Z"
            },
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"10.0.0.{i}"],
                "conditions": {"ready": i != 2, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "namespace": NS, "name": f"p{i}", "uid": f"u{i}"},
                "nodeName": "n1",
                "zone": "z1",
                **({"hints": {"forZones": [{"name": "z1"}]}} if i == 1 else {}),
            }
            for i in range(4)
        ],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for key in SERVER_SET:
        out["metadata"].pop(key, None)
    return out


async def test_protobuf_creates_updates_and_deletes_match_json(kube: ControlPlane) -> None:
    async with await Client.connect(Path(kube.kubeconfig)) as plain:
        pb = plain.writing(PROTOBUF)
        assert pb._body(a_slice("x"))[1] == PROTOBUF  # really protobuf, not the JSON fallback
        await plain.create("namespaces", {"metadata": {"name": NS}})
        as_json = await plain.create("endpointslices", a_slice("by-json"), NS)
        as_pb = await pb.create("endpointslices", a_slice("by-protobuf"), NS)
        assert comparable(as_pb) == comparable(as_json)
        stored = await plain.get("endpointslices", "by-protobuf", NS)
        assert comparable(stored) == comparable(await plain.get("endpointslices", "by-json", NS))

        changed = copy.deepcopy(stored)
        changed["endpoints"][2]["conditions"]["ready"] = True
        changed["endpoints"].pop(0)
        del changed["metadata"]["managedFields"]  # as the controller's trimmed cache sends it
        updated = await pb.update("endpointslices", changed)
        assert [ep["addresses"] for ep in updated["endpoints"]] == [
            ["10.0.0.1"],
            ["10.0.0.2"],
            ["10.0.0.3"],
        ]
        assert updated["endpoints"][1]["conditions"]["ready"] is True
        assert updated["metadata"]["generation"] == 2
        assert updated["metadata"]["managedFields"]  # kept: an update without them keeps them

        stale = copy.deepcopy(stored)  # the old resourceVersion: a conflict, as with JSON
        with pytest.raises(errors.Conflict):
            await pb.update("endpointslices", stale)

        await pb.delete("endpointslices", "by-protobuf", NS, grace_period_seconds=0)
        with pytest.raises(errors.NotFound):
            await plain.get("endpointslices", "by-protobuf", NS)
