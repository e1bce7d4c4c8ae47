"""Well-known label and annotation keys of Services, Endpoints and EndpointSlices.

Defined once here (the API layer) because the EndpointSlice, mirroring and Endpoints
controllers, the proxy, DNS, the doctor and the view all read or write them.
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
ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
"""Set to ``truncated`` on an Endpoints object cut to its 1,000-address capacity."""
