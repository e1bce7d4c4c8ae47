"""Which nodes may take a pod, and why not (upstream's filter plugins, in their order):
``NodeUnschedulable``, ``TaintToleration`` (with the taints the node lifecycle controller
would derive from the Ready condition), ``NodeAffinity`` and, of ``NodeResourcesFit``, the
pod count against ``allocatable.pods``; plus upstream's ``FitError`` message. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from sliceplane.api.meta import Obj, labels_of, meta_of, name_of
from sliceplane.api.podstatus import READY, condition
from sliceplane.api.wellknown import (
    LABEL_ZONE,
    TAINT_NODE_NOT_READY,
    TAINT_NODE_UNREACHABLE,
    TAINT_NODE_UNSCHEDULABLE,
)

DEFAULT_SCHEDULER_NAME: Final = "default-scheduler"
TAINT_NOT_READY: Final = TAINT_NODE_NOT_READY
TAINT_UNREACHABLE: Final = TAINT_NODE_UNREACHABLE
TAINT_UNSCHEDULABLE: Final = TAINT_NODE_UNSCHEDULABLE

REASON_UNSCHEDULABLE: Final = "node(s) were unschedulable"
REASON_AFFINITY: Final = "node(s) didn't match Pod's node affinity/selector"
REASON_TOO_MANY_PODS: Final = "Too many pods"
NO_NODES_MESSAGE: Final = "no nodes available to schedule pods"


# ============================================================================ pure placement


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def needs_scheduling(pod: Mapping[str, Any], scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> bool:
    """Unbound, not terminating, not finished, and ours by ``spec.schedulerName``."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return False
    if meta_of(pod).get("deletionTimestamp") or is_terminal(pod):
        return False
    return (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == scheduler_name


def node_name(node: Mapping[str, Any]) -> str:
    return name_of(node)


def node_zone(node: Mapping[str, Any]) -> str:
    return str(labels_of(node).get(LABEL_ZONE) or "")


def ready_status(node: Mapping[str, Any]) -> str | None:
    cond = condition(node, READY)
    return None if cond is None else str(cond.get("status"))


def effective_taints(node: Mapping[str, Any]) -> list[Obj]:
    """The node's taints plus the NoSchedule taint the node lifecycle controller would add
    for its Ready condition (see the module docstring)."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    ready = ready_status(node)
    implied = None
    if ready == "Unknown":
        implied = TAINT_UNREACHABLE
    elif ready != "True":
        implied = TAINT_NOT_READY
    if implied is not None and not any(
        t.get("key") == implied and t.get("effect") == "NoSchedule" for t in taints
    ):
        taints.append({"key": implied, "effect": "NoSchedule"})
    return taints


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """``v1.Toleration.ToleratesTaint`` for any of ``tolerations``."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = tol.get("key") or ""
        op = tol.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if op == "Exists":
            return True
        if op == "Equal" and key and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _match_expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op = expr.get("operator")
    values = [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _match_term(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing, as upstream
    labels = labels_of(node)
    for e in exprs:
        if not _match_expression(e, labels.get(e.get("key"))):
            return False
    for f in fields:
        value = node_name(node) if f.get("key") == "metadata.name" else None
        if not _match_expression(f, value):
            return False
    return True


def has_node_constraints(pod: Mapping[str, Any]) -> bool:
    """Whether ``spec.nodeSelector`` or required node affinity restricts the pod's nodes
    (an empty nodeSelector does not; a present required affinity always does)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeSelector"):
        return True
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    return required is not None


def matches_node_selector(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """``spec.nodeSelector`` (every pair) and required node affinity (any term)."""
    spec = pod.get("spec") or {}
    labels = labels_of(node)
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is not None:
        terms = required.get("nodeSelectorTerms") or []
        if not any(_match_term(t, node) for t in terms):
            return False
    return True


def max_pods(node: Mapping[str, Any]) -> int | None:
    value = ((node.get("status") or {}).get("allocatable") or {}).get("pods")
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def admits_every_pod(node: Mapping[str, Any]) -> bool:
    """Not cordoned and no ``NoSchedule``/``NoExecute`` taint (derived ones included): the
    filters other than node affinity and capacity pass for every pod."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    return not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in effective_taints(node))


def filter_node(pod: Mapping[str, Any], node: Mapping[str, Any], pods_on_node: int) -> str | None:
    """Why ``pod`` cannot go to ``node`` (upstream's reason text), or None if it can."""
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if t]
    if (node.get("spec") or {}).get("unschedulable") and not tolerates(
        tolerations, {"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}
    ):
        return REASON_UNSCHEDULABLE
    for taint in effective_taints(node):
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not tolerates(tolerations, taint):
            return (
                f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"
            )
    if not matches_node_selector(pod, node):
        return REASON_AFFINITY
    limit = max_pods(node)
    if limit is not None and pods_on_node + 1 > limit:
        return REASON_TOO_MANY_PODS
    return None


def unschedulable_message(num_nodes: int, reasons: Mapping[str, int]) -> str:
    """Upstream's ``FitError.Error()``: the reason histogram, sorted as strings."""
    if num_nodes == 0:
        return NO_NODES_MESSAGE
    msg = f"0/{num_nodes} nodes are available:"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    if parts:
        msg += f" {', '.join(parts)}."
    return msg
