"""``GET .../pods/<name>/log``: what ``kubectl logs`` reads.

kube-apiserver answers this by proxying to the kubelet of the pod's node, which reads the
container's CRI log files. sliceplane plays both halves, in the order upstream checks:

1. kube-apiserver: ``PodLogOptions`` validated (422), the container chosen or refused
   (400 ``a container name must be specified ...``), a pod with no node answered 204 No
   Content, the Node looked up (404) and its kubelet address picked;
2. the kubelet: for pods of ``sliceplane up --runtime process`` (``pods_dir`` set: the
   runtime plays every node's kubelet) the container's status decides which run to read or
   which 400 to give (``... is waiting to start: ContainerCreating``, ``previous
   terminated container ... not found``), then the run's log file is sent, and followed
   while the run lasts when ``follow`` is set.

Without ``pods_dir`` (simulated nodes) no node has a kubelet, and upstream's answer is the
failed connection to it: a 500 whose message is Go's ``Get "https://<node>:10250/
containerLogs/...": dial tcp ...``. sliceplane does make that connection (resolve and
connect, briefly), and reports what happened in Go's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

from aiohttp import web

from sliceplane.api import errors
from sliceplane.api.containerlog import (
    LogOptions,
    Selection,
    parse_options,
    split_lines,
    tail_start,
)
from sliceplane.api.field import go_quote
from sliceplane.api.meta import Obj

CONTENT_TYPE: Final = "text/plain"
POLL: Final = 0.2
"""Seconds between looks at a followed log file (and at whether its run goes on)."""
DIAL_TIMEOUT: Final = 2.0
WRITE_CHUNK: Final = 1 << 20
ADDRESS_TYPES: Final = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
"""kube-apiserver's default ``--kubelet-preferred-address-types``."""
KUBELET_PORT: Final = 10250


class KubeletUnreachable(errors.StatusError):
    """What kube-apiserver answers when it cannot reach the node's kubelet: a plain Go
    error turned into a Status, so code 500 and no reason (``StatusReasonUnknown``)."""

    code = 500
    reason = ""

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        del status["reason"]
        return status


# ---------------------------------------------------------------------------- apiserver half


def choose_container(pod: Obj, wanted: str) -> str:
    """The container to read: the one named, or the only one; 400 as upstream's
    ``validateContainer`` words it otherwise."""
    name = str(pod["metadata"].get("name") or "")
    spec = pod.get("spec") or {}
    names = [str(c.get("name")) for c in spec.get("containers") or []]
    init = [str(c.get("name")) for c in spec.get("initContainers") or []]
    ephemeral = [str(c.get("name")) for c in spec.get("ephemeralContainers") or []]
    if not wanted:
        if len(names) == 1:
            return names[0]
        if not names:
            raise errors.BadRequest(f"a container name must be specified for pod {name}")
        message = (
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise errors.BadRequest(message)
    if wanted not in (*names, *init, *ephemeral):
        raise errors.BadRequest(f"container {wanted} is not valid for pod {name}")
    return wanted


def kubelet_url(node: Obj, pod: Obj, container: str, opts: LogOptions) -> tuple[str, str, int]:
    """(the URL kube-apiserver would ask, host, port) for ``pod``'s logs on ``node``."""
    status = node.get("status") or {}
    addresses = [a for a in status.get("addresses") or [] if isinstance(a, dict)]
    host = ""
    for kind in ADDRESS_TYPES:
        host = next((str(a.get("address")) for a in addresses if a.get("type") == kind), "")
        if host:
            break
    if not host:
        known = " ".join(f"{{{a.get('type')} {a.get('address')}}}" for a in addresses)
        raise KubeletUnreachable(f"no preferred addresses found; known addresses: [{known}]")
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = int(endpoint.get("Port") or KUBELET_PORT)
    meta = pod["metadata"]
    params: list[tuple[str, str]] = []
    if opts.follow:
        params.append(("follow", "true"))
    if opts.limit_bytes is not None:
        params.append(("limitBytes", str(opts.limit_bytes)))
    if opts.previous:
        params.append(("previous", "true"))
    if opts.since_seconds is not None:
        params.append(("sinceSeconds", str(opts.since_seconds)))
    if opts.since_time is not None:
        params.append(("sinceTime", opts.since_time))
    if opts.tail_lines is not None:
        params.append(("tailLines", str(opts.tail_lines)))
    if opts.timestamps:
        params.append(("timestamps", "true"))
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    path = "/containerLogs/" + "/".join(
        quote(str(p), safe="") for p in (meta.get("namespace"), meta.get("name"), container)
    )
    query = urlencode(sorted(params))
    return f"https://{hostport}{path}?{query}", host, port


async def dial_error(host: str, port: int) -> str:
    """Try to reach ``host:port`` as kube-apiserver would; Go's words for what failed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DIAL_TIMEOUT
        )
    except (OSError, TimeoutError):
        server = _nameserver()
        return f"dial tcp: lookup {host}{f' on {server}' if server else ''}: no such host"
    address = str(infos[0][4][0])
    shown = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), DIAL_TIMEOUT)
    except ConnectionRefusedError:
        return f"dial tcp {shown}: connect: connection refused"
    except TimeoutError:
        return f"dial tcp {shown}: i/o timeout"
    except OSError as exc:
        return f"dial tcp {shown}: connect: {(exc.strerror or str(exc)).lower()}"
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return f"dial tcp {shown}: sliceplane's API server does not proxy to kubelets"


def _nameserver(path: Path = Path("/etc/resolv.conf")) -> str:
    """The first ``nameserver`` the resolver asks (Go's lookup errors name it)."""
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                address = parts[1]
                return f"[{address}]:53" if ":" in address else f"{address}:53"
    return ""


# ---------------------------------------------------------------------------- kubelet half


@dataclass(frozen=True, slots=True)
class Run:
    """Which run of a container to read, and whether it is still going (may be followed)."""

    number: int
    live: bool


def choose_run(pod: Obj, container: str, previous: bool) -> Run:
    """The kubelet's ``validateContainerLogStatus`` over the pod status: the run whose log
    to read, or its 400 (``BadRequest``) when there is none."""
    pod_name = str(pod["metadata"].get("name") or "")
    status = pod.get("status") or {}
    found: dict[str, Any] | None = None
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(key) or []:
            if isinstance(cs, dict) and cs.get("name") == container:
                found = cs
                break
        if found is not None:
            break
    c, p = go_quote(container), go_quote(pod_name)
    if found is None:
        raise errors.BadRequest(f"container {c} in pod {p} is not available")
    state = found.get("state") or {}
    last = (found.get("lastState") or {}).get("terminated")
    count = int(found.get("restartCount") or 0)
    running, terminated, waiting = (
        state.get("running"),
        state.get("terminated"),
        state.get("waiting"),
    )
    # lastState is the run before the current one, or the last run while waiting to restart.
    last_run = count - 1 if running is not None or terminated is not None else count
    if previous:
        if not last or not last.get("containerID"):
            raise errors.BadRequest(f"previous terminated container {c} in pod {p} not found")
        return Run(last_run, live=False)
    if running is not None:
        return Run(count, live=True)
    if terminated is not None:
        if terminated.get("containerID"):
            return Run(count, live=False)
        if last and last.get("containerID"):
            return Run(last_run, live=False)
        raise errors.BadRequest(f"container {c} in pod {p} is terminated")
    if last is not None:
        if not last.get("containerID"):
            raise errors.BadRequest(f"container {c} in pod {p} is terminated")
        return Run(last_run, live=False)
    if waiting is not None:
        reason = str(waiting.get("reason") or "")
        if reason == "ErrImagePull":
            reason = "image can't be pulled"
        elif reason == "ImagePullBackOff":
            reason = "trying and failing to pull image"
        raise errors.BadRequest(f"container {c} in pod {p} is waiting to start: {reason}")
    raise errors.BadRequest(f"container {c} in pod {p} is waiting to start - no logs yet")


def run_file(container_dir: Path, number: int) -> Path | None:
    """``<number>.log``, or the newest earlier run's when that one is not written yet."""
    exact = container_dir / f"{number}.log"
    if exact.exists():
        return exact
    runs = sorted(
        int(p.stem)
        for p in container_dir.glob("*.log")
        if p.stem.isdigit() and int(p.stem) <= number
    )
    return container_dir / f"{runs[-1]}.log" if runs else None


def still_running(pod: Obj | None, uid: str, container: str, number: int) -> bool:
    """Whether run ``number`` of ``container`` is still going, by the latest pod status."""
    if pod is None or pod["metadata"].get("uid") != uid or pod["metadata"].get("deletionTimestamp"):
        return False
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if isinstance(cs, dict) and cs.get("name") == container:
            return (
                "running" in (cs.get("state") or {}) and int(cs.get("restartCount") or 0) == number
            )
    return False


# ---------------------------------------------------------------------------- serving


async def serve(
    request: web.Request,
    pod: Obj,
    get_pod: Callable[[], Obj | None],
    get_node: Callable[[str], Obj],
    pods_dir: Path | None,
    query: Mapping[str, str],
) -> web.StreamResponse:
    """Answer ``pods/log`` for ``pod`` (see the module docstring). ``get_pod`` reads the
    pod again (a followed log ends with its run), ``get_node`` reads a Node or raises
    NotFound."""
    meta = pod["metadata"]
    name = str(meta.get("name") or "")
    opts = parse_options(query, name)
    container = choose_container(pod, opts.container)
    node_name = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node_name:
        return web.Response(status=204)
    try:
        node = get_node(node_name)
    except errors.NotFound:
        # Upstream's node lookup reports the missing Node as a missing pod of its name.
        raise errors.NotFound.for_object("pods", "", node_name) from None
    if pods_dir is None:
        url, host, port = kubelet_url(node, pod, container, opts)
        raise KubeletUnreachable(f"Get {go_quote(url)}: {await dial_error(host, port)}")
    # The process runtime is every node's kubelet: the pod's status says which run to
    # read (a pod it has not started yet has no container status: "not available").
    pod_dir = pods_dir / f"{meta.get('namespace')}_{name}_{meta.get('uid')}"
    run = choose_run(pod, container, opts.previous)
    path = run_file(pod_dir / container, run.number)
    resp = web.StreamResponse(status=200, headers={"Content-Type": CONTENT_TYPE})
    await resp.prepare(request)
    selection = Selection(opts, time.time_ns())
    follow = opts.follow and run.live
    uid = str(meta.get("uid") or "")
    with contextlib.suppress(ConnectionResetError):
        await _send(
            request,
            resp,
            path,
            opts,
            selection,
            follow,
            lambda: still_running(get_pod(), uid, container, run.number),
        )
        await resp.write_eof()
    return resp


async def _send(
    request: web.Request,
    resp: web.StreamResponse,
    path: Path | None,
    opts: LogOptions,
    selection: Selection,
    follow: bool,
    live: Callable[[], bool],
) -> None:
    """Send the selected part of the log file, then (``follow``) what is appended to it
    while the run lasts and the client listens."""
    data = b""
    if path is not None:
        with contextlib.suppress(OSError):
            data = path.read_bytes()
    offset = 0
    if opts.tail_lines is not None:
        offset = tail_start(data, opts.tail_lines)
    pending = data[offset:]
    position = len(data)
    while True:
        pending = await _write_lines(resp, selection, pending)
        if selection.exhausted or not follow:
            return
        # Decide whether this read was the last before reading more, so nothing written
        # just before the run ended is missed.
        going = live()
        await asyncio.sleep(POLL)
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        if path is None:
            return
        more = b""
        with contextlib.suppress(OSError), path.open("rb") as fh:
            fh.seek(position)
            more = fh.read()
            position += len(more)
            pending += more
        if not going and not more:
            await _write_lines(resp, selection, pending)
            return


async def _write_lines(resp: web.StreamResponse, selection: Selection, data: bytes) -> bytes:
    """Send the selected output of the whole lines in ``data``, about ``WRITE_CHUNK`` bytes
    of file at a time (a large log is never one buffer); returns the unfinished rest."""
    start = 0
    while start < len(data) and not selection.exhausted:
        end = data.rfind(b"\n", start, start + WRITE_CHUNK) + 1
        if end <= start:  # a line longer than a chunk: take it whole
            end = data.find(b"\n", start) + 1
            if end <= 0:
                break
        lines, _ = split_lines(data[start:end])
        start = end
        chunk = b"".join(selection.feed(lines))
        if chunk:
            await resp.write(chunk)
    return data[start:]
