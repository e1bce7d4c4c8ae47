"""Well-known label, annotation and taint keys (Services, EndpointSlices, Nodes, workloads).

Defined once here (the API layer) because the EndpointSlice, mirroring and Endpoints
controllers, the proxy, DNS, the doctor and the view all read or write them, and the API
server's defaults, printers and validation, the workload rooms and the test environment
set or check the node and workload keys: a key spelled twice can drift apart silently.
"""

from __future__ import annotations

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MIRRORING_CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
ANNOTATION_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_SERVICE_PROXY_NAME = "service.kubernetes.io/service-proxy-name"
"""A Service with this label is served by another proxy (kube-proxy skips its slices)."""
ANNOTATION_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
ANNOTATION_TOPOLOGY_AWARE_HINTS = "service.kubernetes.io/topology-aware-hints"
"""The deprecated predecessor of ``topology-mode``."""
ANNOTATION_LEADER = "control-plane.alpha.kubernetes.io/leader"
"""client-go's ``LeaderElectionRecordAnnotationKey``: Endpoints carrying it are locks, not
endpoints, and are never mirrored."""
ANNOTATION_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""kubectl apply's record of the applied object; never copied onto derived objects."""
ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
"""Set to ``truncated`` on an Endpoints object cut to its 1,000-address capacity."""

# Nodes, namespaces and workloads: set by the kubelet, the API server and the apps
# controllers, read by the scheduler, the printers, the topology cache and the proxy.
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_NODE_ROLE = "kubernetes.io/role"
"""The legacy role label ``kubectl get nodes`` still shows in ROLES."""
LABEL_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
"""``node-role.kubernetes.io/<role>``: a node's role, named by the key's suffix."""
LABEL_NODE_ROLE_CONTROL_PLANE = LABEL_NODE_ROLE_PREFIX + "control-plane"
LABEL_NODE_ROLE_MASTER = LABEL_NODE_ROLE_PREFIX + "master"
LABEL_METADATA_NAME = "kubernetes.io/metadata.name"
"""Every namespace carries its own name under this label (set by the API server)."""
LABEL_POD_TEMPLATE_HASH = "pod-template-hash"
"""Deployments label their ReplicaSets and pods with the hash of the pod template."""
TAINT_NODE_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_NODE_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
