"""Waiting for a Service's EndpointSlices through kubectl, for the tests that drive a
`sliceplane up` with foreign tools (Helm, OpenTofu) and check the slices follow."""

from __future__ import annotations

from typing import Any

from sliceplane.api.podstatus import is_ready
from sliceplane.cluster.walkthrough import Walkthrough


def get(cluster: Walkthrough, *args: str) -> Any:
    return cluster.json("get", *args)


def ready_endpoints(cluster: Walkthrough, namespace: str, service: str) -> list[dict[str, Any]]:
    """The ready endpoints across the Service's slices."""
    slices = get(
        cluster, "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}"
    )["items"]
    return [
        ep
        for s in slices
        for ep in s.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready")
    ]


def wait_endpoints(
    cluster: Walkthrough, namespace: str, service: str, count: int, app: str | None = None
) -> None:
    """Until the Service has ``count`` ready endpoints and the pods labelled
    ``app=<app or service>`` are exactly ``count``, all ready (none terminating)."""
    label = app or service

    def settled() -> bool:
        pods = [
            p
            for p in get(cluster, "pods", "-n", namespace, "-l", f"app={label}")["items"]
            if not p["metadata"].get("deletionTimestamp")
        ]
        return (
            len(ready_endpoints(cluster, namespace, service)) == count
            and len(pods) == count
            and all(is_ready(p) for p in pods)
        )

    cluster.wait(settled, f"{count} ready endpoints of {namespace}/{service}")
