"""A Service of N pods and its Endpoints and EndpointSlices, as the controllers write them.

The report does not run the controllers: it calls their pure planners
(:func:`sliceplane.endpointslice.reconciler.plan_service`,
:func:`sliceplane.endpoints.planner.desired_subsets`) on synthetic pods, so every write it
makes is exactly one the EndpointSlice or Endpoints controller would make for the same
change, without waiting for informers. Pods themselves are never written: only Endpoints
and EndpointSlice watchers are measured.

The Endpoints object is the *untruncated* one (Kubernetes up to 1.21, which KEP-752
measured): since 1.22 the Endpoints controller cuts it to 1,000 addresses, which keeps it
small by making it wrong for big Services.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field

from sliceplane.api.meta import Obj
from sliceplane.api.wellknown import LABEL_ZONE
from sliceplane.endpointbase.plan import Action
from sliceplane.endpoints.planner import desired_subsets
from sliceplane.endpointslice.reconciler import ReconcilerOptions, plan_service

NODES = 100
ZONES = ("zone-a", "zone-b", "zone-c")
_UID_NS = uuid.UUID("6f1d2c1e-8a4b-4c55-9f57-3b1f2a7e0c11")


def service_manifest(namespace: str, name: str = "web") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def node(i: int) -> Obj:
    return {
        "metadata": {
            "name": f"node-{i:04d}",
            "labels": {LABEL_ZONE: ZONES[i % len(ZONES)]},
        },
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod_ip(index: int) -> str:
    """A distinct IPv4 address per index (10.64.0.0/10 holds four million)."""
    n = (64 << 16) + index
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


def pod(namespace: str, service: str, index: int, generation: int, ready: bool = True) -> Obj:
    """Pod ``index`` of rollout ``generation``: its own name, uid and IP, on node
    ``index % NODES``, Running, with a named container port."""
    name = f"{service}-{generation:02d}-{index:05d}"
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid5(_UID_NS, f"{namespace}/{name}")),
            "resourceVersion": str(generation * 1_000_000 + index + 1),
            "labels": {"app": service},
        },
        "spec": {
            "nodeName": f"node-{index % NODES:04d}",
            "containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": pod_ip(index + generation * 50_000),
            "podIPs": [{"ip": pod_ip(index + generation * 50_000)}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


@dataclass
class ServiceState:
    """One Service, its pods, and the objects last written for it."""

    service: Obj
    pods: list[Obj]
    options: ReconcilerOptions = field(default_factory=ReconcilerOptions)
    slices: list[Obj] = field(default_factory=list)
    """The slices as the API server returned them (names, resourceVersions)."""
    endpoints: Obj | None = None
    nodes: dict[str, Obj] = field(
        default_factory=lambda: {f"node-{i:04d}": node(i) for i in range(NODES)}
    )

    @property
    def namespace(self) -> str:
        return str(self.service["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.service["metadata"]["name"])

    def slice_actions(self) -> list[Action]:
        """The EndpointSlice controller's writes for the current pods."""
        return plan_service(
            self.service, self.pods, self.nodes, self.slices, self.options, None
        ).actions

    def endpoints_object(self) -> Obj:
        """The untruncated Endpoints object for the current pods (see the module doc)."""
        if self.endpoints is not None:
            new = copy.deepcopy(self.endpoints)
        else:
            new = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "labels": {"endpoints.kubernetes.io/managed-by": "endpoint-controller"},
                },
            }
        new["subsets"] = desired_subsets(self.service, self.pods)
        return new

    def set_ready(self, index: int, ready: bool) -> None:
        """Pod ``index`` passes or fails its readiness probe (a new pod object, as the
        kubelet's status update makes one)."""
        old = self.pods[index]
        gen = int(old["metadata"]["name"].rsplit("-", 2)[1])
        self.pods[index] = pod(self.namespace, self.name, index, gen, ready)

    def replace(self, index: int, generation: int) -> None:
        """A rolling update's step: pod ``index`` replaced by its successor."""
        self.pods[index] = pod(self.namespace, self.name, index, generation)


def initial_state(service: Obj, pods: int, max_endpoints_per_slice: int = 100) -> ServiceState:
    ns, name = service["metadata"]["namespace"], service["metadata"]["name"]
    return ServiceState(
        service=service,
        pods=[pod(ns, name, i, 1) for i in range(pods)],
        options=ReconcilerOptions(max_endpoints_per_slice=max_endpoints_per_slice),
    )
