"""Choosing a node: score every node that passes the filters (spread group per zone, then
per node, then all pods per zone and node, then the name), or get the same answer from a
:class:`~sliceplane.workloads.scheduler.spreadindex.SpreadIndex` for pods without node
constraints. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sliceplane.api.meta import Obj, meta_of
from sliceplane.workloads.scheduler.filters import (
    admits_every_pod,
    filter_node,
    has_node_constraints,
    max_pods,
    node_name,
    node_zone,
    unschedulable_message,
)
from sliceplane.workloads.scheduler.spreadindex import SpreadIndex


@dataclass(frozen=True, slots=True)
class Placement:
    """Outcome of :func:`place`: a node, or why none fits."""

    node: str | None
    num_nodes: int
    reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return "" if self.node is not None else unschedulable_message(self.num_nodes, self.reasons)


def place(
    pod: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    pod_counts: Mapping[str, int],
    *,
    group_counts: Mapping[str, int] | None = None,
) -> Placement:
    """Filter ``nodes`` for ``pod`` and pick the best by the spreading order of the module
    docstring. ``pod_counts``: pods bound to each node (all of them: capacity and the
    total-load tie-break); ``group_counts``: pods of the pod's spread group per node
    (defaults to ``pod_counts``)."""
    groups = pod_counts if group_counts is None else group_counts
    feasible: list[Mapping[str, Any]] = []
    reasons: Counter[str] = Counter()
    for node in nodes:
        why = filter_node(pod, node, pod_counts.get(node_name(node), 0))
        if why is None:
            feasible.append(node)
        else:
            reasons[why] += 1
    if not feasible:
        return Placement(None, len(nodes), dict(reasons))
    zone_group: Counter[str] = Counter()
    zone_total: Counter[str] = Counter()
    for node in feasible:
        name, zone = node_name(node), node_zone(node)
        zone_group[zone] += groups.get(name, 0)
        zone_total[zone] += pod_counts.get(name, 0)

    def key(node: Mapping[str, Any]) -> tuple[int, int, int, int, str]:
        name, zone = node_name(node), node_zone(node)
        return (
            zone_group[zone],
            groups.get(name, 0),
            zone_total[zone],
            pod_counts.get(name, 0),
            name,
        )

    best = min(feasible, key=key)
    return Placement(node_name(best), len(nodes))


class NodeLookup(Protocol):
    """The nodes as the scheduler's informer store holds them."""

    def get(self, key: str) -> Obj | None: ...

    def list(self) -> Sequence[Obj]: ...


def index_node(index: SpreadIndex, node: Mapping[str, Any], pods_on_node: int) -> None:
    """Tell ``index`` the facts of ``node`` that placement depends on."""
    index.set_node(
        node_name(node), node_zone(node), admits_every_pod(node), max_pods(node), pods_on_node
    )


def place_indexed(
    pod: Mapping[str, Any],
    index: SpreadIndex,
    nodes: NodeLookup,
    pod_counts: Mapping[str, int],
    *,
    group_counts: Mapping[str, int],
) -> Placement:
    """What :func:`place` answers for ``nodes``, without scoring every node when it can.

    ``index`` must hold every node of ``nodes`` (:func:`index_node`) with ``pod_counts``.
    A pod without node constraints fits every eligible node of the index and, unless it
    tolerates its way onto a node that is not clean (checked one by one: normally none
    or a few), nowhere else — so the index's choice is ``place``'s. Pods with a
    nodeSelector or required node affinity, those that fit a non-clean node, and pods that
    fit nowhere (for the reasons in the message) take the full scan.
    """
    if not has_node_constraints(pod) and not any(
        (node := nodes.get(name)) is not None
        and filter_node(pod, node, pod_counts.get(name, 0)) is None
        for name in index.dirty
    ):
        chosen = index.best(group_counts)
        if chosen is not None:
            return Placement(chosen, len(index))
    return place(pod, nodes.list(), pod_counts, group_counts=group_counts)


def choose_node(
    pod: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    pod_counts: Mapping[str, int],
    *,
    group_counts: Mapping[str, int] | None = None,
) -> str | None:
    """The node :func:`place` picks, or None when no node fits."""
    return place(pod, nodes, pod_counts, group_counts=group_counts).node


def spread_group(pod: Mapping[str, Any]) -> str:
    """Pods spread among themselves: same namespace and controller owner (a ReplicaSet's
    pods), or, for pods without one, the same labels."""
    meta = meta_of(pod)
    ns = str(meta.get("namespace") or "")
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ns}/owner:{ref.get('uid')}"
    labels = meta.get("labels") or {}
    return f"{ns}/labels:" + ",".join(f"{k}={labels[k]}" for k in sorted(labels))
