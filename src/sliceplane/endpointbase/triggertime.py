"""When did the change that a slice write reflects happen? (reference §2.10)

The ``endpoints.kubernetes.io/last-change-trigger-time`` annotation lets consumers measure
how long a pod or Service change took to reach the data plane. Upstream derives it from
what changed since the previous sync of the same Service: the earliest pod Ready
transition newer than last seen, or the Service's creation. This tracker keeps that
per-Service memory; it is in-memory, synchronous and must not be called concurrently for
the same Service (the work queue guarantees that).

Like upstream it may misattribute a time when one object changes several times between
two syncs; that approximation is accepted.

Writers stamp the annotation with :func:`set_trigger_time`; readers (the proxy, DNS, the
benchmarks) get it back with :func:`trigger_time_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sliceplane.api.meta import (
    Obj,
    annotations_of,
    format_rfc3339_nano,
    meta_of,
    name_of,
    parse_time,
)
from sliceplane.api.podstatus import READY, condition
from sliceplane.api.wellknown import ANNOTATION_TRIGGER_TIME


def trigger_time_of(obj: Mapping[str, Any]) -> datetime | None:
    """The ``last-change-trigger-time`` of an EndpointSlice or Endpoints object, as an
    aware UTC datetime; ``None`` when it is absent or not a time."""
    return parse_time(annotations_of(obj).get(ANNOTATION_TRIGGER_TIME))


def set_trigger_time(obj: Obj, trigger_time: datetime | None) -> None:
    """Stamp (or, for no trigger time, remove) the last-change annotation on ``obj``.

    Edits ``obj`` in place: only for objects the planner built or copied.
    """
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if trigger_time is not None:
        if annotations is None:
            annotations = meta["annotations"] = {}
        annotations[ANNOTATION_TRIGGER_TIME] = format_rfc3339_nano(trigger_time)
    elif annotations:
        annotations.pop(ANNOTATION_TRIGGER_TIME, None)


def pod_ready_transition_time(pod: Obj) -> Any:
    """The raw ``lastTransitionTime`` of the pod's Ready condition, or ``None``."""
    cond = condition(pod, READY)
    return None if cond is None else cond.get("lastTransitionTime")


@dataclass(slots=True)
class _ServiceState:
    service_time: datetime | None = None
    pod_times: dict[str, tuple[Any, datetime]] = field(default_factory=dict)
    """Per pod name: the raw Ready ``lastTransitionTime`` and its parsed value (a raw
    value equal to last time's is not parsed again)."""
    objects: dict[int, tuple[Obj, str, tuple[Any, datetime] | None]] = field(default_factory=dict)
    """The pod objects of the last sync (by ``id``, kept alive here) with their name and
    entry: the informer replaces a pod's object when the pod changes, so an object seen
    last time needs no look at all."""


def _after(t: datetime, previous: datetime | None) -> bool:
    return previous is None or t > previous


def _earliest(current: datetime | None, t: datetime) -> datetime:
    return t if current is None or t < current else current


class TriggerTimeTracker:
    """Per-Service memory of the trigger times seen at the previous sync."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], _ServiceState] = {}

    def compute(self, service: Obj, pods: Sequence[Obj]) -> datetime | None:
        """The trigger time for this sync (``None``: nothing changed, drop the annotation).

        The first sync of a Service reports its creationTimestamp. Later syncs report the
        earliest pod Ready transition that is newer than the one last seen for that pod
        (new pods count), or the Service time if it moved forward. State is always updated.
        """
        meta = meta_of(service)
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        previous = self._states.get(key)
        state = previous if previous is not None else _ServiceState()

        earliest: datetime | None = None
        pod_times: dict[str, tuple[Any, datetime]] = {}
        objects: dict[int, tuple[Obj, str, tuple[Any, datetime] | None]] = {}
        seen, seen_objects = state.pod_times, state.objects
        for pod in pods:
            known = seen_objects.get(id(pod))
            if known is not None and known[0] is pod:
                objects[id(pod)] = known
                if known[2] is not None:
                    pod_times[known[1]] = known[2]
                continue
            name = name_of(pod)
            entry = self._entry(pod, seen.get(name))
            objects[id(pod)] = (pod, name, entry)
            if entry is None:
                continue
            before = seen.get(name)
            pod_times[name] = entry
            if entry is not before and (before is None or entry[1] > before[1]):
                earliest = _earliest(earliest, entry[1])
        service_time = parse_time(meta.get("creationTimestamp"))
        if service_time is not None and _after(service_time, state.service_time):
            earliest = _earliest(earliest, service_time)

        self._states[key] = _ServiceState(
            service_time=service_time, pod_times=pod_times, objects=objects
        )
        if previous is None:
            return service_time
        return earliest

    @staticmethod
    def _entry(pod: Obj, before: tuple[Any, datetime] | None) -> tuple[Any, datetime] | None:
        """The pod's (raw, parsed) Ready transition time; ``before`` itself when the raw
        value is the one seen last time (so it is not newer)."""
        raw = pod_ready_transition_time(pod)
        if raw is None or raw == "":
            return None
        if before is not None and before[0] == raw:
            return before
        t = parse_time(raw)
        return None if t is None else (raw, t)

    def delete_service(self, namespace: str, name: str) -> None:
        """Forget a Service (its next sync counts as the first)."""
        self._states.pop((namespace, name), None)
