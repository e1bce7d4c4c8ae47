"""Which printer serves which resource, and the Table built from their rows.

Why a registry: a new kind's table is one printer module plus one entry in
``_PRINTERS`` (and its columns in :mod:`.columns`); :func:`build_table`, the generic
fallback and the ``includeObject`` handling never change for it. Each printer returns
every column (wide layout); ``wide`` only matters where upstream formats a cell
differently for narrow output (load-balancer addresses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sliceplane.api.meta import format_time, parse_time
from sliceplane.apiserver.printers.apps import _print_deployment, _print_replicaset
from sliceplane.apiserver.printers.cells import _dig, _name, _str
from sliceplane.apiserver.printers.cluster import (
    _print_event,
    _print_lease,
    _print_namespace,
    _print_node,
)
from sliceplane.apiserver.printers.columns import _columns_for, _resource_key, column_definitions
from sliceplane.apiserver.printers.config import _print_config_map, _print_secret
from sliceplane.apiserver.printers.network import (
    _print_endpoints,
    _print_endpointslice,
    _print_service,
)
from sliceplane.apiserver.printers.pods import (
    _POD_FAILED_CONDITION,
    _POD_SUCCEEDED_CONDITION,
    _print_pod,
)

_TABLE_API_VERSION = "meta.k8s.io/v1"
_INCLUDE_OBJECT_CHOICES = ("None", "Metadata", "Object")


def _print_default(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    created = parse_time(_dig(obj, "metadata", "creationTimestamp"))
    stamp = "0001-01-01T00:00:00Z" if created is None else format_time(created)
    return [_name(obj), stamp]


_Printer = Callable[[Mapping[str, Any], datetime, bool], list[Any]]

_PRINTERS: dict[str, _Printer] = {
    "endpointslices": _print_endpointslice,
    "pods": _print_pod,
    "services": _print_service,
    "endpoints": _print_endpoints,
    "nodes": _print_node,
    "namespaces": _print_namespace,
    "events": _print_event,
    "leases": _print_lease,
    "deployments": _print_deployment,
    "replicasets": _print_replicaset,
    "secrets": _print_secret,
    "configmaps": _print_config_map,
}


def row_cells(resource: str, obj: dict[str, Any], now: datetime, *, wide: bool = True) -> list[Any]:
    """The cells of ``obj``'s row, formatted exactly as upstream's printer does.

    By default every column is returned, as the upstream API server does; with
    ``wide=False`` priority-1 cells are dropped and cells upstream shortens for narrow
    output (a Service's load-balancer addresses) are shortened.
    """
    key = _resource_key(resource)
    cells = _PRINTERS.get(key, _print_default)(obj, now, wide)
    if wide:
        return cells
    columns = _columns_for(key)
    return [cell for cell, column in zip(cells, columns, strict=True) if column.priority == 0]


def row_conditions(resource: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Row conditions upstream attaches (``Completed`` for finished pods), else ``[]``."""
    if _resource_key(resource) != "pods":
        return []
    phase = _str(obj, "status", "phase")
    if phase == "Succeeded":
        return [dict(_POD_SUCCEEDED_CONDITION)]
    if phase == "Failed":
        return [dict(_POD_FAILED_CONDITION)]
    return []


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": _TABLE_API_VERSION,
        "metadata": obj.get("metadata", {}),
    }


def build_table(
    resource: str,
    objs: list[dict[str, Any]],
    now: datetime,
    *,
    include_columns: bool = True,
    include_object: str = "Metadata",
    resource_version: str | None = None,
    continue_token: str | None = None,
    remaining_item_count: int | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table for ``objs``, as the upstream API server returns it.

    ``include_object`` follows ``TableOptions.includeObject``: ``"Metadata"`` puts a
    PartialObjectMetadata in each row (kubectl needs it for ``-A`` and
    ``--show-labels``), ``"Object"`` the whole object, ``"None"`` nothing.
    ``include_columns=False`` leaves ``columnDefinitions`` empty, as for watch events
    after the first. The list metadata arguments go into ``metadata`` when given.
    """
    if include_object not in _INCLUDE_OBJECT_CHOICES:
        raise ValueError(
            f"include_object must be one of {', '.join(_INCLUDE_OBJECT_CHOICES)}, "
            f"not {include_object!r}"
        )
    metadata: dict[str, Any] = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count

    rows: list[dict[str, Any]] = []
    for obj in objs:
        row: dict[str, Any] = {"cells": row_cells(resource, obj, now)}
        conditions = row_conditions(resource, obj)
        if conditions:
            row["conditions"] = conditions
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)

    return {
        "kind": "Table",
        "apiVersion": _TABLE_API_VERSION,
        "metadata": metadata,
        "columnDefinitions": column_definitions(resource) if include_columns else [],
        "rows": rows,
    }
