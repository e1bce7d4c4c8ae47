"""core/v1 Service validation: the fields that drive service discovery.

The EndpointSlice controller and kube-proxy trust what a stored Service says (ports,
selector, cluster IPs, families, traffic policies), so the API server rejects the same
Services upstream rejects, with upstream's paths and messages. Objects are expected after
defaulting (``type``, ``sessionAffinity``, ``internalTrafficPolicy``, port ``protocol`` and
``targetPort``, ``clusterIPs`` synced from ``clusterIP``), exactly as upstream validates
them after its strategy has run.

Known gap against upstream: the ``loadBalancerSourceRanges`` annotation is not parsed. Names
are DNS-1123 labels (``RelaxedServiceNameValidation``, GA and locked on since 1.37; a name
may start with a digit), as kube-apiserver 1.37 checks them.
"""

from __future__ import annotations

from typing import Any, Final

from sliceplane.api.field import ErrorList, Path, go_quote
from sliceplane.api.ipaddr import is_ipv6_string
from sliceplane.api.meta import meta_of
from sliceplane.api.validation import _util as u
from sliceplane.api.validation.meta import (
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from sliceplane.api.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_cidr,
    is_valid_ip_for_legacy_field,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns_label,
    validate_endpoint_ip,
)
from sliceplane.api.wellknown import ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE

SPEC: Final = Path("spec")
CLUSTER_IP_NONE: Final = "None"
MAX_CLIENT_IP_AFFINITY_SECONDS: Final = 86400

SUPPORTED_PORT_PROTOCOLS: Final = ["SCTP", "TCP", "UDP"]
SUPPORTED_SESSION_AFFINITY: Final = ["ClientIP", "None"]
SUPPORTED_SERVICE_TYPES: Final = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SUPPORTED_TRAFFIC_POLICIES: Final = ["Cluster", "Local"]
SUPPORTED_IP_FAMILIES: Final = ["IPv4", "IPv6"]
SUPPORTED_IP_FAMILY_POLICIES: Final = ["PreferDualStack", "RequireDualStack", "SingleStack"]
# Upstream lists these in declaration order, not sorted.
SUPPORTED_TRAFFIC_DISTRIBUTION: Final = ["PreferClose", "PreferSameZone", "PreferSameNode"]


class _Svc:
    """A Service's spec read once, with wrongly typed fields reported and dropped."""

    def __init__(self, obj: dict[str, Any], errs: ErrorList) -> None:
        spec = u.get_dict(obj, "spec", SPEC, errs) or {}
        self.spec = spec
        self.type = u.get_str(spec, "type", SPEC.child("type"), errs) or ""
        self.cluster_ip = u.get_str(spec, "clusterIP", SPEC.child("clusterIP"), errs) or ""
        cips = u.get_list(spec, "clusterIPs", SPEC.child("clusterIPs"), errs) or []
        self.cluster_ips = [s for _, s in u.str_items(cips, SPEC.child("clusterIPs"), errs)]
        fams = u.get_list(spec, "ipFamilies", SPEC.child("ipFamilies"), errs) or []
        self.ip_families = [s for _, s in u.str_items(fams, SPEC.child("ipFamilies"), errs)]
        self.ip_family_policy = u.get_str(
            spec, "ipFamilyPolicy", SPEC.child("ipFamilyPolicy"), errs
        )
        ports = u.get_list(spec, "ports", SPEC.child("ports"), errs) or []
        self.ports = u.dict_items(ports, SPEC.child("ports"), errs)
        ext = u.get_list(spec, "externalIPs", SPEC.child("externalIPs"), errs) or []
        self.external_ips = u.str_items(ext, SPEC.child("externalIPs"), errs)
        self.external_name = u.get_str(spec, "externalName", SPEC.child("externalName"), errs) or ""
        self.etp = (
            u.get_str(spec, "externalTrafficPolicy", SPEC.child("externalTrafficPolicy"), errs)
            or ""
        )
        self.hc_node_port = (
            u.get_int(spec, "healthCheckNodePort", SPEC.child("healthCheckNodePort"), errs) or 0
        )
        self.lb_class = u.get_str(spec, "loadBalancerClass", SPEC.child("loadBalancerClass"), errs)

    @property
    def headless(self) -> bool:
        return len(self.cluster_ips) == 1 and self.cluster_ips[0] == CLUSTER_IP_NONE

    @property
    def externally_accessible(self) -> bool:
        return self.type in ("LoadBalancer", "NodePort") or (
            self.type == "ClusterIP" and bool(self.external_ips)
        )

    @property
    def needs_health_check(self) -> bool:
        return self.type == "LoadBalancer" and self.etp == "Local"


def _port_key_text(protocol: str, port: int) -> u.GoSyntax:
    """``%#v`` of the ``core.ServicePort`` used as the duplicate-port key."""
    return u.GoSyntax(
        f'core.ServicePort{{Name:"", Protocol:{go_quote(protocol)}, AppProtocol:(*string)(nil), '
        f'Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:""}}, '
        "NodePort:0}"
    )


def validate_service(obj: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta(obj, True, name_is_dns_label)
    annotations = meta_of(obj).get("annotations")
    if isinstance(annotations, dict):
        mode = annotations.get(ANNOTATION_TOPOLOGY_MODE)
        hints = annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS)
        if mode is not None and hints is not None and mode != hints:
            errs.append(
                Path(
                    "metadata",
                )
                .child("annotations")
                .key(ANNOTATION_TOPOLOGY_MODE)
                .invalid(
                    mode,
                    f"must match annotations[{ANNOTATION_TOPOLOGY_AWARE_HINTS}] "
                    "when both are specified",
                )
            )
    svc = _Svc(obj, errs)

    ports_given_badly = not isinstance(svc.spec.get("ports"), list | None)
    if not svc.ports and not ports_given_badly and not svc.headless and svc.type != "ExternalName":
        errs.append(SPEC.child("ports").required())

    if svc.type == "LoadBalancer" and svc.headless:
        errs.append(
            SPEC.child("clusterIPs")
            .index(0)
            .invalid(svc.cluster_ips[0], "may not be set to 'None' for LoadBalancer services")
        )
    elif svc.type == "NodePort" and svc.headless:
        errs.append(
            SPEC.child("clusterIPs")
            .index(0)
            .invalid(svc.cluster_ips[0], "may not be set to 'None' for NodePort services")
        )
    elif svc.type == "ExternalName":
        if svc.cluster_ips:
            errs.append(
                SPEC.child("clusterIPs").forbidden("may not be set for ExternalName services")
            )
        if svc.ip_families:
            errs.append(
                SPEC.child("ipFamilies").forbidden("may not be set for ExternalName services")
            )
        if svc.ip_family_policy is not None:
            errs.append(
                SPEC.child("ipFamilyPolicy").forbidden("may not be set for ExternalName services")
            )
        cname = svc.external_name.removesuffix(".")
        if cname:
            errs.extend(
                SPEC.child("externalName").invalid(cname, m) for m in is_dns1123_subdomain(cname)
            )
        else:
            errs.append(SPEC.child("externalName").required())

    names: set[str] = set()
    for i, port in svc.ports:
        errs.extend(
            _validate_service_port(port, len(svc.ports) > 1, names, SPEC.child("ports").index(i))
        )

    selector = u.get_str_map(svc.spec, "selector", SPEC.child("selector"), errs)
    if selector is not None:
        errs.extend(validate_labels(selector, SPEC.child("selector")))

    errs.extend(_validate_session_affinity(svc.spec, errs))
    errs.extend(validate_cluster_ips_related_fields(svc))

    for i, ip in svc.external_ips:
        p = SPEC.child("externalIPs").index(i)
        ip_errs = is_valid_ip_for_legacy_field(p, ip)
        errs.extend(ip_errs or validate_endpoint_ip(p, ip))

    if not svc.type:
        errs.append(SPEC.child("type").required())
    elif svc.type not in SUPPORTED_SERVICE_TYPES:
        errs.append(SPEC.child("type").not_supported(svc.type, SUPPORTED_SERVICE_TYPES))

    if svc.type == "ClusterIP":
        for i, port in svc.ports:
            if _int(port.get("nodePort")):
                errs.append(
                    SPEC.child("ports")
                    .index(i)
                    .child("nodePort")
                    .forbidden("may not be used when `type` is 'ClusterIP'")
                )

    seen_node_ports: set[tuple[str, int]] = set()
    for i, port in svc.ports:
        node_port = _int(port.get("nodePort"))
        if not node_port:
            continue
        key = (_str(port.get("protocol")), node_port)
        if key in seen_node_ports:
            errs.append(SPEC.child("ports").index(i).child("nodePort").duplicate(node_port))
        seen_node_ports.add(key)

    seen_ports: set[tuple[str, int]] = set()
    for i, port in svc.ports:
        key = (_str(port.get("protocol")), _int(port.get("port")))
        if key in seen_ports:
            errs.append(SPEC.child("ports").index(i).duplicate(_port_key_text(*key)))
        seen_ports.add(key)

    ranges = (
        u.get_list(
            svc.spec, "loadBalancerSourceRanges", SPEC.child("loadBalancerSourceRanges"), errs
        )
        or []
    )
    if ranges:
        # Upstream really spells this path with a capital L.
        rp = SPEC.child("LoadBalancerSourceRanges")
        if svc.type != "LoadBalancer":
            errs.append(rp.forbidden("may only be used when `type` is 'LoadBalancer'"))
        for i, value in u.str_items(ranges, rp, errs):
            errs.extend(is_valid_cidr(rp.index(i), value.strip()))

    alloc = u.get_bool(
        svc.spec, "allocateLoadBalancerNodePorts", SPEC.child("allocateLoadBalancerNodePorts"), errs
    )
    if alloc is not None and svc.type != "LoadBalancer":
        errs.append(
            SPEC.child("allocateLoadBalancerNodePorts").forbidden(
                "may only be used when `type` is 'LoadBalancer'"
            )
        )
    if svc.type == "LoadBalancer" and svc.spec.get("allocateLoadBalancerNodePorts") is None:
        # Upstream reports this one without the "spec." prefix.
        errs.append(Path("allocateLoadBalancerNodePorts").required())

    errs.extend(_validate_load_balancer_class(None, svc))
    errs.extend(_validate_external_traffic_policy(svc))
    errs.extend(_validate_internal_traffic_policy(svc, errs))
    errs.extend(_validate_traffic_distribution(svc, errs))
    return errs


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _validate_service_port(
    port: dict[str, Any], require_name: bool, names: set[str], path: Path
) -> ErrorList:
    errs: ErrorList = []
    name = validate_port_name(port, require_name, path, errs)
    if name:
        if name in names:
            errs.append(path.child("name").duplicate(name))
        else:
            names.add(name)

    validate_port_and_protocol(port, path, errs)
    errs.extend(validate_port_num_or_name(port.get("targetPort"), path.child("targetPort")))
    u.get_int(port, "nodePort", path.child("nodePort"), errs)
    validate_app_protocol(port, path, errs)
    return errs


def validate_port_name(
    port: dict[str, Any], require_name: bool, path: Path, errs: ErrorList
) -> str:
    """A port's ``name``: required when there are several ports, else a DNS-1123 label."""
    name = u.get_str(port, "name", path.child("name"), errs) or ""
    if require_name and not name:
        errs.append(path.child("name").required())
    elif name:
        errs.extend(path.child("name").invalid(name, m) for m in is_dns1123_label(name))
    return name


def validate_port_and_protocol(port: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """``port`` (1-65535) and ``protocol`` (required, one of SCTP, TCP, UDP) of a Service or
    Endpoints port, appended to ``errs`` in upstream's order."""
    number = u.get_int(port, "port", path.child("port"), errs) or 0
    errs.extend(path.child("port").invalid(number, m) for m in is_valid_port_num(number))
    protocol = u.get_str(port, "protocol", path.child("protocol"), errs) or ""
    if not protocol:
        errs.append(path.child("protocol").required())
    elif protocol not in SUPPORTED_PORT_PROTOCOLS:
        errs.append(path.child("protocol").not_supported(protocol, SUPPORTED_PORT_PROTOCOLS))


def validate_app_protocol(port: dict[str, Any], path: Path, errs: ErrorList) -> None:
    """``appProtocol``, when set, is a qualified name."""
    app_protocol = u.get_str(port, "appProtocol", path.child("appProtocol"), errs)
    if app_protocol is not None:
        errs.extend(
            path.child("appProtocol").invalid(app_protocol, m)
            for m in is_qualified_name(app_protocol)
        )


def validate_port_num_or_name(value: Any, path: Path) -> ErrorList:
    """An IntOrString port: a number in range or an IANA service name."""
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        return [path.invalid(value, "must be an integer or a string")]
    if isinstance(value, int):
        return [path.invalid(value, m) for m in is_valid_port_num(value)]
    return [path.invalid(value, m) for m in is_valid_port_name(value)]


def _validate_session_affinity(spec: dict[str, Any], errs: ErrorList) -> ErrorList:
    out: ErrorList = []
    path = SPEC.child("sessionAffinity")
    affinity = u.get_str(spec, "sessionAffinity", path, errs) or ""
    if not affinity:
        out.append(path.required())
    elif affinity not in SUPPORTED_SESSION_AFFINITY:
        out.append(path.not_supported(affinity, SUPPORTED_SESSION_AFFINITY))

    cfg_path = SPEC.child("sessionAffinityConfig")
    config = u.get_dict(spec, "sessionAffinityConfig", cfg_path, errs)
    if affinity == "ClientIP":
        why = "when session affinity type is ClientIP"
        if config is None:
            return [*out, cfg_path.required(why)]
        client_ip = u.get_dict(config, "clientIP", cfg_path.child("clientIP"), errs)
        if client_ip is None:
            return [*out, cfg_path.child("clientIP").required(why)]
        tpath = cfg_path.child("clientIP", "timeoutSeconds")
        timeout = u.get_int(client_ip, "timeoutSeconds", tpath, errs)
        if timeout is None:
            return [*out, tpath.required(why)]
        if timeout <= 0 or timeout > MAX_CLIENT_IP_AFFINITY_SECONDS:
            out.append(
                tpath.invalid(
                    timeout,
                    f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}",
                )
            )
    elif affinity == "None" and config is not None:
        out.append(cfg_path.forbidden("must not be set when session affinity is None"))
    return out


def validate_cluster_ips_related_fields(svc: _Svc) -> ErrorList:
    """clusterIP/clusterIPs/ipFamilies/ipFamilyPolicy consistency (not for ExternalName)."""
    if svc.type == "ExternalName":
        return []
    errs: ErrorList = []
    cips_path = SPEC.child("clusterIPs")
    fam_path = SPEC.child("ipFamilies")
    cips_value = u.GoSyntax("[]string{" + ", ".join(go_quote(c) for c in svc.cluster_ips) + "}")

    if svc.cluster_ip:
        if not svc.cluster_ips:
            errs.append(cips_path.required())
        elif svc.cluster_ips[0] != svc.cluster_ip:
            errs.append(cips_path.invalid(cips_value, "first value must match `clusterIP`"))
    elif svc.cluster_ips:
        errs.append(
            cips_path.invalid(cips_value, "must be empty when `clusterIP` is not specified")
        )

    seen: set[str] = set()
    for i, fam in enumerate(svc.ip_families):
        if fam not in SUPPORTED_IP_FAMILIES:
            errs.append(fam_path.index(i).not_supported(fam, SUPPORTED_IP_FAMILIES))
        if fam in seen:
            errs.append(fam_path.index(i).duplicate(fam))
        seen.add(fam)

    if (
        svc.ip_family_policy is not None
        and svc.ip_family_policy not in SUPPORTED_IP_FAMILY_POLICIES
    ):
        errs.append(
            SPEC.child("ipFamilyPolicy").not_supported(
                svc.ip_family_policy, SUPPORTED_IP_FAMILY_POLICIES
            )
        )

    has_invalid = False
    for i, cip in enumerate(svc.cluster_ips):
        if i == 0 and cip == CLUSTER_IP_NONE:
            if len(svc.cluster_ips) > 1:
                has_invalid = True
                errs.append(
                    cips_path.invalid(cips_value, "'None' must be the first and only value")
                )
            continue
        ip_errs = is_valid_ip_for_legacy_field(cips_path.index(i), cip)
        has_invalid = has_invalid or bool(ip_errs)
        errs.extend(ip_errs)

    if len(svc.cluster_ips) > 2:
        errs.append(cips_path.invalid(cips_value, "may only hold up to 2 values"))

    if has_invalid:
        return errs

    if len(svc.cluster_ips) > 1:
        v6 = [is_ipv6_string(c) for c in svc.cluster_ips]
        if not (len(v6) == 2 and v6[0] != v6[1]):
            errs.append(
                cips_path.invalid(cips_value, "may specify no more than one IP for each IP family")
            )

    if not svc.headless and svc.cluster_ips and svc.ip_families:
        for i, ip in enumerate(svc.cluster_ips):
            if i > len(svc.ip_families) - 1:
                break
            if svc.ip_families[i] == "IPv4" and is_ipv6_string(ip):
                errs.append(
                    cips_path.index(i).invalid(
                        ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"
                    )
                )
            if svc.ip_families[i] == "IPv6" and not is_ipv6_string(ip):
                errs.append(
                    cips_path.index(i).invalid(
                        ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"
                    )
                )
    return errs


def _validate_load_balancer_class(old: _Svc | None, svc: _Svc) -> ErrorList:
    errs: ErrorList = []
    path = SPEC.child("loadBalancerClass")
    if (
        old is not None
        and old.type == "LoadBalancer"
        and svc.type == "LoadBalancer"
        and old.lb_class != svc.lb_class
    ):
        errs.append(path.invalid(svc.lb_class, "may not change once set"))
    if svc.type == "LoadBalancer":
        if svc.lb_class is not None:
            errs.extend(path.invalid(svc.lb_class, m) for m in is_qualified_name(svc.lb_class))
    elif svc.lb_class is not None:
        errs.append(path.forbidden("may only be used when `type` is 'LoadBalancer'"))
    return errs


def _validate_external_traffic_policy(svc: _Svc) -> ErrorList:
    errs: ErrorList = []
    path = SPEC.child("externalTrafficPolicy")
    if not svc.externally_accessible:
        if svc.etp:
            errs.append(path.invalid(svc.etp, "may only be set for externally-accessible services"))
    elif not svc.etp:
        errs.append(path.required())
    elif svc.etp not in SUPPORTED_TRAFFIC_POLICIES:
        errs.append(path.not_supported(svc.etp, SUPPORTED_TRAFFIC_POLICIES))

    hc_path = SPEC.child("healthCheckNodePort")
    if not svc.needs_health_check:
        if svc.hc_node_port:
            errs.append(
                hc_path.invalid(
                    svc.hc_node_port,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` "
                    "is 'Local'",
                )
            )
    elif not svc.hc_node_port:
        errs.append(hc_path.required())
    else:
        errs.extend(
            hc_path.invalid(svc.hc_node_port, m) for m in is_valid_port_num(svc.hc_node_port)
        )
    return errs


def _validate_internal_traffic_policy(svc: _Svc, errs: ErrorList) -> ErrorList:
    path = SPEC.child("internalTrafficPolicy")
    itp = u.get_str(svc.spec, "internalTrafficPolicy", path, errs)
    if itp is None:
        if svc.spec.get("internalTrafficPolicy") is None and svc.type in (
            "NodePort",
            "LoadBalancer",
            "ClusterIP",
        ):
            return [path.required()]
        return []
    if itp not in SUPPORTED_TRAFFIC_POLICIES:
        return [path.not_supported(itp, SUPPORTED_TRAFFIC_POLICIES)]
    return []


def _validate_traffic_distribution(svc: _Svc, errs: ErrorList) -> ErrorList:
    path = SPEC.child("trafficDistribution")
    td = u.get_str(svc.spec, "trafficDistribution", path, errs)
    if td is not None and td not in SUPPORTED_TRAFFIC_DISTRIBUTION:
        return [path.not_supported(td, SUPPORTED_TRAFFIC_DISTRIBUTION)]
    return []


# --- update ---------------------------------------------------------------------------


def _validate_upgrade_downgrade_cluster_ips(old: _Svc, new: _Svc) -> ErrorList:
    errs: ErrorList = []
    if "ExternalName" in (new.type, old.type):
        return errs
    if old.headless and new.headless:
        return errs
    path = SPEC.child("clusterIPs")
    value = u.GoSyntax("[]string{" + ", ".join(go_quote(c) for c in new.cluster_ips) + "}")
    o, n = old.cluster_ips, new.cluster_ips
    if len(o) == len(n):
        for i, ip in enumerate(o):
            if ip != n[i]:
                errs.append(path.index(i).invalid(value, "may not change once set"))
    elif len(o) > len(n):
        if not n:
            errs.append(path.index(0).invalid(value, "primary clusterIP can not be unset"))
        if o and n and n[0] != o[0]:
            errs.append(path.index(0).invalid(value, "may not change once set"))
        if len(n) == 1 and new.ip_family_policy != "SingleStack":
            errs.append(
                SPEC.child("ipFamilyPolicy").invalid(
                    new.ip_family_policy,
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                )
            )
    elif o and n[0] != o[0]:
        errs.append(path.index(0).invalid(value, "may not change once set"))
    return errs


def _validate_upgrade_downgrade_ip_families(old: _Svc, new: _Svc) -> ErrorList:
    errs: ErrorList = []
    if "ExternalName" in (new.type, old.type):
        return errs
    if old.headless != new.headless or new.headless:
        return errs
    path = SPEC.child("ipFamilies").index(0)
    fams = u.go_typed_list("core.IPFamily", new.ip_families)
    ips = u.GoSyntax("[]string{" + ", ".join(go_quote(c) for c in new.cluster_ips) + "}")
    o, n = old.ip_families, new.ip_families
    if len(o) == len(n):
        for i, fam in enumerate(o):
            if fam != n[i]:
                errs.append(path.invalid(fams, "may not change once set"))
    elif len(o) > len(n):
        if not new.cluster_ips:
            errs.append(path.invalid(fams, "primary ipFamily can not be unset"))
        if n and n[0] != o[0]:
            errs.append(path.invalid(ips, "may not change once set"))
        if len(n) == 1 and new.ip_family_policy != "SingleStack":
            errs.append(
                SPEC.child("ipFamilyPolicy").invalid(
                    new.ip_family_policy,
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                )
            )
    elif o and n and n[0] != o[0]:
        errs.append(path.invalid(ips, "may not change once set"))
    return errs


def validate_service_create(obj: dict[str, Any]) -> ErrorList:
    return validate_service(obj)


def validate_service_update(new: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    errs = validate_object_meta_update(new, old)
    scratch: ErrorList = []  # type problems are reported once, by validate_service below
    new_svc, old_svc = _Svc(new, scratch), _Svc(old, [])
    errs.extend(_validate_upgrade_downgrade_cluster_ips(old_svc, new_svc))
    errs.extend(_validate_upgrade_downgrade_ip_families(old_svc, new_svc))
    # Upstream runs the loadBalancerClass format check here and again in validate_service.
    errs.extend(_validate_load_balancer_class(old_svc, new_svc))
    if (
        old_svc.needs_health_check
        and new_svc.needs_health_check
        and new_svc.hc_node_port != old_svc.hc_node_port
    ):
        errs.append(SPEC.child("healthCheckNodePort").forbidden("field is immutable"))
    errs.extend(validate_service(new))
    return errs
