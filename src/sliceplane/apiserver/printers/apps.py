"""Rows of the apps kinds: Deployments and ReplicaSets (``printDeployment``,
``printReplicaSet`` upstream)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sliceplane.apiserver.printers.cells import (
    _age,
    _container_cells,
    _dig,
    _format_label_selector,
    _int,
    _list,
    _name,
    _selector_string,
)


def _print_deployment(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    desired = _int(obj, "spec", "replicas", default=1)
    ready = _int(obj, "status", "readyReplicas")
    names, images = _container_cells(_list(obj, "spec", "template", "spec", "containers"))
    selector = _selector_string(_dig(obj, "spec", "selector"))
    return [
        _name(obj),
        f"{ready}/{desired}",
        _int(obj, "status", "updatedReplicas"),
        _int(obj, "status", "availableReplicas"),
        _age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _print_replicaset(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    names, images = _container_cells(_list(obj, "spec", "template", "spec", "containers"))
    return [
        _name(obj),
        _int(obj, "spec", "replicas", default=1),
        _int(obj, "status", "replicas"),
        _int(obj, "status", "readyReplicas"),
        _age(obj, now),
        names,
        images,
        _format_label_selector(_dig(obj, "spec", "selector")),
    ]
