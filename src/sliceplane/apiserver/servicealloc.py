"""A Service's cluster IPs and node ports: defaulted, claimed and given back.

Like upstream's service REST (``pkg/registry/core/service/storage/alloc.go``), addresses
are allocated before validation, since validation checks the allocated ``clusterIPs``;
every claim is recorded in the write's :class:`~sliceplane.apiserver.transaction.Transaction`
so that a failed, dry-run or no-op write gives it back, and what the old object held but
the new one drops is released only when the new one is stored.

The allocators themselves (``ipalloc``) hold no durable state: :meth:`rebuild` refills
them from the stored Services at start-up.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from sliceplane.api import errors
from sliceplane.api.field import Path
from sliceplane.api.meta import Obj
from sliceplane.apiserver.ipalloc import IPAllocator, PortAllocator, RangeFull
from sliceplane.apiserver.transaction import Transaction


class ServiceAllocator:
    """The cluster's service CIDRs (primary family first) and its node port range."""

    def __init__(self, service_cidr: str = "10.96.0.0/12") -> None:
        # One allocator per family, primary first (``--service-cidr v4cidr,v6cidr``).
        self.allocators: dict[str, IPAllocator] = {}
        for cidr in service_cidr.split(","):
            alloc = IPAllocator(cidr.strip())
            self.allocators.setdefault(alloc.family, alloc)
        self.ips = next(iter(self.allocators.values()))
        self.node_ports = PortAllocator()

    def rebuild(self, services: Iterable[Obj]) -> None:
        """Mark every address and node port the stored Services hold as taken."""
        for obj in services:
            spec = obj.get("spec") or {}
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
                if isinstance(ip, str) and ip and ip != "None":
                    alloc = self._allocator_for(ip)
                    if alloc is not None:
                        alloc.allocate(ip)
            for p in spec.get("ports") or []:
                if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                    self.node_ports.allocate(p["nodePort"])

    def _allocator_for(self, ip: str) -> IPAllocator | None:
        family = "IPv6" if ":" in ip else "IPv4"
        return self.allocators.get(family)

    # ------------------------------------------------------------------ writes

    def allocate(self, obj: Obj, old: Obj | None, name: str, txn: Transaction) -> None:
        """Default and claim ``obj``'s addresses (``old`` is the stored object on update).

        Claims are undone by reverting ``txn``; committing it releases what ``old`` held
        and ``obj`` no longer does.
        """
        spec = obj.setdefault("spec", {})
        typ = spec.get("type", "ClusterIP")
        old_spec = (old or {}).get("spec") or {}
        if old is not None:
            txn.on_commit(functools.partial(self._release_dropped, old, obj))
        if typ == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            spec.pop("ipFamilies", None)
            spec.pop("ipFamilyPolicy", None)
            return
        self._allocate_cluster_ips(spec, old_spec if old is not None else None, name, txn)
        if typ in ("NodePort", "LoadBalancer") and spec.get("allocateLoadBalancerNodePorts", True):
            self._allocate_node_ports(spec, old_spec, name, txn)

    def _allocate_node_ports(self, spec: Obj, old_spec: Obj, name: str, txn: Transaction) -> None:
        old_ports = {
            (p.get("port"), p.get("protocol")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if isinstance(p, dict)
        }
        for i, p in enumerate(spec.get("ports") or []):
            if not isinstance(p, dict):
                continue
            if not p.get("nodePort"):
                prev = old_ports.get((p.get("port"), p.get("protocol")))
                if prev:
                    p["nodePort"] = prev
                    continue
                np = self.node_ports.allocate_next()
                p["nodePort"] = np
                txn.on_revert(functools.partial(self.node_ports.release, np))
            elif p["nodePort"] not in old_ports.values():
                if not self.node_ports.allocate(p["nodePort"]):
                    where = Path("spec").child("ports").index(i).child("nodePort")
                    np_range = self.node_ports
                    detail = (
                        "provided port is already allocated"
                        if np_range.lo <= p["nodePort"] <= np_range.hi
                        else "provided port is not in the valid range. The range of valid "
                        f"ports is {np_range.lo}-{np_range.hi}"
                    )
                    raise errors.Invalid(
                        "Service", "", name, [where.invalid(p["nodePort"], detail)]
                    )
                txn.on_revert(functools.partial(self.node_ports.release, p["nodePort"]))

    def _allocate_cluster_ips(
        self, spec: Obj, old_spec: Obj | None, name: str, txn: Transaction
    ) -> None:
        """ipFamilies, ipFamilyPolicy, clusterIP(s): defaulted and allocated per family.

        Follows upstream's rules: SingleStack uses the cluster's primary family unless told
        otherwise; PreferDualStack takes every configured family; RequireDualStack needs two;
        a headless Service without selector defaults to RequireDualStack.
        """
        configured = list(self.allocators)
        if old_spec is not None and old_spec.get("clusterIPs"):
            spec.setdefault("clusterIPs", list(old_spec["clusterIPs"]))
            spec.setdefault("clusterIP", old_spec["clusterIPs"][0])
            spec.setdefault("ipFamilies", list(old_spec.get("ipFamilies") or []))
            spec.setdefault("ipFamilyPolicy", old_spec.get("ipFamilyPolicy"))
        ip = spec.get("clusterIP")
        ips = spec.get("clusterIPs")
        if not ip and isinstance(ips, list) and ips:
            ip = spec["clusterIP"] = ips[0]
        if not isinstance(ips, list) or not ips:
            ips = [ip] if ip else []
            if ips:
                # Upstream's strategy syncs clusterIPs from clusterIP before validation, so a
                # malformed clusterIP is reported as spec.clusterIPs[0], not as missing.
                spec["clusterIPs"] = list(ips)
        if any(not isinstance(x, str) or (x != "None" and not _is_ip(x)) for x in ips):
            return  # validation reports malformed addresses
        headless = ip == "None"
        policy = spec.get("ipFamilyPolicy")
        if policy is None:
            policy = "RequireDualStack" if headless and not spec.get("selector") else "SingleStack"
            if not headless and len(ips) > 1:
                policy = "RequireDualStack"
            spec["ipFamilyPolicy"] = policy
        families = spec.get("ipFamilies")
        if not isinstance(families, list) or not families:
            if ips and not headless:
                families = ["IPv6" if ":" in x else "IPv4" for x in ips]
            elif policy == "SingleStack":
                families = configured[:1]
            else:
                families = list(configured)
        path = Path("spec")
        if headless and not spec.get("selector"):
            # Headless and selector-less: no addresses are allocated, any family may be named.
            spec["ipFamilies"] = families
            spec["clusterIPs"] = ["None"]
            return
        errs = [
            path.child("ipFamilies").index(i).invalid(f, "not configured on this cluster")
            for i, f in enumerate(families)
            if f in ("IPv4", "IPv6") and f not in self.allocators
        ]
        if policy == "RequireDualStack" and len(configured) < 2:
            errs.append(
                path.child("ipFamilyPolicy").invalid(
                    policy, "this cluster is not configured for dual-stack services"
                )
            )
        if errs:
            raise errors.Invalid("Service", "", name, errs)
        if policy == "SingleStack":
            families = (
                families[:1] if len(families) > 1 and not spec.get("ipFamilies") else families
            )
        spec["ipFamilies"] = families
        if headless:
            spec["clusterIPs"] = ["None"]
            return
        old_ips = set((old_spec or {}).get("clusterIPs") or [])
        allocated: list[str] = []
        for i, family in enumerate(families):
            alloc = self.allocators.get(family)
            if alloc is None:
                continue
            wanted = ips[i] if i < len(ips) else None
            if wanted is None:
                try:
                    wanted = alloc.allocate_next()
                except RangeFull:
                    raise errors.InternalError(
                        "Internal error occurred: failed to allocate a serviceIP: range is full"
                    ) from None
                txn.on_revert(functools.partial(alloc.release, wanted))
            elif wanted not in old_ips:
                if not alloc.allocate(wanted):
                    if not alloc.contains(wanted):
                        detail = (
                            f"failed to allocate IP {wanted}: provided IP is not in the valid "
                            f"range. The range of valid IPs is {alloc.network}"
                        )
                    else:
                        detail = f"failed to allocate IP {wanted}: provided IP is already allocated"
                    raise errors.Invalid(
                        "Service", "", name, [path.child("clusterIPs").invalid(ips, detail)]
                    )
                txn.on_revert(functools.partial(alloc.release, wanted))
            allocated.append(wanted)
        if allocated:
            spec["clusterIP"] = allocated[0]
            spec["clusterIPs"] = allocated

    # ------------------------------------------------------------------ releases

    def release(self, obj: Obj) -> None:
        """Give back everything a deleted Service held."""
        spec = obj.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            if isinstance(ip, str) and ip not in ("", "None"):
                alloc = self._allocator_for(ip)
                if alloc is not None:
                    alloc.release(ip)
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                self.node_ports.release(p["nodePort"])

    def _release_dropped(self, old: Obj, new: Obj) -> None:
        """What ``old`` held and the stored ``new`` no longer does."""
        old_spec = old.get("spec") or {}
        new_spec = new.get("spec") or {}
        kept = set(new_spec.get("clusterIPs") or [])
        for ip in old_spec.get("clusterIPs") or []:
            alloc = self._allocator_for(ip) if ip != "None" else None
            if ip not in kept and alloc is not None:
                alloc.release(ip)
        kept_ports = {p.get("nodePort") for p in new_spec.get("ports") or [] if isinstance(p, dict)}
        for p in old_spec.get("ports") or []:
            if isinstance(p, dict) and p.get("nodePort") and p["nodePort"] not in kept_ports:
                self.node_ports.release(p["nodePort"])


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
