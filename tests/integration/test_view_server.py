"""The view's server against the real API server: pages from informer caches, and the
event stream sending one slice card when one endpoint changes. No controllers run here:
the test writes the Service, its EndpointSlice and Endpoints itself."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from harness import ServerProcess

from sliceplane.client.client import Client
from sliceplane.machinery.clock import RealClock
from sliceplane.machinery.factory import InformerFactory
from sliceplane.view.server import SECURITY_HEADERS, ViewServer

BIN = Path(sys.executable).parent


def endpoint(i: int, ready: bool = True) -> dict[str, Any]:
    return {
        "addresses": [f"10.1.0.{i}"],
        "conditions": {"ready": ready},
        "nodeName": "node-1",
        "zone": "zone-a",
        "targetRef": {"kind": "Pod", "name": f"web-{i}", "namespace": "x"},
    }


@pytest.fixture
async def view(apiserver: ServerProcess) -> AsyncIterator[tuple[Client, str]]:
    client = await Client.connect(apiserver.kubeconfig)
    factory = InformerFactory(client, RealClock())
    server = ViewServer(factory, "127.0.0.1:0")
    factory.start()
    try:
        url = await server.start()
        await factory.wait_for_sync()
        yield client, url.rstrip("/")
    finally:
        await server.stop()
        await factory.stop()
        await client.close()


async def next_frags(resp: aiohttp.ClientResponse, want: str, timeout: float = 20) -> list[Any]:
    """Read the stream until a ``frags`` message containing ``want``; its operations."""
    async with asyncio.timeout(timeout):
        event, data = "", []
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif not line:
                payload = "\n".join(data)
                if event == "frags" and want in payload:
                    ops: list[Any] = json.loads(payload)
                    return ops
                event, data = "", []
    raise AssertionError("stream ended")


async def test_pages_and_live_slice_update(view: tuple[Client, str], namespace: str) -> None:
    client, url = view
    await client.create(
        "services",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        namespace,
    )
    es = await client.create(
        "endpointslices",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [endpoint(1), endpoint(2)],
        },
        namespace,
    )
    async with aiohttp.ClientSession() as http:
        # The namespace page lists the Service, linked by its pasteable URL.
        page = ""
        for _ in range(100):  # the informer may lag the write a moment
            async with http.get(f"{url}/ns/{namespace}") as resp:
                assert resp.status == 200
                assert (
                    resp.headers["Content-Security-Policy"]
                    == (SECURITY_HEADERS["Content-Security-Policy"])
                )
                page = await resp.text()
            if f'href="/ns/{namespace}/svc/web"' in page:
                break
            await asyncio.sleep(0.05)
        assert f'href="/ns/{namespace}/svc/web"' in page
        # The slice's informer may lag the Service's: wait until the Service page shows
        # its card, so the stream's first message is the whole page with it.
        for _ in range(100):
            async with http.get(f"{url}/ns/{namespace}/svc/web") as resp:
                if 'id="slice:web-abc"' in await resp.text():
                    break
            await asyncio.sleep(0.05)

        async with http.get(f"{url}/events", params={"ns": namespace, "svc": "web"}) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            first = await next_frags(stream, "slice:web-abc")
            ids = {op["id"] for op in first}
            assert {"summary", "findings", "slice:web-abc", "endpoints", "events"} <= ids
            card = next(op for op in first if op["id"] == "slice:web-abc")
            assert card["parent"] == "slices" and card["html"].count('class="ep s-ready"') == 2

            # One endpoint fails: the stream sends that card again, not the page.
            es["endpoints"] = [endpoint(1), endpoint(2, ready=False)]
            await client.update("endpointslices", es)
            ops = await next_frags(stream, "s-not-ready")
            changed = {op["id"] for op in ops}
            assert "slice:web-abc" in changed
            assert "events" not in changed  # unchanged fragments are not resent
            card = next(op for op in ops if op["id"] == "slice:web-abc")
            assert 'class="ep s-not-ready"' in card["html"] and "web-2" in card["html"]

            # The slice goes away: the stream says to remove its card.
            await client.delete("endpointslices", "web-abc", namespace)
            ops = await next_frags(stream, '"remove":true')
            assert {"id": "slice:web-abc", "remove": True} in ops

        async with http.get(f"{url}/static/view.js") as resp:
            assert resp.status == 200 and "EventSource" in await resp.text()
        async with http.get(f"{url}/static/nope.js") as resp:
            assert resp.status == 404
        async with http.post(f"{url}/ns/{namespace}") as resp:
            assert resp.status == 405  # the view never takes writes
        async with http.get(f"{url}/events", params={"svc": "web"}) as resp:
            assert resp.status == 400


def test_view_command_serves_until_sigterm(apiserver: ServerProcess, tmp_path: Path) -> None:
    """The real ``sliceplane view`` process: prints its address once synced, serves the
    index, stops cleanly on SIGTERM."""
    log = tmp_path / "view.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(BIN / "sliceplane"),
                "view",
                "--kubeconfig",
                str(apiserver.kubeconfig),
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not url:
            m = re.search(r"sliceplane view on (http://\S+)", log.read_text())
            url = m.group(1) if m else ""
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert url, log.read_text()
        with urllib.request.urlopen(url, timeout=30) as resp:
            page = resp.read().decode()
        assert 'id="ns:default"' in page and 'href="/ns/default"' in page
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
