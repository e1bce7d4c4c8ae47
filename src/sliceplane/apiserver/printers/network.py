"""Rows of the discovery kinds: EndpointSlices, Endpoints and Services
(``printEndpointSlice``, ``printEndpoints``, ``printService`` upstream)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sliceplane.apiserver.printers.cells import (
    _MORE_LIMIT,
    _age,
    _dig,
    _format_labels,
    _int,
    _join_host_port,
    _list,
    _map,
    _name,
    _str,
    _with_more,
)

_LB_CLIP_WIDTH = 16


def _endpointslice_ports(ports: list[Any]) -> str:
    shown: list[str] = []
    for port in ports[:_MORE_LIMIT]:
        number = _dig(port, "port")
        name = _dig(port, "name")
        if isinstance(number, int) and not isinstance(number, bool):
            shown.append(str(number))
        elif isinstance(name, str):
            shown.append(name)
        else:
            shown.append("*")
    return _with_more(shown, len(ports))


def _endpointslice_endpoints(endpoints: list[Any]) -> str:
    addresses = [str(a) for ep in endpoints for a in _list(ep, "addresses")]
    return _with_more(addresses[:_MORE_LIMIT], len(addresses))


def _print_endpointslice(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [
        _name(obj),
        _str(obj, "addressType"),
        _endpointslice_ports(_list(obj, "ports")),
        _endpointslice_endpoints(_list(obj, "endpoints")),
        _age(obj, now),
    ]


def _format_endpoints(obj: Mapping[str, Any]) -> str:
    subsets = _list(obj, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    more = False
    total = 0

    def take(entries: Iterable[str]) -> None:
        nonlocal more
        for entry in entries:
            if len(shown) == _MORE_LIMIT:
                more = True
                return
            shown.append(entry)

    for subset in subsets:
        addresses = [_str(a, "ip") for a in _list(subset, "addresses")]
        ports = _list(subset, "ports")
        if not ports:
            total += len(addresses)
            take(addresses)
            continue
        for port in ports:
            total += len(addresses)
            number = _int(port, "port")
            take(_join_host_port(ip, number) for ip in addresses)
    joined = ",".join(shown)
    if more:
        return f"{joined} + {total - _MORE_LIMIT} more..."
    return joined


def _print_endpoints(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _format_endpoints(obj), _age(obj, now)]


def _load_balancer_addresses(svc: Mapping[str, Any], wide: bool) -> str:
    found: set[str] = set()
    for ingress in _list(svc, "status", "loadBalancer", "ingress"):
        address = _str(ingress, "ip") or _str(ingress, "hostname")
        if address:
            found.add(address)
    joined = ",".join(sorted(found))
    if not wide and len(joined) > _LB_CLIP_WIDTH:
        joined = joined[: _LB_CLIP_WIDTH - 3] + "..."
    return joined


def _service_external_ip(svc: Mapping[str, Any], svc_type: str, wide: bool) -> str:
    external_ips = [str(ip) for ip in _list(svc, "spec", "externalIPs")]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else "<none>"
    if svc_type == "LoadBalancer":
        lb = _load_balancer_addresses(svc, wide)
        if external_ips:
            return ",".join([*(lb.split(",") if lb else []), *external_ips])
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return _str(svc, "spec", "externalName")
    return "<unknown>"


def _service_ports(ports: list[Any]) -> str:
    pieces: list[str] = []
    for port in ports:
        number = _int(port, "port")
        protocol = _str(port, "protocol") or "TCP"
        node_port = _int(port, "nodePort")
        if node_port > 0:
            pieces.append(f"{number}:{node_port}/{protocol}")
        else:
            pieces.append(f"{number}/{protocol}")
    return ",".join(pieces) or "<none>"


def _print_service(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    svc_type = _str(obj, "spec", "type") or "ClusterIP"
    cluster_ips = _list(obj, "spec", "clusterIPs")
    fallback_ip = _str(obj, "spec", "clusterIP") or "<none>"
    cluster_ip = str(cluster_ips[0]) if cluster_ips else fallback_ip
    return [
        _name(obj),
        svc_type,
        cluster_ip,
        _service_external_ip(obj, svc_type, wide),
        _service_ports(_list(obj, "spec", "ports")),
        _age(obj, now),
        _format_labels(_map(obj, "spec", "selector")),
    ]
