"""Which pod, container and backend a streaming request is for, with upstream's refusals.

Why pure: what kube-apiserver refuses before it ever dials a kubelet (a container name
that is missing or wrong, a pod with no node: ``pkg/registry/core/pod/strategy.go``'s
``streamLocation``/``PortForwardLocation``), what the kubelet refuses (no stream asked
for: ``remotecommand.NewOptions``), and who serves the pod here are decisions over the pod
object and the query; the handler only does the I/O they lead to.

Who serves a pod: a pod of the process runtime (``sliceplane up --runtime process``)
carries ``process://PID`` container IDs; its processes run on this machine, bound to the
pod IP, so the API server itself plays the kubelet's streaming half (dial the pod IP,
run the command in the container's environment). Any other pod is on a simulated node,
whose kubelet API does not exist: it is answered as kube-apiserver answers a pod whose
kubelet cannot be reached, with the true reason in the message (:func:`unreachable`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sliceplane.api import errors
from sliceplane.api.meta import Obj

PROCESS_ID_PREFIX: Final = "process://"
_TRUE: Final = ("1", "t", "true", "True", "TRUE")
"""Go's ``strconv.ParseBool`` true spellings (how query parameters become options)."""


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
    return query.get(name, "") in _TRUE


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


def process_backed(pod: Obj) -> bool:
    """Whether the pod's containers run as processes of the process runtime here."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(str(s.get("containerID") or "").startswith(PROCESS_ID_PREFIX) for s in statuses)


def running_container(pod: Obj, container: str) -> bool:
    """Whether ``container`` has a running process (a kubelet execs only into those)."""
    for s in (pod.get("status") or {}).get("containerStatuses") or []:
        if s.get("name") == container:
            return "running" in (s.get("state") or {}) and str(
                s.get("containerID") or ""
            ).startswith(PROCESS_ID_PREFIX)
    return False


def pod_ip(pod: Obj) -> str:
    """The pod's primary address (``status.podIPs[0]``, as upstream's ``getPodIP``)."""
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    if ips and isinstance(ips[0], dict):
        return str(ips[0].get("ip") or "")
    return str(status.get("podIP") or "")


def unreachable(node: str) -> str:
    """Why no kubelet answers for a pod of a simulated node (the dial error's place in
    upstream's messages: ``error dialing backend: ...``)."""
    return (
        f'node "{node}" is simulated by sliceplane and serves no kubelet API '
        "(exec and port-forward reach pods of sliceplane up --runtime process only)"
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
