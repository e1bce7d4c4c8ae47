"""Two LeaderElectors competing for one Lease on the real server, through sliceplane's
client (``ClientLeaseClient``) and the real clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from harness import ServerProcess

from sliceplane.client.client import Client
from sliceplane.client.leases import ClientLeaseClient
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.leaderelection import LeaderElectionConfig, LeaderElector

LEASE_DURATION = 2.0
RENEW_DEADLINE = 1.5
RETRY_PERIOD = 0.3


@dataclass
class Candidate:
    identity: str
    client: Client
    elector: LeaderElector
    task: asyncio.Task[None] | None = None
    started: int = 0
    stopped: int = 0
    leaders_seen: list[str] = field(default_factory=list)


MakeCandidate = Callable[..., Awaitable[Candidate]]


@pytest.fixture
async def make_candidate(apiserver: ServerProcess, namespace: str) -> AsyncIterator[MakeCandidate]:
    made: list[Candidate] = []

    async def make(identity: str, *, release_on_cancel: bool = False) -> Candidate:
        client = await Client.connect(apiserver.kubeconfig)
        config = LeaderElectionConfig(
            namespace=namespace,
            name="controller",
            identity=identity,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
            release_on_cancel=release_on_cancel,
        )
        cand: Candidate

        async def lead() -> None:
            cand.started += 1
            await asyncio.Event().wait()  # lead until cancelled

        def stopped() -> None:
            cand.stopped += 1

        elector = LeaderElector(
            ClientLeaseClient(client),
            config,
            RealClock(),
            on_started_leading=lead,
            on_stopped_leading=stopped,
            on_new_leader=lambda who: cand.leaders_seen.append(who),
        )
        cand = Candidate(identity, client, elector)
        cand.task = asyncio.create_task(elector.run(), name=f"elector-{identity}")
        made.append(cand)
        return cand

    try:
        yield make
    finally:
        for c in made:
            if c.task is not None:
                c.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await c.task
            await c.client.close()


async def wait_for_single_leader(cands: list[Candidate], timeout: float) -> Candidate:
    """Poll until exactly one candidate leads; never two at once meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        leaders = [c for c in cands if c.elector.is_leader()]
        assert len(leaders) <= 1, [c.identity for c in leaders]
        if len(leaders) == 1:
            return leaders[0]
        assert loop.time() < deadline, "no leader elected in time"
        await asyncio.sleep(0.02)


async def stop(c: Candidate) -> None:
    assert c.task is not None
    c.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await c.task
    c.task = None


async def test_exactly_one_leader_and_handover(
    make_candidate: MakeCandidate, namespace: str
) -> None:
    a = await make_candidate("candidate-a")
    b = await make_candidate("candidate-b")
    leader = await wait_for_single_leader([a, b], timeout=LEASE_DURATION * 3)
    follower = b if leader is a else a

    # It stays the only leader across several renewals, and the Lease says so.
    loop = asyncio.get_running_loop()
    until = loop.time() + 3 * RETRY_PERIOD
    while loop.time() < until:
        assert leader.elector.is_leader() and not follower.elector.is_leader()
        await asyncio.sleep(0.05)
    assert leader.started == 1 and follower.started == 0
    lease = await leader.client.get("leases", "controller", namespace)
    assert lease["spec"]["holderIdentity"] == leader.identity
    assert lease["spec"]["leaseDurationSeconds"] == int(LEASE_DURATION)
    transitions = lease["spec"]["leaseTransitions"]
    assert follower.elector.leader() == leader.identity

    # The leader stops without releasing: the follower takes over once the lease expires,
    # i.e. within a lease duration (plus one retry period and scheduling slack).
    await stop(leader)
    assert leader.stopped == 1
    assert not leader.elector.is_leader()
    new = await wait_for_single_leader([follower], timeout=LEASE_DURATION + RETRY_PERIOD + 1.5)
    assert new is follower
    lease = await follower.client.get("leases", "controller", namespace)
    assert lease["spec"]["holderIdentity"] == follower.identity
    assert lease["spec"]["leaseTransitions"] == transitions + 1
    assert follower.leaders_seen[-1] == follower.identity
    await asyncio.sleep(0)  # the leading coroutine starts on the next loop turn
    assert follower.started == 1


async def test_release_on_cancel_hands_over_quickly(
    make_candidate: MakeCandidate, namespace: str
) -> None:
    a = await make_candidate("fast-a", release_on_cancel=True)
    b = await make_candidate("fast-b", release_on_cancel=True)
    leader = await wait_for_single_leader([a, b], timeout=LEASE_DURATION * 3)
    follower = b if leader is a else a
    await stop(leader)
    lease = await follower.client.get("leases", "controller", namespace)
    assert lease["spec"]["holderIdentity"] in ("", follower.identity)
    # A released lease is free at once: the follower need not wait for expiry.
    await wait_for_single_leader([follower], timeout=LEASE_DURATION)
