"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

Why: several replicas of a controller may run, but only one may write EndpointSlices at a
time or they fight. Candidates compete for one Lease object; whoever holds it runs the
controller, renews the Lease every ``retry_period``, and steps down if it cannot renew
within ``renew_deadline``. Others poll every ``retry_period`` and take over once the
holder has stopped renewing for ``lease_duration``.

What it promises (and what it does not):

* writes use optimistic concurrency (``metadata.resourceVersion``), so of two candidates
  racing for a free Lease exactly one update succeeds;
* expiry is judged on the *local* clock: a candidate notes when it last saw the Lease
  record change and considers it held until ``lease_duration`` after that. This tolerates
  clock skew between hosts (the ``renewTime`` written by another host is never compared to
  our clock) and is never earlier than ``renewTime + leaseDurationSeconds`` when clocks
  agree; the price is that a fresh candidate waits a full ``lease_duration`` even for a
  Lease whose holder died long ago;
* like client-go, this is not fencing: a leader that is paused longer than
  ``lease_duration - renew_deadline`` may briefly overlap with its successor. Keep
  ``lease_duration`` comfortably above ``renew_deadline``;
* ``leaseTransitions`` increments whenever the holder changes; ``acquireTime`` is when the
  current holder took the Lease; ``renewTime`` is its last renewal (MicroTime format).

Transport is abstracted by :class:`LeaseClient`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sliceplane.api.errors import Conflict, NotFound
from sliceplane.api.meta import format_micro_time
from sliceplane.machinery.clock import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")


class LeaseClient(Protocol):
    """The three Lease calls leader election needs. Objects are ``coordination.k8s.io/v1``
    Lease dicts.

    * :meth:`get` returns ``None`` if the Lease does not exist;
    * :meth:`create` raises :class:`~sliceplane.api.errors.AlreadyExists` (a ``Conflict``)
      if it does;
    * :meth:`update` must honour ``metadata.resourceVersion`` and raise
      :class:`~sliceplane.api.errors.Conflict` if it is stale, or
      :class:`~sliceplane.api.errors.NotFound` if the Lease is gone.
    """

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    async def update(self, obj: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which Lease, who we are, and the timing (client-go's defaults)."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    """How long a non-leader waits, after last seeing the Lease change, before taking it."""
    renew_deadline: float = 10.0
    """How long the leader keeps retrying a failed renewal before stepping down."""
    retry_period: float = 2.0
    """Interval between acquire attempts and between renewals."""
    release_on_cancel: bool = False
    """On voluntary exit (cancellation), clear the holder so a successor need not wait for
    expiry. Only safe if the leading work has really stopped when ``run`` returns."""

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("identity must not be empty")
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


class LeaderElector:
    """One candidate. :meth:`run` campaigns, leads while it can, and returns once
    leadership is lost (callers usually exit the process or run again).

    Callbacks:

    * ``on_started_leading()`` - a coroutine started when we become leader and cancelled
      (and awaited) when we stop; if it raises, we step down and :meth:`run` re-raises;
    * ``on_stopped_leading()`` - called once after leading ends, for whatever reason (not
      called if we never led);
    * ``on_new_leader(identity)`` - called whenever the observed holder changes, including
      to ourselves.
    """

    def __init__(
        self,
        client: LeaseClient,
        config: LeaderElectionConfig,
        clock: Clock,
        *,
        on_started_leading: Callable[[], Coroutine[Any, Any, None]],
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self.config = config
        self._clock = clock
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._observed_lease: dict[str, Any] | None = None
        self._reported_leader: str | None = None
        self._is_leader = False

    # -- public --------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self._is_leader

    def leader(self) -> str:
        """The holder we last observed ("" if none)."""
        return str((self._observed_spec or {}).get("holderIdentity") or "")

    async def run(self) -> None:
        await self._acquire()
        self._is_leader = True
        log.info("%s: acquired lease %s/%s", *self._names())
        work = asyncio.create_task(self._on_started(), name=f"leading-{self.config.identity}")
        renew = asyncio.create_task(self._renew_loop(), name=f"renew-{self.config.identity}")
        failure: BaseException | None = None
        try:
            done, _ = await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
            if work in done and not work.cancelled() and work.exception() is not None:
                failure = work.exception()
            elif work in done:
                # The leading work finished on its own: keep the lease until we lose it,
                # so no one else starts while we might still be winding down.
                await renew
        finally:
            renew.cancel()
            work.cancel()
            await asyncio.gather(renew, work, return_exceptions=True)
            self._is_leader = False
            cancelled = (task := asyncio.current_task()) is not None and task.cancelling() > 0
            if cancelled and self.config.release_on_cancel:
                await self._release()
            log.info("%s: stopped leading %s/%s", *self._names())
            if self._on_stopped is not None:
                self._on_stopped()
        if failure is not None:
            raise failure

    # -- campaign ------------------------------------------------------------------------

    async def _acquire(self) -> None:
        log.info("%s: attempting to acquire lease %s/%s", *self._names())
        while True:
            if await self._attempt(self._try_acquire_or_renew()):
                return
            await self._clock.sleep(self.config.retry_period)

    async def _renew_loop(self) -> None:
        """Renew every retry period; return when renewals have failed for
        ``renew_deadline``."""
        last_renew = self._clock.now()
        while True:
            await self._clock.sleep(self.config.retry_period)
            remaining = self.config.renew_deadline - (self._clock.now() - last_renew)
            ok = False
            if remaining > 0:
                ok = await self._attempt(self._try_acquire_or_renew(), remaining)
            if ok:
                last_renew = self._clock.now()
            elif self._clock.now() - last_renew >= self.config.renew_deadline:
                log.warning("%s: failed to renew lease %s/%s in time", *self._names())
                return

    async def _attempt(self, coro: Awaitable[bool], timeout: float | None = None) -> bool:
        """Run one acquire/renew; errors and timeouts count as "not acquired"."""
        try:
            if timeout is None:
                return await coro
            return await _with_timeout(self._clock, coro, timeout)
        except asyncio.CancelledError:
            raise
        except (Conflict, NotFound, TimeoutError) as exc:
            log.debug("%s: lease attempt lost: %s", self.config.identity, exc)
            return False
        except Exception as exc:
            log.warning("%s: lease attempt failed: %s", self.config.identity, exc)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now_wall = format_micro_time(self._clock.wall())
        lease = await self._client.get(cfg.namespace, cfg.name)
        if lease is None:
            fresh: dict[str, Any] = {
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": _whole_seconds(cfg.lease_duration),
                "acquireTime": now_wall,
                "renewTime": now_wall,
                "leaseTransitions": 0,
            }
            created = await self._client.create(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"namespace": cfg.namespace, "name": cfg.name},
                    "spec": fresh,
                }
            )
            self._observe(created)
            return True

        self._observe(lease)
        spec = dict(lease.get("spec") or {})
        holder = str(spec.get("holderIdentity") or "")
        held_by_other = bool(holder) and holder != cfg.identity
        if held_by_other and self._observed_at + cfg.lease_duration > self._clock.now():
            return False

        new = copy.deepcopy(lease)
        new_spec: dict[str, Any] = new.setdefault("spec", {})
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder != cfg.identity:
            new_spec["acquireTime"] = now_wall
            new_spec["leaseTransitions"] = transitions + 1
        else:
            new_spec.setdefault("acquireTime", now_wall)
            new_spec["leaseTransitions"] = transitions
        new_spec["holderIdentity"] = cfg.identity
        new_spec["leaseDurationSeconds"] = _whole_seconds(cfg.lease_duration)
        new_spec["renewTime"] = now_wall
        updated = await self._client.update(new)
        self._observe(updated)
        return True

    async def _release(self) -> None:
        """Give the Lease up (holder cleared, 1 s duration) if we still hold it."""
        lease = self._observed_lease
        if lease is None or self.leader() != self.config.identity:
            return
        new = copy.deepcopy(lease)
        now_wall = format_micro_time(self._clock.wall())
        spec: dict[str, Any] = new.setdefault("spec", {})
        spec["holderIdentity"] = ""
        spec["leaseDurationSeconds"] = 1
        spec["acquireTime"] = now_wall
        spec["renewTime"] = now_wall
        try:
            self._observe(await self._client.update(new))
        except Exception as exc:
            log.warning("%s: failed to release lease: %s", self.config.identity, exc)

    def _observe(self, lease: dict[str, Any]) -> None:
        """Remember the record and, if it changed, when we saw it change."""
        spec = dict(lease.get("spec") or {})
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = self._clock.now()
        self._observed_lease = lease
        holder = self.leader()
        if holder != self._reported_leader:
            self._reported_leader = holder
            if holder and self._on_new_leader is not None:
                try:
                    self._on_new_leader(holder)
                except Exception:
                    log.exception("%s: on_new_leader failed", self.config.identity)

    def _names(self) -> tuple[str, str, str]:
        return self.config.identity, self.config.namespace, self.config.name


def _whole_seconds(seconds: float) -> int:
    return max(1, int(seconds))


async def _with_timeout(clock: Clock, aw: Awaitable[T], timeout: float) -> T:
    """Await ``aw`` but give up after ``timeout`` seconds on ``clock``."""
    task = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise TimeoutError(f"no answer within {timeout} s")
