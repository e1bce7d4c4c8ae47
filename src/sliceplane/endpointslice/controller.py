"""The EndpointSlice controller: informers in, planned writes out.

Event handlers only map objects to Service keys (§2.2 of the reference); ``sync_service``
reads the informer caches, asks the pure planner for a :class:`Plan` and applies it in the
planned order. The tracker recognises the controller's own writes when their watch events
come back, and refuses to plan against a cache that has not caught up with them. A plan
whose writes must wait for the client's limit (``--kube-api-qps``) is made again once they
may go, so they carry what changed meanwhile (docs/upstream-differences.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj, annotations_of, is_deleting, labels_of, meta_of, name_of
from sliceplane.api.podstatus import READY, condition
from sliceplane.client.client import Client
from sliceplane.endpointbase.podservices import ServiceSelectors
from sliceplane.endpointbase.triggertime import TriggerTimeTracker
from sliceplane.endpointslice.explain import ServiceExplanation, explain_service
from sliceplane.endpointslice.hints import make_hints_pass
from sliceplane.endpointslice.memo import EndpointMemo
from sliceplane.endpointslice.metrics import EndpointSliceMetrics
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service
from sliceplane.endpointslice.topologycache import TopologyCache, hints_enabled
from sliceplane.endpointslice.tracker import EndpointSliceTracker
from sliceplane.endpointslice.types import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_ZONE,
    Plan,
)
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key
from sliceplane.machinery.labelindex import ensure_label_index, select
from sliceplane.machinery.ratelimit import endpointslice_controller_rate_limiter
from sliceplane.machinery.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)

EVENT_COMPONENT = "endpoint-slice-controller"
SLICE_EVENT_MIN_DELAY = 1.0  # endpointSliceChangeMinSyncDelay
MAX_RETRIES = 15
WRITE_PERIOD_FULL_AT = 10_000
"""Endpoints from which a Service's writes are held the whole ``write_period`` apart."""
SERVICE_INDEX = "service"


class StaleInformerCache(Exception):
    """The slice cache has not yet seen this controller's own latest writes.

    Raised out of the sync like any other error, as upstream returns it: the key goes back
    through the queue's rate limiter (1 s doubling per key, with the 10 qps / 100 bucket),
    the refusal counts towards ``MAX_RETRIES``, and a pod or Service event that comes
    meanwhile syncs the Service at once. The echo of our own write does not: it is exactly
    what ``tracker.should_sync`` ignores."""


@dataclass(slots=True)
class ControllerOptions:
    """Settings of the EndpointSlice controller (upstream flag names in comments)."""

    max_endpoints_per_slice: int = 100
    """--max-endpoints-per-slice: 1…1000."""
    concurrent_syncs: int = 5
    """--concurrent-service-endpoint-syncs: 1…50 workers."""
    batch_period: float = 0.0
    """--endpointslice-updates-batch-period: delay pod-triggered syncs to batch them."""
    min_write_interval: float = 0.0
    """sliceplane's write back-off (``--endpointslice-write-backoff``; 0, the default,
    turns it off and behaves as upstream): after writing a Service's slices, pod changes
    wait until this long has passed before that Service is synced again, so churn is
    coalesced into fewer writes at the cost of latency."""
    max_write_interval: float = 0.0
    """While a Service keeps changing, the interval doubles after each write up to this,
    and falls back to ``min_write_interval`` once the Service has been quiet for the
    current interval. A pod that starts terminating cuts the wait to half its grace
    period, so the terminating state is always published."""
    write_period: float = 0.2
    """sliceplane's coalescing (``--endpointslice-min-write-period``; 0 behaves as
    upstream): pod-driven syncs of a Service start no sooner than this long after its last
    writing sync started, scaled down linearly below ``WRITE_PERIOD_FULL_AT`` endpoints.
    kube-controller-manager hashes every endpoint of a Service on each sync, so for a large
    Service its turn-around is a few hundred milliseconds, and the changes that come
    meanwhile share one write; sliceplane's sync is cheaper and would otherwise write more
    often, each write carrying fewer changes (docs/upstream-differences.md)."""
    topology_aware_hints: bool = True
    """The TopologyAwareHints feature gate (on upstream)."""
    prefer_same_traffic_distribution: bool = True
    """The PreferSameTrafficDistribution gate (GA upstream)."""


def _service_index(obj: Obj) -> list[str]:
    """Index slices managed by this controller by ``namespace/service``."""
    meta = meta_of(obj)
    labels = meta.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME:
        return []
    svc = labels.get(LABEL_SERVICE_NAME)
    return [f"{meta.get('namespace')}/{svc}"] if svc else []


def _termination_deadline(old: Obj, new: Obj) -> float | None:
    """How soon a Service must be synced after this pod update to show it terminating.

    A pod that starts terminating stays visible (serving/terminating) only for its grace
    period; a sync held back longer than that by the write back-off would never show the
    terminating state at all. Half the grace period leaves the other half visible. A grace
    period shortened while terminating (a second, shorter delete) counts anew."""
    om, nm = meta_of(old), meta_of(new)
    if not nm.get("deletionTimestamp"):
        return None
    grace = nm.get("deletionGracePeriodSeconds")
    if not isinstance(grace, int | float):
        grace = 0
    if om.get("deletionTimestamp"):
        before = om.get("deletionGracePeriodSeconds")
        if not isinstance(before, int | float) or grace >= before:
            return None
    return max(0.0, float(grace) / 2)


class EndpointSliceController:
    """See the module docstring. Create, then ``await run()`` until cancelled."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        options: ControllerOptions | None = None,
        *,
        metrics: EndpointSliceMetrics | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.options = options or ControllerOptions()
        self.metrics = metrics or EndpointSliceMetrics()
        self.recorder = EventRecorder(client, clock, EVENT_COMPONENT)
        self.services = factory.informer("services")
        self.pods = factory.informer("pods")
        self.slices = factory.informer("endpointslices")
        self.nodes = factory.informer("nodes")
        self.slices.add_index(SERVICE_INDEX, _service_index)
        self.queue: WorkQueue[str] = WorkQueue(
            clock, endpointslice_controller_rate_limiter(clock), name="endpoint_slice"
        )
        self.tracker = EndpointSliceTracker()
        self.trigger = TriggerTimeTracker()
        self.topology = TopologyCache() if self.options.topology_aware_hints else None
        self.hints = make_hints_pass(
            self.topology,
            prefer_same_traffic_distribution=self.options.prefer_same_traffic_distribution,
        )
        self.reconciler_options = ReconcilerOptions(
            max_endpoints_per_slice=self.options.max_endpoints_per_slice
        )
        self.selectors = ServiceSelectors(self.services)
        ensure_label_index(self.pods)
        self.services.add_handler(self._on_service, self._on_service_update, self._on_service)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_add)
        self.slices.add_handler(self._on_slice_add, self._on_slice_update, self._on_slice_delete)
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node)
        self.syncs_done = 0
        self._hint_events: dict[str, list[str]] = {}
        # Per Service: (time of the last write, interval before the next pod-driven sync).
        self._last_write: dict[str, tuple[float, float]] = {}
        # Per Service: until when pod-driven syncs wait (``write_period``).
        self._hold_until: dict[str, float] = {}
        self._memos: dict[str, EndpointMemo] = {}
        self._node_map: dict[str, Obj] | None = None  # by name; rebuilt after node events

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        for inf in (self.services, self.pods, self.slices, self.nodes):
            await inf.wait_for_sync()
        self._check_topology()
        try:
            await run_workers(
                self.queue,
                self.options.concurrent_syncs,
                self.sync_service,
                max_retries=MAX_RETRIES,
                logger=log,
            )
        finally:
            self.queue.shut_down()
            await self.recorder.flush()

    # ------------------------------------------------------------------ handlers

    def _on_service(self, svc: Obj) -> None:
        self.queue.add(object_key(svc))

    def _on_service_update(self, old: Obj, new: Obj) -> None:
        self.queue.add(object_key(new))

    def _enqueue_pod_services(self, keys: Iterable[str], *, within: float | None = None) -> None:
        """Queue pod-triggered syncs after the batch period and the Service's write
        back-off, the back-off cut to ``within`` seconds when given."""
        now = self.clock.now()
        for key in keys:
            backoff = 0.0
            written = self._last_write.get(key)
            if written is not None:
                backoff = written[0] + written[1] - now
            if within is not None:
                backoff = min(backoff, within)
            # The write period is not cut: it is shorter than half of any grace period
            # but 0, and a pod deleted with grace 0 has no terminating state to show (it
            # is gone with the next event, or held by finalizers with no deadline).
            hold = self._hold_until.get(key, now) - now
            self.queue.add_after(key, max(self.options.batch_period, backoff, hold))

    def _on_pod_add(self, pod: Obj) -> None:
        self._enqueue_pod_services(self.selectors.services_for_pod(pod))

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        keys = self.selectors.services_to_sync(old, new)
        self._enqueue_pod_services(keys, within=_termination_deadline(old, new))

    def _queue_for_slice(self, es: Obj) -> None:
        meta = meta_of(es)
        svc = (meta.get("labels") or {}).get(LABEL_SERVICE_NAME)
        if not svc:
            return
        delay = max(SLICE_EVENT_MIN_DELAY, self.options.batch_period)
        self.queue.add_after(f"{meta.get('namespace')}/{svc}", delay)

    @staticmethod
    def _managed(es: Obj) -> bool:
        labels = labels_of(es)
        return bool(labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME)

    def _on_slice_add(self, es: Obj) -> None:
        if self._managed(es) and self.tracker.should_sync(es):
            self._queue_for_slice(es)

    def _on_slice_update(self, old: Obj, new: Obj) -> None:
        if not (self._managed(old) or self._managed(new)):
            return
        old_labels = labels_of(old)
        new_labels = labels_of(new)
        if old_labels.get(LABEL_SERVICE_NAME) != new_labels.get(LABEL_SERVICE_NAME) or (
            self._managed(old) != self._managed(new)
        ):
            self._queue_for_slice(old)
            self._queue_for_slice(new)
        elif self.tracker.should_sync(new):
            self._queue_for_slice(new)

    def _on_slice_delete(self, es: Obj) -> None:
        if self._managed(es) and self.tracker.has(es) and not self.tracker.handle_deletion(es):
            self._queue_for_slice(es)

    def _on_node(self, node: Obj) -> None:
        self._node_map = None
        self._check_topology()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self._node_map = None

        def facts(n: Obj) -> tuple[Any, Any]:
            zone = labels_of(n).get(LABEL_ZONE)
            ready = condition(n, READY)
            return zone, None if ready is None else ready.get("status")

        if facts(old) != facts(new):
            self._check_topology()

    def _check_topology(self) -> None:
        if self.topology is None or not self.nodes.has_synced():
            return
        self.topology.set_nodes(self.nodes.store.list())
        for key in self.topology.get_overloaded_services():
            self.queue.add(key)

    # ------------------------------------------------------------------ sync

    async def sync_service(self, key: str) -> None:
        try:
            await self._sync(key)
        except StaleInformerCache:
            self.metrics.syncs.labels("stale").inc()
            raise
        except Exception:
            self.metrics.syncs.labels("error").inc()
            raise
        else:
            self.metrics.syncs.labels("success").inc()
        finally:
            self.syncs_done += 1

    async def _sync(self, key: str) -> None:
        planned = self._plan(key, None)
        if planned is None:
            return
        svc, plan, existing, trigger_time = planned
        if plan.actions:
            self._note_write(key)
            self._hold(key, plan.desired_endpoints)
            throttle = self.client.throttle
            if throttle is not None and await throttle.ready() > 0:
                # The client limit held the writes back: plan again from what the caches
                # hold now, so that they carry every change made while they waited.
                planned = self._plan(key, trigger_time)
                if planned is None:
                    return
                svc, plan, existing, trigger_time = planned
                if plan.actions:
                    self._hold(key, plan.desired_endpoints)
        for ev in plan.events:
            self.recorder.event(svc, ev.type, ev.reason, ev.message)
        self._hint_events[key] = [e.message for e in plan.events if "Hints" in e.reason]
        try:
            await self.apply(svc, plan)
        except Exception as exc:
            self.recorder.event(
                svc,
                "Warning",
                "FailedToUpdateEndpointSlices",
                f"Error updating Endpoint Slices for Service {key}: {exc}",
            )
            raise
        self._record_metrics(key, svc, plan, existing)
        if plan.errors:
            raise RuntimeError("; ".join(plan.errors))

    def _plan(
        self, key: str, earlier_trigger: datetime | None
    ) -> tuple[Obj, Plan, int, datetime | None] | None:
        """The Service, its plan from the caches, how many slices it has and the trigger
        time stamped on the writes; None when there is nothing to plan (the Service is
        gone, and its state was dropped, or it selects no pods by definition).
        ``earlier_trigger``: the trigger time of a plan made earlier in the same sync and
        not sent (the changes it covered are in this plan too)."""
        ns, _, name = key.partition("/")
        svc = self.services.store.get(key)
        if svc is None:
            self.trigger.delete_service(ns, name)
            self.tracker.delete_service(ns, name)
            self.metrics.forget_service(key)
            self._hint_events.pop(key, None)
            self._last_write.pop(key, None)
            self._hold_until.pop(key, None)
            self._memos.pop(key, None)
            if self.topology is not None:
                for family in ("IPv4", "IPv6"):
                    self.topology.remove_hints(key, family)
            return None
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            return None
        selector = self.selectors.selector(svc)
        if selector is None:
            return None
        pods = select(self.pods, ns, selector)
        slices = [
            s
            for s in self.slices.store.by_index(SERVICE_INDEX, key)
            if not meta_of(s).get("deletionTimestamp")
        ]
        if self.tracker.stale_slices(svc, slices):
            raise StaleInformerCache(f"EndpointSlice informer cache is out of date for {key}")
        trigger_time = self.trigger.compute(svc, pods)
        if earlier_trigger is not None and (trigger_time is None or earlier_trigger < trigger_time):
            trigger_time = earlier_trigger
        nodes = self._nodes()
        memo = self._memos.get(key)
        if memo is None:
            memo = self._memos[key] = EndpointMemo()
        plan = plan_service(
            svc, pods, nodes, slices, self.reconciler_options, trigger_time, self.hints, memo
        )
        return svc, plan, len(slices), trigger_time

    def _hold(self, key: str, endpoints: int) -> None:
        """Start the ``write_period`` of a Service that is about to write: its pod-driven
        syncs wait until it has passed, so the changes of that time share the next write.
        Set before the writes are sent, as the pod events that come while they are in
        flight must already wait (a key added without delay would be synced again as soon
        as this sync is done)."""
        period = self.options.write_period * min(1.0, endpoints / WRITE_PERIOD_FULL_AT)
        if period > 0:
            self._hold_until[key] = self.clock.now() + period
        else:
            self._hold_until.pop(key, None)

    def _note_write(self, key: str) -> None:
        """Back off a Service that keeps changing: double its interval after each write
        that comes within the previous interval, reset it after a quiet period."""
        lo, hi = self.options.min_write_interval, self.options.max_write_interval
        if lo <= 0:
            return
        now = self.clock.now()
        prev = self._last_write.get(key)
        if prev is not None and now - prev[0] <= 2 * prev[1]:
            interval = min(hi, max(lo, prev[1] * 2))
        else:
            interval = lo
        self._last_write[key] = (now, interval)

    def _nodes(self) -> dict[str, Obj]:
        """Nodes by name, built once per change of the node cache rather than per sync
        (3 % of the controller's time at 1,000 nodes)."""
        if self._node_map is None:
            self._node_map = {name_of(n): n for n in self.nodes.store.list()}
        return self._node_map

    def explain(self, namespace: str, name: str) -> ServiceExplanation | None:
        """Why each candidate pod is (not) an endpoint of the Service, from the caches."""
        key = f"{namespace}/{name}"
        svc = self.services.store.get(key)
        if svc is None:
            return None
        nodes = {name_of(n): n for n in self.nodes.store.list()}
        return explain_service(
            svc, self.pods.store.list(), nodes, hint_events=self._hint_events.get(key, ())
        )

    async def apply(self, svc: Obj, plan: Plan) -> None:
        """Make the planned calls in order; the first failure stops the rest."""
        terminating = is_deleting(svc)
        for action in plan.actions:
            es = action.slice
            meta = meta_of(es)
            ns = str(meta.get("namespace"))
            if action.verb == "create":
                if terminating:
                    continue
                try:
                    created = await self.client.create("endpointslices", es, ns)
                except errors.StatusError as exc:
                    if _namespace_terminating(exc):
                        return
                    raise
                self.tracker.update(created)
                self.metrics.changes.labels("create").inc()
            elif action.verb == "update":
                updated = await self.client.update("endpointslices", es)
                self.tracker.update(updated)
                self.metrics.changes.labels("update").inc()
            else:
                try:
                    await self.client.delete("endpointslices", str(meta.get("name")), ns)
                except errors.NotFound:
                    pass
                self.tracker.expect_deletion(es)
                self.metrics.changes.labels("delete").inc()

    def _record_metrics(self, key: str, svc: Obj, plan: Plan, existing: int) -> None:
        m = self.metrics
        m.endpoints_added.observe(plan.endpoints_added)
        m.endpoints_removed.observe(plan.endpoints_removed)
        actual = existing + plan.count("create") - plan.count("delete")
        td = (svc.get("spec") or {}).get("trafficDistribution")
        m.record_service(
            key,
            endpoints=plan.desired_endpoints,
            slices_actual=actual,
            desired_slices=plan.desired_slices,
            traffic_distribution=td,
        )
        changed = plan.count("create") + plan.count("update") + plan.count("delete")
        auto = hints_enabled(annotations_of(svc))
        m.slices_changed_per_sync.labels("Auto" if auto else "Disabled", td or "").observe(changed)


def _namespace_terminating(exc: errors.StatusError) -> bool:
    causes = (exc.details or {}).get("causes") or []
    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
        return True
    return isinstance(exc, errors.Forbidden) and "being terminated" in exc.message


async def wait_idle(controller: EndpointSliceController, timeout: float = 30.0) -> None:
    """Wait until the queue is empty and nothing is processing (tests, demos)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if len(controller.queue) == 0 and controller.queue.num_waiting() == 0:
            await asyncio.sleep(0.05)
            if len(controller.queue) == 0 and controller.queue.num_waiting() == 0:
                return
        await asyncio.sleep(0.05)
    raise TimeoutError("controller did not go idle")
