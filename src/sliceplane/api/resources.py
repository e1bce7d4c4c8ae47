"""The kinds the embedded API server serves, described once.

Discovery documents, URL routing, OpenAPI, Table printing and storage keys are all derived
from this table, so adding a kind is one entry here (plus its validation and printer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served resource (a plural name inside a group-version)."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Whether PUT/PATCH on the main resource keeps the stored status (status subresource).
    has_status: bool = field(default=False)
    # Served for reading only (get, list, watch; writes are 405): kinds that upstream
    # components list at start and wait for (kube-scheduler's CSINodes and DRA kinds,
    # kube-proxy's ServiceCIDRs), which sliceplane holds nothing of or only the server's
    # own objects. They have no schema here, so no OpenAPI document either.
    read_only: bool = field(default=False)
    # False for create-only kinds answered and never stored (the review APIs,
    # ``apiserver.reviews``): no storage, no OpenAPI schema, no informer.
    stored: bool = field(default=True)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    def url_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        False,
        ("ns",),
        subresources=("status", "finalize"),
        has_status=True,
    ),
    ResourceInfo(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        False,
        ("no",),
        subresources=("status",),
        has_status=True,
    ),
    ResourceInfo(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        True,
        ("po",),
        ("all",),
        subresources=("status", "binding", "log", "exec", "attach", "portforward"),
        has_status=True,
    ),
    ResourceInfo(
        "",
        "v1",
        "Service",
        "services",
        "service",
        True,
        ("svc",),
        ("all",),
        subresources=("status",),
        has_status=True,
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    ResourceInfo("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",)),
    ResourceInfo("", "v1", "Event", "events", "event", True, ("ev",)),
    # Helm keeps its releases in Secrets (its default driver) or ConfigMaps.
    ResourceInfo("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceInfo("", "v1", "Secret", "secrets", "secret", True),
    ResourceInfo(
        "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True
    ),
    ResourceInfo("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
    ResourceInfo(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        True,
        ("deploy",),
        ("all",),
        subresources=("status", "scale"),
        has_status=True,
    ),
    ResourceInfo(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        True,
        ("rs",),
        ("all",),
        subresources=("status", "scale"),
        has_status=True,
    ),
    *(
        ResourceInfo(
            group, "v1", kind, plural, plural[:-1], namespaced, verbs=("create",), stored=False
        )
        for group, kind, plural, namespaced in (
            ("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", False),
            ("authentication.k8s.io", "TokenReview", "tokenreviews", False),
            (
                "authorization.k8s.io",
                "LocalSubjectAccessReview",
                "localsubjectaccessreviews",
                True,
            ),
            ("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
            ("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False),
            ("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", False),
        )
    ),
)

READ_ONLY_VERBS: tuple[str, ...] = ("get", "list", "watch")


def _read_only(group: str, kind: str, plural: str, namespaced: bool) -> ResourceInfo:
    return ResourceInfo(
        group,
        "v1",
        kind,
        plural,
        kind.lower(),
        namespaced,
        verbs=READ_ONLY_VERBS,
        read_only=True,
    )


# The default ServiceCIDR (``kubernetes``, the server's --service-cidr) is the one object
# of these the server writes; the rest stay empty. CustomResourceDefinitions are listed by
# clients that look a kind up among CRDs before the built-in schemas (the Terraform
# kubernetes provider's ``kubernetes_manifest`` fails its plan when the resource is missing).
READ_ONLY_RESOURCES: tuple[ResourceInfo, ...] = (
    dataclasses.replace(
        _read_only(
            "apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", False
        ),
        short_names=("crd", "crds"),
        categories=("api-extensions",),
    ),
    _read_only("networking.k8s.io", "ServiceCIDR", "servicecidrs", False),
    _read_only("storage.k8s.io", "CSINode", "csinodes", False),
    _read_only("resource.k8s.io", "DeviceClass", "deviceclasses", False),
    _read_only("resource.k8s.io", "DeviceTaintRule", "devicetaintrules", False),
    _read_only("resource.k8s.io", "ResourceClaim", "resourceclaims", True),
    _read_only("resource.k8s.io", "ResourceSlice", "resourceslices", False),
)
RESOURCES = RESOURCES + READ_ONLY_RESOURCES

BY_GVR: dict[tuple[str, str, str], ResourceInfo] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
BY_PLURAL: dict[str, ResourceInfo] = {r.plural: r for r in RESOURCES}
BY_KIND: dict[str, ResourceInfo] = {r.kind: r for r in RESOURCES}


def group_versions() -> list[tuple[str, str]]:
    """Served group-versions in a stable order (core first)."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if r.group_version not in seen:
            seen.append(r.group_version)
    return seen


def lookup(group: str, version: str, plural: str) -> ResourceInfo | None:
    return BY_GVR.get((group, version, plural))
