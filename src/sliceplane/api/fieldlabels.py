"""Which fields each resource offers to field selectors, and their values on an object.

The tables follow kube-apiserver's registries: every kind offers ``metadata.name`` and,
when namespaced, ``metadata.namespace`` (its ``GetAttrs``); the kinds that register their
own field-label conversion (pods, nodes, events, namespaces, secrets, services,
replication controllers) offer more, some under aliases. A selector naming a field the
resource does not offer is a ``400 BadRequest`` with upstream's text: ``field label not
supported: spec.foo`` for those kinds, ``"spec.foo" is not a known field selector: only
"metadata.name", "metadata.namespace"`` for every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sliceplane.api.errors import BadRequest
from sliceplane.api.field import go_quote
from sliceplane.api.fieldselectors import FieldSelector
from sliceplane.api.selectors import _str

__all__ = ["field_set", "validate_field_selector"]

_META_NAME: Final = "metadata.name"
_META_NAMESPACE: Final = "metadata.namespace"

# Kinds with their own field-label conversion in kube-apiserver: supported labels, aliases.
_FIELD_LABELS: Final[dict[str, tuple[frozenset[str], dict[str, str]]]] = {
    "pods": (
        frozenset(
            {
                _META_NAME,
                _META_NAMESPACE,
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            }
        ),
        {"spec.host": "spec.nodeName"},
    ),
    "nodes": (frozenset({_META_NAME, "spec.unschedulable"}), {}),
    "replicationcontrollers": (frozenset({_META_NAME, _META_NAMESPACE, "status.replicas"}), {}),
    "events": (
        frozenset(
            {
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
                _META_NAMESPACE,
                _META_NAME,
            }
        ),
        {},
    ),
    "namespaces": (frozenset({"status.phase", _META_NAME}), {}),
    "secrets": (frozenset({"type", _META_NAMESPACE, _META_NAME}), {}),
    "services": (frozenset({_META_NAMESPACE, _META_NAME, "spec.clusterIP", "spec.type"}), {}),
}

_CLUSTER_SCOPED: Final = frozenset(
    {
        "nodes",
        "namespaces",
        "persistentvolumes",
        "componentstatuses",
        "customresourcedefinitions",
        "apiservices",
        "clusterroles",
        "clusterrolebindings",
        "storageclasses",
        "csidrivers",
        "csinodes",
        "volumeattachments",
        "priorityclasses",
        "ingressclasses",
        "runtimeclasses",
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "certificatesigningrequests",
        "ipaddresses",
        "servicecidrs",
    }
)


def _core_resource(resource: str) -> str | None:
    """``pods`` for ``pods``; None for a resource qualified with a non-core group."""
    name, _, group = resource.partition(".")
    return None if group else name


def validate_field_selector(resource: str, sel: FieldSelector) -> FieldSelector:
    """Check (and, for ``spec.host``, rename) field labels like kube-apiserver does.

    ``resource`` is the plural name (``pods``) or ``plural.group`` for non-core groups.
    Raises :class:`BadRequest` (400) with the exact upstream message; returns the selector
    with aliases rewritten, to be matched against :func:`field_set`.
    """
    core = _core_resource(resource)
    spec = _FIELD_LABELS.get(core) if core is not None else None

    def convert(label: str, value: str) -> tuple[str, str]:
        if spec is None:
            if label in (_META_NAME, _META_NAMESPACE):
                return label, value
            raise BadRequest(
                f"{go_quote(label)} is not a known field selector: only "
                f'"{_META_NAME}", "{_META_NAMESPACE}"'
            )
        supported, aliases = spec
        if label in supported:
            return label, value
        if label in aliases:
            return aliases[label], value
        raise BadRequest(f"field label not supported: {label}")

    return sel.transform(convert)


def _go_bool(v: object) -> str:
    return "true" if v is True else "false"


def _dict(v: object) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def field_set(resource: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of a JSON object, as the resource's registry defines them.

    Every resource has ``metadata.name`` and, when namespaced, ``metadata.namespace``.
    Pods, events, nodes, namespaces, services and secrets add their own fields. The
    values are the strings kube compares against (booleans as ``true``/``false``).
    """
    core = _core_resource(resource)
    meta = _dict(obj.get("metadata"))
    out: dict[str, str] = {_META_NAME: _str(meta.get("name"))}
    if resource.partition(".")[0] not in _CLUSTER_SCOPED:
        out[_META_NAMESPACE] = _str(meta.get("namespace"))
    if core == "pods":
        spec = _dict(obj.get("spec"))
        status = _dict(obj.get("status"))
        pod_ips = status.get("podIPs")
        if isinstance(pod_ips, list) and pod_ips:
            pod_ip = _str(_dict(pod_ips[0]).get("ip"))
        else:
            pod_ip = _str(status.get("podIP"))
        out["spec.nodeName"] = _str(spec.get("nodeName"))
        out["spec.restartPolicy"] = _str(spec.get("restartPolicy"))
        out["spec.schedulerName"] = _str(spec.get("schedulerName"))
        # v1 -> internal conversion falls back to the deprecated field.
        out["spec.serviceAccountName"] = _str(
            spec.get("serviceAccountName") or spec.get("serviceAccount")
        )
        out["spec.hostNetwork"] = _go_bool(spec.get("hostNetwork"))
        out["status.phase"] = _str(status.get("phase"))
        out["status.podIP"] = pod_ip
        out["status.nominatedNodeName"] = _str(status.get("nominatedNodeName"))
    elif core == "events":
        involved = _dict(obj.get("involvedObject"))
        reporting = _str(obj.get("reportingComponent"))
        source = _str(_dict(obj.get("source")).get("component")) or reporting
        for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion"):
            out[f"involvedObject.{name}"] = _str(involved.get(name))
        out["involvedObject.fieldPath"] = _str(involved.get("fieldPath"))
        out["reason"] = _str(obj.get("reason"))
        out["reportingComponent"] = reporting
        out["source"] = source
        out["type"] = _str(obj.get("type"))
    elif core == "nodes":
        out["spec.unschedulable"] = _go_bool(_dict(obj.get("spec")).get("unschedulable"))
    elif core == "namespaces":
        out["status.phase"] = _str(_dict(obj.get("status")).get("phase"))
    elif core == "services":
        spec = _dict(obj.get("spec"))
        out["spec.clusterIP"] = _str(spec.get("clusterIP"))
        out["spec.type"] = _str(spec.get("type"))
    elif core == "secrets":
        out["type"] = _str(obj.get("type"))
    elif core == "replicationcontrollers":
        replicas = _dict(obj.get("status")).get("replicas")
        out["status.replicas"] = str(replicas) if isinstance(replicas, int) else "0"
    return out
