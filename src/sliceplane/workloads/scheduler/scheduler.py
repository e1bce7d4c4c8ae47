"""A small default-scheduler for the local cluster: pending pods get a node.

Why: ``sliceplane up`` runs Deployments on simulated nodes, and EndpointSlices only get
zones, hints and node names right if pods land on nodes the way kube-scheduler lands them:
on Ready, schedulable nodes whose labels and taints admit the pod, spread over zones and
then nodes. This module is that, and no more (no resource requests, no inter-pod affinity,
no preemption).

Shape: the placement is pure — :func:`choose_node` / :func:`place` take the pod, the nodes
and per-node pod counts and return a node name or the reasons nothing fits, with
upstream's ``FitError`` message ("0/3 nodes are available: 1 node(s) were unschedulable, 2
node(s) didn't match Pod's node affinity/selector."). ``place`` scores every node; with
hundreds of nodes that dominated the local cluster's profile, so :func:`place_indexed`
gives the same answer from a :class:`~sliceplane.workloads.scheduler.spreadindex.SpreadIndex`
(nodes by zone and pod count) for pods without node constraints, and falls back to
``place`` for the rest. :class:`Scheduler` is the thin loop around it: informer handlers
enqueue pod keys, a worker places one pod, records the placement in :class:`PodCounts`
*before* binding (upstream's "assumed pod", so the next pod
sees it even though the watch has not echoed it yet) and POSTs ``pods/binding`` — the only
way to set ``spec.nodeName`` after creation (a PATCH is refused by pod update validation,
as upstream). The binding sets ``PodScheduled=True`` server-side, as upstream's binding
storage does; on failure the scheduler sets ``PodScheduled=False`` (reason
``Unschedulable``) and records a ``FailedScheduling`` Warning event, then parks the pod
until a node or a bound pod changes (or ``retry_unschedulable_after`` passes).

Filters, in upstream's plugin order, stop at the first failure per node:

1. ``NodeUnschedulable``: ``spec.unschedulable`` (tolerable via
   ``node.kubernetes.io/unschedulable:NoSchedule``);
2. ``TaintToleration``: NoSchedule/NoExecute taints the pod does not tolerate. The node
   lifecycle controller is not simulated, so the taints it would add are derived from the
   Ready condition: ``node.kubernetes.io/not-ready`` (False or missing) and
   ``node.kubernetes.io/unreachable`` (Unknown), both NoSchedule;
3. ``NodeAffinity``: ``spec.nodeSelector`` and required node affinity;
4. ``NodeResourcesFit``: only the pod count against ``allocatable.pods``.

Scoring spreads, in this order: fewest pods of the pod's *spread group* (same namespace
and controller owner, or same labels for bare pods; terminating pods not counted, as
upstream's topology spreading) per zone, then per node; then fewest pods in total per
zone, then per node; then node name, so ties break deterministically.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from sliceplane.api import errors
from sliceplane.api.meta import Obj, is_deleting, labels_of, meta_of, name_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.workloads.podstate import POD_SCHEDULED, set_condition
from sliceplane.workloads.scheduler.spreadindex import SpreadIndex

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME: Final = "default-scheduler"
LABEL_ZONE: Final = "topology.kubernetes.io/zone"
TAINT_NOT_READY: Final = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE: Final = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE: Final = "node.kubernetes.io/unschedulable"

REASON_UNSCHEDULABLE: Final = "node(s) were unschedulable"
REASON_AFFINITY: Final = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS: Final = "Too many pods"
NO_NODES_MESSAGE: Final = "no nodes available to schedule pods"


# ============================================================================ pure placement


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def needs_scheduling(pod: Mapping[str, Any], scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> bool:
    """Unbound, not terminating, not finished, and ours by ``spec.schedulerName``."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return False
    if meta_of(pod).get("deletionTimestamp") or is_terminal(pod):
        return False
    return (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == scheduler_name


def node_name(node: Mapping[str, Any]) -> str:
    return name_of(node)


def node_zone(node: Mapping[str, Any]) -> str:
    return str(labels_of(node).get(LABEL_ZONE) or "")


def _ready_status(node: Mapping[str, Any]) -> str | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status"))
    return None


def effective_taints(node: Mapping[str, Any]) -> list[Obj]:
    """The node's taints plus the NoSchedule taint the node lifecycle controller would add
    for its Ready condition (see the module docstring)."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    ready = _ready_status(node)
    implied = None
    if ready == "Unknown":
        implied = TAINT_UNREACHABLE
    elif ready != "True":
        implied = TAINT_NOT_READY
    if implied is not None and not any(
        t.get("key") == implied and t.get("effect") == "NoSchedule" for t in taints
    ):
        taints.append({"key": implied, "effect": "NoSchedule"})
    return taints


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """``v1.Toleration.ToleratesTaint`` for any of ``tolerations``."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = tol.get("key") or ""
        op = tol.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if op == "Exists":
            return True
        if op == "Equal" and key and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _match_expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _match_term(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing, as upstream
    labels = labels_of(node)
    for e in exprs:
        if not _match_expression(e, labels.get(e.get("key"))):
            return False
    for f in fields:
        value = node_name(node) if f.get("key") == "metadata.name" else None
        if not _match_expression(f, value):
            return False
    return True


def has_node_constraints(pod: Mapping[str, Any]) -> bool:
    """Whether ``spec.nodeSelector`` or required node affinity restricts the pod's nodes
    (an empty nodeSelector does not; a present required affinity always does)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeSelector"):
        return True
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    return required is not None


def matches_node_selector(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """``spec.nodeSelector`` (every pair) and required node affinity (any term)."""
    spec = pod.get("spec") or {}
    labels = labels_of(node)
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is not None:
        terms = required.get("nodeSelectorTerms") or []
        if not any(_match_term(t, node) for t in terms):
            return False
    return True


def _max_pods(node: Mapping[str, Any]) -> int | None:
    value = ((node.get("status") or {}).get("allocatable") or {}).get("pods")
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def admits_every_pod(node: Mapping[str, Any]) -> bool:
    """Not cordoned and no ``NoSchedule``/``NoExecute`` taint (derived ones included): the
    filters other than node affinity and capacity pass for every pod."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    return not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in effective_taints(node))


def filter_node(pod: Mapping[str, Any], node: Mapping[str, Any], pods_on_node: int) -> str | None:
    """Why ``pod`` cannot go to ``node`` (upstream's reason text), or None if it can."""
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if t]
    if (node.get("spec") or {}).get("unschedulable") and not tolerates(
        tolerations, {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
    ):
        return REASON_UNSCHEDULABLE
    for taint in effective_taints(node):
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not tolerates(tolerations, taint):
            return (
                f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"
            )
    if not matches_node_selector(pod, node):
        return REASON_AFFINITY
    limit = _max_pods(node)
    if limit is not None and pods_on_node + 1 > limit:
        return REASON_TOO_MANY_PODS
    return None


def unschedulable_message(num_nodes: int, reasons: Mapping[str, int]) -> str:
    """Upstream's ``FitError.Error()``: the reason histogram, sorted as strings."""
    if num_nodes == 0:
        return NO_NODES_MESSAGE
    msg = f"0/{num_nodes} nodes are available:"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    if parts:
        msg += f" {', '.join(parts)}."
    return msg


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
        node_name(node), node_zone(node), admits_every_pod(node), _max_pods(node), pods_on_node
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


@dataclass(slots=True)
class _Counted:
    node: str
    group: str
    in_group: bool


class PodCounts:
    """Pods per node, in total and per spread group, kept current from pod events.

    Placements the scheduler has decided but the watch has not echoed yet are *assumed*
    and counted too; an observation of the pod bound (or deleted) replaces the assumption,
    an observation of it still unbound leaves the assumption alone (the watch is behind).

    ``on_total(node, pods)`` is called whenever a node's total changes (the scheduler
    keeps its :class:`~sliceplane.workloads.scheduler.spreadindex.SpreadIndex` current with it).
    """

    def __init__(self, on_total: Callable[[str, int], None] | None = None) -> None:
        self.total: Counter[str] = Counter()
        self._groups: dict[str, Counter[str]] = {}
        self._counted: dict[str, _Counted] = {}
        self._assumed: set[str] = set()
        self._on_total = on_total

    def group(self, group: str) -> Mapping[str, int]:
        return self._groups.get(group) or {}

    def node_of(self, key: str) -> str | None:
        c = self._counted.get(key)
        return None if c is None else c.node

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def _add(self, key: str, counted: _Counted) -> None:
        if self._counted.get(key) == counted:
            return  # most pod updates (status writes) change nothing counted here
        self._remove(key)
        self._counted[key] = counted
        self.total[counted.node] += 1
        if counted.in_group:
            self._groups.setdefault(counted.group, Counter())[counted.node] += 1
        if self._on_total is not None:
            self._on_total(counted.node, self.total[counted.node])

    def _remove(self, key: str) -> None:
        old = self._counted.pop(key, None)
        if old is None:
            return
        self.total[old.node] -= 1
        if self.total[old.node] <= 0:
            del self.total[old.node]
        if old.in_group:
            g = self._groups[old.group]
            g[old.node] -= 1
            if g[old.node] <= 0:
                del g[old.node]
            if not g:
                del self._groups[old.group]
        if self._on_total is not None:
            self._on_total(old.node, self.total.get(old.node, 0))

    def assume(self, key: str, node: str, group: str) -> None:
        self._add(key, _Counted(node, group, True))
        self._assumed.add(key)

    def forget(self, key: str) -> None:
        """Drop an assumption (the binding failed)."""
        if key in self._assumed:
            self._assumed.discard(key)
            self._remove(key)

    def observe(self, key: str, pod: Mapping[str, Any]) -> None:
        """Account for a pod as the informer shows it."""
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            if key not in self._assumed:
                self._remove(key)
            return
        self._assumed.discard(key)
        if is_terminal(pod):
            self._remove(key)
            return
        terminating = is_deleting(pod)
        self._add(key, _Counted(str(node), spread_group(pod), not terminating))

    def delete(self, key: str) -> None:
        self._assumed.discard(key)
        self._remove(key)


# ============================================================================ the loop


@dataclass(slots=True)
class SchedulerOptions:
    """Settings of the local scheduler."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    """Pods whose ``spec.schedulerName`` is this are ours (upstream's default profile)."""
    workers: int = 4
    """Concurrent bindings. Placement itself is serialised (it runs between awaits), so
    more workers only overlap the binding requests."""
    retry_unschedulable_after: float = 60.0
    """A parked unschedulable pod is retried after this long even if nothing changed
    (upstream flushes its unschedulable queue after 5 minutes; shorter suits a laptop)."""
    record_events: bool = True
    """Write ``Scheduled`` / ``FailedScheduling`` Events."""


class Scheduler:
    """Binds pending pods to nodes; see the module docstring. ``await run()`` until
    cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: SchedulerOptions | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.options = options or SchedulerOptions()
        self.recorder = EventRecorder(client, clock, self.options.scheduler_name)
        self.pods = factory.informer("pods")
        self.nodes = factory.informer("nodes")
        self.index = SpreadIndex()
        self.counts = PodCounts(on_total=self.index.set_total)
        self.queue: WorkQueue[str] = WorkQueue(clock, name="scheduler")
        self._parked: set[str] = set()
        self.bound = 0
        self.pods.add_handler(self._on_pod, self._on_pod_update, self._on_pod_delete)
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node_delete)

    async def run(self) -> None:
        await self.pods.wait_for_sync()
        await self.nodes.wait_for_sync()
        try:
            await run_workers(self.queue, self.options.workers, self.schedule_one, logger=log)
        finally:
            self.queue.shut_down()
            await self.recorder.flush()

    # ------------------------------------------------------------------ handlers

    def _on_pod(self, pod: Obj) -> None:
        key = object_key(pod)
        self.counts.observe(key, pod)
        if needs_scheduling(pod, self.options.scheduler_name):
            self.queue.add(key)
        else:
            self._parked.discard(key)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        self._on_pod(new)

    def _on_pod_delete(self, pod: Obj) -> None:
        key = object_key(pod)
        was_bound = self.counts.node_of(key) is not None
        self.counts.delete(key)
        self._parked.discard(key)
        if was_bound:
            self._unpark_all()  # a pod slot was freed

    def _on_node(self, node: Obj) -> None:
        index_node(self.index, node, self.counts.total.get(node_name(node), 0))
        self._unpark_all()

    def _on_node_delete(self, node: Obj) -> None:
        self.index.remove_node(node_name(node))

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        index_node(self.index, new, self.counts.total.get(node_name(new), 0))

        def facts(n: Obj) -> tuple[Any, ...]:
            meta = meta_of(n)
            spec = n.get("spec") or {}
            return (
                meta.get("labels"),
                spec.get("unschedulable"),
                spec.get("taints"),
                _ready_status(n),
                _max_pods(n),
            )

        if facts(old) != facts(new):
            self._unpark_all()

    def _unpark_all(self) -> None:
        parked, self._parked = self._parked, set()
        for key in parked:
            self.queue.add(key)

    # ------------------------------------------------------------------ sync

    async def schedule_one(self, key: str) -> None:
        """Place and bind the pod ``key`` (a no-op if it no longer needs scheduling)."""
        pod = self.pods.store.get(key)
        if pod is None or not needs_scheduling(pod, self.options.scheduler_name):
            self._parked.discard(key)
            return
        if self.counts.is_assumed(key):
            return  # bound by an earlier pass; the watch has not caught up yet
        group = spread_group(pod)
        placement = place_indexed(
            pod,
            self.index,
            self.nodes.store,
            self.counts.total,
            group_counts=self.counts.group(group),
        )
        if placement.node is None:
            await self._unschedulable(key, pod, placement.message)
            return
        self._parked.discard(key)
        target = placement.node
        self.counts.assume(key, target, group)  # before any await: the next pod sees it
        meta = meta_of(pod)
        ns, name = str(meta.get("namespace")), str(meta.get("name"))
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns, "uid": meta.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": target},
        }
        try:
            await self.client.request_json(
                "POST", self.client.path("pods", ns, name, "binding"), body=binding
            )
        except (errors.NotFound, errors.Conflict) as exc:
            # Deleted, already bound or being deleted: the watch will tell us the rest.
            self.counts.forget(key)
            if isinstance(exc, errors.NotFound) and not (exc.details or {}).get("name"):
                log.error("the API server does not serve pods/binding: %s", exc)
                raise
            log.debug("binding %s to %s refused: %s", key, target, exc)
            return
        except BaseException:
            self.counts.forget(key)
            raise
        self.bound += 1
        if self.options.record_events:
            self.recorder.event(
                pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {target}"
            )

    async def _unschedulable(self, key: str, pod: Obj, message: str) -> None:
        self._parked.add(key)
        self.queue.add_after(key, self.options.retry_unschedulable_after)
        if self.options.record_events:
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
        wanted = {
            "type": POD_SCHEDULED,
            "status": "False",
            "lastProbeTime": None,
            "reason": "Unschedulable",
            "message": message,
        }
        current = next(
            (
                c
                for c in (pod.get("status") or {}).get("conditions") or []
                if c.get("type") == POD_SCHEDULED
            ),
            None,
        )
        if current is not None and all(
            current.get(k) == wanted[k] for k in ("status", "reason", "message")
        ):
            return
        cond = set_condition([current] if current else [], wanted, self.clock.wall())[0]
        meta = meta_of(pod)
        with contextlib.suppress(errors.NotFound):
            await self.client.patch(
                "pods",
                str(meta.get("name")),
                {"status": {"conditions": [cond]}},
                str(meta.get("namespace")),
                patch_type="strategic",
                subresource="status",
            )
