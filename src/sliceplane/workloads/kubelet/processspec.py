"""From a pod spec to local processes, and from processes back to a pod status (pure).

Why: the process runtime (:mod:`sliceplane.workloads.kubelet.processruntime`) turns containers
into real local processes, and everything it decides before and after a fork is a rule a
user can look up in the Kubernetes docs — how ``command``/``args`` replace the image's
ENTRYPOINT/CMD, how ``$(VAR)`` references expand, which env a container sees, which phase
a pod is in given its containers, what a container status looks like. Those rules live
here, free of I/O, so they can be tested in tables; the runtime only forks and watches.

What a process sees (documented for users of ``sliceplane up --runtime process``):

* argv: ``command + args`` after ``$(VAR)`` expansion (``$$`` escapes a ``$``); a
  container without ``command`` is not runnable here (there is no image to supply an
  ENTRYPOINT) and is reported waiting with reason ``RunContainerError``;
* env: ``PATH``, ``HOME``, ``LANG``, ``LC_*``, ``TZ``, ``TMPDIR`` from the host (so
  commands resolve as in the user's shell), ``HOSTNAME`` (the pod name, as in a pod),
  ``POD_IP``, ``POD_NAME``, ``POD_NAMESPACE``, ``PORT`` (the container's first declared
  port) and ``PORT_<NAME>`` per named port, then the container's ``env`` in order (values
  expanded against what came before; ``valueFrom.fieldRef`` for metadata.name,
  metadata.namespace, metadata.uid, metadata.labels/annotations['k'], spec.nodeName,
  spec.serviceAccountName, status.podIP, status.podIPs, status.hostIP). Other
  ``valueFrom`` sources are not supported: the container waits with
  ``CreateContainerConfigError``, as a kubelet does when it cannot build the env.

Pod addresses: a process must be able to bind its pod IP without root. See
:func:`loopback_alias` and the runtime's docstring for the loopback / pod-CIDR choice.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.podstatus import find_condition
from sliceplane.workloads.kubelet.kubeletstatus import CONTAINERS_READY, READY, running_status
from sliceplane.workloads.podstate import set_condition

HOST_ENV_KEYS: Final = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "USER", "LOGNAME")
"""Host variables a process inherits (plus every ``LC_*``)."""

NO_COMMAND_MESSAGE: Final = "sliceplane process runtime: container has no command"
RUN_CONTAINER_ERROR: Final = "RunContainerError"
CONFIG_ERROR: Final = "CreateContainerConfigError"
CRASH_LOOP: Final = "CrashLoopBackOff"
CONTAINER_CREATING: Final = "ContainerCreating"


class NotRunnable(Exception):
    """The container cannot run as a local process; ``reason`` is the waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------------------- expansion


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion (``third_party/forked/golang/expansion``).

    ``$(NAME)`` becomes the value of NAME when defined and stays as written otherwise;
    ``$$`` is a literal ``$``; any other ``$`` (including an unclosed ``$(``) is kept.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def resolve_command(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """argv for ``container``: ``command`` replaces the image's ENTRYPOINT and ``args`` its
    CMD, both expanded. Without ``command`` there is nothing to run (no image here)."""
    command = [str(c) for c in container.get("command") or []]
    if not command:
        raise NotRunnable(RUN_CONTAINER_ERROR, NO_COMMAND_MESSAGE)
    args = [str(a) for a in container.get("args") or []]
    return [expand(part, env) for part in (*command, *args)]


# ---------------------------------------------------------------------------- env


def port_env_name(name: str) -> str:
    """``PORT_<NAME>`` for a named port: upper case, ``-`` and ``.`` as ``_``."""
    return "PORT_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def port_env(container: Mapping[str, Any]) -> dict[str, str]:
    """``PORT`` (first declared port) and ``PORT_<NAME>`` for every named port."""
    out: dict[str, str] = {}
    for p in container.get("ports") or []:
        if not isinstance(p, Mapping) or not isinstance(p.get("containerPort"), int):
            continue
        port = str(p["containerPort"])
        out.setdefault("PORT", port)
        if p.get("name"):
            out[port_env_name(str(p["name"]))] = port
    return out


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")


def field_ref(pod: Mapping[str, Any], path: str, pod_ips: Sequence[str]) -> str:
    """The value of a downward-API ``fieldRef.fieldPath`` (supported subset)."""
    meta = meta_of(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": pod_ips[0] if pod_ips else "",
        "status.podIPs": ",".join(pod_ips),
        "status.hostIP": status.get("hostIP"),
    }
    if path in simple:
        value = simple[path]
        return "" if value is None else str(value)
    m = _SUBSCRIPT.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise NotRunnable(
        CONFIG_ERROR, f"sliceplane process runtime: fieldRef {path!r} is not supported"
    )


def host_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The host variables a process inherits (see the module docstring)."""
    return {k: v for k, v in environ.items() if k in HOST_ENV_KEYS or k.startswith("LC_")}


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ips: Sequence[str],
    inherited: Mapping[str, str],
) -> dict[str, str]:
    """The environment of ``container``'s process (see the module docstring for order)."""
    meta = meta_of(pod)
    env: dict[str, str] = dict(inherited)
    env["HOSTNAME"] = str(meta.get("name") or "")
    env["POD_IP"] = pod_ips[0] if pod_ips else ""
    env["POD_NAME"] = str(meta.get("name") or "")
    env["POD_NAMESPACE"] = str(meta.get("namespace") or "")
    env.update(port_env(container))
    for var in container.get("env") or []:
        if not isinstance(var, Mapping) or not var.get("name"):
            continue
        name = str(var["name"])
        source = var.get("valueFrom")
        if isinstance(source, Mapping) and source:
            ref = source.get("fieldRef")
            if not isinstance(ref, Mapping) or not ref.get("fieldPath"):
                kind = next(iter(source))
                raise NotRunnable(
                    CONFIG_ERROR,
                    f"sliceplane process runtime: env {name}: valueFrom.{kind} is not supported",
                )
            env[name] = field_ref(pod, str(ref["fieldPath"]), pod_ips)
        else:
            env[name] = expand(str(var.get("value") or ""), env)
    return env


def resolve_port(value: Any, container: Mapping[str, Any]) -> int | None:
    """A probe's ``port``: a number, a numeric string, or the name of a container port."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        for p in container.get("ports") or []:
            if isinstance(p, Mapping) and p.get("name") == value:
                port = p.get("containerPort")
                return port if isinstance(port, int) else None
    return None


# ---------------------------------------------------------------------------- addresses


def loopback_alias(address: str) -> str:
    """The loopback address standing in for pod address ``address``: 127 plus its low 24
    bits (``10.244.1.5`` → ``127.244.1.5``). Linux routes all of 127.0.0.0/8 to ``lo``,
    so any process can bind it without root; distinct pod addresses of one /8 cluster
    range map to distinct aliases."""
    ip = ipaddress.IPv4Address(address)
    return str(ipaddress.IPv4Address((127 << 24) | (int(ip) & 0x00FFFFFF)))


def unalias(address: str, cluster_cidr: str) -> str | None:
    """Inverse of :func:`loopback_alias` for addresses of ``cluster_cidr`` (None if the
    address is not a loopback alias of that range)."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    if int(ip) >> 24 != 127:
        return None
    net = ipaddress.IPv4Network(cluster_cidr)
    candidate = ipaddress.IPv4Address(
        (int(net.network_address) & 0xFF000000) | (int(ip) & 0xFFFFFF)
    )
    return str(candidate) if candidate in net else None


def pod_dir_name(namespace: str, name: str, uid: str) -> str:
    """``<ns>_<name>_<uid>``: the per-pod directory under ``DATA_DIR/pods`` (kubelet's
    ``/var/log/pods`` layout)."""
    return f"{namespace}_{name}_{uid}"


# ---------------------------------------------------------------------------- status

State = Literal["waiting", "running", "terminated"]


@dataclass(frozen=True, slots=True)
class Terminated:
    exit_code: int
    reason: str
    started_at: str
    finished_at: str
    message: str = ""
    signal: int | None = None
    container_id: str = ""

    def to_obj(self) -> Obj:
        out: Obj = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        if self.message:
            out["message"] = self.message
        if self.signal is not None:
            out["signal"] = self.signal
        if self.container_id:
            out["containerID"] = self.container_id
        return out


@dataclass(frozen=True, slots=True)
class ContainerView:
    """What the runtime knows about one container, enough to write its status."""

    name: str
    image: str = ""
    state: State = "waiting"
    reason: str = CONTAINER_CREATING
    """Waiting reason (``state == "waiting"``)."""
    message: str = ""
    started_at: str = ""
    """Running since (``state == "running"``)."""
    terminated: Terminated | None = None
    """The current termination (``state == "terminated"``)."""
    last_terminated: Terminated | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""

    def to_obj(self) -> Obj:
        state: Obj
        if self.state == "running":
            state = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated" and self.terminated is not None:
            state = {"terminated": self.terminated.to_obj()}
        else:
            waiting: Obj = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        out: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image,
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": (
                {"terminated": self.last_terminated.to_obj()} if self.last_terminated else {}
            ),
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


def pod_phase(restart_policy: str, views: Iterable[ContainerView]) -> str:
    """Kubelet's ``getPhase`` for regular containers."""
    pending = running = stopped = succeeded = 0
    for v in views:
        if v.state == "running":
            running += 1
        elif v.state == "terminated":
            stopped += 1
            if v.terminated is not None and v.terminated.exit_code == 0:
                succeeded += 1
        elif v.last_terminated is not None:
            stopped += 1  # waiting to restart after a termination
        else:
            pending += 1
    if pending > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def process_pod_status(
    pod: Mapping[str, Any],
    node: Mapping[str, Any],
    pod_ips: Sequence[str],
    now: datetime,
    views: Sequence[ContainerView],
) -> Obj:
    """The pod status for containers in ``views``: :func:`running_status`'s conditions,
    addresses and start time, with real container statuses, phase and readiness.

    The Ready / ContainersReady message names only the unready containers, as upstream;
    a Succeeded pod's readiness reason is ``PodCompleted``.
    """
    spec = pod.get("spec") or {}
    phase = pod_phase(str(spec.get("restartPolicy") or "Always"), views)
    ready = bool(views) and all(v.ready for v in views) and phase == "Running"
    status = running_status(pod, node, list(pod_ips), now, ready)
    status["phase"] = phase
    status["containerStatuses"] = [v.to_obj() for v in views]
    if not ready:
        if phase == "Succeeded":
            reason, message = "PodCompleted", ""
        else:
            unready = " ".join(v.name for v in views if not v.ready)
            reason, message = "ContainersNotReady", f"containers with unready status: [{unready}]"
        conditions = status["conditions"]
        for type_ in (READY, CONTAINERS_READY):
            old = find_condition(conditions, type_)
            if old is None or old.get("status") == "True":
                continue
            if type_ == READY and old.get("reason") == "ReadinessGatesNotReady":
                continue
            new = {k: v for k, v in old.items() if k not in ("reason", "message")}
            new["reason"] = reason
            if message:
                new["message"] = message
            conditions = set_condition(conditions, new, now)
        status["conditions"] = conditions
    return status
