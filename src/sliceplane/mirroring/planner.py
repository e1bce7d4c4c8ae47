"""Pure planning of the EndpointSlices mirrored from one user-managed ``v1.Endpoints``.

Services without a selector get their endpoints from Endpoints objects that users (or
other controllers) write by hand. Consumers that only read EndpointSlices (kube-proxy,
DNS) would miss them, so the mirroring controller copies each such Endpoints into slices
(reference §3.1). :func:`plan_mirroring` makes that decision from cached objects only and
returns a :class:`MirroringPlan` of API calls in upstream's order; the controller applies it.

Behaviour kept from upstream ``pkg/controller/endpointslicemirroring``:

* subsets are repacked first; then every (address family, port set) pair owns **at most
  one** slice: mirroring never splits. A subset contributes at most
  ``max_endpoints_per_subset`` addresses (ready ones first); the rest are skipped and
  reported with a ``TooManyAddressesToMirror`` event. Addresses that are not IPs are skipped
  with an ``InvalidIPAddress`` event. Both events concern the Endpoints object.
* the first existing slice of a key is kept (rewritten in place when its endpoints,
  mirrored labels or annotations differ, or when it belongs to an older Endpoints of the
  same name); extra slices of a key and slices of keys no longer wanted are deleted.
* creates that coincide with deletes of the same address type become updates of the slice
  that would have been deleted; no creates while the Endpoints is being deleted.
* API calls run creates, then updates, then deletes.

Differences, on purpose: keys and endpoints are visited in subset order (upstream iterates
Go maps); a recycled slice is removed from the create list by identity (upstream removes the
first unnamed slice, which can be one of another address type); updates carry the cached
slice's resourceVersion (upstream sends none and so updates unconditionally); reserved
labels on the Endpoints are ignored when deciding whether labels changed, so they cannot
force a rewrite on every sync.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sliceplane.api.ipaddr import classify_ip
from sliceplane.api.meta import Obj, annotations_of, is_deleting, labels_of
from sliceplane.api.subsets import repack_subsets
from sliceplane.api.wellknown import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_LEADER,
    ANNOTATION_TRIGGER_TIME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    MIRRORING_CONTROLLER_NAME,
)
from sliceplane.endpointbase.plan import Action, EventSpec, Plan

EVENT_INVALID_IP = "InvalidIPAddress"
EVENT_TOO_MANY_ADDRESSES = "TooManyAddressesToMirror"

_DNS_SUBDOMAIN_MAX = 253
_ADDRESS_TYPES: tuple[Literal["IPv4"], Literal["IPv6"]] = ("IPv4", "IPv6")


@dataclass(frozen=True, slots=True)
class MirroringOptions:
    """Settings of the mirroring reconciler."""

    max_endpoints_per_subset: int = 1000
    """--mirroring-max-endpoints-per-subset (1…1000). Upstream's flag help says 100; the
    real default is 1000."""


@dataclass(slots=True)
class MirroringPlan(Plan):
    """A :class:`Plan` plus the mirroring-specific counters upstream exports as metrics.

    ``events`` here are to be recorded on the **Endpoints** object, not the Service.
    """

    endpoints_updated: int = 0
    addresses_skipped: int = 0
    """Invalid addresses plus addresses over the per-subset limit."""
    invalid_addresses: int = 0


# -- predicates ------------------------------------------------------------------------


def should_mirror(endpoints: Obj | None, service: Obj | None) -> bool:
    """Whether ``endpoints`` should have mirrored slices at all.

    False when the Endpoints or its same-named Service is missing, the Endpoints is
    labelled ``endpointslice.kubernetes.io/skip-mirror: "true"`` or carries a
    leader-election record, or the Service has a selector (the EndpointSlice controller
    owns those slices). An empty selector counts as none: the API server's protobuf storage
    turns ``{}`` into nil, so upstream never sees an empty, non-nil selector.
    """
    if endpoints is None or service is None:
        return False
    if labels_of(endpoints).get(LABEL_SKIP_MIRROR) == "true":
        return False
    if ANNOTATION_LEADER in annotations_of(endpoints):
        return False
    return not service.get("spec", {}).get("selector")


def is_mirrored_slice(slice_: Obj, endpoints_name: str) -> bool:
    labels = labels_of(slice_)
    return (
        labels.get(LABEL_MANAGED_BY) == MIRRORING_CONTROLLER_NAME
        and labels.get(LABEL_SERVICE_NAME) == endpoints_name
    )


# -- addresses and endpoints -------------------------------------------------------------


def _address_to_endpoint(address: Obj, ready: bool) -> tuple[str, Obj] | None:
    parsed = classify_ip(str(address.get("ip", "")))
    if parsed is None:
        return None
    address_type, ip = parsed
    endpoint: Obj = {"addresses": [ip], "conditions": {"ready": ready}}
    if address.get("hostname"):
        endpoint["hostname"] = address["hostname"]
    if address.get("nodeName") is not None:
        endpoint["nodeName"] = address["nodeName"]
    if address.get("targetRef") is not None:
        endpoint["targetRef"] = copy.deepcopy(address["targetRef"])
    return address_type, endpoint


EndpointId = tuple[tuple[str, ...], str, str, str]


def endpoint_id(endpoint: Obj) -> EndpointId:
    """Endpoint identity (upstream ``hashEndpoint``): sorted addresses, hostname and the
    target's namespace/name. Everything else is a change of the same endpoint."""
    ref = endpoint.get("targetRef") or {}
    return (
        tuple(sorted(endpoint.get("addresses") or [])),
        endpoint.get("hostname") or "",
        ref.get("namespace") or "",
        ref.get("name") or "",
    )


def _target_ref_without_rv(endpoint: Obj) -> Obj | None:
    ref = endpoint.get("targetRef")
    if ref is None:
        return None
    return {k: v for k, v in ref.items() if k != "resourceVersion" and v not in ("", None)}


def endpoints_equal_beyond_id(a: Obj, b: Obj) -> bool:
    """Upstream ``EndpointsEqualBeyondHash``: nodeName, zone, the three conditions and the
    targetRef (ignoring its resourceVersion)."""
    if a.get("nodeName") != b.get("nodeName") or a.get("zone") != b.get("zone"):
        return False
    ca, cb = a.get("conditions") or {}, b.get("conditions") or {}
    if any(ca.get(k) != cb.get(k) for k in ("ready", "serving", "terminating")):
        return False
    return _target_ref_without_rv(a) == _target_ref_without_rv(b)


# -- ports and keys ----------------------------------------------------------------------


def _slice_port(port: Obj) -> Obj:
    out: Obj = {
        "name": port.get("name", ""),
        "port": port.get("port"),
        "protocol": port.get("protocol") or "TCP",
    }
    if port.get("appProtocol") is not None:
        out["appProtocol"] = port["appProtocol"]
    return out


def _ports_key(ports: Sequence[Obj] | None) -> tuple[str, ...]:
    """Order-independent identity of a port list (upstream ``NewPortMapKey``): a nil
    field differs from an empty one, a nil list equals an empty one."""
    fields = ("name", "port", "protocol", "appProtocol")
    return tuple(
        sorted(
            json.dumps({k: p[k] for k in fields if p.get(k) is not None}, sort_keys=True)
            for p in ports or []
        )
    )


SliceKey = tuple[str, tuple[str, ...]]


def slice_key(slice_: Obj) -> SliceKey:
    return (str(slice_.get("addressType", "")), _ports_key(slice_.get("ports")))


@dataclass(slots=True)
class _Group:
    address_type: Literal["IPv4", "IPv6"]
    ports: list[Obj]
    endpoints: dict[EndpointId, Obj] = field(default_factory=dict)


# -- slices ------------------------------------------------------------------------------


def _slice_prefix(name: str) -> str:
    # Upstream validates "<name>-" as a generateName prefix: the trailing dash counts as
    # one more character of a DNS subdomain.
    return f"{name}-" if len(name) + 1 <= _DNS_SUBDOMAIN_MAX else name


def _mirrored_labels(endpoints: Obj) -> dict[str, str]:
    labels = dict(endpoints["metadata"].get("labels") or {})
    labels[LABEL_SERVICE_NAME] = endpoints["metadata"]["name"]
    labels[LABEL_MANAGED_BY] = MIRRORING_CONTROLLER_NAME
    return labels


def _mirrored_annotations(endpoints: Obj) -> dict[str, str]:
    annotations = dict(endpoints["metadata"].get("annotations") or {})
    annotations.pop(ANNOTATION_TRIGGER_TIME, None)
    annotations.pop(ANNOTATION_LAST_APPLIED, None)
    return annotations


def _owner_reference(endpoints: Obj) -> Obj:
    meta = endpoints["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _new_slice(endpoints: Obj, group: _Group, existing: Obj | None, limit: int) -> Obj:
    meta: Obj = {}
    if existing is None:
        meta["generateName"] = _slice_prefix(endpoints["metadata"]["name"])
    else:
        meta["name"] = existing["metadata"]["name"]
        if existing["metadata"].get("resourceVersion"):
            meta["resourceVersion"] = existing["metadata"]["resourceVersion"]
    meta["namespace"] = endpoints["metadata"].get("namespace", "default")
    meta["labels"] = _mirrored_labels(endpoints)
    annotations = _mirrored_annotations(endpoints)
    if annotations:
        meta["annotations"] = annotations
    meta["ownerReferences"] = [_owner_reference(endpoints)]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": group.address_type,
        "endpoints": [copy.deepcopy(e) for e in list(group.endpoints.values())[:limit]],
        "ports": [copy.deepcopy(p) for p in group.ports],
    }


def _without(mapping: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _metadata_matches(endpoints: Obj, slice_: Obj) -> bool:
    """Mirrored labels and annotations equal, and the slice is not owned by an older
    Endpoints object of the same name (one deleted and recreated)."""
    ep_meta, slice_meta = endpoints["metadata"], slice_["metadata"]
    reserved = (LABEL_MANAGED_BY, LABEL_SERVICE_NAME)
    if _without(ep_meta.get("labels") or {}, *reserved) != _without(
        slice_meta.get("labels") or {}, *reserved
    ):
        return False
    if _mirrored_annotations(endpoints) != dict(slice_meta.get("annotations") or {}):
        return False
    return not any(
        ref.get("kind") == "Endpoints"
        and ref.get("name") == ep_meta["name"]
        and ref.get("uid") != ep_meta.get("uid")
        for ref in slice_meta.get("ownerReferences") or []
    )


# -- the planner -------------------------------------------------------------------------


def plan_mirroring(
    endpoints: Obj | None,
    service: Obj | None,
    existing_slices: Sequence[Obj],
    options: MirroringOptions | None = None,
) -> MirroringPlan:
    """Plan the mirrored slices of ``endpoints``.

    ``existing_slices`` are the cached slices of the namespace; only those labelled as
    mirrored by this controller for this name are considered. When :func:`should_mirror`
    says no, every such slice is deleted. Inputs are never modified.
    """
    opts = options or MirroringOptions()
    limit = opts.max_endpoints_per_subset
    plan = MirroringPlan()

    if endpoints is None:
        return plan
    name = endpoints["metadata"]["name"]
    existing = [s for s in existing_slices if is_mirrored_slice(s, name)]

    if not should_mirror(endpoints, service):
        plan.actions = [Action("delete", s) for s in existing]
        return plan

    # Desired state: one group per (address type, port set), in subset order.
    groups: dict[SliceKey, _Group] = {}
    for subset in repack_subsets(endpoints.get("subsets")):
        ports = [_slice_port(p) for p in subset.get("ports") or []]
        keys: dict[str, SliceKey] = {}
        for family in _ADDRESS_TYPES:
            keys[family] = (family, _ports_key(ports))
            groups.setdefault(keys[family], _Group(family, ports)).ports = ports

        total = len(subset.get("addresses") or []) + len(subset.get("notReadyAddresses") or [])
        added = 0
        for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(field_name) or []:
                if added >= limit:
                    break
                converted = _address_to_endpoint(address, ready)
                if converted is None:
                    plan.invalid_addresses += 1
                    continue
                address_type, endpoint = converted
                groups[keys[address_type]].endpoints[endpoint_id(endpoint)] = endpoint
                plan.desired_endpoints += 1
                added += 1
        plan.addresses_skipped += total - added

    if plan.invalid_addresses:
        plan.events.append(
            EventSpec(
                "Warning",
                EVENT_INVALID_IP,
                f"Skipped {plan.invalid_addresses} invalid IP addresses when mirroring to "
                "EndpointSlices",
            )
        )
    if plan.addresses_skipped > plan.invalid_addresses:
        plan.events.append(
            EventSpec(
                "Warning",
                EVENT_TOO_MANY_ADDRESSES,
                f"A max of {limit} addresses can be mirrored to EndpointSlices per Endpoints "
                f"subset. {plan.addresses_skipped} addresses were skipped",
            )
        )

    existing_by_key: dict[SliceKey, list[Obj]] = {}
    for slice_ in existing:
        existing_by_key.setdefault(slice_key(slice_), []).append(slice_)

    to_create: list[Obj] = []
    to_update: list[Obj] = []
    to_delete: list[Obj] = []
    for key, group in groups.items():
        current = existing_by_key.get(key, [])
        if not group.endpoints:
            to_delete.extend(current)
            plan.endpoints_removed += sum(len(s.get("endpoints") or []) for s in current)
            continue
        plan.desired_slices += 1
        if not current:
            plan.endpoints_added += len(group.endpoints)
            to_create.append(_new_slice(endpoints, group, None, limit))
            continue
        first, extra = current[0], current[1:]
        to_delete.extend(extra)
        added, updated, removed = _count_changes(first, group)
        plan.endpoints_added += added
        plan.endpoints_updated += updated
        plan.endpoints_removed += removed
        if added == updated == removed == 0 and _metadata_matches(endpoints, first):
            continue
        to_update.append(_new_slice(endpoints, group, first, limit))
    for key, current in existing_by_key.items():
        if key not in groups:
            to_delete.extend(current)

    to_create, to_update, to_delete = _recycle(to_create, to_update, to_delete)
    if is_deleting(endpoints):
        to_create = []
    plan.actions = [
        *(Action("create", s) for s in to_create),
        *(Action("update", s) for s in to_update),
        *(Action("delete", s) for s in to_delete),
    ]
    return plan


def _count_changes(existing: Obj, group: _Group) -> tuple[int, int, int]:
    """(added, updated, removed) endpoints to turn ``existing`` into ``group``."""
    matched = updated = removed = 0
    for endpoint in existing.get("endpoints") or []:
        wanted = group.endpoints.get(endpoint_id(endpoint))
        if wanted is None:
            removed += 1
            continue
        matched += 1
        if not endpoints_equal_beyond_id(wanted, endpoint):
            updated += 1
    return len(group.endpoints) - matched, updated, removed


def _recycle(
    to_create: list[Obj], to_update: list[Obj], to_delete: list[Obj]
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Turn (create, delete) pairs of one address type into updates of the deleted slice."""
    creates, updates, deletes = list(to_create), list(to_update), list(to_delete)
    for address_type in _ADDRESS_TYPES:
        pending = [s for s in creates if s["addressType"] == address_type]
        victims = [s for s in deletes if s.get("addressType") == address_type]
        for new, old in zip(pending, victims, strict=False):
            creates = [s for s in creates if s is not new]
            deletes = [s for s in deletes if s is not old]
            recycled = copy.deepcopy(new)
            meta = recycled["metadata"]
            meta.pop("generateName", None)
            meta["name"] = old["metadata"]["name"]
            if old["metadata"].get("resourceVersion"):
                meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            updates.append(recycled)
    return creates, updates, deletes
