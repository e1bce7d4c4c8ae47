from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from sliceplane.api.errors import AlreadyExists, Conflict, InternalError, NotFound
from sliceplane.api.meta import format_micro_time
from sliceplane.machinery.clock import FakeClock
from sliceplane.machinery.leaderelection import (
    LeaderElectionConfig,
    LeaderElector,
)

Obj = dict[str, Any]


class LeaseStore:
    """Server side: one namespace of Leases with resourceVersion checks."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], Obj] = {}
        self.rv = 100
        self.conflicts = 0

    def _key(self, obj: Obj) -> tuple[str, str]:
        return obj["metadata"]["namespace"], obj["metadata"]["name"]

    def _stamp(self, obj: Obj) -> Obj:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj


class FakeLeaseClient:
    """One candidate's connection; ``broken`` simulates a partitioned/paused process.
    Every call yields to the loop first so candidates interleave like real I/O."""

    def __init__(self, store: LeaseStore, clock: FakeClock | None = None) -> None:
        self.store = store
        self.broken = False
        self.clock = clock
        self.write_latency = 0.0

    async def _io(self) -> None:
        await asyncio.sleep(0)
        if self.broken:
            raise InternalError("connection refused")

    async def get(self, namespace: str, name: str) -> Obj | None:
        await self._io()
        lease = self.store.leases.get((namespace, name))
        return copy.deepcopy(lease) if lease else None

    async def create(self, obj: Obj) -> Obj:
        await self._io()
        key = self.store._key(obj)
        if key in self.store.leases:
            self.store.conflicts += 1
            raise AlreadyExists.for_object("leases", "coordination.k8s.io", key[1])
        self.store.leases[key] = self.store._stamp(obj)
        return copy.deepcopy(self.store.leases[key])

    async def update(self, obj: Obj) -> Obj:
        await self._io()
        if self.clock is not None and self.write_latency:
            await self.clock.sleep(self.write_latency)  # lets a rival read the old RV
        key = self.store._key(obj)
        current = self.store.leases.get(key)
        if current is None:
            raise NotFound.for_object("leases", "coordination.k8s.io", key[1])
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            self.store.conflicts += 1
            raise Conflict.modified("leases", "coordination.k8s.io", key[1])
        self.store.leases[key] = self.store._stamp(obj)
        return copy.deepcopy(self.store.leases[key])


class Candidate:
    def __init__(
        self,
        name: str,
        store: LeaseStore,
        clock: FakeClock,
        log: list[tuple[float, str]],
        **kw: Any,
    ) -> None:
        self.name = name
        self.client = FakeLeaseClient(store, clock)
        self.clock = clock
        self.log = log
        self.leaders_seen: list[str] = []
        self.elector = LeaderElector(
            self.client,
            LeaderElectionConfig("kube-system", "endpointslice-controller", name, **kw),
            clock,
            on_started_leading=self.lead,
            on_stopped_leading=lambda: log.append((clock.now(), f"{name} stopped")),
            on_new_leader=self.leaders_seen.append,
        )
        self.task: asyncio.Task[None] | None = None

    async def lead(self) -> None:
        self.log.append((self.clock.now(), f"{self.name} started"))
        try:
            await asyncio.Event().wait()
        finally:
            self.log.append((self.clock.now(), f"{self.name} work cancelled"))

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())


def lease(store: LeaseStore) -> Obj:
    return store.leases[("kube-system", "endpointslice-controller")]


def assert_never_two_leaders(log: list[tuple[float, str]]) -> None:
    current: str | None = None
    for _, entry in log:
        who, what = entry.split(" ", 1)
        if what == "started":
            assert current is None, f"{who} started while {current} leads"
            current = who
        elif what == "stopped" and current == who:
            current = None


@pytest.fixture
def world() -> tuple[FakeClock, LeaseStore, list[tuple[float, str]]]:
    return FakeClock(start=0.0, epoch=datetime(2025, 1, 1, tzinfo=UTC)), LeaseStore(), []


async def test_exactly_one_of_two_candidates_leads_and_keeps_renewing(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    a, b = Candidate("a", store, clock, log), Candidate("b", store, clock, log)
    a.start()
    b.start()
    await clock.settle()
    leaders = [c for c in (a, b) if c.elector.is_leader()]
    assert len(leaders) == 1
    assert store.conflicts == 1  # both tried to create; the store let exactly one win
    winner = leaders[0].name
    spec = lease(store)["spec"]
    assert spec["holderIdentity"] == winner
    assert spec["leaseTransitions"] == 0
    assert spec["leaseDurationSeconds"] == 15
    assert spec["acquireTime"] == spec["renewTime"] == "2025-01-01T00:00:00.000000Z"
    await clock.advance(60)
    assert [c.elector.is_leader() for c in (a, b)].count(True) == 1
    spec = lease(store)["spec"]
    assert spec["holderIdentity"] == winner
    assert spec["renewTime"] == "2025-01-01T00:01:00.000000Z"  # renewed every 2 s
    assert spec["acquireTime"] == "2025-01-01T00:00:00.000000Z"
    assert a.leaders_seen == b.leaders_seen == [winner]
    for c in (a, b):
        assert c.task is not None
        c.task.cancel()
    await asyncio.gather(*(c.task for c in (a, b) if c.task), return_exceptions=True)


async def test_follower_takes_over_after_leader_stops_renewing(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    a = Candidate("a", store, clock, log)
    a.start()
    await clock.settle()
    b = Candidate("b", store, clock, log)
    b.start()
    await clock.advance(10)
    assert a.elector.is_leader() and not b.elector.is_leader()
    last_renew = clock.now()  # a renewed at t=10
    a.client.broken = True  # a can no longer reach the API
    await clock.advance(9.9)
    assert a.elector.is_leader()
    await clock.advance(0.1)  # 10 s renew deadline since the last renewal
    assert not a.elector.is_leader()
    assert a.task is not None and a.task.done() and a.task.exception() is None
    assert not b.elector.is_leader()  # b still honours the lease it last saw at t=10
    await clock.advance(4.9)
    assert not b.elector.is_leader()
    await clock.advance(2.1)  # b's next poll after t=25 (10 + 15)
    assert b.elector.is_leader()
    spec = lease(store)["spec"]
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    # b polls every 2 s from t=0; the first poll at or after 10 + 15 is t=26.
    assert last_renew == 10
    assert spec["acquireTime"] == spec["renewTime"] == "2025-01-01T00:00:26.000000Z"
    assert [e for _, e in log] == ["a started", "a work cancelled", "a stopped", "b started"]
    assert_never_two_leaders(log)
    assert b.leaders_seen == ["a", "b"]
    assert b.task is not None
    b.task.cancel()
    await asyncio.gather(b.task, return_exceptions=True)


async def test_two_followers_race_for_an_expired_lease_and_one_wins(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    a = Candidate("a", store, clock, log)
    a.start()
    await clock.settle()
    b, c = Candidate("b", store, clock, log), Candidate("c", store, clock, log)
    b.client.write_latency = c.client.write_latency = 0.5
    b.start()
    c.start()
    await clock.settle()
    a.client.broken = True
    conflicts_before = store.conflicts
    await clock.advance(40)
    assert [x.elector.is_leader() for x in (a, b, c)].count(True) == 1
    assert store.conflicts > conflicts_before  # the loser's update hit a stale RV
    assert lease(store)["spec"]["leaseTransitions"] == 1
    assert_never_two_leaders(log)
    for x in (b, c):
        assert x.task is not None
        x.task.cancel()
    await asyncio.gather(*(x.task for x in (b, c) if x.task), return_exceptions=True)


async def test_release_on_cancel_hands_over_without_waiting_for_expiry(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    a = Candidate("a", store, clock, log, release_on_cancel=True)
    a.start()
    await clock.settle()
    b = Candidate("b", store, clock, log)
    b.start()
    await clock.advance(5)
    assert a.task is not None
    a.task.cancel()
    await asyncio.gather(a.task, return_exceptions=True)
    assert a.task.cancelled()
    spec = lease(store)["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    await clock.advance(2)  # b's next poll
    assert b.elector.is_leader()
    assert lease(store)["spec"]["leaseTransitions"] == 1
    assert [e for _, e in log] == ["a started", "a work cancelled", "a stopped", "b started"]
    assert b.task is not None
    b.task.cancel()
    await asyncio.gather(b.task, return_exceptions=True)


async def test_without_release_a_cancelled_leader_leaves_the_lease_to_expire(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    a = Candidate("a", store, clock, log)
    a.start()
    await clock.settle()
    b = Candidate("b", store, clock, log)
    b.start()
    await clock.advance(4)
    assert a.task is not None
    a.task.cancel()
    await asyncio.gather(a.task, return_exceptions=True)
    assert lease(store)["spec"]["holderIdentity"] == "a"
    await clock.advance(14)
    assert not b.elector.is_leader()
    await clock.advance(4)
    assert b.elector.is_leader()
    assert b.task is not None
    b.task.cancel()
    await asyncio.gather(b.task, return_exceptions=True)


async def test_fresh_candidate_waits_a_full_lease_duration_for_a_dead_holder(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    store.leases[("kube-system", "endpointslice-controller")] = store._stamp(
        {
            "metadata": {"namespace": "kube-system", "name": "endpointslice-controller"},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 15,
                "renewTime": "2020-01-01T00:00:00.000000Z",
                "leaseTransitions": 4,
            },
        }
    )
    b = Candidate("b", store, clock, log)
    b.start()
    await clock.advance(14)
    assert not b.elector.is_leader() and b.elector.leader() == "ghost"
    await clock.advance(2)
    assert b.elector.is_leader()
    assert lease(store)["spec"]["leaseTransitions"] == 5
    assert b.task is not None
    b.task.cancel()
    await asyncio.gather(b.task, return_exceptions=True)


async def test_failing_leader_work_steps_down_and_reraises(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, _ = world
    stopped: list[bool] = []

    async def crash() -> None:
        await clock.sleep(3)
        raise RuntimeError("controller crashed")

    elector = LeaderElector(
        FakeLeaseClient(store),
        LeaderElectionConfig("kube-system", "x", "a"),
        clock,
        on_started_leading=crash,
        on_stopped_leading=lambda: stopped.append(True),
    )
    task = asyncio.create_task(elector.run())
    await clock.advance(3)
    with pytest.raises(RuntimeError, match="controller crashed"):
        await task
    assert stopped == [True] and not elector.is_leader()


@pytest.mark.parametrize(
    ("kw", "ok"),
    [
        pytest.param({}, True, id="defaults"),
        pytest.param({"renew_deadline": 15.0}, False, id="renew-not-below-lease"),
        pytest.param({"retry_period": 10.0}, False, id="retry-not-below-renew"),
        pytest.param({"identity": ""}, False, id="no-identity"),
    ],
)
def test_config_validation(kw: dict[str, Any], ok: bool) -> None:
    args: dict[str, Any] = {"namespace": "ns", "name": "l", "identity": "me", **kw}
    if ok:
        cfg = LeaderElectionConfig(**args)
        assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15, 10, 2)
    else:
        with pytest.raises(ValueError):
            LeaderElectionConfig(**args)


def test_micro_time_format() -> None:
    dt = datetime(2024, 3, 5, 7, 8, 9, 12, tzinfo=UTC)
    assert format_micro_time(dt) == "2024-03-05T07:08:09.000012Z"


async def test_hanging_renewal_is_cut_off_at_the_renew_deadline(
    world: tuple[FakeClock, LeaseStore, list[tuple[float, str]]],
) -> None:
    clock, store, log = world
    a = Candidate("a", store, clock, log)
    a.start()
    await clock.advance(4)  # renewed at t=2 and t=4
    a.client.write_latency = 1000.0  # the API server stops answering updates
    await clock.advance(9.9)
    assert a.elector.is_leader()
    await clock.advance(0.1)
    assert not a.elector.is_leader()
    assert [e for _, e in log] == ["a started", "a work cancelled", "a stopped"]
    assert clock.pending_sleepers() == 0  # the abandoned update was cancelled
