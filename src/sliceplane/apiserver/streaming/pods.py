"""Which pod, container and backend a streaming request is for, with upstream's refusals.

Why pure: what kube-apiserver refuses before it ever dials a kubelet (a container name
that is missing or wrong, a pod with no node: ``pkg/registry/core/pod/strategy.go``'s
``streamLocation``/``PortForwardLocation``), what the kubelet refuses (no stream asked
for: ``remotecommand.NewOptions``), and who serves the pod here are decisions over the pod
object and the query; the handler only does the I/O they lead to.

Who serves a pod: a pod of the process runtime (``sliceplane up --runtime process``)
carries ``process://PID`` container IDs; its processes run on this machine, bound to the
pod IP, so the API server itself plays the kubelet's streaming half (dial the pod IP,
run the command in the container's environment) -- only when started for it
(``--serve-process-pods``, which ``sliceplane up`` passes), so that a status written
by any client never makes the server run commands. Any other pod is on a simulated node,
whose kubelet API does not exist: it is answered as kube-apiserver answers a pod whose
kubelet cannot be reached, with the true reason in the message (:func:`unreachable`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

from sliceplane.api import errors
from sliceplane.api.meta import Obj

PROCESS_ID_PREFIX: Final = "process://"


@dataclass(frozen=True, slots=True)
class ExecOptions:
    """``PodExecOptions`` from the query (``command`` repeated, booleans as Go reads them)."""

    command: tuple[str, ...]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean option as apimachinery's ``Convert_Slice_string_To_bool`` reads a query
    parameter: absent is false, ``0`` and ``false`` (any case) are false, anything else
    is true."""
    if name not in query:
        return False
    value = query[name]
    return not (value == "0" or value.lower() == "false")


def container_of(pod: Obj, requested: str) -> Obj:
    """The container a request names (or the only one), as ``validateContainer`` decides;
    ``BadRequest`` with upstream's messages otherwise."""
    spec = pod.get("spec") or {}
    name = str(pod["metadata"].get("name") or "")
    containers: list[Obj] = list(spec.get("containers") or [])
    every = [
        *(spec.get("initContainers") or []),
        *containers,
        *(spec.get("ephemeralContainers") or []),
    ]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        if not containers:
            raise errors.BadRequest(f"a container name must be specified for pod {name}")
        names = " ".join(str(c.get("name")) for c in every)
        raise errors.BadRequest(
            f"a container name must be specified for pod {name}, choose one of: [{names}]"
        )
    for c in every:
        if c.get("name") == requested:
            return dict(c)
    raise errors.BadRequest(f"container {requested} is not valid for pod {name}")


def node_of(pod: Obj) -> str:
    """The pod's node; ``BadRequest`` for a pod not yet scheduled (as upstream)."""
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node:
        raise errors.BadRequest(f"pod {pod['metadata'].get('name')} does not have a host assigned")
    return node


def exec_options(query: Mapping[str, str], commands: Sequence[str], pod: Obj) -> ExecOptions:
    """The exec request's options, checked as the API server and kubelet check them:
    the container first (API server), then at least one stream (kubelet); with a TTY,
    stderr is merged into stdout, as the kubelet does."""
    container = container_of(pod, query.get("container", ""))
    tty = _flag(query, "tty")
    stdin, stdout = _flag(query, "stdin"), _flag(query, "stdout")
    stderr = _flag(query, "stderr") and not tty
    node_of(pod)
    if not (stdin or stdout or stderr):
        raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return ExecOptions(tuple(commands), str(container.get("name")), stdin, stdout, stderr, tty)


def attach_options(query: Mapping[str, str], pod: Obj) -> ExecOptions:
    """``PodAttachOptions`` checked as exec's are (container, then at least one stream;
    stderr merged into stdout with a TTY); there is no command."""
    return exec_options(query, (), pod)


def process_backed(pod: Obj) -> bool:
    """Whether the pod's containers run as processes of the process runtime here."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(str(s.get("containerID") or "").startswith(PROCESS_ID_PREFIX) for s in statuses)


SIMULATED_LABEL: Final = "sliceplane.io/simulated"
"""The label ``sliceplane up`` puts on its own nodes (``workloads.kubelet.nodes``)."""


def sliceplane_node(node: Obj) -> bool:
    """Whether ``node`` is one ``sliceplane up`` registered (not one made by hand)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get(SIMULATED_LABEL) == "true"


def running_container(pod: Obj, container: str) -> bool:
    """Whether ``container`` has a running process (a kubelet execs only into those)."""
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        if s.get("name") == container:
            return "running" in (s.get("state") or {}) and str(
                s.get("containerID") or ""
            ).startswith(PROCESS_ID_PREFIX)
    return False


def restart_count(pod: Obj, container: str) -> int:
    """The container's ``restartCount``: the number of its current run (log file)."""
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        if s.get("name") == container:
            return int(s.get("restartCount") or 0)
    return 0


def pod_ip(pod: Obj) -> str:
    """The pod's primary address (``status.podIPs[0]``, as upstream's ``getPodIP``)."""
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    if ips and isinstance(ips[0], dict):
        return str(ips[0].get("ip") or "")
    return str(status.get("podIP") or "")


_ADDRESS_TYPES: Final = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
"""kube-apiserver's default ``--kubelet-preferred-address-types``."""


def kubelet_address(node: Obj) -> str:
    """``HOST:PORT`` kube-apiserver would dial for ``node``'s kubelet: the first address
    of the preferred types, the port from ``daemonEndpoints`` (10250 if unset)."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    host = next(
        (
            str(a.get("address"))
            for kind in _ADDRESS_TYPES
            for a in addresses
            if isinstance(a, dict) and a.get("type") == kind and a.get("address")
        ),
        str(node.get("metadata", {}).get("name") or ""),
    )
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = int(endpoint.get("Port") or 10250)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def exec_location(address: str, pod: Obj, opts: ExecOptions, sub: str = "exec") -> str:
    """The kubelet URL kube-apiserver sends an exec (or attach, ``sub``) to
    (``streamLocation`` and ``streamParams``: the kubelet's own parameter names, sorted
    as Go encodes them; an attach has no command)."""
    params: list[tuple[str, str]] = [("command", c) for c in opts.command]
    params += [
        (key, "1")
        for key, on in (
            ("error", opts.stderr),
            ("input", opts.stdin),
            ("output", opts.stdout),
            ("tty", opts.tty),
        )
        if on
    ]
    params.sort(key=lambda kv: kv[0])
    meta = pod["metadata"]
    path = f"/{sub}/{meta.get('namespace')}/{meta.get('name')}/{opts.container}"
    return f"https://{address}{path}?{urlencode(params, quote_via=quote)}".replace("%20", "+")


def unreachable(node: str, address: str) -> str:
    """Why no kubelet answers for a pod of a simulated node, in the place of upstream's
    dial error (``dial tcp ADDRESS: connect: connection refused``): the address kube-apiserver
    would dial, then the true reason, for nothing is dialled."""
    return (
        f'dial tcp {address}: node "{node}" is simulated by sliceplane and serves no '
        "kubelet API (exec, attach and port-forward reach pods of sliceplane up --runtime "
        "process only)"
    )


def unknown_status(code: int, message: str) -> dict[str, Any]:
    """A Status as apimachinery's ``ErrorToAPIStatus`` makes of a plain Go error: no
    reason (StatusReasonUnknown), the error's text as the message."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "code": code,
    }
