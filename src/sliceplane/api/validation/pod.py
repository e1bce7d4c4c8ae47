"""core/v1 Pod validation, limited to what service discovery depends on.

The EndpointSlice controller reads pods (names, container ports, hostname/subdomain,
nodeName), so the server must keep malformed values for those fields out, with upstream's
paths and messages. Volumes, probes, resources, security contexts and scheduling fields are
not validated here.

Pod updates: upstream forbids changing spec fields other than container images,
``activeDeadlineSeconds`` (decrease only), added tolerations and a negative
``terminationGracePeriodSeconds`` going to 1. The Forbidden message we emit is upstream's
first line only; upstream appends a Go ``cmp.Diff`` of the two specs, which we omit.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from sliceplane.api.field import ErrorList, Path
from sliceplane.api.validation import _util as u
from sliceplane.api.validation.meta import (
    validate_annotations,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from sliceplane.api.validation.names import (
    inclusive_range_error,
    is_dns1123_label,
    is_valid_ip_for_legacy_field,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_subdomain,
)

SPEC: Final = Path("spec")
SUPPORTED_PORT_PROTOCOLS: Final = ["SCTP", "TCP", "UDP"]
RESTART_POLICIES: Final = ["Always", "OnFailure", "Never"]
PULL_POLICIES: Final = ["Always", "IfNotPresent", "Never"]
DNS_POLICIES: Final = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
MAX_INT32: Final = 2**31 - 1

POD_UPDATE_FORBIDDEN: Final = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _validate_container_ports(ports: list[Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    names: set[str] = set()
    for i, port in u.dict_items(ports, path, errs):
        p = path.index(i)
        name = u.get_str(port, "name", p.child("name"), errs) or ""
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs.extend(p.child("name").invalid(name, m) for m in msgs)
            elif name in names:
                errs.append(p.child("name").duplicate(name))
            else:
                names.add(name)
        container_port = u.get_int(port, "containerPort", p.child("containerPort"), errs) or 0
        if container_port == 0:
            errs.append(p.child("containerPort").required())
        else:
            errs.extend(
                p.child("containerPort").invalid(container_port, m)
                for m in is_valid_port_num(container_port)
            )
        host_port = u.get_int(port, "hostPort", p.child("hostPort"), errs) or 0
        if host_port:
            errs.extend(
                p.child("hostPort").invalid(host_port, m) for m in is_valid_port_num(host_port)
            )
        protocol = u.get_str(port, "protocol", p.child("protocol"), errs) or ""
        if not protocol:
            errs.append(p.child("protocol").required())
        elif protocol not in SUPPORTED_PORT_PROTOCOLS:
            errs.append(p.child("protocol").not_supported(protocol, SUPPORTED_PORT_PROTOCOLS))
    return errs


def _validate_container(ctr: dict[str, Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    name = u.get_str(ctr, "name", path.child("name"), errs) or ""
    if not name:
        errs.append(path.child("name").required())
    else:
        errs.extend(path.child("name").invalid(name, m) for m in is_dns1123_label(name))
    image = u.get_str(ctr, "image", path.child("image"), errs) or ""
    if not image:
        errs.append(path.child("image").required())
    ports = u.get_list(ctr, "ports", path.child("ports"), errs) or []
    errs.extend(_validate_container_ports(ports, path.child("ports")))
    pull = u.get_str(ctr, "imagePullPolicy", path.child("imagePullPolicy"), errs)
    if pull and pull not in PULL_POLICIES:
        errs.append(path.child("imagePullPolicy").not_supported(pull, PULL_POLICIES))
    return errs


def _container_list(
    spec: dict[str, Any], key: str, path: Path, errs: ErrorList
) -> list[tuple[int, dict[str, Any]]]:
    items = u.get_list(spec, key, path, errs) or []
    return u.dict_items(items, path, errs)


def validate_pod_spec(spec: dict[str, Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    cpath = path.child("containers")
    containers = _container_list(spec, "containers", cpath, errs)
    names: set[str] = set()
    raw = spec.get("containers")
    if not containers and (raw is None or raw == []):
        errs.append(cpath.required())
    for i, ctr in containers:
        errs.extend(_validate_container(ctr, cpath.index(i)))
        name = ctr.get("name")
        if isinstance(name, str):
            if name in names:
                errs.append(cpath.index(i).child("name").duplicate(name))
            else:
                names.add(name)

    ipath = path.child("initContainers")
    for i, ctr in _container_list(spec, "initContainers", ipath, errs):
        errs.extend(_validate_container(ctr, ipath.index(i)))
        name = ctr.get("name")
        if isinstance(name, str):
            if name in names:
                errs.append(ipath.index(i).child("name").duplicate(name))
            elif name:
                names.add(name)

    restart = u.get_str(spec, "restartPolicy", path.child("restartPolicy"), errs) or ""
    if not restart:
        errs.append(path.child("restartPolicy").required())
    elif restart not in RESTART_POLICIES:
        errs.append(path.child("restartPolicy").not_supported(restart, RESTART_POLICIES))

    dns = u.get_str(spec, "dnsPolicy", path.child("dnsPolicy"), errs)
    if dns and dns not in DNS_POLICIES:
        errs.append(path.child("dnsPolicy").not_supported(dns, DNS_POLICIES))

    node_selector = u.get_str_map(spec, "nodeSelector", path.child("nodeSelector"), errs)
    errs.extend(validate_labels(node_selector, path.child("nodeSelector")))

    sa = u.get_str(spec, "serviceAccountName", path.child("serviceAccountName"), errs)
    if sa:
        errs.extend(
            path.child("serviceAccountName").invalid(sa, m)
            for m in name_is_dns_subdomain(sa, False)
        )
    node_name = u.get_str(spec, "nodeName", path.child("nodeName"), errs)
    if node_name:
        errs.extend(
            path.child("nodeName").invalid(node_name, m)
            for m in name_is_dns_subdomain(node_name, False)
        )
    ads = u.get_int(spec, "activeDeadlineSeconds", path.child("activeDeadlineSeconds"), errs)
    if ads is not None and (ads < 1 or ads > MAX_INT32):
        errs.append(
            path.child("activeDeadlineSeconds").invalid(ads, inclusive_range_error(1, MAX_INT32))
        )
    for key in ("hostname", "subdomain"):
        value = u.get_str(spec, key, path.child(key), errs)
        if value:
            errs.extend(path.child(key).invalid(value, m) for m in is_dns1123_label(value))
    return errs


def validate_pod_template_spec(template: dict[str, Any], path: Path) -> ErrorList:
    """``ValidatePodTemplateSpec``; note upstream's ``template.labels`` path (no metadata)."""
    errs: ErrorList = []
    meta = u.get_dict(template, "metadata", path.child("metadata"), errs) or {}
    labels = u.get_str_map(meta, "labels", path.child("labels"), errs)
    errs.extend(validate_labels(labels, path.child("labels")))
    annotations = u.get_str_map(meta, "annotations", path.child("annotations"), errs)
    errs.extend(validate_annotations(annotations, path.child("annotations")))
    spec = u.get_dict(template, "spec", path.child("spec"), errs) or {}
    errs.extend(validate_pod_spec(spec, path.child("spec")))
    return errs


def validate_pod(obj: dict[str, Any], *, check_spec: bool = True) -> ErrorList:
    """``check_spec`` False: the spec is one that already passed (an update's unchanged
    spec, as on every status write), so checking it again would find nothing."""
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    spec = u.get_dict(obj, "spec", SPEC, errs) or {}
    if check_spec:
        errs.extend(validate_pod_spec(spec, SPEC))
    status = obj.get("status")
    if isinstance(status, dict):
        errs.extend(validate_pod_status_ips(status))
    return errs


STATUS: Final = Path("status")


def validate_pod_status_ips(status: dict[str, Any]) -> ErrorList:
    """``status.podIPs`` and ``status.hostIPs``: valid IPs (legacy parsing), no duplicates,
    as upstream's validatePodIPs/validateHostIPs (the EndpointSlice controller copies them
    into endpoints, so a bad one must not get in)."""
    errs: ErrorList = []
    for key in ("podIPs", "hostIPs"):
        entries = status.get(key)
        if not isinstance(entries, list):
            continue
        path = STATUS.child(key)
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            ip = entry.get("ip") if isinstance(entry, dict) else None
            if not isinstance(ip, str):
                continue
            errs.extend(is_valid_ip_for_legacy_field(path.index(i), ip, strict=False))
            if ip in seen:
                errs.append(path.index(i).duplicate(ip))
            seen.add(ip)
    return errs


def validate_pod_create(obj: dict[str, Any]) -> ErrorList:
    return validate_pod(obj)


def _containers(spec: dict[str, Any], key: str) -> list[Any]:
    v = spec.get(key)
    return v if isinstance(v, list) else []


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    # The stored spec passed these checks when it was written; the same spec again (any
    # status write: upstream's status strategy does not validate the spec at all) needs
    # no second look.
    spec_unchanged = isinstance(new.get("spec"), dict) and new.get("spec") == old.get("spec")
    errs.extend(validate_pod(new, check_spec=not spec_unchanged))
    new_spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
    assert isinstance(new_spec, dict) and isinstance(old_spec, dict)

    ads_path = SPEC.child("activeDeadlineSeconds")
    new_ads, old_ads = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if isinstance(new_ads, int) and not isinstance(new_ads, bool):
        if new_ads < 0 or new_ads > MAX_INT32:
            return [*errs, ads_path.invalid(new_ads, inclusive_range_error(0, MAX_INT32))]
        if isinstance(old_ads, int) and old_ads < new_ads:
            return [
                *errs,
                ads_path.invalid(new_ads, "must be less than or equal to previous value"),
            ]
    elif new_ads is None and old_ads is not None:
        errs.append(ads_path.invalid(None, "must not update from a positive integer to nil value"))

    if len(_containers(new_spec, "containers")) != len(_containers(old_spec, "containers")):
        errs.append(
            SPEC.child("containers").forbidden("pod updates may not add or remove containers")
        )
        return errs

    if new_spec == old_spec:
        return errs  # nothing to blank out below could differ (every status write)
    # Blank out what may change, then require the rest to be identical.
    munged = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        new_list, old_list = _containers(munged, key), _containers(old_spec, key)
        for i, ctr in enumerate(new_list):
            if isinstance(ctr, dict) and i < len(old_list) and isinstance(old_list[i], dict):
                ctr["image"] = old_list[i].get("image")
                if ctr["image"] is None:
                    del ctr["image"]
    for key in ("activeDeadlineSeconds",):
        if key in old_spec:
            munged[key] = old_spec[key]
        else:
            munged.pop(key, None)
    old_tolerations = _containers(old_spec, "tolerations")
    new_tolerations = _containers(munged, "tolerations")
    if new_tolerations[: len(old_tolerations)] == old_tolerations or all(
        t in new_tolerations for t in old_tolerations
    ):
        if "tolerations" in old_spec:
            munged["tolerations"] = old_spec["tolerations"]
        else:
            munged.pop("tolerations", None)
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if (
        isinstance(old_grace, int)
        and old_grace < 0
        and munged.get("terminationGracePeriodSeconds") == 1
    ):
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != old_spec:
        errs.append(SPEC.forbidden(POD_UPDATE_FORBIDDEN))
    return errs
