"""Column definitions per resource, as upstream's ``AddHandlers`` declares them.

Why apart: the columns are data (name, type, description, priority) that kubectl reads
from ``columnDefinitions``; keeping them out of the row printers lets one table be
checked against upstream at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    "secrets": (
        _NAME,
        _plain("Type", "Used to facilitate programmatic handling of secret data."),
        _plain("Data", "Number of keys in the secret's data."),
        _AGE,
    ),
    "configmaps": (
        _NAME,
        _plain("Data", "Number of keys in the config map's data and binaryData."),
        _AGE,
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
