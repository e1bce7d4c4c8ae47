"""REST semantics of every served resource on top of the store.

This is where a request becomes a stored object the way kube-apiserver would make it:
namespace checks, pruning of unknown fields, defaulting, server-owned fields, validation,
optimistic concurrency, no-op update detection, graceful deletion, finalizers and the
deletion propagation policies (the garbage collector itself lives in ``gc``).

Objects going in are the caller's to give away; objects coming out are the store's and
must not be changed by the caller.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import ipaddress
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from sliceplane.api import errors
from sliceplane.api.field import ErrorList, Path
from sliceplane.api.resources import BY_PLURAL, ResourceInfo
from sliceplane.api.schema import check, decode_error_message, strict_message
from sliceplane.api.selectors import (
    FieldSelector,
    LabelSelector,
    field_set,
)
from sliceplane.api.validation import validate_create, validate_update
from sliceplane.api.validation.names import ALLOW_LOOPBACK_ENDPOINTS
from sliceplane.apiserver import strategy
from sliceplane.apiserver.defaults import apply_defaults
from sliceplane.apiserver.ipalloc import IPAllocator, PortAllocator, RangeFull
from sliceplane.apiserver.patch import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from sliceplane.storage.store import (
    Key,
    KeyExists,
    KeyNotFound,
    RevisionConflict,
    Store,
    Stored,
)

Obj = dict[str, Any]

FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"

# Kinds whose PUT may create a missing object (upstream AllowCreateOnUpdate).
_CREATE_ON_UPDATE = {"endpoints", "events", "nodes"}
# Kinds whose DELETE answers with the object rather than a Status (upstream's
# ReturnDeletedObject; the official clients decode a Service delete as V1Service).
_RETURN_DELETED_OBJECT = {"pods", "namespaces", "services"}
_CONTINUE_TTL = 300.0
_CONTINUE_MAX = 64


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind_key(info: ResourceInfo) -> str:
    """The schema definition name of a served kind, e.g. ``io.k8s.api.core.v1.Pod``."""
    group = info.group or "core"
    group = {"discovery.k8s.io": "discovery", "coordination.k8s.io": "coordination"}.get(
        group, group
    )
    return f"io.k8s.api.{group}.{info.version}.{info.kind}"


@dataclass(slots=True)
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Strict"  # kubectl's default; "Warn" and "Ignore" too
    field_manager: str | None = None


@dataclass(slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


@dataclass(slots=True)
class ListResult:
    items: list[Stored]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


@dataclass(slots=True)
class _Snapshot:
    items: list[Stored]
    rv: int
    created: float


@dataclass(slots=True)
class WriteResult:
    obj: Obj
    created: bool = False
    warnings: list[str] = field(default_factory=list)


class Registry:
    """All verbs of all served resources. One instance per API server."""

    def __init__(
        self,
        store: Store,
        service_cidr: str = "10.96.0.0/12",
        *,
        now: Callable[[], datetime] | None = None,
        allow_loopback_endpoints: bool = False,
    ) -> None:
        self.store = store
        self.allow_loopback_endpoints = allow_loopback_endpoints
        # One allocator per family, primary first (``--service-cidr v4cidr,v6cidr``).
        self.allocators: dict[str, IPAllocator] = {}
        for cidr in service_cidr.split(","):
            alloc = IPAllocator(cidr.strip())
            self.allocators.setdefault(alloc.family, alloc)
        self.ips = next(iter(self.allocators.values()))
        self.node_ports = PortAllocator()
        self._now = now or (lambda: datetime.now(UTC))
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        # Background deletions (GC, namespace cleanup) are kicked from here.
        self.on_deleted: list[Callable[[str, Stored], None]] = []

    # ------------------------------------------------------------------ start-up

    def rebuild_allocators(self) -> None:
        items, _ = self.store.list_objects("services")
        for it in items:
            spec = it.obj.get("spec") or {}
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
                if isinstance(ip, str) and ip and ip != "None":
                    alloc = self._allocator_for(ip)
                    if alloc is not None:
                        alloc.allocate(ip)
            for p in spec.get("ports") or []:
                if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                    self.node_ports.allocate(p["nodePort"])

    async def bootstrap(self) -> None:
        """First-start objects: the four system namespaces and the kubernetes Service."""
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.current("namespaces", ("", ns)) is None:
                await self.create(
                    BY_PLURAL["namespaces"], "", {"metadata": {"name": ns}}, WriteOptions()
                )
        if self.store.current("services", ("default", "kubernetes")) is None:
            svc = {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": self.ips.nth(1),
                    "ports": [
                        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}
                    ],
                },
            }
            await self.create(BY_PLURAL["services"], "default", svc, WriteOptions())

    # ------------------------------------------------------------------ reads

    def get(self, info: ResourceInfo, namespace: str, name: str) -> Stored:
        item = self.store.get(info.plural, self._key(info, namespace, name))
        if item is None:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        return item

    def list_objects(
        self,
        info: ResourceInfo,
        namespace: str | None,
        *,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        if continue_token:
            snap_id, offset, rv = self._decode_continue(continue_token)
            snap = self._snapshots.get(snap_id)
            if snap is None:
                raise errors.Expired(
                    "The provided continue parameter is too old to display a consistent "
                    "list result. You can start a new list without the continue parameter."
                )
            items = snap.items
        else:
            stored, rv = self.store.list_objects(
                info.plural, namespace if info.namespaced else None
            )
            items = (
                [s for s in stored if _matches(info, s, label_selector, field_selector)]
                if (label_selector is not None and not label_selector.empty())
                or (field_selector is not None and not field_selector.empty())
                else stored
            )
            offset = 0
            snap_id = ""
        if not limit or limit <= 0 or offset + limit >= len(items):
            return ListResult(items[offset:], rv)
        page = items[offset : offset + limit]
        if not snap_id:
            snap_id = secrets.token_hex(8)
            self._snapshots[snap_id] = _Snapshot(items, rv, time.monotonic())
            self._expire_snapshots()
        token = self._encode_continue(snap_id, offset + limit, rv)
        remaining = len(items) - offset - limit
        selectors_used = bool(label_selector and not label_selector.empty()) or bool(
            field_selector and not field_selector.empty()
        )
        return ListResult(page, rv, token, None if selectors_used else remaining)

    def _expire_snapshots(self) -> None:
        now = time.monotonic()
        while self._snapshots:
            first = next(iter(self._snapshots.values()))
            if now - first.created > _CONTINUE_TTL or len(self._snapshots) > _CONTINUE_MAX:
                self._snapshots.popitem(last=False)
            else:
                break

    @staticmethod
    def _encode_continue(snap_id: str, offset: int, rv: int) -> str:
        raw = msgspec.json.encode({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{snap_id}:{offset}"})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str) -> tuple[str, int, int]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = msgspec.json.decode(raw)
            snap_id, offset = str(data["start"]).split(":")
            return snap_id, int(offset), int(data["rv"])
        except Exception as exc:
            raise errors.BadRequest(f"continue key is not valid: {exc}") from None

    # ------------------------------------------------------------------ helpers

    def _validate(self, fn: Callable[..., ErrorList], *args: Any) -> ErrorList:
        token = ALLOW_LOOPBACK_ENDPOINTS.set(self.allow_loopback_endpoints)
        try:
            return fn(*args)
        finally:
            ALLOW_LOOPBACK_ENDPOINTS.reset(token)

    @staticmethod
    def _key(info: ResourceInfo, namespace: str, name: str) -> Key:
        return (namespace if info.namespaced else "", name)

    def _check_body(self, info: ResourceInfo, namespace: str, obj: Any) -> Obj:
        if not isinstance(obj, dict):
            raise errors.BadRequest(
                f"the object provided is unrecognized (must be of type {info.kind})"
            )
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        if (kind not in (None, "", info.kind)) or (api_version not in (None, "", info.api_version)):
            raise errors.BadRequest(
                f'{kind} in version "{api_version}" cannot be handled as a {info.kind}: '
                f'no kind "{kind}" is registered for version "{api_version}"'
            )
        obj["kind"] = info.kind
        obj["apiVersion"] = info.api_version
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata must be an object")
        if info.namespaced:
            body_ns = meta.get("namespace")
            if body_ns in (None, ""):
                meta["namespace"] = namespace
            elif body_ns != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
        else:
            meta.pop("namespace", None)
        return obj

    def _prune(self, info: ResourceInfo, obj: Obj, opts: WriteOptions) -> tuple[Obj, list[str]]:
        """Drop unknown fields like decoding into Go structs would; refuse bad types, and
        unknown fields under ``fieldValidation=Strict`` (kube's 400 texts)."""
        res = check(kind_key(info), obj)
        if res.type_errors:
            # kube reports only the first decode error, and it wins over strict errors.
            raise errors.BadRequest(
                decode_error_message(info.kind, info.version, res.type_errors[0])
            )
        warnings: list[str] = []
        if res.strict_errors:
            if opts.field_validation == "Strict":
                raise errors.BadRequest(
                    decode_error_message(info.kind, info.version, strict_message(res.strict_errors))
                )
            if opts.field_validation == "Warn":
                warnings = list(res.strict_errors)
        return res.obj, warnings

    def _admit_namespace(self, info: ResourceInfo, namespace: str) -> None:
        if not info.namespaced:
            return
        ns = self.store.current("namespaces", ("", namespace))
        if ns is None:
            raise errors.NotFound.for_object("namespaces", "", namespace)
        if ns.obj["metadata"].get("deletionTimestamp"):
            raise errors.Forbidden(
                f'{info.plural} "{"{name}"}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated"
            )

    # ------------------------------------------------------------------ create

    async def create(
        self, info: ResourceInfo, namespace: str, body: Any, opts: WriteOptions
    ) -> WriteResult:
        obj = self._check_body(info, namespace, body)
        obj, warnings = self._prune(info, obj, opts)
        meta = obj["metadata"]
        apply_defaults(info.plural, obj)
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            base = meta["generateName"]
            for _ in range(8):
                candidate = strategy.generate_name(base)
                if self.store.current(info.plural, self._key(info, namespace, candidate)) is None:
                    break
            meta["name"] = candidate
        name = meta.get("name") if isinstance(meta.get("name"), str) else ""
        try:
            self._admit_namespace(info, namespace)
        except errors.Forbidden as exc:
            raise errors.Forbidden(exc.message.replace("{name}", name)) from None
        strategy.prepare_for_create(info.plural, obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339(self._now())
        # Like upstream's service REST hooks, addresses are allocated before validation
        # (validation checks the allocated clusterIPs) and released if anything fails.
        release: list[Callable[[], None]] = []
        if info.plural == "services":
            self._allocate_service(obj, None, name, release)
        errs = self._validate(validate_create, info.plural, obj)
        if errs:
            for r in release:
                r()
            raise errors.Invalid(info.kind, info.group, name, errs)
        if opts.dry_run:
            for r in release:
                r()
            return WriteResult(obj, True, warnings)
        try:
            stored = await self.store.create(info.plural, self._key(info, namespace, name), obj)
        except KeyExists:
            for r in release:
                r()
            raise errors.AlreadyExists.for_object(info.plural, info.group, name) from None
        except BaseException:
            for r in release:
                r()
            raise
        return WriteResult(stored.obj, True, warnings)

    def _allocate_service(
        self, obj: Obj, old: Obj | None, name: str, release: list[Callable[[], None]]
    ) -> None:
        spec = obj.setdefault("spec", {})
        typ = spec.get("type", "ClusterIP")
        old_spec = (old or {}).get("spec") or {}
        if typ == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            spec.pop("ipFamilies", None)
            spec.pop("ipFamilyPolicy", None)
            return
        self._allocate_cluster_ips(spec, old_spec if old is not None else None, name, release)
        if typ in ("NodePort", "LoadBalancer") and spec.get("allocateLoadBalancerNodePorts", True):
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
                    release.append(functools.partial(self.node_ports.release, np))
                elif p["nodePort"] not in old_ports.values() and not self.node_ports.allocate(
                    p["nodePort"]
                ):
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

    def _allocator_for(self, ip: str) -> IPAllocator | None:
        family = "IPv6" if ":" in ip else "IPv4"
        return self.allocators.get(family)

    def _allocate_cluster_ips(
        self,
        spec: Obj,
        old_spec: Obj | None,
        name: str,
        release: list[Callable[[], None]],
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
                release.append(functools.partial(alloc.release, wanted))
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
                release.append(functools.partial(alloc.release, wanted))
            allocated.append(wanted)
        if allocated:
            spec["clusterIP"] = allocated[0]
            spec["clusterIPs"] = allocated

    def _release_service(self, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            if isinstance(ip, str) and ip not in ("", "None"):
                alloc = self._allocator_for(ip)
                if alloc is not None:
                    alloc.release(ip)
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int):
                self.node_ports.release(p["nodePort"])

    # ------------------------------------------------------------------ update

    async def update(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        *,
        subresource: str = "",
        from_patch: bool = False,
    ) -> WriteResult:
        obj = self._check_body(info, namespace, body)
        meta = obj["metadata"]
        body_name = meta.get("name")
        if body_name in (None, ""):
            meta["name"] = name
        elif body_name != name:
            raise errors.BadRequest(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        key = self._key(info, namespace, name)
        current = self.store.current(info.plural, key)
        if current is None:
            if subresource or info.plural not in _CREATE_ON_UPDATE or from_patch:
                raise errors.NotFound.for_object(info.plural, info.group, name)
            meta.pop("resourceVersion", None)
            return await self.create(info, namespace, obj, opts)
        obj, warnings = self._prune(info, obj, opts)
        meta = obj["metadata"]
        rv_text = meta.get("resourceVersion")
        if rv_text not in (None, ""):
            try:
                expect = int(str(rv_text))
            except ValueError:
                raise errors.BadRequest(f"invalid resourceVersion: {rv_text!r}") from None
            if expect != current.rv:
                raise errors.Conflict.modified(info.plural, info.group, name)
        uid = meta.get("uid")
        old_uid = current.obj["metadata"].get("uid")
        if uid not in (None, "") and uid != old_uid:
            raise errors.Conflict.with_reason(
                info.plural,
                info.group,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {old_uid}",
            )
        old = current.obj
        if subresource == "status":
            obj = strategy.prepare_for_status_update(info.plural, obj, old)
        elif subresource == "":
            apply_defaults(info.plural, obj)
            strategy.prepare_for_update(info.plural, obj, old, has_status=info.has_status)
        else:
            raise errors.NotFound("the server could not find the requested resource")
        release: list[Callable[[], None]] = []
        if info.plural == "services" and subresource == "":
            self._allocate_service(obj, old, name, release)
        errs = self._validate(validate_update, info.plural, obj, old)
        if errs:
            for r in release:
                r()
            raise errors.Invalid(info.kind, info.group, name, errs)
        obj["metadata"]["resourceVersion"] = str(current.rv)
        if strategy.same_object(obj, old):
            return WriteResult(copy.deepcopy(old) if opts.dry_run else old, False, warnings)
        if opts.dry_run:
            for r in release:
                r()
            return WriteResult(obj, False, warnings)
        new_meta = obj["metadata"]
        if (
            new_meta.get("deletionTimestamp")
            and not new_meta.get("finalizers")
            and (info.plural != "pods" or not self._pod_waits_for_node(obj))
        ):
            # The last finalizer is gone: the object can go now.
            deleted = await self._remove(info, key, current.rv)
            return WriteResult(deleted.obj, False, warnings)
        try:
            stored = await self.store.update(info.plural, key, obj, expect_rv=current.rv)
        except (RevisionConflict, KeyNotFound):
            for r in release:
                r()
            raise errors.Conflict.modified(info.plural, info.group, name) from None
        if info.plural == "services":
            self._release_changed_service_ips(old, stored.obj)
        return WriteResult(stored.obj, False, warnings)

    def _release_changed_service_ips(self, old: Obj, new: Obj) -> None:
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

    @staticmethod
    def _pod_waits_for_node(pod: Obj) -> bool:
        """A bound, non-terminal pod with grace left stays until its node confirms."""
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        return bool(
            (pod.get("spec") or {}).get("nodeName")
            and grace
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        )

    # ------------------------------------------------------------------ patch

    async def patch(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        patch_type: str,
        patch: Any,
        opts: WriteOptions,
        *,
        subresource: str = "",
    ) -> WriteResult:
        """Apply a JSON, merge or strategic-merge patch to the current object."""
        if patch_type == "apply":
            raise errors.UnsupportedMediaType(
                "server-side apply is not supported by sliceplane's API server yet; "
                "use client-side apply (kubectl apply without --server-side)"
            )
        current = self.store.current(info.plural, self._key(info, namespace, name))
        if current is None:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        if subresource == "scale":
            return await self._patch_scale(info, namespace, name, current, patch_type, patch, opts)
        original = copy.deepcopy(current.obj)
        if patch_type == "json":
            new = apply_json_patch(original, patch)
        elif patch_type == "merge":
            new = apply_merge_patch(original, patch)
        elif patch_type == "strategic":
            new = apply_strategic_merge_patch(original, patch, info.kind)
        else:
            raise errors.UnsupportedMediaType(f"unsupported patch type {patch_type!r}")
        return await self.update(
            info, namespace, name, new, opts, subresource=subresource, from_patch=True
        )

    # ------------------------------------------------------------------ binding

    async def bind(self, namespace: str, name: str, binding: Any, opts: WriteOptions) -> Obj:
        """``pods/binding``: what a scheduler posts to place a pod on a node.

        Sets ``spec.nodeName`` (which a plain update may not change) and the PodScheduled
        condition, refusing a pod that is already bound or being deleted.
        """
        info = BY_PLURAL["pods"]
        if not isinstance(binding, dict):
            raise errors.BadRequest("the object provided is unrecognized (must be of type Binding)")
        target = binding.get("target") or {}
        node = target.get("name") if isinstance(target, dict) else None
        bname = (binding.get("metadata") or {}).get("name") or name
        if bname != name:
            raise errors.BadRequest(
                f"the name of the object ({bname}) does not match the name on the URL ({name})"
            )
        if not isinstance(node, str) or not node:
            raise errors.Invalid("Binding", "", name, [Path("target").child("name").required()])
        current = self.store.current(info.plural, (namespace, name))
        if current is None:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        pod = current.obj
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.Conflict.with_reason(
                info.plural, info.group, name, "pod is being deleted, cannot be assigned to a host"
            )
        bound = (pod.get("spec") or {}).get("nodeName")
        if bound:
            raise errors.Conflict.with_reason(
                info.plural, info.group, name, f'pod {name} is already assigned to node "{bound}"'
            )
        new = copy.deepcopy(pod)
        new.setdefault("spec", {})["nodeName"] = node
        status = new.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": rfc3339(self._now()),
            }
        )
        status["conditions"] = conds
        if opts.dry_run:
            return new
        try:
            stored = await self.store.update(
                info.plural, (namespace, name), new, expect_rv=current.rv
            )
        except (RevisionConflict, KeyNotFound):
            raise errors.Conflict.modified(info.plural, info.group, name) from None
        return stored.obj

    # ------------------------------------------------------------------ scale

    def get_scale(self, info: ResourceInfo, namespace: str, name: str) -> Obj:
        return self._scale_of(info, self.get(info, namespace, name).obj)

    @staticmethod
    def _scale_of(info: ResourceInfo, obj: Obj) -> Obj:
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        selector = spec.get("selector") or {}
        sel_str = ",".join(
            f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())
        )
        for expr in selector.get("matchExpressions") or []:
            op = expr.get("operator")
            values = ",".join(sorted(expr.get("values") or []))
            key = expr.get("key")
            part = {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": f"{key}",
                "DoesNotExist": f"!{key}",
            }.get(op, "")
            sel_str = f"{sel_str},{part}" if sel_str else part
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": int(spec.get("replicas") or 0)},
            "status": {"replicas": int(status.get("replicas") or 0), "selector": sel_str},
        }

    async def update_scale(
        self, info: ResourceInfo, namespace: str, name: str, scale: Any, opts: WriteOptions
    ) -> Obj:
        if not isinstance(scale, dict):
            raise errors.BadRequest("the object provided is unrecognized (must be of type Scale)")
        current = self.get(info, namespace, name)
        return await self._write_scale(info, namespace, name, current, scale, opts)

    async def _patch_scale(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        current: Stored,
        patch_type: str,
        patch: Any,
        opts: WriteOptions,
    ) -> WriteResult:
        scale = self._scale_of(info, current.obj)
        if patch_type == "json":
            new_scale = apply_json_patch(scale, patch)
        elif patch_type == "merge":
            new_scale = apply_merge_patch(scale, patch)
        else:
            new_scale = apply_strategic_merge_patch(scale, patch, "Scale")
        out = await self._write_scale(info, namespace, name, current, new_scale, opts)
        return WriteResult(out)

    async def _write_scale(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        current: Stored,
        scale: Obj,
        opts: WriteOptions,
    ) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.Invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    Path("spec")
                    .child("replicas")
                    .invalid(replicas, "must be greater than or equal to 0")
                ],
            )
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv not in (None, "") and str(rv) != str(current.rv):
            raise errors.Conflict.modified(info.plural, info.group, name)
        new = copy.deepcopy(current.obj)
        new.setdefault("spec", {})["replicas"] = replicas
        res = await self.update(info, namespace, name, new, opts)
        return self._scale_of(info, res.obj)

    # ------------------------------------------------------------------ delete

    async def delete(
        self, info: ResourceInfo, namespace: str, name: str, opts: DeleteOptions
    ) -> tuple[Obj, bool]:
        """Returns (object, deleted_now)."""
        key = self._key(info, namespace, name)
        current = self.store.current(info.plural, key)
        if current is None:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        obj = current.obj
        meta = obj["metadata"]
        if opts.precondition_uid is not None and opts.precondition_uid != meta.get("uid"):
            raise errors.Conflict.with_reason(
                info.plural,
                info.group,
                name,
                f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                f"UID in object meta: {meta.get('uid')}",
            )
        if opts.precondition_rv is not None and opts.precondition_rv != meta.get("resourceVersion"):
            raise errors.Conflict.with_reason(
                info.plural,
                info.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {opts.precondition_rv}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )
        policy = opts.propagation_policy
        if policy is None and opts.orphan_dependents is not None:
            policy = "Orphan" if opts.orphan_dependents else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.Invalid(
                "DeleteOptions",
                "",
                "",
                [
                    Path("propagationPolicy").not_supported(
                        policy, ["Foreground", "Background", "Orphan"]
                    )
                ],
            )
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and FINALIZER_FOREGROUND not in finalizers:
            finalizers.append(FINALIZER_FOREGROUND)
        if policy == "Orphan" and FINALIZER_ORPHAN not in finalizers:
            finalizers.append(FINALIZER_ORPHAN)
        if info.plural == "namespaces":
            return await self._delete_namespace(info, key, current, opts)
        grace = 0
        if info.plural == "pods":
            grace = self._pod_grace(obj, opts)
        already = meta.get("deletionTimestamp")
        if not finalizers and grace == 0:
            if opts.dry_run:
                return obj, True
            deleted = await self._remove(info, key, current.rv)
            return deleted.obj, True
        if (
            already
            and grace >= int(meta.get("deletionGracePeriodSeconds") or 0)
            and (finalizers == list(meta.get("finalizers") or []))
        ):
            return obj, False  # deletion already in progress; nothing shortens it
        new = copy.deepcopy(obj)
        nmeta = new["metadata"]
        now = self._now()
        if not already or grace < int(meta.get("deletionGracePeriodSeconds") or 0):
            nmeta["deletionTimestamp"] = rfc3339(now + timedelta(seconds=grace))
            nmeta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            nmeta["finalizers"] = finalizers
        if opts.dry_run:
            return new, False
        if grace == 0 and not finalizers:
            deleted = await self._remove(info, key, current.rv)
            return deleted.obj, True
        stored = await self._store_update(info, key, new, current.rv)
        return stored.obj, False

    @staticmethod
    def _pod_grace(pod: Obj, opts: DeleteOptions) -> int:
        spec = pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if opts.grace_period_seconds is not None:
            return max(0, int(opts.grace_period_seconds))
        value = spec.get("terminationGracePeriodSeconds")
        return int(value) if isinstance(value, int) and value >= 0 else 30

    async def _delete_namespace(
        self, info: ResourceInfo, key: Key, current: Stored, opts: DeleteOptions
    ) -> tuple[Obj, bool]:
        obj = current.obj
        if obj["metadata"].get("deletionTimestamp"):
            return obj, False
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = rfc3339(self._now())
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        if opts.dry_run:
            return new, False
        stored = await self._store_update(info, key, new, current.rv)
        return stored.obj, False

    async def _store_update(self, info: ResourceInfo, key: Key, obj: Obj, expect_rv: int) -> Stored:
        try:
            return await self.store.update(info.plural, key, obj, expect_rv=expect_rv)
        except KeyNotFound:
            raise errors.NotFound.for_object(info.plural, info.group, key[1]) from None
        except RevisionConflict:
            raise errors.Conflict.modified(info.plural, info.group, key[1]) from None

    async def _remove(self, info: ResourceInfo, key: Key, expect_rv: int) -> Stored:
        try:
            deleted = await self.store.delete(info.plural, key, expect_rv=expect_rv)
        except KeyNotFound:
            raise errors.NotFound.for_object(info.plural, info.group, key[1]) from None
        except RevisionConflict:
            raise errors.Conflict.modified(info.plural, info.group, key[1]) from None
        if info.plural == "services":
            self._release_service(deleted.obj)
        for cb in self.on_deleted:
            cb(info.plural, deleted)
        return deleted

    async def finish_namespace(self, name: str) -> None:
        """Called by the namespace cleaner once a terminating namespace is empty."""
        current = self.store.current("namespaces", ("", name))
        if current is None or not current.obj["metadata"].get("deletionTimestamp"):
            return
        await self._remove(BY_PLURAL["namespaces"], ("", name), current.rv)

    async def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        opts: DeleteOptions,
        label_selector: LabelSelector | None,
        field_selector: FieldSelector | None,
    ) -> list[Obj]:
        result = self.list_objects(
            info, namespace, label_selector=label_selector, field_selector=field_selector
        )
        out: list[Obj] = []
        for item in result.items:
            meta = item.obj["metadata"]
            try:
                obj, _ = await self.delete(info, meta.get("namespace", ""), meta["name"], opts)
            except errors.NotFound:
                continue
            out.append(obj)
        return out


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _matches(
    info: ResourceInfo,
    item: Stored,
    label_selector: LabelSelector | None,
    field_selector: FieldSelector | None,
) -> bool:
    if label_selector is not None and not label_selector.matches(item.labels):
        return False
    return field_selector is None or field_selector.matches(field_set(info.plural, item.obj))


def matches(
    info: ResourceInfo,
    item: Stored,
    label_selector: LabelSelector | None,
    field_selector: FieldSelector | None,
) -> bool:
    """Whether a stored object passes a list/watch request's selectors."""
    return _matches(info, item, label_selector, field_selector)


async def yield_now() -> None:
    await asyncio.sleep(0)
