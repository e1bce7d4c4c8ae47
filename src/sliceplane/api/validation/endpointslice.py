"""``discovery.k8s.io/v1`` EndpointSlice validation (spec §1.7).

EndpointSlices are the product this project serves, and both our controller and foreign
clients write them, so the API server must accept and reject exactly what upstream does:
the same limits (1000 endpoints, 100 addresses, 20 000 ports, 8 zone / 8 node hints), the
same special-IP rejections, and the same field paths and messages.

Newer upstream behaviour followed here: on update, unchanged ``endpoints`` are not
re-validated (so slices stored under looser IP rules stay writable), and ``hints.forNodes``
is validated like ``forZones`` but with node-name rules.
"""

from __future__ import annotations

from typing import Any, Final

from sliceplane.api.field import ErrorList, Path
from sliceplane.api.ipaddr import parse_ip_sloppy, to4
from sliceplane.api.validation import _util as u
from sliceplane.api.validation.meta import (
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from sliceplane.api.validation.names import (
    ALLOW_LOOPBACK_ENDPOINTS,
    PassedChecks,
    is_dns1123_label,
    is_fully_qualified_domain_name,
    is_qualified_name,
    is_valid_ip,
    is_valid_ip_for_legacy_field,
    is_valid_label_value,
    name_is_dns_subdomain,
    validate_endpoint_ip,
)
from sliceplane.api.wellknown import LABEL_ZONE

MAX_TOPOLOGY_LABELS: Final = 16
MAX_ADDRESSES: Final = 100
MAX_PORTS: Final = 20000
MAX_ENDPOINTS: Final = 1000
MAX_ZONE_HINTS: Final = 8
MAX_NODE_HINTS: Final = 8

SUPPORTED_ADDRESS_TYPES: Final = ("FQDN", "IPv4", "IPv6")  # sorted, as upstream lists them

_GOOD_ADDRESSES: Final = PassedChecks()
"""(address, address type, loopback allowed) that passed every check below: each write of
a slice checks its (up to 100) addresses again, most of them unchanged."""
SUPPORTED_PORT_PROTOCOLS: Final = ("SCTP", "TCP", "UDP")


def validate_endpointslice(obj: dict[str, Any], old: dict[str, Any] | None = None) -> ErrorList:
    """Checks common to create and update; ``old`` enables endpoint ratcheting."""
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    errs.extend(_validate_address_type(obj))
    errs.extend(_validate_ports(obj, errs))
    if old is None or old.get("endpoints") != obj.get("endpoints"):
        errs.extend(_validate_endpoints(obj, errs))
    return errs


def validate_endpointslice_create(obj: dict[str, Any]) -> ErrorList:
    return validate_endpointslice(obj)


def validate_endpointslice_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_endpointslice(new, old))
    errs.extend(u.immutable(new.get("addressType"), old.get("addressType"), Path("addressType")))
    return errs


def _validate_address_type(obj: dict[str, Any]) -> ErrorList:
    path = Path("addressType")
    at = obj.get("addressType")
    if at is None or at == "":
        return [path.required()]
    if not isinstance(at, str):
        return [path.invalid(at, u.MUST_BE_STRING)]
    if at not in SUPPORTED_ADDRESS_TYPES:
        return [path.not_supported(at, list(SUPPORTED_ADDRESS_TYPES))]
    return []


def _validate_endpoints(obj: dict[str, Any], errs: ErrorList) -> ErrorList:
    path = Path("endpoints")
    endpoints = u.get_list(obj, "endpoints", path, errs) or []
    if len(endpoints) > MAX_ENDPOINTS:
        return [path.too_many(len(endpoints), MAX_ENDPOINTS)]
    at = obj.get("addressType")
    out: ErrorList = []
    for i, ep in u.dict_items(endpoints, path, out):
        out.extend(_validate_endpoint(ep, at, path.index(i), out))
    return out


def _validate_endpoint(ep: dict[str, Any], at: Any, path: Path, errs: ErrorList) -> ErrorList:
    out: ErrorList = []
    addr_path = path.child("addresses")
    addresses = u.get_list(ep, "addresses", addr_path, errs) or []
    if not addresses:
        out.append(addr_path.required("must contain at least 1 address"))
    elif len(addresses) > MAX_ADDRESSES:
        out.append(addr_path.too_many(len(addresses), MAX_ADDRESSES))
    for i, address in u.str_items(addresses, addr_path, out):
        if at in ("IPv4", "IPv6"):
            key = (address, at, ALLOW_LOOPBACK_ENDPOINTS.get())
            if key in _GOOD_ADDRESSES:
                continue
            before = len(out)
            p = addr_path.index(i)
            # Upstream: IPv4 addresses are a legacy field (non-canonical spellings pass),
            # IPv6 ones must be canonical; a valid IP of the other family is reported on
            # the list's path, without the index, as upstream does.
            want4 = at == "IPv4"
            ip_errs = (is_valid_ip_for_legacy_field if want4 else is_valid_ip)(p, address)
            if ip_errs:
                out.extend(ip_errs)
            else:
                parsed = parse_ip_sloppy(address)
                if parsed is not None and (to4(parsed[0]) is not None) != want4:
                    out.append(addr_path.invalid(address, f"must be an {at} address"))
                out.extend(validate_endpoint_ip(p, address))
            if len(out) == before:
                _GOOD_ADDRESSES.add(key)
        elif at == "FQDN":
            out.extend(is_fully_qualified_domain_name(addr_path.index(i), address))
        # Unknown address types fall through unchecked, as upstream.

    node_name = u.get_str(ep, "nodeName", path.child("nodeName"), out)
    if node_name is not None:
        out.extend(
            path.child("nodeName").invalid(node_name, m)
            for m in name_is_dns_subdomain(node_name, False)
        )

    topo_path = path.child("deprecatedTopology")
    topology = u.get_str_map(ep, "deprecatedTopology", topo_path, out) or {}
    if len(topology) > MAX_TOPOLOGY_LABELS:
        out.append(topo_path.too_many(len(topology), MAX_TOPOLOGY_LABELS))
    out.extend(validate_labels(topology, topo_path))
    if LABEL_ZONE in topology:
        out.append(topo_path.key(LABEL_ZONE).internal("reserved key was not removed in conversion"))

    hostname = u.get_str(ep, "hostname", path.child("hostname"), out)
    if hostname is not None:
        out.extend(path.child("hostname").invalid(hostname, m) for m in is_dns1123_label(hostname))

    hints = u.get_dict(ep, "hints", path.child("hints"), out)
    if hints is not None:
        out.extend(_validate_hints(hints, path.child("hints"), out))
    return out


def _validate_hint_list(
    hints: dict[str, Any], key: str, max_items: int, path: Path, errs: ErrorList, node: bool
) -> tuple[ErrorList, bool]:
    """One of forZones/forNodes; the bool says "too many, stop here"."""
    items = u.get_list(hints, key, path, errs) or []
    if len(items) > max_items:
        return [path.too_many(len(items), max_items)], True
    out: ErrorList = []
    seen: set[str] = set()
    for i, item in u.dict_items(items, path, out):
        name_path = path.index(i).child("name")
        name = u.get_str(item, "name", name_path, out) or ""
        if name in seen:
            out.append(name_path.duplicate(name))
        else:
            seen.add(name)
        msgs = name_is_dns_subdomain(name, False) if node else is_valid_label_value(name)
        out.extend(name_path.invalid(name, m) for m in msgs)
    return out, False


def _validate_hints(hints: dict[str, Any], path: Path, errs: ErrorList) -> ErrorList:
    out, stop = _validate_hint_list(
        hints, "forZones", MAX_ZONE_HINTS, path.child("forZones"), errs, node=False
    )
    if stop:
        return out
    more, _ = _validate_hint_list(
        hints, "forNodes", MAX_NODE_HINTS, path.child("forNodes"), errs, node=True
    )
    return out + more


def _validate_ports(obj: dict[str, Any], errs: ErrorList) -> ErrorList:
    path = Path("ports")
    ports = u.get_list(obj, "ports", path, errs) or []
    if len(ports) > MAX_PORTS:
        return [path.too_many(len(ports), MAX_PORTS)]
    out: ErrorList = []
    names: set[str] = set()
    for i, port in u.dict_items(ports, path, out):
        p = path.index(i)
        # The v1 API defaults a missing name to "" (upstream dereferences the pointer).
        name = u.get_str(port, "name", p.child("name"), out) or ""
        if name:
            out.extend(p.child("name").invalid(name, m) for m in is_dns1123_label(name))
        if name in names:
            out.append(p.child("name").duplicate(name))
        else:
            names.add(name)

        protocol = u.get_str(port, "protocol", p.child("protocol"), out)
        if protocol is None:
            if port.get("protocol") is None:
                out.append(p.child("protocol").required())
        elif protocol not in SUPPORTED_PORT_PROTOCOLS:
            out.append(p.child("protocol").not_supported(protocol, list(SUPPORTED_PORT_PROTOCOLS)))

        u.get_int(port, "port", p.child("port"), out)

        app_protocol = u.get_str(port, "appProtocol", p.child("appProtocol"), out)
        if app_protocol is not None:
            out.extend(
                p.child("appProtocol").invalid(app_protocol, m)
                for m in is_qualified_name(app_protocol)
            )
    return out


__all__ = [
    "MAX_ADDRESSES",
    "MAX_ENDPOINTS",
    "MAX_NODE_HINTS",
    "MAX_PORTS",
    "MAX_TOPOLOGY_LABELS",
    "MAX_ZONE_HINTS",
    "validate_endpointslice",
    "validate_endpointslice_create",
    "validate_endpointslice_update",
]
