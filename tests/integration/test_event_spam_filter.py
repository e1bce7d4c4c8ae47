"""The event recorder's spam filter against the embedded API server: like client-go's
correlator, an involved object gets at most 25 Events in a burst (then one per 5 minutes),
and other objects keep their own budget."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from harness import ServerProcess

from sliceplane.api.meta import Obj
from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.events import SPAM_BURST, EventRecorder


@pytest.fixture
async def client(apiserver: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(apiserver.kubeconfig)
    yield c
    await c.close()


async def _events_for(client: Client, ns: str, uid: str) -> list[Obj]:
    items = (await client.list_all("events", ns)).items
    return [e for e in items if (e.get("involvedObject") or {}).get("uid") == uid]


async def test_an_objects_burst_is_capped_and_others_keep_theirs(client: Client) -> None:
    ns = f"spam-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    try:
        noisy = await client.create(
            "configmaps", {"metadata": {"name": "noisy", "namespace": ns}}, ns
        )
        quiet = await client.create(
            "configmaps", {"metadata": {"name": "quiet", "namespace": ns}}, ns
        )
        recorder = EventRecorder(client, RealClock(), "spam-test")
        for i in range(SPAM_BURST + 5):
            await recorder.record(noisy, "Normal", "Created", f"created thing {i}")
        await recorder.record(quiet, "Normal", "Created", "created thing 0")

        noisy_events = await _events_for(client, ns, noisy["metadata"]["uid"])
        assert sorted(e["message"] for e in noisy_events) == sorted(
            f"created thing {i}" for i in range(SPAM_BURST)
        )
        quiet_events = await _events_for(client, ns, quiet["metadata"]["uid"])
        assert [e["message"] for e in quiet_events] == ["created thing 0"]
        assert recorder.dropped == 5
    finally:
        await client.delete("namespaces", ns)
