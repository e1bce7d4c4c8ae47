"""The ``scale`` and ``binding`` subresources as pure functions over objects.

A subresource is a view of, or a narrow write to, its parent object: ``scale`` shows a
workload's replicas and selector as an ``autoscaling/v1`` Scale and writes back only
``spec.replicas`` (upstream ``pkg/registry/apps/deployment/storage``'s ScaleREST); a pod's
``binding`` sets ``spec.nodeName`` and the PodScheduled condition, which a plain update may
not (upstream ``pkg/registry/core/pod/storage``'s BindingREST). These functions check the
request and build the parent's new state; the registry reads and writes the store.
"""

from __future__ import annotations

import copy
from typing import Any

from sliceplane.api import errors
from sliceplane.api.field import Path
from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.podstatus import without_condition

_SELECTOR_OPS = {
    "In": "{key} in ({values})",
    "NotIn": "{key} notin ({values})",
    "Exists": "{key}",
    "DoesNotExist": "!{key}",
}


def scale_of(obj: Obj) -> Obj:
    """The Scale a workload shows: replicas wanted and seen, its selector as a string."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = spec.get("selector") or {}
    sel_str = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    for expr in selector.get("matchExpressions") or []:
        values = ",".join(sorted(expr.get("values") or []))
        part = _SELECTOR_OPS.get(expr.get("operator"), "").format(
            key=expr.get("key"), values=values
        )
        sel_str = f"{sel_str},{part}" if sel_str else part
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {"replicas": int(status.get("replicas") or 0), "selector": sel_str},
    }


def scaled(plural: str, group: str, name: str, current: Obj, current_rv: int, scale: Obj) -> Obj:
    """The parent with the Scale's replicas, after the Scale's own checks.

    Refuses a negative or non-integer replica count (Invalid, as upstream's scale
    validation) and a ``resourceVersion`` that is not the parent's (Conflict).
    """
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.Invalid(
            "Scale",
            "autoscaling",
            name,
            [
                Path("spec")
                .child("replicas")
                .invalid(replicas, "must be greater than or equal to 0")
            ],
        )
    rv = meta_of(scale).get("resourceVersion")
    if rv not in (None, "") and str(rv) != str(current_rv):
        raise errors.Conflict.modified(plural, group, name)
    new = copy.deepcopy(current)
    new.setdefault("spec", {})["replicas"] = replicas
    return new


def binding_target(name: str, binding: Any) -> str:
    """The node a Binding names, after checking its shape and name against the URL."""
    if not isinstance(binding, dict):
        raise errors.BadRequest("the object provided is unrecognized (must be of type Binding)")
    target = binding.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    bname = meta_of(binding).get("name") or name
    if bname != name:
        raise errors.BadRequest(
            f"the name of the object ({bname}) does not match the name on the URL ({name})"
        )
    if not isinstance(node, str) or not node:
        raise errors.Invalid("Binding", "", name, [Path("target").child("name").required()])
    return node


def bound(pod: Obj, name: str, node: str, now: str) -> Obj:
    """The pod placed on ``node`` at ``now``; refuses one already bound or being deleted."""
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.Conflict.with_reason(
            "pods", "", name, "pod is being deleted, cannot be assigned to a host"
        )
    already = (pod.get("spec") or {}).get("nodeName")
    if already:
        raise errors.Conflict.with_reason(
            "pods", "", name, f'pod {name} is already assigned to node "{already}"'
        )
    # A copy of the parts it changes (and of metadata, which the store stamps); the rest is
    # shared with the stored pod, which nothing changes in place.
    new = dict(pod)
    new["metadata"] = dict(pod.get("metadata") or {})
    new["spec"] = {**(pod.get("spec") or {}), "nodeName": node}
    status = new["status"] = dict(pod.get("status") or {})
    conds = without_condition(status.get("conditions"), "PodScheduled")
    conds.append(
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
    )
    status["conditions"] = conds
    return new
