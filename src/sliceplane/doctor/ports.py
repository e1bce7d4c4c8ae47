"""Checks on the Service's ports against the ports its pods declare.

A named ``targetPort`` is resolved per pod exactly as the EndpointSlice planner does
(:func:`sliceplane.endpointslice.podendpoints.find_port`: name *and* protocol, app
containers then sidecars); a pod that cannot resolve it is published without that port,
so traffic to that Service port never reaches it. A numeric ``targetPort`` is used as
is, whatever the pod declares: a mismatch there is only a warning, because container
ports are informational and the process may well listen anyway.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from sliceplane.api.meta import Obj, name_of
from sliceplane.doctor.context import Context
from sliceplane.doctor.findings import (
    NAMED_TARGET_PORT_MISSING,
    PROTOCOL_MISMATCH,
    TARGET_PORT_NOT_EXPOSED,
    Finding,
    ref,
)
from sliceplane.doctor.pods import MAX_OBJECTS
from sliceplane.endpointslice.podendpoints import find_port, should_pod_be_in_endpoints


def declared_ports(pod: Obj) -> list[Mapping[str, Any]]:
    """Container ports of app containers and sidecars (restartable init containers)."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    return [p for c in containers for p in c.get("ports") or []]


def _label(port: Mapping[str, Any]) -> str:
    name = port.get("name")
    return f"{name!r} ({port.get('port')})" if name else str(port.get("port"))


def _describe(ports: list[Mapping[str, Any]]) -> str:
    if not ports:
        return "no ports"
    return ", ".join(
        f"{str(p.get('name')) + '=' if p.get('name') else ''}{p.get('containerPort')}/"
        f"{p.get('protocol') or 'TCP'}"
        for p in ports
    )


def check_ports(ctx: Context) -> list[Finding]:
    pods = [p for p in ctx.selected if should_pod_be_in_endpoints(p)]
    if not pods:
        return []
    out: list[Finding] = []
    svc = ref("service", ctx.service)
    for sp in ctx.spec.get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        protocol = sp.get("protocol") or "TCP"
        if isinstance(target, str):
            out += _named(ctx, svc, sp, target, protocol, pods)
        elif isinstance(target, int):
            out += _numbered(ctx, svc, sp, target, protocol, pods)
    return out


def _named(
    ctx: Context,
    svc: str,
    sp: Mapping[str, Any],
    target: str,
    protocol: str,
    pods: list[Obj],
) -> list[Finding]:
    unresolved = [p for p in pods if find_port(p, sp) is None]
    if not unresolved:
        return []
    resolved = len(pods) - len(unresolved)
    severity: Any = "warning" if resolved else "error"
    wrong_protocol = [
        p
        for p in unresolved
        if any(
            cp.get("name") == target and (cp.get("protocol") or "TCP") != protocol
            for cp in declared_ports(p)
        )
    ]
    out = []
    if wrong_protocol:
        other = next(
            (cp.get("protocol") or "TCP")
            for cp in declared_ports(wrong_protocol[0])
            if cp.get("name") == target
        )
        out.append(
            Finding(
                PROTOCOL_MISMATCH,
                severity,
                f"Service port {_label(sp)} targets {target!r}/{protocol}, but the pods "
                f"declare {target!r} as {other}: the name resolves only with the same protocol",
                (svc, *(ref("pod", p) for p in wrong_protocol[:MAX_OBJECTS])),
                f"make the protocols agree: kubectl edit service {ctx.name} -n {ctx.namespace} "
                f"(spec.ports[].protocol: {other}) or fix the container port",
            )
        )
    missing = [p for p in unresolved if p not in wrong_protocol]
    if missing:
        evidence = []
        suggestions: list[str] = []
        for p in missing[:MAX_OBJECTS]:
            declared = declared_ports(p)
            evidence.append(f"pod {name_of(p)} declares {_describe(declared)}")
            names = [str(cp.get("name")) for cp in declared if cp.get("name")]
            for near in difflib.get_close_matches(target, names, 1, 0.5):
                if near not in suggestions:
                    suggestions.append(near)
        how = (
            f"did you mean {suggestions[0]!r}? " if suggestions else ""
        ) + f"kubectl edit service {ctx.name} -n {ctx.namespace} (spec.ports[].targetPort)"
        message = (
            f"Service port {_label(sp)} targets the named port {target!r}, which "
            f"{len(missing)} of {len(pods)} pod(s) do not declare: "
            + (
                "no endpoint has this port, its traffic goes nowhere"
                if severity == "error"
                else "those pods get none of this port's traffic"
            )
        )
        out.append(
            Finding(
                NAMED_TARGET_PORT_MISSING,
                severity,
                message,
                (svc, *(ref("pod", p) for p in missing[:MAX_OBJECTS])),
                how + ", or name the container port " + repr(target),
                tuple(evidence),
            )
        )
    return out


def _numbered(
    ctx: Context,
    svc: str,
    sp: Mapping[str, Any],
    target: int,
    protocol: str,
    pods: list[Obj],
) -> list[Finding]:
    declaring = [p for p in pods if declared_ports(p)]
    if not declaring:
        return []  # nothing declared: nothing to compare with
    same_number = [
        p for p in declaring if any(cp.get("containerPort") == target for cp in declared_ports(p))
    ]
    exact = [
        p
        for p in same_number
        if any(
            cp.get("containerPort") == target and (cp.get("protocol") or "TCP") == protocol
            for cp in declared_ports(p)
        )
    ]
    out = []
    mismatched = [p for p in same_number if p not in exact]
    if mismatched:
        out.append(
            Finding(
                PROTOCOL_MISMATCH,
                "warning",
                f"Service port {_label(sp)} sends {protocol} to port {target}, which the pods "
                f"declare only for another protocol",
                (svc, *(ref("pod", p) for p in mismatched[:MAX_OBJECTS])),
                f"check spec.ports[].protocol of service {ctx.name} against the container port",
                tuple(
                    f"pod {name_of(p)} declares {_describe(list(declared_ports(p)))}"
                    for p in mismatched[:MAX_OBJECTS]
                ),
            )
        )
    absent = [p for p in declaring if p not in same_number]
    if absent:
        out.append(
            Finding(
                TARGET_PORT_NOT_EXPOSED,
                "warning",
                f"Service port {_label(sp)} targets port {target}, which {len(absent)} of "
                f"{len(pods)} pod(s) do not declare: traffic reaches them only if the process "
                "listens there anyway",
                (svc, *(ref("pod", p) for p in absent[:MAX_OBJECTS])),
                f"set targetPort to the port the app listens on: kubectl edit service "
                f"{ctx.name} -n {ctx.namespace}",
                tuple(
                    f"pod {name_of(p)} declares {_describe(list(declared_ports(p)))}"
                    for p in absent[:MAX_OBJECTS]
                ),
            )
        )
    return out
