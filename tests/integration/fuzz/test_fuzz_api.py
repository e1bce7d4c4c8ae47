"""The API server under a seeded, structure-aware fuzzer: no 5xx, no hang, store unchanged.

Over 20,000 requests in all (``FUZZ_SCALE`` multiplies the counts; ``FUZZ_SEED`` picks
another seed). Each family is a test of its own, so a family with a known failure is
marked with it precisely; the marks are strict, so a fix must also remove its mark.
The families, the checks and the reproduction of a failure are in ``fuzzkit``.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from fuzzkit import NS, Fuzzer, Request, load_schemas, problems, store_changes
from harness import ServerProcess

SEED = int(os.environ.get("FUZZ_SEED", "16"))
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))

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
KNOWN: dict[str, str] = {}
"""Families with a known failure: the reason (issue and item) it is marked with."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("fuzz"), ["--insecure-http"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(signal.SIGTERM)


@pytest.fixture
async def fuzzer(server: ServerProcess) -> AsyncIterator[Fuzzer]:
    if server.proc is None or server.proc.poll() is not None:
        server.start()  # an earlier family took it down: that family failed already
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(
            server.url + "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        ) as resp:
            assert resp.status in (201, 409)
        yield Fuzzer(server.url, session, await load_schemas(server.url, session))


def family_params() -> list[object]:
    out = []
    for family in COUNTS:
        marks = []
        if family in KNOWN:
            marks.append(pytest.mark.xfail(reason=KNOWN[family], strict=True))
        out.append(pytest.param(family, id=family, marks=marks))
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("family", family_params())
async def test_fuzz_family(fuzzer: Fuzzer, family: str, tmp_path: Path) -> None:
    count = max(1, int(COUNTS[family] * SCALE))
    result = await fuzzer.run(family, SEED, count)
    print(f"{family}: {result.summary()}, slowest {result.slowest:.2f}s")
    if result.failures:
        (tmp_path / "failures.txt").write_text("\n".join(result.failures))
        shown = "\n".join(result.failures[:15])
        pytest.fail(
            f"{family}: {len(result.failures)} failures in {result.summary()}:\n{shown}",
            pytrace=False,
        )
    assert result.requests == count


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param({"a": ("1", False)}, {"a": ("1", False)}, [], id="unchanged"),
        pytest.param({}, {"a": ("2", False)}, ["a appeared"], id="appeared"),
        pytest.param({"a": ("1", False)}, {"a": ("2", False)}, ["a changed 1 -> 2"], id="changed"),
        pytest.param({"a": ("1", False)}, {}, ["a vanished"], id="vanished"),
        pytest.param({"a": ("1", True)}, {}, [], id="collected-by-gc"),
        pytest.param({"a": ("1", True)}, {"a": ("3", True)}, [], id="orphaned-by-gc"),
    ],
)
def test_the_store_check_itself(
    before: dict[str, tuple[str, bool]], after: dict[str, tuple[str, bool]], expected: list[str]
) -> None:
    assert store_changes(before, after) == expected


def test_the_answer_check_itself() -> None:
    req = Request("GET", "/api/v1/pods")
    ok = json.dumps({"kind": "Status", "code": 400, "message": "bad"}).encode()
    assert problems(req, 400, {}, ok) == []
    assert problems(req, 500, {}, ok.replace(b"400", b"500"))[0] == "5xx: 500"
    leak = json.dumps({"kind": "Status", "code": 400, "message": "'str' object has no attribute"})
    assert "Python text" in problems(req, 400, {}, leak.encode())[0]
    assert "not JSON" in problems(req, 404, {}, b"404: Not Found")[0]
    assert "!= HTTP" in problems(req, 422, {}, ok)[0]
