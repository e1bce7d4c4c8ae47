"""From a Service and its pods to desired endpoints, ports and endpoint identity.

Everything the planner needs to know about a single pod lives here, so that the packing
algorithm in :mod:`reconciler` deals only in opaque endpoint dicts, port-set keys and
identity keys. The rules follow upstream ``k8s.io/endpointslice`` (reference §2.4-§2.6):

* which address families a Service gets slices for;
* which pods are published, and the conditions table of an endpoint;
* how a Service port resolves against a pod (named ports, sidecars, protocol match);
* endpoint *identity* (addresses, hostname, target namespace/name), which decides whether
  a change is an in-place update or a remove+add, and the comparison of everything else.

Identity and port-set keys are plain tuples: hashing them is cheap, which matters when a
Service has thousands of endpoints and is re-planned on every pod change. Nothing here
mutates its arguments; new dicts are built for every endpoint and port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sliceplane.api.ipaddr import classify_ip
from sliceplane.api.meta import meta_of
from sliceplane.api.podstatus import is_ready
from sliceplane.endpointslice.types import LABEL_ZONE, Obj

ADDRESS_TYPE_IPV4 = "IPv4"
ADDRESS_TYPE_IPV6 = "IPv6"

EndpointKey = tuple[tuple[str, ...], str, str, str]
"""Identity of an endpoint: (sorted addresses, hostname, targetRef namespace, name)."""

PortKey = tuple[tuple[Any, ...], ...]
"""Order-insensitive identity of a port list; ``None`` and ``[]`` give the same key."""


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


# --- address families --------------------------------------------------------------------


def address_types_for_service(service: Obj) -> list[str]:
    """The address types a Service gets slices for (§2.4), in a stable order.

    ``spec.ipFamilies`` decides when set; otherwise the family of a real ``clusterIP``;
    otherwise (headless or unallocated, old API server) both families.
    """
    spec = _spec(service)
    types: list[str] = []
    for family in spec.get("ipFamilies") or []:
        if family in (ADDRESS_TYPE_IPV4, ADDRESS_TYPE_IPV6) and family not in types:
            types.append(family)
    if types:
        return types
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip and cluster_ip != "None":
        # Upstream's IsIPv6String: anything that is not parseable IPv6 counts as IPv4.
        classified = classify_ip(cluster_ip)
        if classified is not None and classified[0] == ADDRESS_TYPE_IPV6:
            return [ADDRESS_TYPE_IPV6]
        return [ADDRESS_TYPE_IPV4]
    return [ADDRESS_TYPE_IPV4, ADDRESS_TYPE_IPV6]


def service_ip_set(service: Obj) -> bool:
    """False for headless Services and for a not yet allocated (empty) clusterIP."""
    cluster_ip = _spec(service).get("clusterIP") or ""
    return cluster_ip not in ("", "None")


# --- pods ---------------------------------------------------------------------------------


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool = True) -> bool:
    """Terminal pods and pods without any IP are never published.

    The EndpointSlice controller always passes ``include_terminating=True``: terminating
    pods are published with ``terminating: true``.
    """
    status = pod.get("status") or {}
    if status.get("phase") in ("Failed", "Succeeded"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or meta_of(pod).get("deletionTimestamp") is None


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """A pod's hostname is published only for the Service named by its subdomain."""
    hostname = _spec(pod).get("hostname") or ""
    return (
        bool(hostname)
        and (_spec(pod).get("subdomain") or "") == (meta_of(service).get("name") or "")
        and (meta_of(service).get("namespace") or "") == (meta_of(pod).get("namespace") or "")
    )


def endpoint_addresses(pod: Obj, address_type: str) -> list[str]:
    """Canonical ``status.podIPs`` of one family (``status.podIP`` alone is not used)."""
    out: list[str] = []
    for entry in (pod.get("status") or {}).get("podIPs") or []:
        classified = classify_ip(str(entry.get("ip") or ""))
        if classified is not None and classified[0] == address_type:
            out.append(classified[1])
    return out


def pod_to_endpoint(pod: Obj, node: Obj | None, service: Obj, address_type: str) -> Obj:
    """The endpoint a pod contributes to slices of ``address_type`` (§2.5).

    All three conditions are always set. ``ready`` is forced true by
    ``publishNotReadyAddresses``; otherwise it means serving and not terminating.
    The endpoint may have no addresses (pod lacks that family): callers skip those.
    """
    meta = meta_of(pod)
    spec = _spec(pod)
    serving = is_ready(pod)
    terminating = meta.get("deletionTimestamp") is not None
    publish = bool(_spec(service).get("publishNotReadyAddresses"))
    ready = publish or (serving and not terminating)

    target: Obj = {"kind": "Pod"}
    if meta.get("namespace"):
        target["namespace"] = meta["namespace"]
    if meta.get("name"):
        target["name"] = meta["name"]
    if meta.get("uid"):
        target["uid"] = meta["uid"]

    ep: Obj = {
        "addresses": endpoint_addresses(pod, address_type),
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    if should_set_hostname(pod, service):
        ep["hostname"] = spec["hostname"]
    ep["targetRef"] = target
    if spec.get("nodeName"):
        ep["nodeName"] = spec["nodeName"]
    if node is not None:
        zone = (meta_of(node).get("labels") or {}).get(LABEL_ZONE) or ""
        if zone:
            ep["zone"] = zone
    return ep


# --- ports --------------------------------------------------------------------------------


def _match_named(containers: Sequence[Mapping[str, Any]], name: str, protocol: str) -> int | None:
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == name and (port.get("protocol") or "TCP") == protocol:
                return int(port.get("containerPort") or 0)
    return None


def find_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """Resolve a Service port's ``targetPort`` against a pod; ``None`` when it can't.

    A number is used as is (even if no container declares it). A name must match a
    container port's name *and* protocol: app containers are searched first, then
    restartable init containers (sidecars, ``restartPolicy: Always``). The number found is
    not validated. A missing ``targetPort`` falls back to ``port``, as API defaulting would.
    """
    target = service_port.get("targetPort")
    if target is None:
        target = service_port.get("port", 0)
    if isinstance(target, str):
        protocol = service_port.get("protocol") or "TCP"
        spec = _spec(pod)
        found = _match_named(spec.get("containers") or [], target, protocol)
        if found is None:
            sidecars = [
                c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
            ]
            found = _match_named(sidecars, target, protocol)
        return found
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    return None


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The slice ports for one pod: each Service port whose target resolves, in order.

    ``name`` is always present (``""`` for an unnamed port); ``appProtocol`` is copied when
    set. A headless Service without ports gets an empty list.
    """
    spec = _spec(service)
    service_ports = spec.get("ports") or []
    out: list[Obj] = []
    if not service_ports:
        return out
    for sp in service_ports:
        number = find_port(pod, sp)
        if number is None:
            continue
        port: Obj = {
            "name": sp.get("name") or "",
            "port": number,
            "protocol": sp.get("protocol") or "TCP",
        }
        if sp.get("appProtocol") is not None:
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def _port_tuple(port: Mapping[str, Any]) -> tuple[Any, ...]:
    return (port.get("name"), port.get("port"), port.get("protocol"), port.get("appProtocol"))


def port_set_key(ports: Sequence[Mapping[str, Any]] | None) -> PortKey:
    """Identity of a port list: order does not matter, ``None`` equals ``[]``.

    Fields keep their nil-ness (a missing name differs from ``""``), as upstream's hash of
    the pointer-valued struct does.
    """
    if not ports:
        return ()
    if len(ports) == 1:
        return (_port_tuple(ports[0]),)
    return tuple(sorted((_port_tuple(p) for p in ports), key=repr))


# --- endpoint identity and comparison ------------------------------------------------------


def endpoint_key(ep: Mapping[str, Any]) -> EndpointKey:
    """Identity of an endpoint; conditions, node, zone, uid and hints are not part of it."""
    ref = ep.get("targetRef") or {}
    addresses = ep.get("addresses") or ()
    return (
        tuple(addresses) if len(addresses) < 2 else tuple(sorted(addresses)),
        ep.get("hostname") or "",
        ref.get("namespace") or "",
        ref.get("name") or "",
    )


def _ref_fields(ref: Mapping[str, Any]) -> dict[str, Any]:
    # ObjectReference fields are plain strings in Go: missing and "" are the same value.
    return {k: v for k, v in ref.items() if k != "resourceVersion" and v not in (None, "")}


def endpoints_equal_beyond_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two endpoints with the same identity need no update.

    Compares nodeName, zone, ready/serving/terminating (unset differs from false) and the
    targetRef ignoring its resourceVersion. Hints are deliberately not compared: the hints
    pass owns them.
    """
    if a.get("nodeName") != b.get("nodeName") or a.get("zone") != b.get("zone"):
        return False
    ca = a.get("conditions") or {}
    cb = b.get("conditions") or {}
    for cond in ("ready", "serving", "terminating"):
        va, vb = ca.get(cond), cb.get(cond)
        if (va is None) != (vb is None) or va != vb:
            return False
    ra, rb = a.get("targetRef"), b.get("targetRef")
    if ra is None or rb is None:
        return ra is None and rb is None
    # Fast path: the controller wrote the cached reference itself, so it is usually
    # identical to the fresh one.
    return ra == rb or _ref_fields(ra) == _ref_fields(rb)
