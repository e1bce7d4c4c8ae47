"""Table tests of read answers by Accept header (``apiserver.representation``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from sliceplane.api.resources import BY_PLURAL
from sliceplane.apiserver.pagination import ListResult
from sliceplane.apiserver.representation import include_object, list_body, object_body
from sliceplane.storage.store import Stored

PODS = BY_PLURAL["pods"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
PARTIAL = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"


def pod(name: str, rv: int) -> Stored:
    obj: dict[str, Any] = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    return Stored(obj, msgspec.json.encode(obj), rv)


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        pytest.param("application/json", "Pod", id="object"),
        pytest.param(TABLE, "Table", id="table"),
        pytest.param(PARTIAL, "PartialObjectMetadata", id="partial"),
    ],
)
def test_object_body(accept: str, kind: str) -> None:
    item = pod("a", 7)
    body = object_body(PODS, item, accept, "Metadata", NOW)
    assert json.loads(body)["kind"] == kind
    if kind == "Pod":
        assert body is item.raw  # the stored bytes, not a re-encoding


@pytest.mark.parametrize(
    ("accept", "kind", "names"),
    [
        pytest.param("application/json", "PodList", ["a", "b"], id="list"),
        pytest.param(PARTIAL_LIST, "PartialObjectMetadataList", ["a", "b"], id="partial-list"),
    ],
)
def test_list_body(accept: str, kind: str, names: list[str]) -> None:
    page = ListResult([pod("a", 5), pod("b", 6)], 9, "tok", 3)
    doc = json.loads(list_body(PODS, page, accept, "Metadata", NOW))
    assert doc["kind"] == kind
    assert doc["metadata"] == {"resourceVersion": "9", "continue": "tok", "remainingItemCount": 3}
    assert [i["metadata"]["name"] for i in doc["items"]] == names


def test_list_table_carries_the_page() -> None:
    page = ListResult([pod("a", 5)], 9, "tok", None)
    doc = json.loads(list_body(PODS, page, TABLE, "None", NOW))
    assert doc["kind"] == "Table"
    assert doc["metadata"]["resourceVersion"] == "9"
    assert doc["metadata"]["continue"] == "tok"
    assert len(doc["rows"]) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Object", "Object"), ("None", "None"), ("bogus", "Metadata"), (None, "Metadata")],
)
def test_include_object(value: str | None, expected: str) -> None:
    assert include_object({} if value is None else {"includeObject": value}) == expected
