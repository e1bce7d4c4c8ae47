"""Pure planning of the legacy ``v1.Endpoints`` object of one Service.

The Endpoints controller (upstream ``pkg/controller/endpoint``) still runs in every cluster
because old clients read Endpoints. Its decision is a function of the Service, the pods its
selector matches and the Endpoints object currently cached: :func:`plan_endpoints` returns
that decision as an :class:`EndpointsPlan` (create, update, delete or nothing) and never
performs I/O, so the controller around it only applies the verb.

Rules kept from upstream (reference §3.2, §2.5, §2.6):

* ExternalName Services and Services without a selector get nothing from this controller;
  a deleted Service gets its Endpoints deleted.
* A pod is listed when it is not terminal, has an IP, and is not terminating, unless the
  Service publishes not-ready addresses (then terminating pods stay).
* One address per pod, of the Service's primary IP family, taken from ``status.podIPs``.
* Ready pods (or every pod when ``publishNotReadyAddresses``) go to ``addresses``, others
  to ``notReadyAddresses``; ports are resolved per pod, then subsets are repacked.
* Over 1000 addresses the object is truncated (ready addresses first, each subset keeping
  its proportional share) and annotated ``endpoints.kubernetes.io/over-capacity:
  truncated``.
* Labels are the Service's plus the headless label when it has no cluster IP, and
  ``endpoints.kubernetes.io/managed-by: endpoint-controller``.
* Nothing is written when subsets (ignoring targetRef resourceVersions), labels (ignoring
  the headless label, the managed-by label must be present) and the capacity annotation
  already agree.
"""

from __future__ import annotations

import copy
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sliceplane.api.meta import (
    Obj,
    annotations_of,
    copy_json,
    is_deleting,
    labels_of,
    namespace_of,
    resource_version_of,
)
from sliceplane.api.podstatus import is_ready
from sliceplane.api.subsets import repack_subsets
from sliceplane.api.wellknown import ANNOTATION_OVER_CAPACITY, LABEL_HEADLESS
from sliceplane.endpointbase.triggertime import set_trigger_time

LABEL_ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
"""Set on every Endpoints object the controller writes (upstream ``LabelManagedBy``)."""
ENDPOINTS_CONTROLLER_NAME = "endpoint-controller"
"""Its value (upstream ``ControllerName`` of ``pkg/controller/endpoint``)."""

MAX_CAPACITY = 1000
"""Most addresses (ready plus not ready) one Endpoints object carries (``maxCapacity``)."""

OVER_CAPACITY_TRUNCATED = "truncated"


@dataclass(frozen=True, slots=True)
class EndpointsPlan:
    """What to do with the Service's Endpoints object.

    ``create``/``update``: ``obj`` is the complete object to send (an update keeps the
    cached object's name, resourceVersion and foreign annotations). ``delete``: ``obj`` is
    the cached object. ``none``: nothing to write, ``obj`` is None.
    """

    verb: Literal["create", "update", "delete", "none"]
    obj: Obj | None = None


NO_CHANGE = EndpointsPlan("none")


# -- pods ------------------------------------------------------------------------------


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Upstream ``ShouldPodBeInEndpoints``."""
    status = pod.get("status", {})
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not is_deleting(pod)


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """Upstream ``ShouldSetHostname``: hostname set and the pod's subdomain is the Service."""
    spec = pod.get("spec", {})
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == service["metadata"]["name"]
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")
    )


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """Resolve a Service port's targetPort on ``pod`` (upstream ``podutil.FindPort``).

    A number is taken as is. A string is a container port *name*: the first container
    port with that name and the Service port's protocol wins, app containers before
    sidecars (init containers with ``restartPolicy: Always``). None when nothing matches.
    """
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if not isinstance(target, str):
        return None
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec", {})
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or []), *sidecars]:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _is_ipv6(text: str) -> bool:
    """Upstream ``utilnet.IsIPv6String``: parses, and is not IPv4 (or IPv4-mapped)."""
    if "%" in text:
        return False
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None


def _service_is_ipv6(service: Obj, pod: Obj) -> bool:
    spec = service.get("spec", {})
    families = spec.get("ipFamilies") or []
    if families:
        return bool(families[0] == "IPv6")
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip and cluster_ip != "None":
        return _is_ipv6(cluster_ip)
    # Headless Service from an API server that does not default ipFamilies: go by the pod.
    return _is_ipv6(pod.get("status", {}).get("podIP") or "")


def pod_to_address(service: Obj, pod: Obj) -> Obj | None:
    """The pod's EndpointAddress for this Service, or None when it has no IP of the
    Service's primary family (only ``status.podIPs`` is consulted, as upstream)."""
    want_v6 = _service_is_ipv6(service, pod)
    ip = next(
        (
            entry["ip"]
            for entry in pod.get("status", {}).get("podIPs") or []
            if entry.get("ip") and _is_ipv6(entry["ip"]) == want_v6
        ),
        None,
    )
    if ip is None:
        return None
    meta = pod["metadata"]
    address: Obj = {"ip": ip}
    if should_set_hostname(pod, service):
        address["hostname"] = pod["spec"]["hostname"]
    address["nodeName"] = pod.get("spec", {}).get("nodeName", "")
    ref: Obj = {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta["name"]}
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    address["targetRef"] = ref
    return address


def _endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    port["port"] = number
    port["protocol"] = service_port.get("protocol") or "TCP"
    if service_port.get("appProtocol") is not None:
        port["appProtocol"] = service_port["appProtocol"]
    return port


def _selected(pod: Obj, service: Obj, selector: Mapping[str, str]) -> bool:
    if namespace_of(pod) != namespace_of(service):
        return False
    labels = labels_of(pod)
    return all(labels.get(k) == v for k, v in selector.items())


def _pod_subsets(service: Obj, pod: Obj) -> list[Obj]:
    """The one-address subsets ``pod`` contributes to ``service`` (one per resolved port,
    or one without ports for a port-less headless Service); empty when it contributes
    nothing. The selector is checked by the caller."""
    spec = service.get("spec", {})
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    if not should_pod_be_in_endpoints(pod, include_terminating=publish_not_ready):
        return []
    address = pod_to_address(service, pod)
    if address is None:
        return []
    field = "addresses" if publish_not_ready or is_ready(pod) else "notReadyAddresses"
    service_ports = spec.get("ports") or []
    if not service_ports:
        # Only a headless Service may go without ports.
        return [{field: [address]}] if spec.get("clusterIP") == "None" else []
    out: list[Obj] = []
    for service_port in service_ports:
        number = find_port(pod, service_port)
        if number is None:
            continue
        out.append({field: [address], "ports": [_endpoint_port(service_port, number)]})
    return out


def desired_subsets(service: Obj, pods: Sequence[Obj]) -> list[Obj]:
    """The repacked, untruncated subsets for ``service`` built from ``pods``.

    ``pods`` may be any pods of the namespace; only those the selector matches are used.
    """
    selector = service.get("spec", {}).get("selector") or {}
    selected = [pod for pod in pods if _selected(pod, service, selector)]
    subsets: list[Obj] = []
    for pod in selected:
        subsets.extend(_pod_subsets(service, pod))
    return repack_subsets(subsets)


# -- truncation ----------------------------------------------------------------------


def truncate_subsets(subsets: Sequence[Obj], capacity: int = MAX_CAPACITY) -> list[Obj] | None:
    """Cut ``subsets`` down to ``capacity`` addresses, or None when they already fit.

    Ready addresses are kept first. If the ready ones alone exceed the capacity, every
    subset keeps ``ceil(ready_in_subset / total_ready * capacity)`` of its ready addresses
    (no more than what is left) and loses all not-ready ones; otherwise all ready addresses
    stay and the not-ready ones share the rest the same way. Within a subset the first
    addresses in canonical (IP-sorted) order survive.
    """
    total_ready = sum(len(s.get("addresses") or []) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if total_ready + total_not_ready <= capacity:
        return None

    truncate_ready = total_ready > capacity
    budget = capacity if truncate_ready else capacity - total_ready
    total = total_ready if truncate_ready else total_not_ready
    left = budget
    out: list[Obj] = []
    for subset in subsets:
        new = copy.deepcopy(subset)
        field = "addresses" if truncate_ready else "notReadyAddresses"
        items = new.get(field) or []
        # Float arithmetic on purpose: the same rounding as upstream's float64 math.
        share = math.ceil((len(items) / total) * budget) if total else 0
        keep = items[: min(share, left)]
        left -= len(keep)
        if keep:
            new[field] = keep
        else:
            new.pop(field, None)
        if truncate_ready:
            new.pop("notReadyAddresses", None)
        out.append(new)
    return out


def _capacity_annotation_correct(existing: Obj) -> bool:
    count = sum(
        len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or [])
        for s in existing.get("subsets") or []
    )
    if count > MAX_CAPACITY:
        return False
    annotations = annotations_of(existing)
    return ANNOTATION_OVER_CAPACITY not in annotations


# -- comparison ----------------------------------------------------------------------


def _normalized(value: Any) -> Any:
    """Drop null and empty values (nil and empty are equal to ``Semantic.DeepEqual``)
    and targetRef resourceVersions (pod updates alone must not rewrite Endpoints)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, dict):
                if key == "targetRef":
                    item = {k: v for k, v in item.items() if k != "resourceVersion"}
                item = _normalized(item)
                if not item:
                    continue
            elif isinstance(item, list):
                if not item:
                    continue
                item = [_normalized(v) if isinstance(v, dict | list) else v for v in item]
            elif item is None:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [_normalized(v) if isinstance(v, dict | list) else v for v in value]
    return value


def subsets_equal(a: Sequence[Obj] | None, b: Sequence[Obj] | None) -> bool:
    """Ordered comparison of two subset lists, ignoring targetRef resourceVersions."""
    return bool(_normalized(list(a or [])) == _normalized(list(b or [])))


def _service_ip_set(service: Obj) -> bool:
    cluster_ip = service.get("spec", {}).get("clusterIP") or ""
    return cluster_ip not in ("", "None")


# -- the planner ---------------------------------------------------------------------


def plan_endpoints(
    service: Obj | None,
    pods: Sequence[Obj],
    existing: Obj | None,
    *,
    trigger_time: datetime | None,
) -> EndpointsPlan:
    """Decide the write for one Service's Endpoints.

    ``service`` is None when the Service is gone: the cached Endpoints (if any) is then
    deleted. ``pods`` are the namespace's pods (those the selector does not match are
    ignored). ``trigger_time`` is the last-change trigger time computed by the caller's
    tracker; None removes the annotation. Inputs are never modified.
    """
    if service is None:
        return EndpointsPlan("delete", existing) if existing is not None else NO_CHANGE

    spec = service.get("spec", {})
    # An empty selector counts as none: the API server's protobuf storage turns ``{}``
    # into nil, so upstream never sees an empty, non-nil selector.
    if spec.get("type") == "ExternalName" or not spec.get("selector"):
        return NO_CHANGE

    subsets = desired_subsets(service, pods)
    service_labels: dict[str, str] = dict(service["metadata"].get("labels") or {})

    create = existing is None or not resource_version_of(existing)
    if existing is not None and not create:
        current_labels = dict(existing["metadata"].get("labels") or {})
        managed_by = current_labels.pop(LABEL_ENDPOINTS_MANAGED_BY, None)
        current_labels.pop(LABEL_HEADLESS, None)
        if (
            managed_by == ENDPOINTS_CONTROLLER_NAME
            and subsets_equal(existing.get("subsets"), subsets)
            and current_labels == service_labels
            and _capacity_annotation_correct(existing)
        ):
            return NO_CHANGE

    if existing is not None:
        # Its subsets are replaced below: copy everything else.
        new = {k: copy_json(v) for k, v in existing.items() if k != "subsets"}
    else:
        new = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": service["metadata"]["name"],
                "namespace": service["metadata"].get("namespace", "default"),
            },
        }
    new.setdefault("apiVersion", "v1")
    new.setdefault("kind", "Endpoints")
    meta = new["metadata"]
    annotations: dict[str, str] = dict(meta.get("annotations") or {})
    meta["annotations"] = annotations
    set_trigger_time(new, trigger_time)

    truncated = truncate_subsets(subsets)
    if truncated is not None:
        subsets = truncated
        annotations[ANNOTATION_OVER_CAPACITY] = OVER_CAPACITY_TRUNCATED
    else:
        annotations.pop(ANNOTATION_OVER_CAPACITY, None)

    labels = dict(service_labels)
    if _service_ip_set(service):
        labels.pop(LABEL_HEADLESS, None)
    else:
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER_NAME

    if subsets:
        new["subsets"] = subsets
    else:
        new.pop("subsets", None)
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)

    if create:
        return EndpointsPlan("create", new)
    if truncated is not None and new == existing:
        # Over capacity the upstream check above can never pass; its update would be a
        # no-op on the server, so skip it when the result is byte-for-byte the same.
        return NO_CHANGE
    return EndpointsPlan("update", new)
