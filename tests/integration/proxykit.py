"""Shared pieces of the real-packet proxy tests (issue #13): objects, fixtures' guts, skips.

The Services are selector-less and their EndpointSlices are written by hand (labelled
``kubernetes.io/service-name``, as a controller would): the proxy is what is under test,
so the tests state each endpoint's conditions, node, zone and hints exactly instead of
growing them from pods through a controller (no kubelet runs here to make pods Ready, and
the hints a controller would pick depend on node CPU capacity). kube-controller-manager is
not started at all, so nothing else writes to these objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sliceplane.testenv import BinariesNotFound, find_binaries
from sliceplane.testenv.netns import Member, Network, sweep, topology, unsupported_reason
from sliceplane.testenv.proxylab import APIServerKind, Impl, Mode, ProxyLab

Obj = dict[str, Any]

TAG = "pnet"  # namespaces are sp-pnet-<pid>-...
NAMESPACE = "default"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
POD_PORT = 8080
SLICEPLANE = Path(sys.executable).parent / "sliceplane"

IMPLS: tuple[Impl, ...] = ("kube-proxy", "sliceplane")
MODES: tuple[Mode, ...] = ("nftables", "iptables")


def environment_missing() -> str:
    """Why the real-packet tests cannot run here ("" when they can)."""
    reason = unsupported_reason()
    if reason:
        return reason
    try:
        find_binaries()
    except BinariesNotFound as exc:
        return str(exc)
    return ""


def sliceplane_proxy_missing() -> str:
    """ "" when this tree has ``sliceplane proxy`` (issue #13's command), else why not."""
    try:
        proc = subprocess.run(
            [str(SLICEPLANE), "proxy", "--help"], capture_output=True, text=True, timeout=60
        )
    except OSError as exc:
        return f"sliceplane not installed: {exc}"
    if proc.returncode != 0:
        return "`sliceplane proxy` is not in this tree yet"
    return ""


def impl_params() -> list[Any]:
    missing = sliceplane_proxy_missing()
    params = []
    for impl in IMPLS:
        for mode in MODES:
            marks = [pytest.mark.skip(reason=missing)] if impl == "sliceplane" and missing else []
            params.append(pytest.param((impl, mode), id=f"{impl}-{mode}", marks=marks))
    return params


def start_lab(
    workdir: Path, *, apiserver: APIServerKind = "kube-apiserver", tag: str = TAG, **topo: Any
) -> Iterator[ProxyLab]:
    """A swept, started :class:`ProxyLab`, stopped (network removed) afterwards;
    ``apiserver`` is what runs in its control-plane namespace."""
    sweep(tag)
    network = Network(topology(tag, os.getpid(), pod_port=POD_PORT, **topo), workdir)
    lab = ProxyLab(network, apiserver=apiserver)
    with lab:
        yield lab


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------- objects


def service(name: str, *, port: int = 80, protocol: str = "TCP", **spec: Any) -> Obj:
    """A selector-less Service with one port ``http`` -> the pods' ``POD_PORT``."""
    ports = [{"name": "http", "port": port, "targetPort": POD_PORT, "protocol": protocol}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"ports": ports, **spec},
    }


def endpoint(
    pod: Member,
    *,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    node: str | None = None,
    zone: str | None = None,
    hint_zones: Sequence[str] = (),
) -> Obj:
    """One endpoint for ``pod``, with ``nodeName`` and ``zone`` of the node the pod runs on
    (as the EndpointSlice controller writes them) unless given."""
    conditions = {
        k: v
        for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if v is not None
    }
    ep: Obj = {"addresses": [pod.address], "conditions": conditions}
    ep["nodeName"] = node if node is not None else pod.node
    ep["zone"] = zone if zone is not None else pod.zone
    if hint_zones:
        ep["hints"] = {"forZones": [{"name": z} for z in hint_zones]}
    return ep


def endpoint_slice(
    service_name: str, endpoints: Sequence[Obj], *, suffix: str = "1", protocol: str = "TCP"
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-{suffix}",
            "namespace": NAMESPACE,
            "labels": {SERVICE_NAME_LABEL: service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": POD_PORT, "protocol": protocol}],
        "endpoints": list(endpoints),
    }


SERVICES = f"/api/v1/namespaces/{NAMESPACE}/services"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"


class Objects:
    """Creates Services and slices on the lab's API server; deletes them all at the end."""

    def __init__(self, lab: ProxyLab) -> None:
        self.lab = lab
        self.created: list[str] = []

    def service(self, obj: Obj) -> Obj:
        out = self.lab.create(SERVICES, obj)
        self.created.append(f"{SERVICES}/{obj['metadata']['name']}")
        return out

    def slice(self, obj: Obj) -> Obj:
        out = self.lab.create(SLICES, obj)
        self.created.append(f"{SLICES}/{obj['metadata']['name']}")
        return out

    def replace_endpoints(self, slice_name: str, endpoints: Sequence[Obj]) -> Obj:
        path = f"{SLICES}/{slice_name}"
        current = self.lab.get(path)
        current["endpoints"] = list(endpoints)
        return self.lab.replace(path, current)

    def patch_service(self, name: str, patch: Obj) -> Obj:
        return self.lab.merge_patch(f"{SERVICES}/{name}", patch)

    def delete_service(self, name: str) -> None:
        """Delete a Service and the slices labelled for it (nothing garbage-collects here)."""
        path = f"{SERVICES}/{name}"
        self.lab.delete(path)
        for sl in self.lab.get(f"{SLICES}?labelSelector={SERVICE_NAME_LABEL}%3D{name}")["items"]:
            self.lab.delete(f"{SLICES}/{sl['metadata']['name']}")

    def set_load_balancer_ingress(self, name: str, ip: str) -> Obj:
        """What a cloud controller would write: the Service's load balancer address."""
        return self.lab.merge_patch(
            f"{SERVICES}/{name}/status", {"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}
        )

    def cleanup(self) -> None:
        for path in reversed(self.created):
            self.lab.delete(path)
        self.created.clear()
