"""The EndpointSlice planner: one Service's desired endpoints against its existing slices.

``plan_service`` is a pure function from (service, pods, nodes, existing slices, options,
trigger time) to a :class:`Plan` listing the API calls upstream's reconciler
(``k8s.io/endpointslice`` ``Reconcile``) would make, in the same order: per address type
all creates, then updates, then deletes; deletes of slices whose address type the Service
no longer supports come last (reference §2.8).

The algorithm minimises writes: endpoints keep their slice when they stay desired (a
readiness or zone change is an in-place update), new endpoints go first into slices that
are being rewritten anyway, then into new slices of ``max`` endpoints, and a final
remainder lands in the untouched slice it fits best. Creates paired with deletes become
updates of the slice that would have been deleted ("recycling").

Inputs are never mutated: every slice in the plan is a copy or a new dict (deletes carry
the listed object itself, untouched). Work is linear in pods plus existing endpoints;
endpoint identities and port sets are tuples, so lookups stay cheap for large Services.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sliceplane.api.meta import copy_json, meta_of
from sliceplane.endpointbase.triggertime import set_trigger_time
from sliceplane.endpointslice.memo import EndpointMemo, candidate
from sliceplane.endpointslice.podendpoints import (
    EndpointKey,
    PortKey,
    address_types_for_service,
    endpoint_key,
    endpoints_equal_beyond_hash,
    pod_to_endpoint,
    port_set_key,
)
from sliceplane.endpointslice.slices import (
    new_slice,
    owned_by,
    placeholder_equal,
    placeholder_slice,
    slice_labels,
)
from sliceplane.endpointslice.types import CONTROLLER_NAME, Action, HintsPass, Obj, Plan


@dataclass(frozen=True, slots=True)
class ReconcilerOptions:
    """Settings of the planner."""

    max_endpoints_per_slice: int = 100
    """Most endpoints put in one slice (``--max-endpoints-per-slice``, 1…1000)."""
    controller_name: str = CONTROLLER_NAME
    """Value of the managed-by label on slices this planner makes."""


@dataclass(slots=True)
class _PortMappingResult:
    creates: list[Obj]
    updates: list[Obj]
    deletes: list[Obj]
    added: int
    removed: int


def _name(es: Mapping[str, Any]) -> str:
    return str(meta_of(es).get("name") or "")


def _copy_with_endpoints(es: Obj, endpoints: list[Obj]) -> Obj:
    """A deep copy of ``es`` whose endpoints are replaced (the old ones are not copied)."""
    out = {k: copy_json(v) for k, v in es.items() if k != "endpoints"}
    out["endpoints"] = endpoints
    return out


def get_slice_to_fill(slices: Sequence[Obj], count: int, max_endpoints: int) -> Obj | None:
    """The slice that ends closest to full after taking all ``count`` endpoints, if any."""
    best: Obj | None = None
    best_gap = max_endpoints
    for es in slices:
        gap = max_endpoints - (count + len(es.get("endpoints") or ()))
        if 0 <= gap < best_gap:
            best, best_gap = es, gap
            if gap == 0:
                break
    return best


def reconcile_by_port_mapping(
    service: Obj,
    existing: Sequence[Obj],
    desired: dict[EndpointKey, Obj],
    ports: list[Obj],
    address_type: str,
    options: ReconcilerOptions,
    memo: EndpointMemo | None = None,
) -> _PortMappingResult:
    """Creates, updates and deletes for one (address type, port set) group.

    ``desired`` is consumed (it must be the caller's own dict); its endpoint dicts end up in
    the returned slices. ``existing`` slices are only read. ``memo`` remembers the existing
    slices' endpoint identities and equalities between plans (same result either way).
    """
    max_n = options.max_endpoints_per_slice
    by_name: dict[str, Obj] = {}
    unchanged: dict[str, None] = {}
    to_update: dict[str, None] = {}
    to_delete: dict[str, None] = {}
    removed = 0

    # 1. Keep still-desired endpoints (in their fresh form); drop the rest.
    for es in existing:
        name = _name(es)
        by_name[name] = es
        old = es.get("endpoints") or []
        kept: list[Obj] = []
        changed = False
        if memo is not None:
            keys, equal = memo.slice_endpoints(es)
            pop = desired.pop
            for i, ep in enumerate(old):
                fresh = pop(keys[i], None)
                if fresh is not None:
                    kept.append(fresh)
                    if changed or fresh is equal[i]:
                        continue
                    if endpoints_equal_beyond_hash(fresh, ep):
                        equal[i] = fresh
                    else:
                        changed = True
        else:
            for ep in old:
                fresh = desired.pop(endpoint_key(ep), None)
                if fresh is not None:
                    kept.append(fresh)
                    if not changed and not endpoints_equal_beyond_hash(fresh, ep):
                        changed = True
        labels, labels_changed = slice_labels(es, service, options.controller_name)
        if changed or len(kept) != len(old):
            removed += max(0, len(old) - len(kept))
            if not kept:
                to_delete[name] = None
            else:
                updated = _copy_with_endpoints(es, kept)
                updated.setdefault("metadata", {})["labels"] = labels
                by_name[name] = updated
                to_update[name] = None
        elif labels_changed:
            updated = copy_json(es)
            updated["endpoints"] = list(updated.get("endpoints") or [])
            updated.setdefault("metadata", {})["labels"] = labels
            by_name[name] = updated
            to_update[name] = None
        else:
            unchanged[name] = None

    added = len(desired)
    remaining = list(desired.values())
    pos = 0

    # 2. Slices rewritten anyway take new endpoints first, fullest first.
    if remaining and to_update:
        filling = sorted(
            (by_name[n] for n in to_update), key=lambda s: len(s["endpoints"]), reverse=True
        )
        for es in filling:
            room = max_n - len(es["endpoints"])
            if room > 0 and pos < len(remaining):
                es["endpoints"].extend(remaining[pos : pos + room])
                pos = min(len(remaining), pos + room)

    # 3. Then new slices of max endpoints; a last remainder may fit an untouched slice.
    creates: list[Obj] = []
    while pos < len(remaining):
        left = len(remaining) - pos
        target: Obj | None = None
        if left < max_n and unchanged:
            candidate = get_slice_to_fill([by_name[n] for n in unchanged], left, max_n)
            if candidate is not None:
                target = copy_json(candidate)
                target["endpoints"] = list(target.get("endpoints") or [])
                by_name[_name(target)] = target
        if target is None:
            target = new_slice(service, copy_json(ports), address_type, options.controller_name)
        room = max(0, max_n - len(target["endpoints"]))
        target["endpoints"].extend(remaining[pos : pos + room])
        pos += room
        name = _name(target)
        if name:
            to_update[name] = None
            unchanged.pop(name, None)
        else:
            creates.append(target)

    return _PortMappingResult(
        creates=creates,
        updates=[by_name[n] for n in to_update],
        deletes=[by_name[n] for n in to_delete],
        added=added,
        removed=removed,
    )


def _recycle(
    service: Obj, creates: list[Obj], updates: list[Obj], deletes: list[Obj]
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Turn (last create, first fitting delete) pairs into updates of the deleted slice.

    Only owned slices of the same address type are reused. As upstream, only the *name* is
    taken over: the update carries the new slice's metadata (no uid, no resourceVersion, so
    the write is unconditional) and replaces the old slice's labels and annotations.
    """
    creates = list(creates)
    updates = list(updates)
    kept: list[Obj] = []
    for doomed in deletes:
        if creates:
            fresh = creates[-1]
            if fresh.get("addressType") == doomed.get("addressType") and owned_by(doomed, service):
                fresh["metadata"]["name"] = _name(doomed)
                creates.pop()
                updates.append(fresh)
                continue
        kept.append(doomed)
    return creates, updates, kept


def _desired_slices(endpoints: int, max_endpoints: int) -> int:
    if endpoints == 0:
        return 0
    return max(1, math.ceil(endpoints / max_endpoints))


def plan_service(
    service: Obj,
    pods: Sequence[Obj],
    nodes: Mapping[str, Obj],
    existing: Sequence[Obj],
    options: ReconcilerOptions,
    trigger_time: datetime | None,
    hints: HintsPass | None = None,
    memo: EndpointMemo | None = None,
) -> Plan:
    """Plan the API calls that bring ``service``'s slices to the desired state.

    ``pods`` are the pods selected by the Service, ``nodes`` all nodes by name, ``existing``
    the slices managed by this controller for the Service (already without those pending
    deletion). ``trigger_time`` is stamped on every created or updated slice (``None``
    removes the annotation). ``hints``, when given, runs per address type between packing
    and recycling, on the planner's copies. ``memo``, when given, reuses the endpoints of
    pods unchanged since the previous plan for the same Service (same plan either way).
    """
    plan = Plan()
    if memo is not None:
        memo.begin(service)
    svc_meta = meta_of(service)
    svc_spec = service.get("spec") or {}
    publish_not_ready = bool(svc_spec.get("publishNotReadyAddresses"))
    terminating_service = svc_meta.get("deletionTimestamp") is not None
    max_n = options.max_endpoints_per_slice

    supported = address_types_for_service(service)
    by_type: dict[str, list[Obj]] = {t: [] for t in supported}
    unsupported: list[Obj] = []
    for es in existing:
        bucket = by_type.get(str(es.get("addressType") or ""))
        if bucket is None:
            unsupported.append(es)
        else:
            bucket.append(es)

    # Ports depend on the pod only, not the address family: resolve them once.
    candidates: list[tuple[Obj, list[Obj], PortKey, Any]]
    if memo is not None:
        candidates = list(memo.candidates(pods, service))
    else:
        candidates = []
        for pod in pods:
            found = candidate(pod, service)
            if found is not None:
                candidates.append((pod, found[0], found[1], None))

    desired_endpoints_by_group: dict[tuple[str, PortKey], int] = {}
    for address_type in supported:
        type_existing = by_type[address_type]
        owned: dict[PortKey, list[Obj]] = {}
        creates: list[Obj] = []
        updates: list[Obj] = []
        deletes: list[Obj] = []
        for es in type_existing:
            if owned_by(es, service):
                owned.setdefault(port_set_key(es.get("ports")), []).append(es)
            else:
                deletes.append(es)

        desired: dict[PortKey, dict[EndpointKey, Obj]] = {}
        desired_ports: dict[PortKey, list[Obj]] = {}
        hits = 0
        for pod, ports, key, entry in candidates:
            # The group exists even if this pod ends up skipped (upstream quirk).
            group = desired.get(key)
            if group is None:
                group = desired[key] = {}
                desired_ports[key] = ports
            if entry is not None:
                node_name = entry.node_name
            else:
                node_name = (pod.get("spec") or {}).get("nodeName") or ""
            node = nodes.get(node_name)
            if node is None and not publish_not_ready:
                pod_meta = meta_of(pod)
                plan.errors.append(
                    f"skipping Pod {pod_meta.get('name', '')} for Service "
                    f"{svc_meta.get('namespace', '')}/{svc_meta.get('name', '')}: "
                    f"Node {node_name} Not Found"
                )
                continue
            if entry is not None:
                # The memo's hit path, inlined: this loop runs for every pod on every sync.
                found = entry.endpoints.get(address_type)
                if found is not None and found[0] is node:
                    hits += 1
                    ep, ident = found[1], found[2]
                else:
                    assert memo is not None
                    ep, ident = memo.endpoint_of(entry, node, service, address_type)
            else:
                ep = pod_to_endpoint(pod, node, service, address_type)
                ident = endpoint_key(ep)
            if ep["addresses"]:
                group[ident] = ep
        if memo is not None:
            memo.hits += hits

        for key, group in desired.items():
            desired_endpoints_by_group[(address_type, key)] = len(group)
            result = reconcile_by_port_mapping(
                service, owned.get(key, []), group, desired_ports[key], address_type, options, memo
            )
            plan.endpoints_added += result.added
            plan.endpoints_removed += result.removed
            creates.extend(result.creates)
            updates.extend(result.updates)
            deletes.extend(result.deletes)

        for key, group_slices in owned.items():
            if key not in desired:
                deletes.extend(group_slices)

        if len(type_existing) == len(deletes) and not creates:
            placeholder = placeholder_slice(service, address_type, options.controller_name)
            if len(deletes) == 1 and placeholder_equal(deletes[0], placeholder):
                deletes = []
            else:
                creates.append(placeholder)
            desired_endpoints_by_group[(address_type, ())] = 0

        if memo is not None:
            # The memo's endpoints are shared with later plans: the slices about to be
            # written get their own, which the hints pass may change.
            for es in (*creates, *updates):
                eps = es.get("endpoints")
                if eps:
                    es["endpoints"] = [dict(ep) for ep in eps]
        if hints is not None:
            changed = {_name(es) for es in updates} | {_name(es) for es in deletes}
            unchanged = [es for es in type_existing if _name(es) not in changed]
            outcome = hints(service, address_type, list(creates), list(updates), unchanged)
            creates, updates = list(outcome.to_create), list(outcome.to_update)
            plan.events.extend(outcome.events)

        creates, updates, deletes = _recycle(service, creates, updates, deletes)
        if not terminating_service:
            for es in creates:
                set_trigger_time(es, trigger_time)
                plan.actions.append(Action("create", es))
        for es in updates:
            set_trigger_time(es, trigger_time)
            plan.actions.append(Action("update", es))
        plan.actions.extend(Action("delete", es) for es in deletes)

    plan.actions.extend(Action("delete", es) for es in unsupported)

    plan.desired_endpoints = sum(desired_endpoints_by_group.values())
    plan.desired_slices = max(
        1, sum(_desired_slices(n, max_n) for n in desired_endpoints_by_group.values())
    )
    if memo is not None:
        memo.end({_name(a.slice) for a in plan.actions if a.verb != "create"})
    return plan
