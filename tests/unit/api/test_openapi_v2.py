"""``/openapi/v2``: the Swagger 2.0 types document, as clients that read v2 for types need it.

The Terraform kubernetes provider's ``kubernetes_manifest`` indexes ``definitions`` by
``x-kubernetes-group-version-kind`` and resolves ``#/definitions/`` references; it has no
``oneOf``/``allOf`` handling, so those must not appear (upstream's v2 has none either).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sliceplane.api.openapi import openapi_v3_document
from sliceplane.apiserver.discovery import OpenAPIDocs
from sliceplane.apiserver.httperrors import PageNotFound


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    raw = OpenAPIDocs().answer("/openapi/v2")
    assert isinstance(raw, bytes)
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if "$ref" in node else []
        return out + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_swagger_2_with_every_served_kind(doc: dict[str, Any]) -> None:
    assert doc["swagger"] == "2.0"
    assert doc["paths"] == {}
    gvks = {
        (g["group"], g["version"], g["kind"])
        for d in doc["definitions"].values()
        for g in d.get("x-kubernetes-group-version-kind") or []
    }
    for gvk in [
        ("", "v1", "Service"),
        ("", "v1", "ConfigMap"),
        ("apps", "v1", "Deployment"),
        ("discovery.k8s.io", "v1", "EndpointSlice"),
    ]:
        assert gvk in gvks


def test_references_resolve_within_definitions(doc: dict[str, Any]) -> None:
    found = refs(doc["definitions"])
    assert found
    for ref in found:
        assert ref.startswith("#/definitions/"), ref
        assert ref[len("#/definitions/") :] in doc["definitions"], ref
    text = json.dumps(doc)
    assert "#/components/" not in text
    assert '"oneOf"' not in text
    assert '"allOf"' not in text


def test_upstream_spellings_of_int_or_string_and_quantity(doc: dict[str, Any]) -> None:
    defs = doc["definitions"]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": "string",
        "format": "int-or-string",
    }
    assert defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {"type": "string"}


def test_same_properties_as_the_v3_document(doc: dict[str, Any]) -> None:
    from sliceplane.apiserver.discovery import _SPECS

    v3 = openapi_v3_document("", "v1", _SPECS)["components"]["schemas"]
    key = "io.k8s.api.core.v1.ServiceSpec"
    assert set(doc["definitions"][key]["properties"]) == set(v3[key]["properties"])


def test_other_openapi_paths_are_not_found() -> None:
    """As kube-apiserver answers them: below /openapi/v2 Go's plain 404 page, an unknown
    v3 document kube-openapi's empty 404."""
    with pytest.raises(PageNotFound) as page:
        OpenAPIDocs().answer("/openapi/v2/api/v1")
    assert page.value.body == "404 page not found\n"
    with pytest.raises(PageNotFound) as empty:
        OpenAPIDocs().answer("/openapi/v3/apis/nope/v1")
    assert (empty.value.body, empty.value.content_type) == ("", None)
