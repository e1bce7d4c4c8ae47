"""Defaulting of incoming objects, as kube-apiserver's generated defaulters do.

Pure functions over JSON dicts, called on create and update before validation. They
change their argument in place (the caller hands in its own copy of the request body).
Cluster-IP and node-port allocation is not here: it needs state (see ``ipalloc``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from sliceplane.api.meta import Obj
from sliceplane.api.wellknown import (
    LABEL_METADATA_NAME,
    TAINT_NODE_NOT_READY,
    TAINT_NODE_UNREACHABLE,
)


def _struct(obj: Obj, key: str) -> object:
    """``obj[key]``, made ``{}`` when absent or JSON ``null``: Go decodes ``null`` into a
    struct field as its zero value, which the defaulters then fill (a Service with
    ``"spec": null`` gets a 422 for its missing ports, not a 500)."""
    if obj.get(key) is None:
        obj[key] = {}
    return obj[key]


def _pod_spec(spec: Obj, *, pod: bool = False) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if pod:
        # SetDefaults_Pod, not SetDefaults_PodSpec: templates never get it (upstream moved
        # it there so that upgrading would not roll out every Deployment).
        spec.setdefault("enableServiceLinks", True)
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _container(c)


def admit(resource: str, obj: Obj) -> None:
    """What admission plugins add after defaulting (and after the field manager has recorded
    the request's fields, so nobody owns them): DefaultTolerationSeconds' two tolerations on
    every pod, and Priority's priority and preemption policy (there are no PriorityClasses,
    so a pod gets the global default, 0)."""
    if resource != "pods":
        return
    spec = obj.get("spec")
    if isinstance(spec, dict) and "priorityClassName" not in spec:
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    if isinstance(spec, dict) and "tolerations" not in spec:
        spec["tolerations"] = [
            {
                "key": TAINT_NODE_NOT_READY,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": TAINT_NODE_UNREACHABLE,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ]


def _container(c: Obj) -> None:
    image = c.get("image")
    if "imagePullPolicy" not in c and isinstance(image, str):
        tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
        latest = image.endswith(":latest") or not tagged
        c["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        pr = c.get(probe)
        if isinstance(pr, dict):
            pr.setdefault("timeoutSeconds", 1)
            pr.setdefault("periodSeconds", 10)
            pr.setdefault("successThreshold", 1)
            pr.setdefault("failureThreshold", 3)
            hg = pr.get("httpGet")
            if isinstance(hg, dict):
                hg.setdefault("path", "/")
                hg.setdefault("scheme", "HTTP")


def default_pod(obj: Obj) -> None:
    spec = _struct(obj, "spec")
    if isinstance(spec, dict):
        _pod_spec(spec, pod=True)


def default_service(obj: Obj) -> None:
    spec = _struct(obj, "spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    typ = spec.get("type")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "targetPort" not in p and "port" in p:
                p["targetPort"] = p["port"]
    if typ in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    # ExternallyAccessible(): NodePort, LoadBalancer, or a ClusterIP Service with externalIPs.
    if typ in ("NodePort", "LoadBalancer") or (typ == "ClusterIP" and spec.get("externalIPs")):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if typ == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    # As SetDefaults_Service: None drops any config (so a Service switched from ClientIP to
    # None by a patch loses its timeout), ClientIP without a timeout gets the whole default.
    affinity = spec.get("sessionAffinity")
    if affinity == "None":
        spec.pop("sessionAffinityConfig", None)
    elif affinity == "ClientIP":
        # A config of the wrong type is left for validation to name.
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if (config is None or isinstance(config, dict)) and (
            client_ip is None
            or (isinstance(client_ip, dict) and client_ip.get("timeoutSeconds") is None)
        ):
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}


def default_deployment(obj: Obj) -> None:
    spec = _struct(obj, "spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if isinstance(ru, dict):
                ru.setdefault("maxUnavailable", "25%")
                ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def default_replicaset(obj: Obj) -> None:
    spec = _struct(obj, "spec")
    if isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template(spec)


def _template(spec: Obj) -> None:
    tmpl = spec.get("template")
    if isinstance(tmpl, dict):
        pod_spec = _struct(tmpl, "spec")
        if isinstance(pod_spec, dict):
            _pod_spec(pod_spec)


def default_namespace(obj: Obj) -> None:
    meta = obj.setdefault("metadata", {})
    name = meta.get("name")
    if isinstance(name, str) and name:
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels[LABEL_METADATA_NAME] = name
    spec = _struct(obj, "spec")
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])


def default_endpointslice(obj: Obj) -> None:
    for p in obj.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("name", "")
            p.setdefault("protocol", "TCP")
    # kube-apiserver stores through protobuf, where an empty list comes back as nil, and
    # these two fields have no omitempty: an empty list is served as null. Do the same.
    for key in ("endpoints", "ports"):
        if obj.get(key) == [] or key not in obj:
            obj[key] = None
    for ep in obj.get("endpoints") or []:
        if isinstance(ep, dict):
            # Not writable through v1: silently dropped, as upstream's strategy does.
            ep.pop("deprecatedTopology", None)
            # A struct, not a pointer, in Go: always served, ``{}`` when nothing is set.
            ep.setdefault("conditions", {})


def default_endpoints(obj: Obj) -> None:
    for subset in obj.get("subsets") or []:
        if isinstance(subset, dict):
            for p in subset.get("ports") or []:
                if isinstance(p, dict):
                    p.setdefault("protocol", "TCP")


def default_secret(obj: Obj) -> None:
    """``SetDefaults_Secret`` (type Opaque) and the v1 conversion that folds ``stringData``
    into ``data`` (a stringData key wins); stringData is never stored or served."""
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            if isinstance(value, str):
                raw = value.encode("utf-8", errors="replace")
                data[key] = base64.b64encode(raw).decode("ascii")
    if not obj.get("type"):
        obj["type"] = "Opaque"


def default_node(obj: Obj) -> None:
    del obj


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "pods": default_pod,
    "services": default_service,
    "deployments": default_deployment,
    "replicasets": default_replicaset,
    "namespaces": default_namespace,
    "endpointslices": default_endpointslice,
    "endpoints": default_endpoints,
    "secrets": default_secret,
}


def apply_defaults(resource: str, obj: Obj) -> None:
    fn = DEFAULTERS.get(resource)
    if fn is not None:
        fn(obj)
