"""Rows of Secrets and ConfigMaps (``printSecret``, ``printConfigMap`` upstream): the
DATA column counts keys (a ConfigMap's ``data`` and ``binaryData`` together), never sizes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sliceplane.apiserver.printers.cells import _age, _map, _name, _str


def _print_secret(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _str(obj, "type"), len(_map(obj, "data")), _age(obj, now)]


def _print_config_map(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    keys = len(_map(obj, "data")) + len(_map(obj, "binaryData"))
    return [_name(obj), keys, _age(obj, now)]
