"""Canonical form of ``v1.Endpoints`` subsets (upstream ``RepackSubsets``).

Subsets are an N-to-M packing of addresses and ports, so the same set of (address, port,
readiness) facts can be written in many shapes. Both the Endpoints controller (to decide
whether a write is needed) and the mirroring controller (to turn user-written Endpoints into
one slice per port set) first bring subsets into one canonical shape:

* an address is identified by its IP plus its target's UID; the first occurrence wins and
  keeps its hostname, nodeName and targetRef;
* per port, an address that is listed as not ready anywhere is not ready ("not ready
  trumps ready");
* ports that are served by exactly the same (address, readiness) set share one subset;
* addresses without any port are kept, in one port-less subset;
* subsets with no address disappear.

Upstream sorts ports and subsets by an MD5 of their Go dump, an order nobody can rely on;
here ports sort by number then name/protocol, addresses by IP (bytewise, as upstream) then
target UID, and subsets by their ports then addresses. The result is a new structure; the
input is never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sliceplane.api.meta import Obj, copy_json

_AddressKey = tuple[str, str]
_PortKey = tuple[int, str, str, str, bool]

# Addresses listed in a subset without ports are collected under this key so that they
# survive repacking (and end up in a subset without ports).
_NO_PORTS: _PortKey = (-1, "", "", "", False)


def _address_key(address: Obj) -> _AddressKey:
    ref = address.get("targetRef") or {}
    return (str(address.get("ip", "")), str(ref.get("uid", "")))


def _port_key(port: Obj) -> _PortKey:
    app = port.get("appProtocol")
    return (
        int(port.get("port", 0)),
        str(port.get("name", "")),
        str(port.get("protocol", "")),
        "" if app is None else str(app),
        app is not None,
    )


def address_sort_key(address: Obj) -> tuple[bytes, int, str]:
    """Upstream ``LessEndpointAddress``: IP bytes, then no targetRef before a targetRef,
    then target UID."""
    ref = address.get("targetRef")
    ip = str(address.get("ip", "")).encode()
    if ref is None:
        return (ip, 0, "")
    return (ip, 1, str(ref.get("uid", "")))


def _subset_sort_key(subset: Obj) -> tuple[Any, ...]:
    return (
        tuple(_port_key(p) for p in subset.get("ports") or []),
        tuple(address_sort_key(a) for a in subset.get("addresses") or []),
        tuple(address_sort_key(a) for a in subset.get("notReadyAddresses") or []),
    )


def sort_subsets(subsets: Iterable[Obj]) -> list[Obj]:
    """Sort addresses and ports inside each subset, then the subsets (returns copies)."""
    out: list[Obj] = []
    for subset in subsets:
        new: Obj = {}
        for field in ("addresses", "notReadyAddresses"):
            items = subset.get(field) or []
            if items:
                new[field] = sorted((copy_json(a) for a in items), key=address_sort_key)
        ports = subset.get("ports") or []
        if ports:
            new["ports"] = sorted((copy_json(p) for p in ports), key=_port_key)
        out.append(new)
    out.sort(key=_subset_sort_key)
    return out


def repack_subsets(subsets: Sequence[Obj] | None) -> list[Obj]:
    """Return ``subsets`` in canonical form (see the module docstring)."""
    first_seen: dict[_AddressKey, Obj] = {}
    port_objs: dict[_PortKey, Obj | None] = {}
    readiness_by_port: dict[_PortKey, dict[_AddressKey, bool]] = {}

    for subset in subsets or []:
        ports: list[Obj | None] = list(subset.get("ports") or []) or [None]
        for port in ports:
            pkey = _NO_PORTS if port is None else _port_key(port)
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                for address in subset.get(field) or []:
                    akey = _address_key(address)
                    first_seen.setdefault(akey, address)
                    port_objs.setdefault(pkey, port)
                    seen = readiness_by_port.setdefault(pkey, {})
                    if seen.get(akey, True):
                        seen[akey] = ready

    # Ports served by the same (address, readiness) set share a subset.
    groups: dict[frozenset[tuple[_AddressKey, bool]], list[Obj]] = {}
    for pkey, readiness in readiness_by_port.items():
        members = groups.setdefault(frozenset(readiness.items()), [])
        port = port_objs[pkey]
        if port is not None:
            members.append(port)

    packed: list[Obj] = []
    for members_key, ports_of_group in groups.items():
        repacked: Obj = {}
        ready_addrs = [first_seen[a] for a, r in members_key if r]
        not_ready_addrs = [first_seen[a] for a, r in members_key if not r]
        if ready_addrs:
            repacked["addresses"] = ready_addrs
        if not_ready_addrs:
            repacked["notReadyAddresses"] = not_ready_addrs
        if ports_of_group:
            repacked["ports"] = ports_of_group
        packed.append(repacked)
    return sort_subsets(packed)
