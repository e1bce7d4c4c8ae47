"""Strategic-merge metadata of the served kinds: upstream's ``patchStrategy`` and
``patchMergeKey`` struct tags, written down once.

The server's strategic merge patch applies them, and the OpenAPI documents publish them
(``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key``) because
``kubectl apply`` computes its patches from those documents: without them it would treat
every list as atomic and send a change for an unchanged object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class PatchStrategy(StrEnum):
    """The ``patchStrategy`` struct tag values, spelled as upstream spells them."""

    MERGE = "merge"
    """Lists: merge elements (by ``merge_key`` for objects, by value for primitives)."""
    RETAIN_KEYS = "retainKeys"
    """Objects: merged, and the client may send ``$retainKeys`` (the server honours that
    directive on any object, so this is documentation of upstream's tag)."""
    MERGE_RETAIN_KEYS = "merge,retainKeys"
    """Both of the above on a list of objects (e.g. ``volumes``)."""
    REPLACE = "replace"
    """Objects: the patch value replaces the whole object instead of merging."""


@dataclass(frozen=True, slots=True)
class PatchMeta:
    """How one field merges: upstream's ``patchStrategy`` and ``patchMergeKey`` tags.

    Fields absent from a kind's table have no tag: objects merge key by key, lists are
    replaced wholesale (upstream's default, also what ``+listType=atomic`` means).
    """

    strategy: PatchStrategy
    merge_key: str = ""

    @property
    def merges_lists(self) -> bool:
        return self.strategy in (PatchStrategy.MERGE, PatchStrategy.MERGE_RETAIN_KEYS)


_MERGE = PatchStrategy.MERGE
_MERGE_RETAIN = PatchStrategy.MERGE_RETAIN_KEYS


def _under(prefix: str, table: Mapping[str, PatchMeta]) -> dict[str, PatchMeta]:
    return {f"{prefix}.{path}": meta for path, meta in table.items()}


# metav1.ObjectMeta
_OBJECT_META: Final = {
    "ownerReferences": PatchMeta(_MERGE, "uid"),
    "finalizers": PatchMeta(_MERGE),
}

# core/v1 Container and EphemeralContainerCommon (identical tags)
_CONTAINER: Final = {
    "ports": PatchMeta(_MERGE, "containerPort"),
    "env": PatchMeta(_MERGE, "name"),
    "volumeMounts": PatchMeta(_MERGE, "mountPath"),
    "volumeDevices": PatchMeta(_MERGE, "devicePath"),
}

# core/v1 PodSpec.  tolerations, readinessGates and resizePolicy carry no tag upstream, so
# they are replaced as a whole.
_POD_SPEC: Final = {
    "volumes": PatchMeta(_MERGE_RETAIN, "name"),
    "initContainers": PatchMeta(_MERGE, "name"),
    **_under("initContainers", _CONTAINER),
    "containers": PatchMeta(_MERGE, "name"),
    **_under("containers", _CONTAINER),
    "ephemeralContainers": PatchMeta(_MERGE, "name"),
    **_under("ephemeralContainers", _CONTAINER),
    "imagePullSecrets": PatchMeta(_MERGE, "name"),
    "hostAliases": PatchMeta(_MERGE, "ip"),
    "topologySpreadConstraints": PatchMeta(_MERGE, "topologyKey"),
    "schedulingGates": PatchMeta(_MERGE, "name"),
    "resourceClaims": PatchMeta(_MERGE_RETAIN, "name"),
}

# core/v1 PodStatus.  containerStatuses and friends are atomic.
_POD_STATUS: Final = {
    "conditions": PatchMeta(_MERGE, "type"),
    "podIPs": PatchMeta(_MERGE, "ip"),
    "hostIPs": PatchMeta(_MERGE, "ip"),
    "resourceClaimStatuses": PatchMeta(_MERGE_RETAIN, "name"),
}

_CONDITIONS_BY_TYPE: Final = {"status.conditions": PatchMeta(_MERGE, "type")}

_META_ONLY: Final = _under("metadata", _OBJECT_META)

_TABLES: dict[str, dict[str, PatchMeta]] = {
    "Pod": {**_META_ONLY, **_under("spec", _POD_SPEC), **_under("status", _POD_STATUS)},
    "Deployment": {
        **_META_ONLY,
        "spec.strategy": PatchMeta(PatchStrategy.RETAIN_KEYS),
        **_under("spec.template.metadata", _OBJECT_META),
        **_under("spec.template.spec", _POD_SPEC),
        **_CONDITIONS_BY_TYPE,
    },
    "ReplicaSet": {
        **_META_ONLY,
        **_under("spec.template.metadata", _OBJECT_META),
        **_under("spec.template.spec", _POD_SPEC),
        **_CONDITIONS_BY_TYPE,
    },
    # ServiceSpec.ports merges on ``port`` alone (TCP and UDP on one port collide upstream too).
    "Service": {
        **_META_ONLY,
        "spec.ports": PatchMeta(_MERGE, "port"),
        **_CONDITIONS_BY_TYPE,
    },
    # subsets carry no tag: the whole list is replaced.
    "Endpoints": dict(_META_ONLY),
    # discovery/v1: endpoints and ports are +listType=atomic.
    "EndpointSlice": dict(_META_ONLY),
    # NodeSpec.taints carries no tag upstream: a patch replaces all taints.
    "Node": {
        **_META_ONLY,
        "spec.podCIDRs": PatchMeta(_MERGE),
        "status.conditions": PatchMeta(_MERGE, "type"),
        "status.addresses": PatchMeta(_MERGE, "type"),
    },
    # NamespaceSpec.finalizers carries no tag (unlike ObjectMeta.finalizers).
    "Namespace": {**_META_ONLY, **_CONDITIONS_BY_TYPE},
    "Lease": dict(_META_ONLY),
    "Event": dict(_META_ONLY),
    # data, binaryData and stringData are plain maps: a patch merges them key by key.
    "ConfigMap": dict(_META_ONLY),
    "Secret": dict(_META_ONLY),
}

PATCH_META: Final[Mapping[str, Mapping[str, PatchMeta]]] = MappingProxyType(
    {kind: MappingProxyType(table) for kind, table in _TABLES.items()}
)
"""Per kind: dotted field path from the object root -> merge behaviour.

List elements do not add a path segment: ``spec.containers.ports`` is the ``ports`` field of
every element of ``spec.containers``.  Paths not listed use the defaults (see PatchMeta).
"""

_META_ONLY_VIEW: Final[Mapping[str, PatchMeta]] = MappingProxyType(_META_ONLY)
META_ONLY: Final = _META_ONLY_VIEW


def patch_meta_for(kind: str) -> Mapping[str, PatchMeta]:
    """The table for ``kind``; kinds not served get the ObjectMeta entries only."""
    return PATCH_META.get(kind, _META_ONLY_VIEW)
