"""The fuzzer in differential mode: every request also goes to the real kube-apiserver
(``sliceplane.testenv``), and the status class (2xx/4xx/5xx) of the two answers is
compared. A separate, longer target (``make fuzz-diff``; skipped unless
``FUZZ_DIFFERENTIAL=1``): mismatches are written to ``build/fuzz/differential.json`` and
printed, not failed, since some are documented differences (docs/upstream-differences.md);
sliceplane's own answers are held to every check of the ordinary fuzzer.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from fuzzkit import NS, Fuzzer, load_schemas
from harness import ServerProcess

from sliceplane.testenv import BinariesNotFound, ControlPlane, find_binaries

SEED = int(os.environ.get("FUZZ_SEED", "16"))
SCALE = float(os.environ.get("FUZZ_SCALE", "0.1"))
FAMILIES = [
    "valid",
    "types",
    "encoding",
    "depth",
    "names",
    "query",
    "deletes",
    "subresources",
    "sizes",
]
COUNTS = {
    "valid": 3000,
    "types": 3000,
    "encoding": 2500,
    "depth": 1500,
    "names": 2500,
    "query": 3000,
    "deletes": 2500,
    "subresources": 2000,
    "sizes": 60,
}
REPORT = Path(__file__).resolve().parents[3] / "build" / "fuzz" / "differential.json"

pytestmark = pytest.mark.skipif(
    os.environ.get("FUZZ_DIFFERENTIAL") != "1", reason="set FUZZ_DIFFERENTIAL=1 (make fuzz-diff)"
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[ControlPlane]:
    try:
        binaries = find_binaries()
    except BinariesNotFound as exc:
        pytest.skip(str(exc))
    cp = ControlPlane(binaries=binaries, unsafe_no_fsync=True)
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("fuzzdiff"), ["--insecure-http"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(signal.SIGTERM)


@pytest.fixture
async def fuzzer(server: ServerProcess, upstream: ControlPlane) -> AsyncIterator[Fuzzer]:
    ctx = ssl.create_default_context(cafile=str(upstream.ca_file))
    timeout = aiohttp.ClientTimeout(total=None)
    async with (
        aiohttp.ClientSession(timeout=timeout) as ours,
        aiohttp.ClientSession(
            timeout=timeout,
            headers={"Authorization": f"Bearer {upstream.token}"},
            connector=aiohttp.TCPConnector(ssl=ctx),
        ) as theirs,
    ):
        for base, session in ((server.url, ours), (upstream.url, theirs)):
            async with session.post(
                base + "/api/v1/namespaces",
                json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            ) as resp:
                assert resp.status in (201, 409)
        yield Fuzzer(server.url, ours, await load_schemas(server.url, ours), (upstream.url, theirs))


REPORTED: dict[str, object] = {}


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("family", FAMILIES)
async def test_fuzz_differential(fuzzer: Fuzzer, family: str) -> None:
    count = max(1, int(COUNTS[family] * SCALE))
    result = await fuzzer.run(family, SEED, count)
    by_pair: dict[str, int] = {}
    for m in result.mismatches:
        pair = f"sliceplane {m['sliceplane']} / upstream {m['upstream']}"
        by_pair[pair] = by_pair.get(pair, 0) + 1
    REPORTED[family] = {
        "requests": result.compared,
        "class_mismatches": len(result.mismatches),
        "by_codes": by_pair,
        "mismatches": result.mismatches[:200],
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(REPORTED, indent=1))
    print(
        f"{family}: {result.compared} compared, {len(result.mismatches)} class mismatches {by_pair}"
    )
    assert not result.failures, "\n".join(result.failures[:15])
