"""Checks on the pods a Service selects: none matched, matched elsewhere, not ready,
terminating.

The evidence is what a user would otherwise dig out by hand: the selector terms a nearby
pod fails (a typo, a case difference), the Ready condition, container states and
restarts, the readiness probe's failure message from the pod's ``Unhealthy`` Events,
scheduling failures and the state of the pod's node. The rules for which pods are
published and which receive traffic are the EndpointSlice planner's own
(:mod:`sliceplane.endpointslice.podendpoints`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence

from sliceplane.api.meta import Obj, is_deleting, labels_of, meta_of, name_of, namespace_of
from sliceplane.api.podstatus import READY, condition, is_ready
from sliceplane.api.selectors import format_label_set
from sliceplane.doctor.context import Context, node_ready
from sliceplane.doctor.findings import (
    PODS_IN_OTHER_NAMESPACE,
    PODS_NOT_READY,
    PODS_TERMINATING,
    SELECTOR_MATCHES_NO_PODS,
    Finding,
    ref,
)
from sliceplane.endpointslice.podendpoints import should_pod_be_in_endpoints

MAX_OBJECTS = 10
"""Pods named per finding; the message gives the full count."""


def selector_gaps(selector: Mapping[str, str], labels: Mapping[str, str]) -> list[str]:
    """The terms ``labels`` fail, in words: ``app=payment-api (pod has app=payments-api)``."""
    gaps = []
    for key, want in sorted(selector.items()):
        have = labels.get(key)
        if have == want:
            continue
        if have is None:
            similar = [k for k in labels if k.lower() == key.lower()]
            similar += difflib.get_close_matches(key, [k for k in labels if k not in similar], 1)
            if similar:
                gaps.append(f"{key}={want} (pod has {similar[0]}={labels[similar[0]]})")
            else:
                gaps.append(f"{key}={want} (pod has no {key} label)")
        else:
            gaps.append(f"{key}={want} (pod has {key}={have})")
    return gaps


def corrected_selector(
    selector: Mapping[str, str], labels: Mapping[str, str]
) -> dict[str, str | None] | None:
    """The merge patch of ``spec.selector`` that makes it match ``labels`` by fixing
    values and near-miss keys (a removed key is ``None``), or None when a term has no
    counterpart on the pod at all."""
    patch: dict[str, str | None] = {}
    for key, want in sorted(selector.items()):
        if labels.get(key) == want:
            continue
        if key in labels:
            patch[key] = labels[key]
            continue
        similar = [k for k in labels if k.lower() == key.lower()]
        similar = similar or difflib.get_close_matches(key, list(labels), 1)
        if not similar:
            return None
        patch[key] = None
        patch[similar[0]] = labels[similar[0]]
    return patch


def _closeness(selector: Mapping[str, str], labels: Mapping[str, str]) -> float:
    """How near a pod's labels are to the selector: failed terms, softened when a value or
    key is a near spelling of what is asked for."""
    score = 0.0
    for key, want in selector.items():
        have = labels.get(key)
        if have == want:
            continue
        if have is not None:
            score += 1.0 - 0.5 * difflib.SequenceMatcher(None, want.lower(), have.lower()).ratio()
            continue
        best = max(
            (difflib.SequenceMatcher(None, key.lower(), k.lower()).ratio() for k in labels),
            default=0.0,
        )
        score += 1.0 - 0.4 * best
    return score


def check_other_namespaces(ctx: Context) -> list[Finding]:
    if not ctx.selector or ctx.selected or not ctx.snap.elsewhere_pods:
        return []
    pods = sorted(ctx.snap.elsewhere_pods, key=lambda p: (namespace_of(p), name_of(p)))
    namespaces = sorted({namespace_of(p) for p in pods})
    message = (
        f"{len(pods)} pod(s) in namespace {', '.join(namespaces)} match the selector "
        f"{format_label_set(ctx.selector)}, but a Service only selects pods of its own "
        f"namespace ({ctx.namespace})"
    )
    fix = (
        f"define the Service in namespace {namespaces[0]}, where the pods are, or run the "
        f"pods in {ctx.namespace}"
    )
    return [
        Finding(
            PODS_IN_OTHER_NAMESPACE,
            "error",
            message,
            tuple(ref("pod", p) for p in pods[:MAX_OBJECTS]),
            fix,
        )
    ]


def check_selector(ctx: Context) -> list[Finding]:
    """The selector matches no pod of the namespace: show the nearest pods and why."""
    if not ctx.selector or ctx.selected:
        return []
    selector = ctx.selector
    own = [p for p in ctx.snap.pods if namespace_of(p) == ctx.namespace]
    svc = ref("service", ctx.service)
    message = (
        f"the selector {format_label_set(selector)} matches no pod in namespace {ctx.namespace}"
    )
    if not own:
        return [
            Finding(
                SELECTOR_MATCHES_NO_PODS,
                "error",
                message + " (the namespace has no pods)",
                (svc,),
                f"create the workload in {ctx.namespace}, or check the namespace: kubectl get "
                "pods --all-namespaces -l " + format_label_set(selector),
            )
        ]
    scored = sorted(
        ((_closeness(selector, labels_of(p)), name_of(p), p) for p in own),
        key=lambda t: (t[0], t[1]),
    )
    best = scored[0][0]
    nearest = [p for score, _, p in scored if score <= max(best, 1.0) and score < len(selector)]
    # Pods that fail the same way (the replicas of one Deployment) are reported once.
    groups: dict[tuple[str, ...], list[Obj]] = {}
    for p in nearest:
        groups.setdefault(tuple(selector_gaps(selector, labels_of(p))), []).append(p)
    evidence = []
    for gaps, pods in list(groups.items())[:3]:
        names = ", ".join(name_of(p) for p in pods[:3]) + (", ..." if len(pods) > 3 else "")
        evidence.append(f"{len(pods)} pod(s) ({names}) fail: {'; '.join(gaps)}")
    fix = f"kubectl get pods -n {ctx.namespace} --show-labels"
    patch = corrected_selector(selector, labels_of(nearest[0])) if nearest else None
    if patch:
        body = json.dumps({"spec": {"selector": patch}}, separators=(",", ":"))
        fix = (
            f"if the pods are right, fix the selector: kubectl patch service {ctx.name} -n "
            f"{ctx.namespace} --type merge -p '{body}'; otherwise fix the pods' labels"
        )
    objects = (svc, *(ref("pod", p) for p in nearest[:MAX_OBJECTS]))
    return [Finding(SELECTOR_MATCHES_NO_PODS, "error", message, objects, fix, tuple(evidence))]


def serving(pod: Obj, ctx: Context) -> bool:
    """Whether kube-proxy sends this selected pod new connections (the planner's rules)."""
    if not should_pod_be_in_endpoints(pod):
        return False
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if ctx.publish_not_ready:
        return True
    if node not in ctx.nodes:
        return False
    return is_ready(pod) and not is_deleting(pod)


def _last(events: Sequence[Obj], reason: str) -> tuple[str, int] | None:
    """The latest message of events with ``reason`` and how many times it happened."""
    matching = [e for e in events if e.get("reason") == reason]
    if not matching:
        return None
    count = sum(int(e.get("count") or 1) for e in matching)
    return str(matching[-1].get("message") or ""), count


def _containers(pod: Obj) -> list[str]:
    out = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        parts = [f"container {cs.get('name')}"]
        if "waiting" in state:
            w = state["waiting"] or {}
            parts.append(f"waiting ({w.get('reason') or 'unknown'})")
        elif "terminated" in state:
            t = state["terminated"] or {}
            parts.append(f"terminated (exit code {t.get('exitCode')}, {t.get('reason') or ''})")
        elif "running" in state:
            parts.append("running")
        parts.append(f"ready={str(bool(cs.get('ready'))).lower()}")
        restarts = int(cs.get("restartCount") or 0)
        if restarts:
            parts.append(f"{restarts} restart(s)")
            last = (cs.get("lastState") or {}).get("terminated")
            if last:
                parts.append(f"last exit code {last.get('exitCode')}")
        out.append(" ".join(parts))
    return out


def pod_problem(pod: Obj, ctx: Context) -> tuple[str, str]:
    """``(cause, evidence line)`` for a selected pod that is not serving."""
    name = name_of(pod)
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    events = ctx.events_for("Pod", name)
    if phase in ("Succeeded", "Failed"):
        return "terminal", f"pod {name}: phase {phase}: finished pods are never endpoints"
    node_name = (pod.get("spec") or {}).get("nodeName") or ""
    if not node_name:
        sched = _last(events, "FailedScheduling")
        why = f": {sched[0]}" if sched else ""
        return "unscheduled", f"pod {name}: not scheduled to a node yet{why}"
    if not status.get("podIP") and not status.get("podIPs"):
        return "no-ip", f"pod {name}: {phase} on {node_name} without an IP yet"
    node = ctx.nodes.get(node_name)
    if node is None and ctx.nodes:
        return "node-missing", f"pod {name}: its node {node_name!r} does not exist"
    if node is not None:
        ok, why = node_ready(node)
        if not ok:
            return "node", f"pod {name}: node {node_name} is NotReady ({why})"
    parts = []
    cond = condition(pod, READY)
    if cond is None:
        parts.append("no Ready condition yet")
    else:
        detail = ": ".join(str(x) for x in (cond.get("reason"), cond.get("message")) if x)
        parts.append(f"Ready={cond.get('status')}" + (f" ({detail})" if detail else ""))
    parts += _containers(pod)
    cause = "not-ready"
    probe = _last(events, "Unhealthy")
    if probe is not None:
        parts.append(f"{probe[0]} (x{probe[1]})")
        cause = "probe"
    backoff = _last(events, "BackOff")
    if backoff is not None:
        parts.append(f"{backoff[0]} (x{backoff[1]})")
        cause = "crash"
    return cause, f"pod {name}: " + "; ".join(parts)


_FIXES = {
    "probe": "the readiness probe fails: check its path and port against what the app "
    "serves (kubectl describe pod {pod} -n {ns}; kubectl logs {pod} -n {ns})",
    "crash": "the container keeps crashing: kubectl logs {pod} -n {ns} --previous",
    "node": "the pod's node is down: kubectl describe node {node}; its pods come back when "
    "it does, or are replaced elsewhere",
    "node-missing": "the node is gone: delete the pod so its controller replaces it "
    "(kubectl delete pod {pod} -n {ns})",
    "unscheduled": "no node fits the pod: kubectl describe pod {pod} -n {ns} (Events)",
    "no-ip": "the pod is still starting: kubectl get pod {pod} -n {ns} -w",
    "terminal": "the pod has finished: its controller should replace it (kubectl get pods -n {ns})",
    "not-ready": "kubectl describe pod {pod} -n {ns}: the Ready condition explains why",
}


def check_readiness(ctx: Context) -> list[Finding]:
    """Selected pods that are not published or not ready (terminating ones aside)."""
    if not ctx.selected:
        return []
    any_serving = any(serving(p, ctx) for p in ctx.selected)
    bad: list[tuple[Obj, str, str]] = []
    for pod in ctx.selected:
        if is_deleting(pod) or serving(pod, ctx):
            continue
        cause, line = pod_problem(pod, ctx)
        bad.append((pod, cause, line))
    if not bad:
        return []
    causes = [c for _, c, _ in bad]
    # The most common cause names the fix; ties go to the most specific (dict order).
    main = max(_FIXES, key=lambda c: (causes.count(c), -list(_FIXES).index(c)))
    first = next(p for p, c, _ in bad if c == main)
    node = (first.get("spec") or {}).get("nodeName") or ""
    fix = _FIXES[main].format(pod=name_of(first), ns=ctx.namespace, node=node)
    total = len(ctx.selected)
    message = f"{len(bad)} of {total} selected pod(s) are not ready"
    if not any_serving:
        message += ": no pod receives the Service's traffic"
    objects = [ref("pod", p) for p, _, _ in bad[:MAX_OBJECTS]]
    nodes_down = sorted(
        {(p.get("spec") or {}).get("nodeName") or "" for p, c, _ in bad if c == "node"}
    )
    objects += [f"node/{n}" for n in nodes_down]
    return [
        Finding(
            PODS_NOT_READY,
            "warning" if any_serving else "error",
            message,
            tuple(objects),
            fix,
            tuple(line for _, _, line in bad[:MAX_OBJECTS]),
        )
    ]


def check_terminating(ctx: Context) -> list[Finding]:
    terminating = [p for p in ctx.selected if is_deleting(p)]
    if not terminating:
        return []
    any_serving = any(serving(p, ctx) for p in ctx.selected)
    message = (
        f"{len(terminating)} selected pod(s) are terminating: published with terminating=true "
        "and ready=false, they finish open connections but get no new ones"
    )
    if not any_serving:
        message += "; no other pod is ready"
    evidence = []
    for p in terminating[:MAX_OBJECTS]:
        m = meta_of(p)
        evidence.append(
            f"pod {name_of(p)}: deletionTimestamp {m.get('deletionTimestamp')}, grace "
            f"{m.get('deletionGracePeriodSeconds')}s, serving={str(is_ready(p)).lower()}"
        )
    return [
        Finding(
            PODS_TERMINATING,
            "warning" if any_serving else "error",
            message,
            tuple(ref("pod", p) for p in terminating[:MAX_OBJECTS]),
            f"wait for their replacements, or check the rollout: kubectl get pods -n "
            f"{ctx.namespace} -l {format_label_set(ctx.selector or {})}",
            tuple(evidence),
        )
    ]
