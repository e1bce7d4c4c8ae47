"""Recording core/v1 Events, so ``kubectl describe`` shows what controllers did.

Like client-go's recorder with its correlator, a repeat of the same (object, type, reason,
message) within the aggregation window bumps ``count`` and ``lastTimestamp`` of the
existing Event instead of creating another. Recording never raises: an Event that cannot
be written is logged and dropped, because a controller must not fail a sync over it.

Also like the correlator (``tools/record/events_cache.go``): its spam filter, a token
bucket per source and involved object (burst 25, then one every 5 minutes), drops what an
object's burst would otherwise write — a ReplicaSet creating 100 pods writes 25 Events, not
100, and the API server is not asked for a write per pod for them — and both caches are
LRUs of 4,096 entries, so a controller's memory does not grow with every object it ever
reported on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from sliceplane.api import errors
from sliceplane.api.meta import Obj, format_time, meta_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock

log = logging.getLogger(__name__)

SPAM_BURST: Final = 25
"""client-go's ``defaultSpamBurst``: Events an involved object may have at once."""
SPAM_QPS: Final = 1.0 / 300.0
"""client-go's ``defaultSpamQPS``: one more Event per object every 5 minutes."""
CACHE_ENTRIES: Final = 4096
"""client-go's ``maxLruCacheEntries`` (the correlator's caches)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


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
        self._seen: OrderedDict[tuple[str, str, str, str], _Seen] = OrderedDict()
        self._spam: OrderedDict[tuple[str, ...], _Bucket] = OrderedDict()
        self.dropped = 0
        """Events the spam filter dropped."""
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record asynchronously (fire and forget)."""
        task = asyncio.create_task(self.record(obj, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _allowed(self, obj: Obj) -> bool:
        """The spam filter: take a token from the object's bucket (``getSpamKey``: the
        source and the involved object), refilled at :data:`SPAM_QPS` up to
        :data:`SPAM_BURST`."""
        meta = meta_of(obj)
        key = (
            str(obj.get("kind") or ""),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
            str(obj.get("apiVersion") or ""),
        )
        now = self.clock.now()
        bucket = self._spam.get(key)
        if bucket is None:
            bucket = self._spam[key] = _Bucket(float(SPAM_BURST), now)
            if len(self._spam) > CACHE_ENTRIES:
                self._spam.popitem(last=False)
        else:
            self._spam.move_to_end(key)
            bucket.tokens = min(float(SPAM_BURST), bucket.tokens + (now - bucket.at) * SPAM_QPS)
            bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    async def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        if not self._allowed(obj):
            self.dropped += 1
            log.debug("event %s/%s dropped by the spam filter", reason, message)
            return
        meta = meta_of(obj)
        uid = str(meta.get("uid") or "")
        ns = str(meta.get("namespace") or "default")
        key = (uid, type_, reason, message)
        now = self.clock.wall()
        seen = self._seen.get(key)
        if seen is not None:
            self._seen.move_to_end(key)
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
            self._seen.move_to_end(key)
            if len(self._seen) > CACHE_ENTRIES:
                self._seen.popitem(last=False)
        except (errors.StatusError, OSError) as exc:
            log.warning("could not record event %s/%s: %s", reason, message, exc)

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
