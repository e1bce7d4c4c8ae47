"""Regression tests for the hostile probe's request-path defects (issue 17), on the real
server over real HTTP. Expected answers are kube-apiserver's, probed through
``sliceplane.testenv``, except where docs/upstream-differences.md says otherwise."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from harness import ServerProcess
from yarl import URL

NS = "hostile"
PODS = f"/api/v1/namespaces/{NS}/pods"


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "h"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("hostile"), ["--insecure-http"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(signal.SIGTERM)


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(server.url) as session:
        async with session.post("/api/v1/namespaces", json={"metadata": {"name": NS}}) as resp:
            assert resp.status in (201, 409)
        async with session.post(
            "/api/v1/namespaces", json={"metadata": {"name": NS + "-2"}}
        ) as resp:
            assert resp.status in (201, 409)
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
    async with http.request(
        method,
        URL(path, encoded=True),
        data=body,
        headers=headers or {"Content-Type": "application/json"},
    ) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else {}, resp.headers


def assert_status(answer: dict[str, Any], code: int, *fragments: str) -> None:
    assert answer.get("kind") == "Status" and answer.get("code") == code, answer
    for f in fragments:
        assert f in answer["message"], answer["message"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nan", "invalid syntax"),
        ("inf", "invalid syntax"),
        ("1e400", "invalid syntax"),
        ("99999999999999999999", "value out of range"),
    ],
)
async def test_watch_timeout_must_be_an_integer(
    http: aiohttp.ClientSession, value: str, problem: str
) -> None:
    """17.2: such a watch used to be accepted and spin on a 1 ms poll forever."""
    code, answer, _ = await call(http, "GET", f"{PODS}?watch=true&timeoutSeconds={value}")
    assert code == 400
    assert_status(answer, 400, f'strconv.ParseInt: parsing "{value}": {problem}')


async def watch_ends(http: aiohttp.ClientSession) -> float:
    async with http.get("/metrics") as resp:
        text = await resp.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and 'verb="WATCH"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_watch_notices_its_client_hung_up(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    """17.2: with no event to write, the watch used to live on until its timeout."""
    before = await watch_ends(http)
    async with aiohttp.ClientSession(server.url) as other:
        resp = await other.get(f"{PODS}?watch=true&timeoutSeconds=600")
        assert resp.status == 200
        resp.close()  # hang up without a word
    for _ in range(150):
        if await watch_ends(http) > before:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the server kept the abandoned watch")


@pytest.mark.parametrize("name", ["a\r\nb", "nul\u0000key"])
async def test_a_committed_write_always_gets_its_answer(
    http: aiohttp.ClientSession, name: str
) -> None:
    """17.3: an unknown field named with CR/LF went into the Warning header raw; the HTTP
    library refused it and dropped the connection after the pod had been created."""
    pname = f"warn-{len(name)}"
    body = pod(pname)
    body[name] = 1
    code, answer, headers = await call(
        http, "POST", PODS, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    assert code == 201 and answer["metadata"]["name"] == pname
    warning = headers["Warning"]
    assert "\r" not in warning and "\n" not in warning and "\x00" not in warning
    assert warning.startswith('299 - "unknown field \\"')


async def test_continue_tokens_are_bound_to_their_list(http: aiohttp.ClientSession) -> None:
    """17.4: a token from pods?limit=1 returned Pods inside a NodeList, and another
    namespace's pods."""
    for i in range(3):
        await call(http, "POST", PODS, json.dumps(pod(f"page-{i}")).encode())
    code, first, _ = await call(http, "GET", f"{PODS}?limit=1")
    assert code == 200
    token = first["metadata"]["continue"]
    code, second, _ = await call(http, "GET", f"{PODS}?limit=1&continue={token}")
    assert (
        code == 200
        and second["items"][0]["metadata"]["name"] != first["items"][0]["metadata"]["name"]
    )
    for elsewhere in (
        f"/api/v1/nodes?limit=1&continue={token}",
        f"/api/v1/namespaces/{NS}-2/pods?limit=1&continue={token}",
        f"/api/v1/pods?limit=1&continue={token}",
        f"{PODS}?limit=1&continue={token}&labelSelector=app%3Dother",
    ):
        code, answer, _ = await call(http, "GET", elsewhere)
        assert code == 400, (elsewhere, answer)
        assert_status(answer, 400, "invalid continue token")


@pytest.mark.parametrize(
    ("body", "headers", "code", "fragment"),
    [
        pytest.param(
            b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"u8","labels":{"a":"\xc3"}},'
            b'"spec":{"containers":[{"name":"c","image":"nginx"}]}}',
            {},
            422,
            "metadata.labels: Invalid value",
            id="invalid-utf8-validated-as-fffd",
        ),
        pytest.param(
            b'{"metadata":{"name":"d","labels":' + b"[" * 1000 + b"]" * 1000 + b"}}",
            {},
            400,
            "exceeded max depth",
            id="json-depth-1000",
        ),
        pytest.param(
            b"metadata:\n  name: y\n  labels: " + b"[" * 600 + b"]" * 600 + b"\n",
            {"Content-Type": "application/yaml"},
            400,
            "exceeded max depth",
            id="yaml-depth-600",
        ),
        pytest.param(
            b"\x1f\x8b\x08junk",
            {"Content-Encoding": "gzip"},
            400,
            "could not be decoded",
            id="bad-gzip",
        ),
        pytest.param(
            b"metadata: {name: yk, labels: {null: b}}\n",
            {"Content-Type": "application/yaml"},
            400,
            "unsupported map key of type: %!s(<nil>)",
            id="yaml-null-key",
        ),
    ],
)
async def test_bad_bodies_are_4xx_without_python_text(
    http: aiohttp.ClientSession, body: bytes, headers: dict[str, str], code: int, fragment: str
) -> None:
    """17.5"""
    got, answer, _ = await call(
        http, "POST", PODS, body, {"Content-Type": "application/json", **headers}
    )
    assert got == code, answer
    assert_status(answer, code, fragment)
    for python in ("Error(", "codec", "object has no attribute", "recursion"):
        assert python not in answer["message"]


async def test_yaml_keys_that_are_numbers_become_strings(http: aiohttp.ClientSession) -> None:
    body = (
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: ykeys\n  labels:\n    1: a\n"
        b"spec:\n  containers:\n  - name: c\n    image: nginx\n"
    )
    code, answer, _ = await call(http, "POST", PODS, body, {"Content-Type": "application/yaml"})
    assert code == 201, answer
    assert answer["metadata"]["labels"] == {"1": "a"}


async def test_gzip_bodies_are_decoded(http: aiohttp.ClientSession) -> None:
    code, answer, _ = await call(
        http,
        "POST",
        PODS,
        gzip.compress(json.dumps(pod("gz")).encode()),
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert code == 201, answer


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"preconditions":"true"}', "DeleteOptions.preconditions of type v1.Preconditions"),
        (b'{"gracePeriodSeconds":"x"}', "DeleteOptions.gracePeriodSeconds of type int64"),
        (b"[" * 3000 + b"]" * 3000, "exceeded max depth"),
    ],
)
async def test_bad_delete_options_change_nothing(
    http: aiohttp.ClientSession, body: bytes, fragment: str
) -> None:
    await call(http, "POST", PODS, json.dumps(pod("keep")).encode())
    _, before, _ = await call(http, "GET", f"{PODS}/keep")
    code, answer, _ = await call(http, "DELETE", f"{PODS}/keep", body)
    assert code == 400
    assert_status(answer, 400, fragment)
    _, after, _ = await call(http, "GET", f"{PODS}/keep")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_long_urls_get_a_status(http: aiohttp.ClientSession) -> None:
    """17.7: label selectors over 8,190 bytes (kube-apiserver accepts 1 MiB of header)."""
    code, answer, _ = await call(http, "GET", f"{PODS}?labelSelector={'a' * 20000}%3Db")
    assert code == 400
    assert_status(answer, 400)


async def test_pod_status_ips_are_validated(http: aiohttp.ClientSession) -> None:
    await call(http, "POST", PODS, json.dumps(pod("ips")).encode())
    code, answer, _ = await call(
        http,
        "PATCH",
        f"{PODS}/ips/status",
        b'{"status":{"podIPs":[{"ip":"1.2.3.999"}]}}',
        {"Content-Type": "application/merge-patch+json"},
    )
    assert code == 422
    assert_status(answer, 422, 'status.podIPs[0]: Invalid value: "1.2.3.999"')


async def test_objects_over_the_size_limit_are_refused(http: aiohttp.ClientSession) -> None:
    """17.1: patches grew one object to 23 MB; now nothing over 2 MiB of JSON is stored."""
    eps = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "huge"},
        "subsets": [
            {
                "addresses": [
                    {"ip": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"} for i in range(100_000)
                ],
                "ports": [{"port": 80}],
            }
        ],
    }
    code, answer, _ = await call(
        http, "POST", f"/api/v1/namespaces/{NS}/endpoints", json.dumps(eps).encode()
    )
    assert code == 413
    assert_status(answer, 413, "etcdserver: request is too large")
    code, _, _ = await call(http, "GET", f"/api/v1/namespaces/{NS}/endpoints/huge")
    assert code == 404


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999"])
async def test_bad_resource_versions_are_400(http: aiohttp.ClientSession, value: str) -> None:
    for path in (f"{PODS}?resourceVersion={value}", f"{PODS}?watch=true&resourceVersion={value}"):
        code, answer, _ = await call(http, "GET", path)
        assert code == 400, (path, answer)
        assert_status(answer, 400, "invalid resource version", "strconv.ParseUint")


async def raw_exchange(server: ServerProcess, request: bytes) -> tuple[int, bytes, bytes]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        pytest.param(
            # Unterminated, so the server reads all of it and closes without a reset.
            b"GET /api/v1/pods?labelSelector=" + b"a" * ((1 << 20) + 10),
            431,
            id="url-over-1MiB",
        ),
        pytest.param(
            b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * ((1 << 20) + 10),
            431,
            id="header-over-1MiB",
        ),
        pytest.param(
            b"POST /api/v1/namespaces/hostile/pods HTTP/1.1\r\nHost: x\r\nContent-Length: abc"
            b"\r\n\r\n{}",
            400,
            id="bad-content-length",
        ),
        pytest.param(
            b"POST /api/v1/namespaces/hostile/pods HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            400,
            id="bad-chunk-size",
        ),
        pytest.param(b"GET /api/v1/pods HTTP/1.1\r\nBad Header\r\n\r\n", 400, id="bad-header"),
    ],
)
async def test_http_layer_errors_are_a_status(
    server: ServerProcess, http: aiohttp.ClientSession, request_bytes: bytes, code: int
) -> None:
    """17.7: these were plain text quoting the parser's Python bytearray."""
    got, head, body = await raw_exchange(server, request_bytes)
    assert got == code, head
    assert b"application/json" in head.lower()
    answer = json.loads(body)
    assert_status(answer, code)
    assert "bytearray" not in answer["message"]


async def test_an_unknown_method_is_a_405_status(http: aiohttp.ClientSession) -> None:
    code, answer, _ = await call(http, "BREW", PODS)
    assert code == 405
    assert_status(answer, 405)


async def test_strict_refuses_duplicate_fields(http: aiohttp.ClientSession) -> None:
    """Found by the differential fuzzer: kube-apiserver's strict decoder refuses repeats."""
    body = (
        json.dumps(pod("dup"))
        .encode()
        .replace(b'"metadata": {', b'"metadata": {"labels": {"a": "b"}, ', 1)
    )
    code, answer, _ = await call(http, "POST", f"{PODS}?fieldValidation=Strict", body)
    assert code == 400, answer
    assert_status(answer, 400, 'strict decoding error: duplicate field "metadata.labels"')
    code, answer, _ = await call(http, "POST", PODS, body)
    assert code == 201, answer  # Warn (the default) creates it
