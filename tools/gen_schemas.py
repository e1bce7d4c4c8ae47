"""Generate ``src/sliceplane/api/schemas/schemas.json`` from the official Python client's models.

Why: the API server must drop (or, with ``fieldValidation=Strict``, reject) fields that the
built-in kinds do not have, report wrong JSON types the way kube-apiserver's decoder does, and
serve ``/openapi/v3`` documents that kubectl reads. All of that needs the shape of every kind we
serve. The official ``kubernetes`` client (a dev dependency) carries that shape in its model
classes (``openapi_types``, ``attribute_map``, pydantic ``model_fields`` for required-ness and
int-or-string unions), so we walk them once here and commit the compact result as data. The
runtime never imports the client.

What the client models do not say is recorded in the tables below: which integers are int64
(everything else is int32), which strings are ``resource.Quantity``, which timestamps are
``MicroTime``, and which Kubernetes API group each model class belongs to.

Run: ``.venv/bin/python tools/gen_schemas.py`` (``make schemas``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

import kubernetes.client.models as models

OUT = Path(__file__).resolve().parent.parent / "src/sliceplane/api/schemas/schemas.json"

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"
APPS = "io.k8s.api.apps.v1"
DISCOVERY = "io.k8s.api.discovery.v1"
COORDINATION = "io.k8s.api.coordination.v1"
AUTOSCALING = "io.k8s.api.autoscaling.v1"

# (python model class, group, version, kind): the kinds the API server serves, their list
# kinds, and the meta kinds every group-version carries.
ROOTS: list[tuple[str, str, str, str]] = [
    ("V1Namespace", "", "v1", "Namespace"),
    ("V1Node", "", "v1", "Node"),
    ("V1Pod", "", "v1", "Pod"),
    ("V1Service", "", "v1", "Service"),
    ("V1Endpoints", "", "v1", "Endpoints"),
    ("CoreV1Event", "", "v1", "Event"),
    ("V1EndpointSlice", "discovery.k8s.io", "v1", "EndpointSlice"),
    ("V1Lease", "coordination.k8s.io", "v1", "Lease"),
    ("V1Deployment", "apps", "v1", "Deployment"),
    ("V1ReplicaSet", "apps", "v1", "ReplicaSet"),
    ("V1Scale", "autoscaling", "v1", "Scale"),
    ("V1NamespaceList", "", "v1", "NamespaceList"),
    ("V1NodeList", "", "v1", "NodeList"),
    ("V1PodList", "", "v1", "PodList"),
    ("V1ServiceList", "", "v1", "ServiceList"),
    ("V1EndpointsList", "", "v1", "EndpointsList"),
    ("CoreV1EventList", "", "v1", "EventList"),
    ("V1ConfigMap", "", "v1", "ConfigMap"),
    ("V1ConfigMapList", "", "v1", "ConfigMapList"),
    ("V1Secret", "", "v1", "Secret"),
    ("V1SecretList", "", "v1", "SecretList"),
    ("V1EndpointSliceList", "discovery.k8s.io", "v1", "EndpointSliceList"),
    ("V1LeaseList", "coordination.k8s.io", "v1", "LeaseList"),
    ("V1DeploymentList", "apps", "v1", "DeploymentList"),
    ("V1ReplicaSetList", "apps", "v1", "ReplicaSetList"),
    ("V1Status", "", "v1", "Status"),
    ("V1DeleteOptions", "", "v1", "DeleteOptions"),
]

# DeleteOptions is registered in every group-version (as kube-apiserver's documents show).
DELETE_OPTIONS_GVS = [
    ("", "v1"),
    ("apps", "v1"),
    ("autoscaling", "v1"),
    ("coordination.k8s.io", "v1"),
    ("discovery.k8s.io", "v1"),
]

META_CLASSES = {
    "ObjectMeta",
    "ListMeta",
    "ManagedFieldsEntry",
    "OwnerReference",
    "Status",
    "StatusDetails",
    "StatusCause",
    "DeleteOptions",
    "Preconditions",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Condition",
    "ShardInfo",
}
APPS_PREFIXES = ("Deployment", "ReplicaSet", "RollingUpdateDeployment")
DISCOVERY_CLASSES = {
    "EndpointSlice",
    "EndpointSliceList",
    "Endpoint",
    "EndpointConditions",
    "EndpointHints",
    "ForZone",
    "ForNode",
}
COORDINATION_CLASSES = {"Lease", "LeaseSpec", "LeaseList"}
AUTOSCALING_CLASSES = {"Scale", "ScaleSpec", "ScaleStatus"}

# Integer fields whose Go type is int64 (kube's OpenAPI "format": "int64"); the rest are int32.
# Keys are definition names; values are JSON field names.
INT64: dict[str, set[str]] = {
    f"{META}.ObjectMeta": {"generation", "deletionGracePeriodSeconds"},
    f"{META}.ListMeta": {"remainingItemCount"},
    f"{META}.DeleteOptions": {"gracePeriodSeconds"},
    f"{META}.Condition": {"observedGeneration"},
    f"{CORE}.PodSpec": {"activeDeadlineSeconds", "terminationGracePeriodSeconds"},
    f"{CORE}.PodStatus": {"observedGeneration"},
    f"{CORE}.PodCondition": {"observedGeneration"},
    f"{CORE}.PodSecurityContext": {"fsGroup", "runAsGroup", "runAsUser", "supplementalGroups"},
    f"{CORE}.SecurityContext": {"runAsGroup", "runAsUser"},
    f"{CORE}.LinuxContainerUser": {"uid", "gid", "supplementalGroups"},
    f"{CORE}.Probe": {"terminationGracePeriodSeconds"},
    f"{CORE}.SleepAction": {"seconds"},
    f"{CORE}.Toleration": {"tolerationSeconds"},
    f"{CORE}.ServiceAccountTokenProjection": {"expirationSeconds", "user"},
    f"{CORE}.ContainerImage": {"sizeBytes"},
    f"{CORE}.NodeSwapStatus": {"capacity"},
    # 1.37 additions holding user ids, like runAsUser (int64 by the same convention).
    f"{CORE}.ConfigMapVolumeSource": {"defaultUser"},
    f"{CORE}.SecretVolumeSource": {"defaultUser"},
    f"{CORE}.ProjectedVolumeSource": {"defaultUser"},
    f"{CORE}.DownwardAPIVolumeSource": {"defaultUser"},
    f"{CORE}.KeyToPath": {"user"},
    f"{CORE}.DownwardAPIVolumeFile": {"user"},
    f"{CORE}.ClusterTrustBundleProjection": {"user"},
    f"{CORE}.PodCertificateProjection": {"user"},
    f"{APPS}.DeploymentStatus": {"observedGeneration"},
    f"{APPS}.ReplicaSetStatus": {"observedGeneration"},
}

# Fields that are resource.Quantity (the client types them as plain strings).
QUANTITY_MAPS: dict[str, set[str]] = {
    f"{CORE}.ResourceRequirements": {"limits", "requests"},
    f"{CORE}.VolumeResourceRequirements": {"limits", "requests"},
    f"{CORE}.NodeStatus": {"capacity", "allocatable"},
    f"{CORE}.PodSpec": {"overhead"},
    f"{CORE}.ContainerStatus": {"allocatedResources"},
    f"{CORE}.PodStatus": {"allocatedResources"},
}
QUANTITY_FIELDS: dict[str, set[str]] = {
    f"{CORE}.EmptyDirVolumeSource": {"sizeLimit"},
    f"{CORE}.ResourceFieldSelector": {"divisor"},
}
# metav1.MicroTime fields; every other timestamp is metav1.Time.
MICROTIME: dict[str, set[str]] = {
    f"{COORDINATION}.LeaseSpec": {"acquireTime", "renewTime"},
    f"{CORE}.Event": {"eventTime"},
    f"{CORE}.EventSeries": {"lastObservedTime"},
}
# Free-form JSON objects (the client types them as ``object`` / ``Dict[str, Any]``).
FREE_FORM = {f"{META}.ManagedFieldsEntry": {"fieldsV1"}}

_BUILTINS = {"str", "int", "bool", "float", "object", "datetime", "date", "bytearray", "bytes"}


def definition_name(cls_name: str) -> str:
    """Kubernetes definition name (``io.k8s.api.core.v1.Pod``) of a client model class."""
    if cls_name.startswith("CoreV1"):
        return f"{CORE}.{cls_name[len('CoreV1') :]}"
    if cls_name.startswith("DiscoveryV1"):
        return f"{DISCOVERY}.{cls_name[len('DiscoveryV1') :]}"
    m = re.fullmatch(r"V1(\w+)", cls_name)
    if m is None:
        raise SystemExit(f"unexpected model class {cls_name}")
    short = m.group(1)
    if short in META_CLASSES:
        return f"{META}.{short}"
    if short in DISCOVERY_CLASSES:
        return f"{DISCOVERY}.{short}"
    if short in COORDINATION_CLASSES:
        return f"{COORDINATION}.{short}"
    if short in AUTOSCALING_CLASSES:
        return f"{AUTOSCALING}.{short}"
    if short.startswith(APPS_PREFIXES):
        return f"{APPS}.{short}"
    return f"{CORE}.{short}"


def _model_field(cls: Any, attr: str) -> Any:
    fields = cls.model_fields
    for name in (attr, "var_" + attr.lstrip("_"), attr.lstrip("_")):
        if name in fields:
            return fields[name]
    return None


def _is_int_or_string(field: Any) -> bool:
    if field is None:
        return False
    args = {a for a in _flatten(field.annotation) if a is not type(None)}
    return args == {int, str}


def _flatten(ann: Any) -> list[Any]:
    origin = typing.get_origin(ann)
    if origin is typing.Union:
        out: list[Any] = []
        for arg in typing.get_args(ann):
            out.extend(_flatten(arg))
        return out
    if origin is typing.Annotated:
        return _flatten(typing.get_args(ann)[0])
    return [ann]


def convert_type(t: str, defn: str, json_name: str, field: Any, todo: list[str]) -> Any:
    """Compact schema node for the client type string ``t`` of field ``defn.json_name``."""
    m = re.fullmatch(r"List\[(.+)\]", t)
    if m:
        return {"array": convert_type(m.group(1), defn, json_name, None, todo)}
    m = re.fullmatch(r"Dict\[str, (.+)\]", t)
    if m:
        inner = m.group(1)
        if inner == "str" and json_name in QUANTITY_MAPS.get(defn, ()):
            return {"map": "Quantity"}
        return {"map": convert_type(inner, defn, json_name, None, todo)}
    if t == "str":
        if json_name in QUANTITY_FIELDS.get(defn, ()):
            return "Quantity"
        return "string"
    if t == "bool":
        return "boolean"
    if t == "bytes":
        return "bytes"  # Go []byte: base64 in JSON
    if t == "int":
        return "int64" if json_name in INT64.get(defn, ()) else "int32"
    if t == "float":
        return "number"
    if t == "datetime":
        return "MicroTime" if json_name in MICROTIME.get(defn, ()) else "Time"
    if t == "object":
        if _is_int_or_string(field):
            return "IntOrString"
        if json_name in FREE_FORM.get(defn, ()):
            return "object"
        raise SystemExit(f"unclassified object field {defn}.{json_name}")
    if t in _BUILTINS:
        raise SystemExit(f"unsupported type {t} at {defn}.{json_name}")
    if not hasattr(models, t):
        raise SystemExit(f"unknown model {t} at {defn}.{json_name}")
    todo.append(t)
    return {"ref": definition_name(t)}


def generate() -> dict[str, Any]:
    definitions: dict[str, dict[str, Any]] = {}
    gvks: dict[str, list[dict[str, str]]] = {}
    for cls_name, group, version, kind in ROOTS:
        name = definition_name(cls_name)
        if kind == "DeleteOptions":
            gvks[name] = [{"group": g, "kind": kind, "version": v} for g, v in DELETE_OPTIONS_GVS]
        else:
            gvks[name] = [{"group": group, "kind": kind, "version": version}]
    todo = [r[0] for r in ROOTS]
    seen: set[str] = set()
    while todo:
        cls_name = todo.pop()
        if cls_name in seen:
            continue
        seen.add(cls_name)
        cls = getattr(models, cls_name)
        defn = definition_name(cls_name)
        props: dict[str, Any] = {}
        required: list[str] = []
        for attr, t in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            field = _model_field(cls, attr)
            props[json_name] = convert_type(t, defn, json_name, field, todo)
            if field is not None and field.is_required():
                required.append(json_name)
        entry: dict[str, Any] = {"properties": dict(sorted(props.items()))}
        if required:
            entry["required"] = sorted(required)
        if defn in gvks:
            entry["x-kubernetes-group-version-kind"] = gvks[defn]
        if defn in definitions:
            raise SystemExit(f"two model classes map to {defn}")
        definitions[defn] = entry
    _check_tables(definitions)
    return {
        "source": "kubernetes python client " + _client_version(),
        "definitions": dict(sorted(definitions.items())),
    }


def _check_tables(definitions: dict[str, dict[str, Any]]) -> None:
    """Fail when an override names a field the models no longer have (a stale table)."""
    for table in (INT64, QUANTITY_MAPS, QUANTITY_FIELDS, MICROTIME, FREE_FORM):
        for defn, names in table.items():
            props = definitions.get(defn, {}).get("properties", {})
            for n in names:
                if n not in props:
                    raise SystemExit(f"override names missing field {defn}.{n}")


def _client_version() -> str:
    from importlib.metadata import version

    return version("kubernetes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = json.dumps(generate(), sort_keys=False, separators=(",", ":")) + "\n"
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run tools/gen_schemas.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
