"""Reading an object's ``status.conditions`` and a pod's ``status.podIPs``.

Why: pods and nodes both carry a ``Ready`` condition, and the endpoint controllers, the
topology cache, the scheduler, the workload rooms and the doctor all need to find it;
Deployments and ReplicaSets keep conditions of their own (``Progressing``,
``ReplicaFailure``) and the scheduler and the binding subresource rewrite
``PodScheduled``. Each used to spell the same loop over ``status.conditions``; these
helpers are that loop, once, for any condition type of any kind. Like upstream's
``podutil.GetPodCondition`` the first condition of a type wins, and a missing ``status``,
``conditions`` list or condition reads as "no such condition".
Entries that are not objects are skipped.

Sits at the bottom of ``sliceplane.api`` next to :mod:`sliceplane.api.meta`, so every
layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

READY: Final = "Ready"
"""The condition type pods and nodes both report."""


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def find_condition(conditions: Iterable[Any] | None, type_: str) -> Mapping[str, Any] | None:
    """The first entry of a ``conditions`` list whose ``type`` is ``type_``, or ``None``
    (for a status being built, whose list is not on an object yet)."""
    for cond in conditions or ():
        if isinstance(cond, Mapping) and cond.get("type") == type_:
            return cond
    return None


def status_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """The first condition ``type_`` of a ``status`` object (``status.conditions``)."""
    return find_condition(status.get("conditions"), type_)


def condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    """The first entry of ``status.conditions`` whose ``type`` is ``type_``, or ``None``."""
    return status_condition(_status(obj), type_)


def without_condition(conditions: Iterable[Any] | None, type_: str) -> list[Any]:
    """The ``conditions`` list minus every entry of type ``type_``, order kept (a condition
    being replaced or cleared)."""
    return [c for c in conditions or () if not (isinstance(c, Mapping) and c.get("type") == type_)]


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    """The condition ``type_`` is present with status ``"True"`` (absent reads as false)."""
    cond = condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


def is_ready(obj: Mapping[str, Any]) -> bool:
    """``podutil.IsPodReady`` for pods, the same test on a node's Ready condition."""
    return condition_true(obj, READY)


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    """The pod's ``status.podIPs`` addresses, in order (empty entries skipped)."""
    return [str(p.get("ip")) for p in _status(pod).get("podIPs") or [] if p.get("ip")]
