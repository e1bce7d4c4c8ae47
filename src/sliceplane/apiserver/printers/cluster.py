"""Rows of the cluster-scoped and bookkeeping kinds: Nodes, Namespaces, Events and
Leases (``printNode``, ``printNamespace``, ``printEvent``, ``printLease`` upstream)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sliceplane.api.meta import parse_time
from sliceplane.api.wellknown import LABEL_NODE_ROLE, LABEL_NODE_ROLE_PREFIX
from sliceplane.apiserver.printers.cells import _age, _dig, _int, _list, _map, _name, _str
from sliceplane.apiserver.printers.durations import _since


def _node_address(node: Mapping[str, Any], kind: str) -> str:
    for address in _list(node, "status", "addresses"):
        if _str(address, "type") == kind:
            return _str(address, "address")
    return "<none>"


def _node_roles(node: Mapping[str, Any]) -> str:
    roles: set[str] = set()
    for key, value in _map(node, "metadata", "labels").items():
        if key.startswith(LABEL_NODE_ROLE_PREFIX):
            role = key[len(LABEL_NODE_ROLE_PREFIX) :]
            if role:
                roles.add(role)
        elif key == LABEL_NODE_ROLE and isinstance(value, str) and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _print_node(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    ready_status: str | None = None
    for condition in _list(obj, "status", "conditions"):
        if _str(condition, "type") == "Ready":
            ready_status = _str(condition, "status")
    if ready_status is None:
        states = ["Unknown"]
    else:
        states = ["Ready" if ready_status == "True" else "NotReady"]
    if _dig(obj, "spec", "unschedulable") is True:
        states.append("SchedulingDisabled")
    info = _map(obj, "status", "nodeInfo")
    return [
        _name(obj),
        ",".join(states),
        _node_roles(obj),
        _age(obj, now),
        _str(info, "kubeletVersion"),
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        _str(info, "osImage") or "<unknown>",
        _str(info, "kernelVersion") or "<unknown>",
        _str(info, "containerRuntimeVersion") or "<unknown>",
    ]


def _print_namespace(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _str(obj, "status", "phase"), _age(obj, now)]


def _event_source(obj: Mapping[str, Any]) -> str:
    component = _str(obj, "source", "component") or _str(obj, "reportingComponent")
    host = _str(obj, "source", "host") or _str(obj, "reportingInstance")
    return f"{component}, {host}" if host else component


def _print_event(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    first = parse_time(_dig(obj, "firstTimestamp"))
    first_seen = _since(first if first is not None else parse_time(_dig(obj, "eventTime")), now)
    last = parse_time(_dig(obj, "lastTimestamp"))
    last_seen = _since(last, now) if last is not None else first_seen
    count = _int(obj, "count")
    series = _dig(obj, "series")
    if isinstance(series, Mapping):
        last_seen = _since(parse_time(_dig(series, "lastObservedTime")), now)
        count = _int(series, "count")
    elif count == 0:
        count = 1
    kind = _str(obj, "involvedObject", "kind").lower()
    involved_name = _str(obj, "involvedObject", "name")
    target = f"{kind}/{involved_name}" if involved_name else kind
    return [
        last_seen,
        _str(obj, "type"),
        _str(obj, "reason"),
        target,
        _str(obj, "involvedObject", "fieldPath"),
        _event_source(obj),
        _str(obj, "message").strip(),
        first_seen,
        count,
        _name(obj),
    ]


def _print_lease(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _str(obj, "spec", "holderIdentity"), _age(obj, now)]
