"""Recording core/v1 Events, so ``kubectl describe`` shows what controllers did.

Like client-go's recorder with its correlator, a repeat of the same (object, type, reason,
message) within the aggregation window bumps ``count`` and ``lastTimestamp`` of the
existing Event instead of creating another. Recording never raises: an Event that cannot
be written is logged and dropped, because a controller must not fail a sync over it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sliceplane.api import errors
from sliceplane.api.meta import Obj, format_time, meta_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Seen:
    name: str
    namespace: str
    count: int
    last: float


class EventRecorder:
    """Writes Events for one component (``source.component``)."""

    def __init__(
        self, client: Client, clock: Clock, component: str, *, aggregate_seconds: float = 600.0
    ) -> None:
        self.client = client
        self.clock = clock
        self.component = component
        self.aggregate_seconds = aggregate_seconds
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record asynchronously (fire and forget)."""
        task = asyncio.create_task(self.record(obj, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        meta = meta_of(obj)
        uid = str(meta.get("uid") or "")
        ns = str(meta.get("namespace") or "default")
        key = (uid, type_, reason, message)
        now = self.clock.wall()
        seen = self._seen.get(key)
        try:
            if seen is not None and self.clock.now() - seen.last < self.aggregate_seconds:
                seen.count += 1
                seen.last = self.clock.now()
                await self.client.patch(
                    "events",
                    seen.name,
                    {"count": seen.count, "lastTimestamp": format_time(now)},
                    seen.namespace,
                    patch_type="merge",
                )
                return
            name = f"{meta.get('name')}.{int(now.timestamp() * 1e9):x}"
            ev = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {
                    "kind": obj.get("kind"),
                    "namespace": meta.get("namespace"),
                    "name": meta.get("name"),
                    "uid": uid,
                    "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": self.component},
                "firstTimestamp": format_time(now),
                "lastTimestamp": format_time(now),
                "count": 1,
                "reportingComponent": self.component,
                "reportingInstance": "",
            }
            await self.client.create("events", ev, ns)
            self._seen[key] = _Seen(name, ns, 1, self.clock.now())
        except (errors.StatusError, OSError) as exc:
            log.warning("could not record event %s/%s: %s", reason, message, exc)

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
