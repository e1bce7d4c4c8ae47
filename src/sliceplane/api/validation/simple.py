"""Validation for the supporting kinds the embedded server stores.

Namespaces, Nodes, Endpoints, Events, Leases and Deployments are not the project's focus,
but controllers and clients write them, so each gets upstream's essential checks (names,
IPs, ports, selector/template agreement) with upstream's paths and messages. Fields that
service discovery never reads are left unchecked.
"""

from __future__ import annotations

import re
from typing import Any, Final

from sliceplane.api.field import ErrorList, Path, go_quote
from sliceplane.api.ipaddr import parse_ip_sloppy, to4
from sliceplane.api.validation import _util as u
from sliceplane.api.validation.meta import (
    validate_finalizer_name,
    validate_label_name,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from sliceplane.api.validation.names import (
    IS_NEGATIVE_ERROR_MSG,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ip_for_legacy_field,
    is_valid_label_value,
    name_is_dns_label,
    name_is_dns_subdomain,
    regex_error,
    validate_endpoint_ip,
)
from sliceplane.api.validation.pod import validate_pod_template_spec
from sliceplane.api.validation.service import (
    validate_app_protocol,
    validate_port_and_protocol,
    validate_port_name,
)

SPEC: Final = Path("spec")

# --- Namespace ------------------------------------------------------------------------


def validate_namespace(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, False, name_is_dns_label)
    spec = u.get_dict(obj, "spec", SPEC, errs) or {}
    items = u.get_list(spec, "finalizers", SPEC.child("finalizers"), errs) or []
    for _, f in u.str_items(items, SPEC.child("finalizers"), errs):
        # Upstream reports create-time finalizer problems without an index.
        errs.extend(validate_finalizer_name(f, SPEC.child("finalizers")))
    return errs


def validate_namespace_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    return validate_object_meta_update(new, old)


def validate_namespace_status_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """A status write (upstream ``ValidateNamespaceStatusUpdate``): the phase must say
    whether deletion has begun (upstream names the field ``status.Phase``)."""
    errs = validate_object_meta_update(new, old)
    status = new.get("status")
    phase = status.get("phase", "") if isinstance(status, dict) else ""
    path = Path("status").child("Phase")
    if not new["metadata"].get("deletionTimestamp"):
        if phase != "Active":
            errs.append(path.invalid(phase, "may only be 'Active' if `deletionTimestamp` is empty"))
    elif phase != "Terminating":
        errs.append(
            path.invalid(phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")
        )
    return errs


# --- Node -----------------------------------------------------------------------------


def validate_node(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, False, name_is_dns_subdomain)
    spec = u.get_dict(obj, "spec", SPEC, errs) or {}
    path = SPEC.child("podCIDRs")
    items = u.get_list(spec, "podCIDRs", path, errs) or []
    cidrs = u.str_items(items, path, errs)
    for i, cidr in cidrs:
        errs.extend(is_valid_cidr(path.index(i), cidr))
    if len(cidrs) > 1:
        families = set()
        for _, cidr in cidrs:
            parsed = parse_ip_sloppy(cidr.partition("/")[0])
            families.add(None if parsed is None else to4(parsed[0]) is None)
        if len(cidrs) > 2 or families != {True, False}:
            value = u.GoSyntax("[]string{" + ", ".join(go_quote(c) for _, c in cidrs) + "}")
            errs.append(path.invalid(value, "may specify no more than one CIDR for each IP family"))
    return errs


def validate_node_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_node(new))
    return errs


# --- Endpoints ------------------------------------------------------------------------


def _validate_endpoint_address(addr: dict[str, Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    ip = u.get_str(addr, "ip", path.child("ip"), errs) or ""
    errs.extend(is_valid_ip_for_legacy_field(path.child("ip"), ip))
    hostname = u.get_str(addr, "hostname", path.child("hostname"), errs)
    if hostname:
        errs.extend(path.child("hostname").invalid(hostname, m) for m in is_dns1123_label(hostname))
    node_name = u.get_str(addr, "nodeName", path.child("nodeName"), errs)
    if node_name is not None:
        errs.extend(
            path.child("nodeName").invalid(node_name, m)
            for m in name_is_dns_subdomain(node_name, False)
        )
    errs.extend(validate_endpoint_ip(path.child("ip"), ip))
    return errs


def _validate_endpoint_port(port: dict[str, Any], require_name: bool, path: Path) -> ErrorList:
    errs: ErrorList = []
    validate_port_name(port, require_name, path, errs)
    validate_port_and_protocol(port, path, errs)
    validate_app_protocol(port, path, errs)
    return errs


def validate_endpoints(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    path = Path("subsets")
    subsets = u.get_list(obj, "subsets", path, errs) or []
    for i, ss in u.dict_items(subsets, path, errs):
        p = path.index(i)
        addresses = u.dict_items(
            u.get_list(ss, "addresses", p.child("addresses"), errs) or [],
            p.child("addresses"),
            errs,
        )
        not_ready = u.dict_items(
            u.get_list(ss, "notReadyAddresses", p.child("notReadyAddresses"), errs) or [],
            p.child("notReadyAddresses"),
            errs,
        )
        if not addresses and not not_ready:
            errs.append(p.required("must specify `addresses` or `notReadyAddresses`"))
        for j, a in addresses:
            errs.extend(_validate_endpoint_address(a, p.child("addresses").index(j)))
        for j, a in not_ready:
            errs.extend(_validate_endpoint_address(a, p.child("notReadyAddresses").index(j)))
        ports = u.dict_items(
            u.get_list(ss, "ports", p.child("ports"), errs) or [], p.child("ports"), errs
        )
        for j, port in ports:
            errs.extend(_validate_endpoint_port(port, len(ports) > 1, p.child("ports").index(j)))
    return errs


def validate_endpoints_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_endpoints(new))
    return errs


# --- Event (core/v1) ------------------------------------------------------------------

REPORTING_INSTANCE_LENGTH_LIMIT: Final = 128
ACTION_LENGTH_LIMIT: Final = 128
REASON_LENGTH_LIMIT: Final = 128
NOTE_LENGTH_LIMIT: Final = 1024


def validate_event(obj: dict[str, Any]) -> ErrorList:
    """Upstream's legacy (core/v1) event rules; core/v1 events skip ObjectMeta checks."""
    errs: ErrorList = []
    meta = u.get_dict(obj, "metadata", Path("metadata"), errs) or {}
    namespace = (
        u.get_str(
            meta,
            "namespace",
            Path(
                "metadata",
            ).child("namespace"),
            errs,
        )
        or ""
    )
    involved = u.get_dict(obj, "involvedObject", Path("involvedObject"), errs) or {}
    inv_path = Path("involvedObject").child("namespace")
    inv_ns = u.get_str(involved, "namespace", inv_path, errs) or ""

    def text(key: str) -> str:
        return u.get_str(obj, key, Path(key), errs) or ""

    if not obj.get("eventTime"):
        if not inv_ns:
            if namespace not in ("", "default"):
                errs.append(inv_path.invalid(inv_ns, "does not match event.namespace"))
        elif namespace != inv_ns:
            errs.append(inv_path.invalid(inv_ns, "does not match event.namespace"))
    else:
        if not inv_ns and namespace not in ("default", "kube-system"):
            errs.append(inv_path.invalid(inv_ns, "does not match event.namespace"))
        controller = text("reportingComponent")
        # In core/v1 the field is reported under its v1 name, "source".
        if not controller:
            errs.append(Path("source").required())
        errs.extend(Path("source").invalid(controller, m) for m in is_qualified_name(controller))
        for key, limit in (
            ("reportingInstance", REPORTING_INSTANCE_LENGTH_LIMIT),
            ("action", ACTION_LENGTH_LIMIT),
            ("reason", REASON_LENGTH_LIMIT),
        ):
            value = text(key)
            if not value:
                errs.append(Path(key).required())
            if len(value) > limit:
                errs.append(Path(key).invalid("", f"can have at most {limit} characters"))
        if len(text("message")) > NOTE_LENGTH_LIMIT:
            errs.append(
                Path("message").invalid("", f"can have at most {NOTE_LENGTH_LIMIT} characters")
            )
    errs.extend(Path("namespace").invalid(namespace, m) for m in is_dns1123_subdomain(namespace))
    return errs


def validate_event_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    return validate_event(new)


# --- Lease (coordination.k8s.io/v1) ---------------------------------------------------

LEASE_STRATEGIES: Final = ["OldestEmulationVersion"]


def validate_lease(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    spec = u.get_dict(obj, "spec", SPEC, errs) or {}
    duration = u.get_int(spec, "leaseDurationSeconds", SPEC.child("leaseDurationSeconds"), errs)
    if duration is not None and duration <= 0:
        errs.append(SPEC.child("leaseDurationSeconds").invalid(duration, "must be greater than 0"))
    transitions = u.get_int(spec, "leaseTransitions", SPEC.child("leaseTransitions"), errs)
    if transitions is not None and transitions < 0:
        errs.append(SPEC.child("leaseTransitions").invalid(transitions, IS_NEGATIVE_ERROR_MSG))
    strategy = u.get_str(spec, "strategy", SPEC.child("strategy"), errs)
    if strategy:
        if "/" not in strategy:
            if strategy not in LEASE_STRATEGIES:
                errs.append(SPEC.child("strategy").not_supported(strategy, LEASE_STRATEGIES))
        else:
            errs.extend(
                SPEC.child("strategy").invalid(strategy, m) for m in is_qualified_name(strategy)
            )
    preferred = u.get_str(spec, "preferredHolder", SPEC.child("preferredHolder"), errs)
    if preferred and not strategy:
        errs.append(
            SPEC.child("preferredHolder").forbidden(
                "may only be specified if `strategy` is defined"
            )
        )
    for key in ("acquireTime", "renewTime"):
        u.get_str(spec, key, SPEC.child(key), errs)
    u.get_str(spec, "holderIdentity", SPEC.child("holderIdentity"), errs)
    return errs


def validate_lease_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_lease(new))
    return errs


# --- Deployment (apps/v1) -------------------------------------------------------------

_PERCENT_FMT: Final = "[0-9]+%"
_PERCENT_RE: Final = re.compile(r"^[0-9]+%\Z")
_PERCENT_ERR: Final = regex_error(
    "a valid percent string must be a numeric string followed by an ending '%'",
    _PERCENT_FMT,
    "1%",
    "93%",
)
SELECTOR_MISMATCH: Final = "`selector` does not match template `labels`"


def validate_label_selector(sel: dict[str, Any], path: Path) -> ErrorList:
    """``metav1.LabelSelector`` syntax (matchLabels and matchExpressions)."""
    errs: ErrorList = []
    match_labels = u.get_str_map(sel, "matchLabels", path.child("matchLabels"), errs)
    errs.extend(validate_labels(match_labels, path.child("matchLabels")))
    exprs = u.get_list(sel, "matchExpressions", path.child("matchExpressions"), errs) or []
    for i, expr in u.dict_items(exprs, path.child("matchExpressions"), errs):
        p = path.child("matchExpressions").index(i)
        op = u.get_str(expr, "operator", p.child("operator"), errs) or ""
        values = u.str_items(
            u.get_list(expr, "values", p.child("values"), errs) or [], p.child("values"), errs
        )
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    p.child("values").required(
                        "must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    p.child("values").forbidden(
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    )
                )
        else:
            errs.append(p.child("operator").invalid(op, "not a valid selector operator"))
        key = u.get_str(expr, "key", p.child("key"), errs) or ""
        errs.extend(validate_label_name(key, p.child("key")))
        for j, v in values:
            errs.extend(p.child("values").index(j).invalid(v, m) for m in is_valid_label_value(v))
    return errs


def selector_matches(sel: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a (valid) LabelSelector selects ``labels``."""
    match_labels = sel.get("matchLabels") if isinstance(sel.get("matchLabels"), dict) else {}
    assert isinstance(match_labels, dict)
    for k, v in match_labels.items():
        if labels.get(k) != v:
            return False
    exprs = sel.get("matchExpressions") if isinstance(sel.get("matchExpressions"), list) else []
    assert isinstance(exprs, list)
    for expr in exprs:
        if not isinstance(expr, dict):
            continue
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") if isinstance(expr.get("values"), list) else []
        assert isinstance(values, list)
        present = isinstance(key, str) and key in labels
        if (
            (op == "In" and not (present and labels[str(key)] in values))
            or (op == "NotIn" and present and labels[str(key)] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _int_or_string_text(v: int | str) -> u.GoSyntax:
    if isinstance(v, int):
        return u.GoSyntax(f'intstr.IntOrString{{Type:0, IntVal:{v}, StrVal:""}}')
    return u.GoSyntax(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(v)}}}")


def _int_or_percent(ru: dict[str, Any], key: str, path: Path, errs: ErrorList) -> int | str:
    v = ru.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int | str):
        errs.append(path.invalid(v, "must be an integer or percentage (e.g '5%')"))
        return 0
    if isinstance(v, str):
        if not _PERCENT_RE.match(v):
            errs.append(path.invalid(_int_or_string_text(v), _PERCENT_ERR))
    elif v < 0:
        errs.append(path.invalid(v, IS_NEGATIVE_ERROR_MSG))
    return v


def _percent_value(v: int | str) -> int:
    if isinstance(v, str):
        return int(v[:-1]) if _PERCENT_RE.match(v) else 0
    return v


def _validate_strategy(spec: dict[str, Any], path: Path, errs: ErrorList) -> ErrorList:
    out: ErrorList = []
    strategy = u.get_dict(spec, "strategy", path, errs) or {}
    stype = u.get_str(strategy, "type", path.child("type"), errs) or ""
    ru_path = path.child("rollingUpdate")
    ru = u.get_dict(strategy, "rollingUpdate", ru_path, errs)
    if stype == "Recreate":
        if ru is not None:
            out.append(ru_path.forbidden("may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        if ru is None:
            out.append(ru_path.required("this should be defaulted and never be nil"))
        else:
            mu_path, ms_path = ru_path.child("maxUnavailable"), ru_path.child("maxSurge")
            max_unavailable = _int_or_percent(ru, "maxUnavailable", mu_path, out)
            max_surge = _int_or_percent(ru, "maxSurge", ms_path, out)
            if _percent_value(max_unavailable) == 0 and _percent_value(max_surge) == 0:
                out.append(
                    mu_path.invalid(
                        _int_or_string_text(max_unavailable), "may not be 0 when `maxSurge` is 0"
                    )
                )
            if isinstance(max_unavailable, str) and _percent_value(max_unavailable) > 100:
                out.append(
                    mu_path.invalid(
                        _int_or_string_text(max_unavailable), "must not be greater than 100%"
                    )
                )
    else:
        value = u.GoSyntax(
            f"apps.DeploymentStrategy{{Type:{go_quote(stype)}, "
            "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}"
            if ru is None
            else f"apps.DeploymentStrategy{{Type:{go_quote(stype)}, RollingUpdate:...}}"
        )
        out.append(path.not_supported(value, ["Recreate", "RollingUpdate"]))
    return out


def validate_deployment_spec(spec: dict[str, Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    replicas = u.get_int(spec, "replicas", path.child("replicas"), errs) or 0
    if replicas < 0:
        errs.append(path.child("replicas").invalid(replicas, IS_NEGATIVE_ERROR_MSG))

    sel_path = path.child("selector")
    selector = u.get_dict(spec, "selector", sel_path, errs)
    if selector is None:
        if spec.get("selector") is None:
            errs.append(sel_path.required())
    else:
        sel_errs = validate_label_selector(selector, sel_path)
        errs.extend(sel_errs)
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            errs.append(sel_path.invalid(selector, "empty selector is invalid for deployment"))

    tpath = path.child("template")
    template = u.get_dict(spec, "template", tpath, errs)
    if template is None:
        errs.append(tpath.required())
    else:
        tmeta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
        assert isinstance(tmeta, dict)
        raw_labels = tmeta.get("labels") if isinstance(tmeta.get("labels"), dict) else {}
        assert isinstance(raw_labels, dict)
        labels = {k: v for k, v in raw_labels.items() if isinstance(v, str)}
        sel = selector or {}
        has_terms = bool(sel.get("matchLabels") or sel.get("matchExpressions"))
        if has_terms and not selector_matches(sel, labels):
            errs.append(tpath.child("metadata", "labels").invalid(labels, SELECTOR_MISMATCH))
        errs.extend(validate_pod_template_spec(template, tpath))
        tspec = template.get("spec") if isinstance(template.get("spec"), dict) else {}
        assert isinstance(tspec, dict)
        restart = tspec.get("restartPolicy")
        if isinstance(restart, str) and restart != "Always":
            errs.append(tpath.child("spec", "restartPolicy").not_supported(restart, ["Always"]))
        if tspec.get("activeDeadlineSeconds") is not None:
            errs.append(
                tpath.child("spec", "activeDeadlineSeconds").forbidden(
                    "activeDeadlineSeconds in ReplicaSet is not Supported"
                )
            )

    errs.extend(_validate_strategy(spec, path.child("strategy"), errs))
    min_ready = u.get_int(spec, "minReadySeconds", path.child("minReadySeconds"), errs) or 0
    if min_ready < 0:
        errs.append(path.child("minReadySeconds").invalid(min_ready, IS_NEGATIVE_ERROR_MSG))
    rhl = u.get_int(spec, "revisionHistoryLimit", path.child("revisionHistoryLimit"), errs)
    if rhl is not None and rhl < 0:
        errs.append(path.child("revisionHistoryLimit").invalid(rhl, IS_NEGATIVE_ERROR_MSG))
    pds_path = path.child("progressDeadlineSeconds")
    pds = u.get_int(spec, "progressDeadlineSeconds", pds_path, errs)
    if pds is not None:
        if pds < 0:
            errs.append(pds_path.invalid(pds, IS_NEGATIVE_ERROR_MSG))
        if pds <= min_ready:
            errs.append(pds_path.invalid(pds, "must be greater than minReadySeconds"))
    return errs


def validate_deployment(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    spec = u.get_dict(obj, "spec", SPEC, errs) or {}
    errs.extend(validate_deployment_spec(spec, SPEC))
    return errs


def validate_deployment_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_deployment(new))
    new_spec = new.get("spec") if isinstance(new.get("spec"), dict) else {}
    old_spec = old.get("spec") if isinstance(old.get("spec"), dict) else {}
    assert isinstance(new_spec, dict) and isinstance(old_spec, dict)
    errs.extend(
        u.immutable(new_spec.get("selector"), old_spec.get("selector"), SPEC.child("selector"))
    )
    return errs


__all__ = [
    "selector_matches",
    "validate_deployment",
    "validate_deployment_update",
    "validate_endpoints",
    "validate_endpoints_update",
    "validate_event",
    "validate_event_update",
    "validate_label_selector",
    "validate_lease",
    "validate_lease_update",
    "validate_namespace",
    "validate_namespace_update",
    "validate_node",
    "validate_node_update",
]
