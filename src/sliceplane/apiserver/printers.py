"""Server-side ``meta.k8s.io/v1`` Table printing for ``kubectl get``.

Why this exists: kubectl does not format rows itself. ``kubectl get`` asks the API server
for a Table (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) and prints the
``columnDefinitions`` and ``rows[].cells`` it receives, hiding priority-1 columns unless
``-o wide`` is given. A server that answers with a plain list silently gets a NAME/AGE
listing. To look like a real control plane to kubectl, the embedded API server must
build the same columns and the same cell strings as upstream's
``pkg/printers/internalversion`` handlers, which is what this module does for the
resources sliceplane serves.

Behaviour notes (all mirror upstream):

* The upstream REST layer always prints in *wide* mode and lets kubectl drop priority-1
  columns, so :func:`row_cells` returns every column by default.
* AGE cells use apimachinery's ``HumanDuration`` (:func:`human_duration`); a missing
  timestamp prints ``<unknown>``.
* Resources with no dedicated printer fall back to the generic table convertor: a
  ``Name`` column and a ``Created At`` date column.

Everything here is pure: objects are plain JSON dicts and the current time is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sliceplane.api.meta import format_time, parse_time
from sliceplane.api.wellknown import LABEL_NODE_ROLE, LABEL_NODE_ROLE_PREFIX

__all__ = [
    "build_table",
    "column_definitions",
    "human_duration",
    "row_cells",
    "row_conditions",
    "short_human_duration",
    "translate_timestamp_since",
]

_TABLE_API_VERSION = "meta.k8s.io/v1"
_MORE_LIMIT = 3
_LB_CLIP_WIDTH = 16
_NODE_LOST_REASON = "NodeLost"
_SCHEDULING_GATED = "SchedulingGated"

_INCLUDE_OBJECT_CHOICES = ("None", "Metadata", "Object")


# --------------------------------------------------------------------------- durations


def _micros(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _whole_seconds(d: timedelta) -> int:
    """Seconds in ``d``, truncated toward zero (like Go's ``int(d.Seconds())``)."""
    us = _micros(d)
    return us // 1_000_000 if us >= 0 else -((-us) // 1_000_000)


def human_duration(d: timedelta) -> str:
    """Format ``d`` with two or three significant figures, as kubectl's AGE column does.

    Slightly negative durations (up to two seconds of clock skew) read as ``0s``; more
    negative ones as ``<invalid>``.
    """
    seconds = _whole_seconds(d)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 2 * 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d" if rest == 0 else f"{days}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{years}y"


def short_human_duration(d: timedelta) -> str:
    """One-unit variant of :func:`human_duration` (``59s``, ``1m``, ``23h``, ``1d``, ``2y``)."""
    seconds = _whole_seconds(d)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _since(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "<unknown>"
    return human_duration(_aware(now) - when)


def translate_timestamp_since(ts: str | None, now: datetime) -> str:
    """Elapsed time from RFC 3339 ``ts`` to ``now`` as an AGE cell (``<unknown>`` if unset)."""
    return _since(parse_time(ts), now)


# --------------------------------------------------------------------------- dict access


def _dig(obj: Any, *path: str) -> Any:
    cur = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _str(obj: Any, *path: str) -> str:
    value = _dig(obj, *path)
    return value if isinstance(value, str) else ""


def _int(obj: Any, *path: str, default: int = 0) -> int:
    value = _dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def _list(obj: Any, *path: str) -> list[Any]:
    value = _dig(obj, *path)
    return value if isinstance(value, list) else []


def _map(obj: Any, *path: str) -> Mapping[str, Any]:
    value = _dig(obj, *path)
    return value if isinstance(value, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str:
    return _str(obj, "metadata", "name")


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return translate_timestamp_since(_dig(obj, "metadata", "creationTimestamp"), now)


def _with_more(items: list[str], total: int) -> str:
    """Join ``items`` (at most three shown) and note how many were left out."""
    joined = ",".join(items)
    if total > _MORE_LIMIT:
        return f"{joined} + {total - _MORE_LIMIT} more..."
    return joined or "<unset>"


def _format_labels(labels: Mapping[str, Any]) -> str:
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def _selector_string(selector: Any) -> str | None:
    """Render a LabelSelector like apimachinery's ``labels.Selector.String()``.

    Returns ``None`` for a selector that cannot be converted (unknown operator or bad
    value count); an absent or empty selector renders as ``""``.
    """
    if not isinstance(selector, Mapping):
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in _map(selector, "matchLabels").items():
        requirements.append((key, f"{key}={value}"))
    for expr in _list(selector, "matchExpressions"):
        key = _str(expr, "key")
        op = _str(expr, "operator")
        values = sorted(str(v) for v in _list(expr, "values"))
        if op in ("In", "NotIn"):
            if not values:
                return None
            word = "in" if op == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return None
            requirements.append((key, key if op == "Exists" else f"!{key}"))
        else:
            return None
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Any) -> str:
    rendered = _selector_string(selector)
    if rendered is None:
        return "<error>"
    return rendered or "<none>"


def _container_cells(containers: list[Any]) -> tuple[str, str]:
    names = ",".join(_str(c, "name") for c in containers)
    images = ",".join(_str(c, "image") for c in containers)
    return names, images


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class _Column:
    name: str
    type: str
    description: str
    priority: int = 0
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


_NAME = _Column("Name", "string", "Name of the object, unique within its namespace.", 0, "name")
_AGE = _Column("Age", "string", "Time since the object was created.")
_CONTAINERS = _Column("Containers", "string", "Names of the containers in the template.", 1)
_IMAGES = _Column("Images", "string", "Images used by the containers in the template.", 1)


def _wide(name: str, description: str, type_: str = "string") -> _Column:
    return _Column(name, type_, description, 1)


def _plain(name: str, description: str, type_: str = "string") -> _Column:
    return _Column(name, type_, description)


_COLUMNS: dict[str, tuple[_Column, ...]] = {
    "endpointslices": (
        _NAME,
        _plain("AddressType", "Address family of every endpoint in the slice."),
        _plain("Ports", "Port numbers (or names) the slice exposes."),
        _plain("Endpoints", "Addresses of the endpoints in the slice."),
        _AGE,
    ),
    "pods": (
        _NAME,
        _plain("Ready", "Ready containers out of all containers in the pod."),
        _plain("Status", "Aggregate status of the pod's containers."),
        _plain("Restarts", "Container restarts, and how long ago the latest one was."),
        _AGE,
        _wide("IP", "The pod's primary IP address."),
        _wide("Node", "Node the pod is bound to."),
        _wide("Nominated Node", "Node the scheduler nominated for preemption."),
        _wide("Readiness Gates", "Readiness gates whose condition is True, out of all."),
    ),
    "services": (
        _NAME,
        _plain("Type", "How the service is exposed."),
        _plain("Cluster-IP", "The service's primary cluster IP."),
        _plain("External-IP", "External or load-balancer addresses of the service."),
        _plain("Port(s)", "Service ports, with node ports where allocated."),
        _AGE,
        _wide("Selector", "Pod label selector of the service."),
    ),
    "endpoints": (
        _NAME,
        _plain("Endpoints", "Address:port pairs of the endpoints."),
        _AGE,
    ),
    "nodes": (
        _NAME,
        _plain("Status", "Readiness and schedulability of the node."),
        _plain("Roles", "Roles taken from node-role labels."),
        _AGE,
        _plain("Version", "Kubelet version reported by the node."),
        _wide("Internal-IP", "First InternalIP address of the node."),
        _wide("External-IP", "First ExternalIP address of the node."),
        _wide("OS-Image", "Operating system image reported by the node."),
        _wide("Kernel-Version", "Kernel version reported by the node."),
        _wide("Container-Runtime", "Container runtime and version reported by the node."),
    ),
    "namespaces": (
        _NAME,
        _plain("Status", "Lifecycle phase of the namespace."),
        _AGE,
    ),
    "events": (
        _plain("Last Seen", "Time since the event was last observed."),
        _plain("Type", "Event type (Normal or Warning)."),
        _plain("Reason", "Short machine-readable reason for the event."),
        _plain("Object", "The object the event is about."),
        _wide("Subobject", "Field path within the object, if any."),
        _wide("Source", "Component (and host) that reported the event."),
        _plain("Message", "Human-readable description of the event."),
        _wide("First Seen", "Time since the event was first observed."),
        _wide("Count", "Number of times the event occurred."),
        _Column("Name", "string", "Name of the event object.", 1, "name"),
    ),
    "leases": (
        _NAME,
        _plain("Holder", "Identity currently holding the lease."),
        _AGE,
    ),
    "deployments": (
        _NAME,
        _plain("Ready", "Ready replicas out of desired replicas."),
        _plain("Up-to-date", "Replicas running the latest pod template."),
        _plain("Available", "Replicas available to serve."),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _wide("Selector", "Pod label selector of the deployment."),
    ),
    "replicasets": (
        _NAME,
        _plain("Desired", "Desired number of replicas.", "integer"),
        _plain("Current", "Number of replicas currently created.", "integer"),
        _plain("Ready", "Number of ready replicas.", "integer"),
        _AGE,
        _CONTAINERS,
        _IMAGES,
        _wide("Selector", "Pod label selector of the replica set."),
    ),
}

_DEFAULT_COLUMNS: tuple[_Column, ...] = (
    _NAME,
    _Column("Created At", "date", "Time the object was created (UTC, RFC 3339)."),
)


def _resource_key(resource: str) -> str:
    """``"EndpointSlices.discovery.k8s.io"`` -> ``"endpointslices"``."""
    return resource.split(".", 1)[0].strip().lower()


def _columns_for(resource: str) -> tuple[_Column, ...]:
    return _COLUMNS.get(_resource_key(resource), _DEFAULT_COLUMNS)


def column_definitions(resource: str) -> list[dict[str, Any]]:
    """The Table ``columnDefinitions`` upstream uses for ``resource`` (plural name)."""
    return [column.as_dict() for column in _columns_for(resource)]


# --------------------------------------------------------------------------- printers
#
# Each printer returns every column (wide layout). ``wide`` only matters where upstream
# formats a cell differently for narrow output (load-balancer addresses).


def _endpointslice_ports(ports: list[Any]) -> str:
    shown: list[str] = []
    for port in ports[:_MORE_LIMIT]:
        number = _dig(port, "port")
        name = _dig(port, "name")
        if isinstance(number, int) and not isinstance(number, bool):
            shown.append(str(number))
        elif isinstance(name, str):
            shown.append(name)
        else:
            shown.append("*")
    return _with_more(shown, len(ports))


def _endpointslice_endpoints(endpoints: list[Any]) -> str:
    addresses = [str(a) for ep in endpoints for a in _list(ep, "addresses")]
    return _with_more(addresses[:_MORE_LIMIT], len(addresses))


def _print_endpointslice(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [
        _name(obj),
        _str(obj, "addressType"),
        _endpointslice_ports(_list(obj, "ports")),
        _endpointslice_endpoints(_list(obj, "endpoints")),
        _age(obj, now),
    ]


def _format_endpoints(obj: Mapping[str, Any]) -> str:
    subsets = _list(obj, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    more = False
    total = 0

    def take(entries: Iterable[str]) -> None:
        nonlocal more
        for entry in entries:
            if len(shown) == _MORE_LIMIT:
                more = True
                return
            shown.append(entry)

    for subset in subsets:
        addresses = [_str(a, "ip") for a in _list(subset, "addresses")]
        ports = _list(subset, "ports")
        if not ports:
            total += len(addresses)
            take(addresses)
            continue
        for port in ports:
            total += len(addresses)
            number = _int(port, "port")
            take(_join_host_port(ip, number) for ip in addresses)
    joined = ",".join(shown)
    if more:
        return f"{joined} + {total - _MORE_LIMIT} more..."
    return joined


def _print_endpoints(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _format_endpoints(obj), _age(obj, now)]


def _has_condition(conditions: list[Any], type_: str) -> bool:
    return any(_str(c, "type") == type_ and _str(c, "status") == "True" for c in conditions)


def _pod_initialized(conditions: list[Any]) -> bool:
    for condition in conditions:
        if _str(condition, "type") == "Initialized":
            return _str(condition, "status") == "True"
    return False


def _finished_at(status: Any) -> datetime | None:
    return parse_time(_dig(status, "lastState", "terminated", "finishedAt"))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a


def _terminated_reason(terminated: Any, prefix: str) -> str:
    reason = _str(terminated, "reason")
    if reason:
        return prefix + reason
    signal = _int(terminated, "signal")
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated, 'exitCode')}"


@dataclass
class _PodSummary:
    ready: int
    total: int
    reason: str
    restarts: int
    last_restart: datetime | None


def _summarize_pod(pod: Mapping[str, Any]) -> _PodSummary:
    spec = _map(pod, "spec")
    status = _map(pod, "status")
    conditions = _list(status, "conditions")
    phase = _str(status, "phase")

    reason = _str(status, "reason") or phase
    for condition in conditions:
        if (
            _str(condition, "type") == "PodScheduled"
            and _str(condition, "reason") == _SCHEDULING_GATED
        ):
            reason = _SCHEDULING_GATED

    init_specs = _list(spec, "initContainers")
    sidecar_specs = [c for c in init_specs if _str(c, "restartPolicy") == "Always"]
    sidecars = {_str(c, "name") for c in sidecar_specs}
    total = len(_list(spec, "containers")) + len(sidecar_specs)
    ready = 0
    restarts = 0
    last_restart: datetime | None = None
    sidecar_restarts = 0
    last_sidecar_restart: datetime | None = None

    initializing = False
    for index, cs in enumerate(_list(status, "initContainerStatuses")):
        is_sidecar = _str(cs, "name") in sidecars
        restarts += _int(cs, "restartCount")
        last_restart = _later(last_restart, _finished_at(cs))
        if is_sidecar:
            sidecar_restarts += _int(cs, "restartCount")
            last_sidecar_restart = _later(last_sidecar_restart, _finished_at(cs))
        terminated = _dig(cs, "state", "terminated")
        waiting_reason = _str(cs, "state", "waiting", "reason")
        if isinstance(terminated, Mapping) and _int(terminated, "exitCode") == 0:
            continue
        if is_sidecar and _dig(cs, "started") is True:
            if _dig(cs, "ready") is True:
                ready += 1
            continue
        if isinstance(terminated, Mapping):
            reason = _terminated_reason(terminated, "Init:")
        elif waiting_reason and waiting_reason != "PodInitializing":
            reason = "Init:" + waiting_reason
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _pod_initialized(conditions):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(_list(status, "containerStatuses")):
            restarts += _int(cs, "restartCount")
            last_restart = _later(last_restart, _finished_at(cs))
            terminated = _dig(cs, "state", "terminated")
            waiting_reason = _str(cs, "state", "waiting", "reason")
            if waiting_reason:
                reason = waiting_reason
            elif isinstance(terminated, Mapping):
                reason = _terminated_reason(terminated, "")
            elif _dig(cs, "ready") is True and isinstance(_dig(cs, "state", "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(conditions, "Ready") else "NotReady"

    if _dig(pod, "metadata", "deletionTimestamp"):
        if _str(status, "reason") == _NODE_LOST_REASON:
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    return _PodSummary(ready, total, reason, restarts, last_restart)


def _readiness_gates(pod: Mapping[str, Any]) -> str:
    gates = _list(pod, "spec", "readinessGates")
    if not gates:
        return "<none>"
    conditions = _list(pod, "status", "conditions")
    passed = 0
    for gate in gates:
        wanted = _str(gate, "conditionType")
        for condition in conditions:
            if _str(condition, "type") == wanted:
                if _str(condition, "status") == "True":
                    passed += 1
                break
    return f"{passed}/{len(gates)}"


def _print_pod(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    summary = _summarize_pod(obj)
    restarts = str(summary.restarts)
    if summary.restarts != 0 and summary.last_restart is not None:
        restarts = f"{summary.restarts} ({_since(summary.last_restart, now)} ago)"
    pod_ips = _list(obj, "status", "podIPs")
    pod_ip = _str(pod_ips[0], "ip") if pod_ips else _str(obj, "status", "podIP")
    return [
        _name(obj),
        f"{summary.ready}/{summary.total}",
        summary.reason,
        restarts,
        _age(obj, now),
        pod_ip or "<none>",
        _str(obj, "spec", "nodeName") or "<none>",
        _str(obj, "status", "nominatedNodeName") or "<none>",
        _readiness_gates(obj),
    ]


_POD_SUCCEEDED_CONDITION = {
    "type": "Completed",
    "status": "True",
    "reason": "Succeeded",
    "message": "The pod has completed successfully.",
}
_POD_FAILED_CONDITION = {
    "type": "Completed",
    "status": "True",
    "reason": "Failed",
    "message": "The pod failed.",
}


def _load_balancer_addresses(svc: Mapping[str, Any], wide: bool) -> str:
    found: set[str] = set()
    for ingress in _list(svc, "status", "loadBalancer", "ingress"):
        address = _str(ingress, "ip") or _str(ingress, "hostname")
        if address:
            found.add(address)
    joined = ",".join(sorted(found))
    if not wide and len(joined) > _LB_CLIP_WIDTH:
        joined = joined[: _LB_CLIP_WIDTH - 3] + "..."
    return joined


def _service_external_ip(svc: Mapping[str, Any], svc_type: str, wide: bool) -> str:
    external_ips = [str(ip) for ip in _list(svc, "spec", "externalIPs")]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else "<none>"
    if svc_type == "LoadBalancer":
        lb = _load_balancer_addresses(svc, wide)
        if external_ips:
            return ",".join([*(lb.split(",") if lb else []), *external_ips])
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return _str(svc, "spec", "externalName")
    return "<unknown>"


def _service_ports(ports: list[Any]) -> str:
    pieces: list[str] = []
    for port in ports:
        number = _int(port, "port")
        protocol = _str(port, "protocol") or "TCP"
        node_port = _int(port, "nodePort")
        if node_port > 0:
            pieces.append(f"{number}:{node_port}/{protocol}")
        else:
            pieces.append(f"{number}/{protocol}")
    return ",".join(pieces) or "<none>"


def _print_service(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    svc_type = _str(obj, "spec", "type") or "ClusterIP"
    cluster_ips = _list(obj, "spec", "clusterIPs")
    fallback_ip = _str(obj, "spec", "clusterIP") or "<none>"
    cluster_ip = str(cluster_ips[0]) if cluster_ips else fallback_ip
    return [
        _name(obj),
        svc_type,
        cluster_ip,
        _service_external_ip(obj, svc_type, wide),
        _service_ports(_list(obj, "spec", "ports")),
        _age(obj, now),
        _format_labels(_map(obj, "spec", "selector")),
    ]


def _node_address(node: Mapping[str, Any], kind: str) -> str:
    for address in _list(node, "status", "addresses"):
        if _str(address, "type") == kind:
            return _str(address, "address")
    return "<none>"


def _node_roles(node: Mapping[str, Any]) -> str:
    roles: set[str] = set()
    for key, value in _map(node, "metadata", "labels").items():
        if key.startswith(LABEL_NODE_ROLE_PREFIX):
            role = key[len(LABEL_NODE_ROLE_PREFIX) :]
            if role:
                roles.add(role)
        elif key == LABEL_NODE_ROLE and isinstance(value, str) and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _print_node(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    ready_status: str | None = None
    for condition in _list(obj, "status", "conditions"):
        if _str(condition, "type") == "Ready":
            ready_status = _str(condition, "status")
    if ready_status is None:
        states = ["Unknown"]
    else:
        states = ["Ready" if ready_status == "True" else "NotReady"]
    if _dig(obj, "spec", "unschedulable") is True:
        states.append("SchedulingDisabled")
    info = _map(obj, "status", "nodeInfo")
    return [
        _name(obj),
        ",".join(states),
        _node_roles(obj),
        _age(obj, now),
        _str(info, "kubeletVersion"),
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        _str(info, "osImage") or "<unknown>",
        _str(info, "kernelVersion") or "<unknown>",
        _str(info, "containerRuntimeVersion") or "<unknown>",
    ]


def _print_namespace(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _str(obj, "status", "phase"), _age(obj, now)]


def _event_source(obj: Mapping[str, Any]) -> str:
    component = _str(obj, "source", "component") or _str(obj, "reportingComponent")
    host = _str(obj, "source", "host") or _str(obj, "reportingInstance")
    return f"{component}, {host}" if host else component


def _print_event(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    first = parse_time(_dig(obj, "firstTimestamp"))
    first_seen = _since(first if first is not None else parse_time(_dig(obj, "eventTime")), now)
    last = parse_time(_dig(obj, "lastTimestamp"))
    last_seen = _since(last, now) if last is not None else first_seen
    count = _int(obj, "count")
    series = _dig(obj, "series")
    if isinstance(series, Mapping):
        last_seen = _since(parse_time(_dig(series, "lastObservedTime")), now)
        count = _int(series, "count")
    elif count == 0:
        count = 1
    kind = _str(obj, "involvedObject", "kind").lower()
    involved_name = _str(obj, "involvedObject", "name")
    target = f"{kind}/{involved_name}" if involved_name else kind
    return [
        last_seen,
        _str(obj, "type"),
        _str(obj, "reason"),
        target,
        _str(obj, "involvedObject", "fieldPath"),
        _event_source(obj),
        _str(obj, "message").strip(),
        first_seen,
        count,
        _name(obj),
    ]


def _print_lease(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    return [_name(obj), _str(obj, "spec", "holderIdentity"), _age(obj, now)]


def _print_deployment(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    desired = _int(obj, "spec", "replicas", default=1)
    ready = _int(obj, "status", "readyReplicas")
    names, images = _container_cells(_list(obj, "spec", "template", "spec", "containers"))
    selector = _selector_string(_dig(obj, "spec", "selector"))
    return [
        _name(obj),
        f"{ready}/{desired}",
        _int(obj, "status", "updatedReplicas"),
        _int(obj, "status", "availableReplicas"),
        _age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _print_replicaset(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    names, images = _container_cells(_list(obj, "spec", "template", "spec", "containers"))
    return [
        _name(obj),
        _int(obj, "spec", "replicas", default=1),
        _int(obj, "status", "replicas"),
        _int(obj, "status", "readyReplicas"),
        _age(obj, now),
        names,
        images,
        _format_label_selector(_dig(obj, "spec", "selector")),
    ]


def _print_default(obj: Mapping[str, Any], now: datetime, wide: bool) -> list[Any]:
    created = parse_time(_dig(obj, "metadata", "creationTimestamp"))
    stamp = "0001-01-01T00:00:00Z" if created is None else format_time(created)
    return [_name(obj), stamp]


_Printer = Callable[[Mapping[str, Any], datetime, bool], list[Any]]

_PRINTERS: dict[str, _Printer] = {
    "endpointslices": _print_endpointslice,
    "pods": _print_pod,
    "services": _print_service,
    "endpoints": _print_endpoints,
    "nodes": _print_node,
    "namespaces": _print_namespace,
    "events": _print_event,
    "leases": _print_lease,
    "deployments": _print_deployment,
    "replicasets": _print_replicaset,
}


def row_cells(resource: str, obj: dict[str, Any], now: datetime, *, wide: bool = True) -> list[Any]:
    """The cells of ``obj``'s row, formatted exactly as upstream's printer does.

    By default every column is returned, as the upstream API server does; with
    ``wide=False`` priority-1 cells are dropped and cells upstream shortens for narrow
    output (a Service's load-balancer addresses) are shortened.
    """
    key = _resource_key(resource)
    cells = _PRINTERS.get(key, _print_default)(obj, now, wide)
    if wide:
        return cells
    columns = _columns_for(key)
    return [cell for cell, column in zip(cells, columns, strict=True) if column.priority == 0]


def row_conditions(resource: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Row conditions upstream attaches (``Completed`` for finished pods), else ``[]``."""
    if _resource_key(resource) != "pods":
        return []
    phase = _str(obj, "status", "phase")
    if phase == "Succeeded":
        return [dict(_POD_SUCCEEDED_CONDITION)]
    if phase == "Failed":
        return [dict(_POD_FAILED_CONDITION)]
    return []


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": _TABLE_API_VERSION,
        "metadata": obj.get("metadata", {}),
    }


def build_table(
    resource: str,
    objs: list[dict[str, Any]],
    now: datetime,
    *,
    include_columns: bool = True,
    include_object: str = "Metadata",
    resource_version: str | None = None,
    continue_token: str | None = None,
    remaining_item_count: int | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table for ``objs``, as the upstream API server returns it.

    ``include_object`` follows ``TableOptions.includeObject``: ``"Metadata"`` puts a
    PartialObjectMetadata in each row (kubectl needs it for ``-A`` and
    ``--show-labels``), ``"Object"`` the whole object, ``"None"`` nothing.
    ``include_columns=False`` leaves ``columnDefinitions`` empty, as for watch events
    after the first. The list metadata arguments go into ``metadata`` when given.
    """
    if include_object not in _INCLUDE_OBJECT_CHOICES:
        raise ValueError(
            f"include_object must be one of {', '.join(_INCLUDE_OBJECT_CHOICES)}, "
            f"not {include_object!r}"
        )
    metadata: dict[str, Any] = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining_item_count is not None:
        metadata["remainingItemCount"] = remaining_item_count

    rows: list[dict[str, Any]] = []
    for obj in objs:
        row: dict[str, Any] = {"cells": row_cells(resource, obj, now)}
        conditions = row_conditions(resource, obj)
        if conditions:
            row["conditions"] = conditions
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)

    return {
        "kind": "Table",
        "apiVersion": _TABLE_API_VERSION,
        "metadata": metadata,
        "columnDefinitions": column_definitions(resource) if include_columns else [],
        "rows": rows,
    }
