"""Differential test of ``/openapi/v2``: sliceplane's types document against kube-apiserver
v1.37.2's (``sliceplane.testenv``).

What a v2 reader builds its types from must agree: the Terraform kubernetes provider's
``kubernetes_manifest`` turns ``definitions`` into Terraform types (objects, lists, maps,
strings with the int-or-string hint, numbers), found through
``x-kubernetes-group-version-kind``. So every definition sliceplane serves must exist
upstream with the same shape: ``type``, ``format``, ``$ref``, ``items``,
``additionalProperties``, ``properties`` (recursively) and the GVK list. Descriptions,
``paths`` and the other top-level keys are left out by construction (see
``docs/upstream-differences.md``); the one known difference is in ``KNOWN``.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from diffkit import BINARIES, MISSING
from harness import ServerProcess

from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

SHAPE_KEYS = ("type", "format", "$ref", "items", "additionalProperties", "properties")
GVK = "x-kubernetes-group-version-kind"
# definition -> why its shape differs.
KNOWN = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": "upstream tags it with every "
    "served group's version (DeleteOptions is registered in each); sliceplane with core v1's",
}


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(
        tmp_path_factory.mktemp("diffopenapi"), binaries=BINARIES, unsafe_no_fsync=True
    ) as cp:
        yield cp


def fetch_v2(kubeconfig: Path) -> dict[str, Any]:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    if "certificate-authority-data" in cluster:
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        ctx = ssl.create_default_context(cadata=ca)
    else:
        ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
    req = urllib.request.Request(
        cluster["server"] + "/openapi/v2",
        headers={"Authorization": f"Bearer {user['token']}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        assert resp.status == 200
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def shape(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: shape(v) for k, v in node.items() if k in SHAPE_KEYS}
    return node


def test_definitions_have_upstream_shapes(kube: ControlPlane, apiserver: ServerProcess) -> None:
    up, sp = fetch_v2(kube.kubeconfig), fetch_v2(apiserver.kubeconfig)
    assert up["swagger"] == sp["swagger"] == "2.0"
    ours, theirs = sp["definitions"], up["definitions"]
    assert [k for k in ours if k not in theirs] == []
    differ = [
        k
        for k in ours
        if shape(ours[k]) != shape(theirs[k]) or ours[k].get(GVK) != theirs[k].get(GVK)
    ]
    unexplained = [k for k in differ if k not in KNOWN]
    assert not unexplained, {k: (shape(theirs[k]), shape(ours[k])) for k in unexplained[:5]}
    assert set(differ) == set(KNOWN), "a known difference is gone: update KNOWN"
    # The kinds the Terraform tests write, and what their slices are made of, are all there.
    gvks = {(g["group"], g["kind"]) for d in ours.values() for g in d.get(GVK) or []}
    assert {("", "Service"), ("apps", "Deployment"), ("discovery.k8s.io", "EndpointSlice")} <= gvks
    assert len(ours) >= 200
