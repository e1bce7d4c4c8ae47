"""Table tests of read answers by Accept header (``apiserver.representation``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from sliceplane.api.resources import BY_PLURAL
from sliceplane.apiserver.pagination import ListResult
from sliceplane.apiserver.representation import (
    include_object,
    list_body,
    object_body,
    plain_list_pieces,
)
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


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 1000])
def test_streamed_list_pieces_are_the_list_body(n: int) -> None:
    result = ListResult([pod(f"p{i}", i + 1) for i in range(n)], 99, "tok", 7)
    pieces = plain_list_pieces(PODS, result, "application/json")
    assert pieces is not None
    length, chunks = pieces
    body = b"".join(chunks)
    assert body == list_body(PODS, result, "application/json", "Metadata", NOW)
    assert length == len(body)
    assert len(json.loads(body)["items"]) == n
    assert plain_list_pieces(PODS, result, TABLE) is None
    assert plain_list_pieces(PODS, result, PARTIAL_LIST) is None
