"""Probes run for real against a local container: exec, TCP and HTTP(S), as the kubelet's
prober runs them (upstream ``pkg/probe``): success and the failure text that ends up in
the ``Unhealthy`` event. Thresholds, periods and back-off are :mod:`.probes`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from sliceplane.workloads.kubelet.probes import ProbeSpec
from sliceplane.workloads.kubelet.processes import killpg
from sliceplane.workloads.kubelet.processspec import expand, resolve_port

PROBE_USER_AGENT: Final = "kube-probe/1.37"


async def probe_once(
    spec: ProbeSpec,
    container: Mapping[str, Any],
    host: str,
    env: Mapping[str, str],
    cwd: Path,
    warn_once: Callable[[str, str], None],
) -> tuple[bool, str]:
    """Run one probe of a container: (success, what went wrong). ``host`` is the probe's
    own host or the pod IP; named ports resolve against the container's ports. A probe
    that raises is a failed probe, never a crash; gRPC probes are not run (counted as a
    success, with one warning)."""
    action = spec.action
    try:
        if spec.handler == "exec":
            argv = [expand(str(a), env) for a in action.get("command") or []]
            return await exec_probe(argv, env, cwd, spec.timeout)
        if spec.handler == "grpc":
            warn_once("grpc", "grpc probes are not run; counted as success")
            return True, ""
        port = resolve_port(action.get("port"), container)
        if port is None:
            return False, f"port {action.get('port')!r} is not a container port"
        if spec.handler == "tcpSocket":
            return await tcp_probe(host, port, spec.timeout)
        headers = {
            str(h.get("name")): str(h.get("value") or "")
            for h in action.get("httpHeaders") or []
            if isinstance(h, Mapping) and h.get("name")
        }
        return await http_probe(
            host,
            port,
            str(action.get("path") or "/"),
            str(action.get("scheme") or "HTTP").upper() == "HTTPS",
            headers,
            spec.timeout,
        )
    except Exception as exc:  # a probe error is a failed probe, never a crash
        return False, str(exc) or type(exc).__name__


async def exec_probe(
    argv: list[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> tuple[bool, str]:
    """Run ``argv``; success is exit 0 within ``timeout`` (a timeout kills it)."""
    if not argv:
        return False, "exec probe without a command"
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"command timed out after {timeout:g}s"
    finally:
        killpg(proc.pid, signal.SIGKILL)
    return code == 0, f"command exited with {code}"


async def tcp_probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    """Success is a TCP connection within ``timeout``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return False, f"dial tcp {host}:{port}: {exc or 'timeout'}"
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True, ""


async def http_probe(
    host: str,
    port: int,
    path: str,
    https: bool,
    headers: Mapping[str, str],
    timeout: float,
) -> tuple[bool, str]:
    """GET ``path``; success is a 2xx or 3xx status within ``timeout`` (TLS unverified,
    as upstream's prober)."""
    url = f"{'https' if https else 'http'}://{host}:{port}{path}"

    async def go() -> tuple[bool, str]:
        ctx: ssl.SSLContext | None = None
        if https:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        try:
            lines = {"Host": f"{host}:{port}", "User-Agent": PROBE_USER_AGENT, "Accept": "*/*"}
            lines.update(headers)
            lines["Connection"] = "close"
            head = "".join(f"{k}: {v}\r\n" for k, v in lines.items())
            writer.write(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1"))
            await writer.drain()
            status_line = (await reader.readline()).decode("latin-1").split()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if len(status_line) < 2 or not status_line[1].isdigit():
            return False, f"Get {url!r}: malformed HTTP response"
        code = int(status_line[1])
        if 200 <= code < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {code}"

    try:
        return await asyncio.wait_for(go(), timeout)
    except TimeoutError:
        return False, f"Get {url!r}: context deadline exceeded"
    except OSError as exc:
        return False, f"Get {url!r}: {exc}"
