"""REST semantics of every served resource on top of the store.

This is where a request becomes a stored object the way kube-apiserver would make it:
namespace checks, pruning of unknown fields, defaulting, server-owned fields, validation,
optimistic concurrency, no-op update detection, graceful deletion, finalizers and the
deletion propagation policies (the garbage collector itself lives in ``gc``).

The path is the same for every kind. What only some kinds do (a Service's addresses, a
pod's grace period, a namespace's termination) are hooks in ``kinds``, called at fixed
points; subresources are pure functions in ``subresources``; paginated lists are
``pagination``'s.

Objects going in are the caller's to give away; objects coming out are the store's and
must not be changed by the caller.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sliceplane.api import errors
from sliceplane.api.field import ErrorList, Path
from sliceplane.api.fieldlabels import field_set
from sliceplane.api.fieldselectors import FieldSelector
from sliceplane.api.fieldtypes import type_for
from sliceplane.api.meta import Obj, format_time
from sliceplane.api.resources import BY_PLURAL, ResourceInfo
from sliceplane.api.selectors import LabelSelector
from sliceplane.api.validation import validate_create, validate_update
from sliceplane.api.validation.names import ALLOW_LOOPBACK_ENDPOINTS
from sliceplane.apiserver import apply, kinds, managedfields, strategy, subresources
from sliceplane.apiserver.bodies import check_body, prune
from sliceplane.apiserver.defaults import admit, apply_defaults
from sliceplane.apiserver.deletion import Action, plan_delete
from sliceplane.apiserver.kinds import KindRules
from sliceplane.apiserver.pagination import ListResult, Snapshots
from sliceplane.apiserver.patch import (
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from sliceplane.apiserver.servicealloc import ServiceAllocator
from sliceplane.apiserver.transaction import Transaction
from sliceplane.storage.store import (
    Key,
    KeyExists,
    KeyNotFound,
    RevisionConflict,
    Store,
    Stored,
    decode_json,
)

FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"


@dataclass(slots=True)
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Strict"  # kubectl's default; "Warn" and "Ignore" too
    field_manager: str | None = None
    """``?fieldManager=``, else the User-Agent's prefix (the HTTP layer fills it in)."""
    force: bool = False
    """``?force=true`` of an apply: take over conflicting fields."""


_APISERVER = WriteOptions(field_manager="kube-apiserver")
"""The server's own writes (bootstrap objects), named as kube-apiserver's loopback client."""


@dataclass(slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


@dataclass(slots=True)
class WriteResult:
    obj: Obj
    created: bool = False
    warnings: list[str] = field(default_factory=list)
    raw: bytes | None = None
    """``obj`` encoded, when the store already did it (the answer is then these bytes)."""


class _UIDs:
    """Random (version 4) UIDs as ``str(uuid.uuid4())`` makes them, from randomness read
    4 KiB at a time: one ``os.urandom`` call per UID was ~1 % of the API server's time
    when every pod and Event gets one."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def __call__(self) -> str:
        if self._pos + 16 > len(self._buf):
            self._buf = os.urandom(4096)
            self._pos = 0
        b = bytearray(self._buf[self._pos : self._pos + 16])
        self._pos += 16
        b[6] = (b[6] & 0x0F) | 0x40  # version 4
        b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
        h = b.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


new_uid = _UIDs()
"""A fresh object UID (``metadata.uid``)."""


DEFAULT_SERVICE_CIDR = "kubernetes"


def default_service_cidr(service_cidr: str, now: datetime) -> Obj:
    """The ServiceCIDR kube-apiserver keeps for its ``--service-cluster-ip-range`` (its
    defaultservicecidr controller): named ``kubernetes``, the ranges as Go prints them,
    Ready once created. kube-proxy's nftables mode drops traffic to the unallocated
    addresses of these ranges."""
    cidrs = [str(ipaddress.ip_network(c.strip(), strict=False)) for c in service_cidr.split(",")]
    stamp = format_time(now)
    return {
        "kind": "ServiceCIDR",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": DEFAULT_SERVICE_CIDR, "creationTimestamp": stamp},
        "spec": {"cidrs": cidrs},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": stamp,
                    "reason": "",
                    "message": "Kubernetes default Service CIDR is ready",
                }
            ]
        },
    }


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
        self.service_cidr = service_cidr
        self.services = ServiceAllocator(service_cidr)
        self._rules = kinds.rules(self.services)
        self._now = now or (lambda: datetime.now(UTC))
        self._snapshots = Snapshots()
        # Background deletions (GC, namespace cleanup) are kicked from here.
        self.on_deleted: list[Callable[[str, Stored], None]] = []

    def rules(self, info: ResourceInfo) -> KindRules:
        """The per-kind hooks of ``info`` (``kinds``)."""
        return self._rules.get(info.plural, kinds.DEFAULT)

    # ------------------------------------------------------------------ start-up

    def rebuild_allocators(self) -> None:
        items, _ = self.store.list_objects("services")
        self.services.rebuild(it.obj for it in items)

    async def bootstrap(self) -> None:
        """First-start objects: the four system namespaces and the kubernetes Service."""
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.current("namespaces", ("", ns)) is None:
                await self.create(
                    BY_PLURAL["namespaces"], "", {"metadata": {"name": ns}}, _APISERVER
                )
        if self.store.current("services", ("default", "kubernetes")) is None:
            svc = {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": self.services.ips.nth(1),
                    "ports": [
                        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}
                    ],
                },
            }
            await self.create(BY_PLURAL["services"], "default", svc, _APISERVER)
        if self.store.current("servicecidrs", ("", DEFAULT_SERVICE_CIDR)) is None:
            # Written straight to the store: the kind is read-only and has no schema.
            cidr = default_service_cidr(self.service_cidr, self._now())
            cidr["metadata"]["uid"] = str(uuid.uuid4())
            await self.store.create("servicecidrs", ("", DEFAULT_SERVICE_CIDR), cidr)

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
        scope = "\x00".join(
            (
                info.group,
                info.plural,
                namespace or "" if info.namespaced else "",
                "" if label_selector is None else str(label_selector),
                "" if field_selector is None else str(field_selector),
            )
        )
        selectors_used = bool(label_selector and not label_selector.empty()) or bool(
            field_selector and not field_selector.empty()
        )
        listed_ns = namespace if info.namespaced else None
        resumed = self._snapshots.resume(continue_token, scope) if continue_token else None
        if resumed is None and (
            not limit
            or limit <= 0
            or (not selectors_used and self.store.count_in(info.plural, listed_ns) <= limit)
        ):
            stored, rv = self.selected(info, listed_ns, label_selector, field_selector)
            return ListResult(stored, rv)

        def keep(item: Stored) -> bool:
            return _matches(info, item, label_selector, field_selector)

        return self._snapshots.page(
            self.store.snapshot(info.plural, listed_ns) if resumed is None else resumed.snap,
            resumed=resumed,
            limit=limit if limit and limit > 0 else 2**62,
            keep=keep if selectors_used else None,
            count_remaining=not selectors_used,
            scope=scope,
        )

    def selected(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label_selector: LabelSelector | None,
        field_selector: FieldSelector | None,
    ) -> tuple[list[Stored], int]:
        """Every committed object of ``info`` (in ``namespace``) the selectors pass, in
        key order, and the revision they reflect: an unpaged list's items.

        A selector with equality requirements (``app=web``) walks the store's label index
        of its most selective one instead of every object; the full selectors still decide
        each candidate (unless the selector is that one equality), so the answer is the
        scan's.
        """
        plural = info.plural
        fields_used = field_selector is not None and not field_selector.empty()
        labels_used = label_selector is not None and not label_selector.empty()
        if not labels_used and not fields_used:
            return self.store.list_objects(plural, namespace)
        listed = None
        if label_selector is not None and labels_used:
            pairs = label_selector.exact_pairs()
            if pairs:
                listed = self.store.list_labelled(plural, namespace, pairs)
                alone = len(label_selector.requirements()) == 1 and not fields_used
                if listed is not None and alone:
                    return listed  # one equality: its index's keys are the answer
        stored, rv = self.store.list_objects(plural, namespace) if listed is None else listed
        if label_selector is not None and not fields_used:
            selected = label_selector.matches  # the common case, without a call per item
            return [s for s in stored if selected(s.labels)], rv
        return [s for s in stored if _matches(info, s, label_selector, field_selector)], rv

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

    def _managed_fields(
        self, info: ResourceInfo, live: Obj | None, new: Obj, opts: WriteOptions, subresource: str
    ) -> list[Obj] | None:
        """The ``managedFields`` a write leaves (``managedfields``), computed from the request's
        object before the strategy resets what the caller may not set, as upstream's field
        manager runs before the strategy; None for a kind without a schema."""
        t = type_for(info.group, info.version, info.kind)
        if t is None:
            return None
        entries = managedfields.starting_entries(live, new, subresource)
        entries = managedfields.record_update(
            t,
            info.kind,
            live,
            new,
            entries,
            opts.field_manager or "",
            info.api_version,
            subresource,
            managedfields.ignored_fields(info.plural, subresource),
            format_time(self._now()),
        )
        return managedfields.encode(entries)

    # ------------------------------------------------------------------ create

    async def create(
        self,
        info: ResourceInfo,
        namespace: str,
        body: Any,
        opts: WriteOptions,
        *,
        managed: list[Obj] | None = None,
    ) -> WriteResult:
        """``managed``: the managedFields an apply computed (otherwise recorded here)."""
        obj = check_body(info, namespace, body)
        obj, warnings = prune(info, obj, opts.field_validation)
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
        tracked = (
            managed if managed is not None else self._managed_fields(info, None, obj, opts, "")
        )
        admit(info.plural, obj)
        strategy.prepare_for_create(info.plural, obj)
        _set_managed_fields(obj, tracked)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = format_time(self._now())
        # Like upstream's service REST hooks, addresses are allocated before validation
        # (validation checks the allocated clusterIPs); one transaction keeps or undoes them.
        with Transaction() as txn:
            self.rules(info).allocate(obj, None, name, txn)
            errs = self._validate(validate_create, info.plural, obj)
            if errs:
                raise errors.Invalid(info.kind, info.group, name, errs)
            if opts.dry_run:
                txn.revert()
                return WriteResult(obj, True, warnings)
            try:
                stored = await self.store.create(info.plural, self._key(info, namespace, name), obj)
            except KeyExists:
                raise errors.AlreadyExists.for_object(info.plural, info.group, name) from None
        return WriteResult(stored.obj, True, warnings, stored.raw)

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
        recorded_as: str | None = None,
        managed: list[Obj] | None = None,
    ) -> WriteResult:
        """``recorded_as``: the subresource the managed-fields entry names when it is not
        ``subresource`` (a ``/scale`` write is an update of the main object); ``managed``:
        the managedFields an apply computed (otherwise recorded here)."""
        obj = check_body(info, namespace, body)
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
            # A kind that allows create on update does so through /status as well (its
            # status storage shares the strategy, and creates as the main resource does).
            creatable = self.rules(info).create_on_update and subresource in ("", "status")
            if not creatable or from_patch:
                raise errors.NotFound.for_object(info.plural, info.group, name)
            meta.pop("resourceVersion", None)
            return await self.create(info, namespace, obj, opts)
        obj, warnings = prune(info, obj, opts.field_validation)
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
            tracked = (
                managed
                if managed is not None
                else self._managed_fields(info, old, obj, opts, "status")
            )
            obj = strategy.prepare_for_status_update(info.plural, obj, old)
        elif subresource == "":
            apply_defaults(info.plural, obj)
            tracked = (
                managed
                if managed is not None
                else self._managed_fields(info, old, obj, opts, recorded_as or "")
            )
            admit(info.plural, obj)
            strategy.prepare_for_update(info.plural, obj, old, has_status=info.has_status)
        else:
            raise errors.NotFound.generic()
        _set_managed_fields(obj, tracked)
        rules = self.rules(info)
        with Transaction() as txn:
            if subresource == "":
                rules.allocate(obj, old, name, txn)
            errs = self._validate(validate_update, info.plural, obj, old, subresource)
            if errs:
                raise errors.Invalid(info.kind, info.group, name, errs)
            obj["metadata"]["resourceVersion"] = str(current.rv)
            if strategy.same_object(obj, old):
                txn.revert()
                return WriteResult(copy.deepcopy(old) if opts.dry_run else old, False, warnings)
            if opts.dry_run:
                txn.revert()
                return WriteResult(obj, False, warnings)
            new_meta = obj["metadata"]
            if (
                new_meta.get("deletionTimestamp")
                and not new_meta.get("finalizers")
                and rules.removable(obj)
            ):
                # The last finalizer is gone: the object can go now (the stored one goes,
                # so nothing this write claimed is kept).
                txn.revert()
                deleted = await self._remove(info, key, current.rv)
                return WriteResult(deleted.obj, False, warnings)
            try:
                stored = await self.store.update(info.plural, key, obj, expect_rv=current.rv)
            except (RevisionConflict, KeyNotFound):
                raise errors.Conflict.modified(info.plural, info.group, name) from None
        return WriteResult(stored.obj, False, warnings, stored.raw)

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
        """Apply a JSON, merge or strategic-merge patch, or a server-side apply."""
        if patch_type == "apply":
            return await self._apply(info, namespace, name, patch, opts, subresource)
        current = self.store.current(info.plural, self._key(info, namespace, name))
        if current is None:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        if subresource == "scale":
            scale = _patched(subresources.scale_of(current.obj), patch_type, patch, "Scale")
            return WriteResult(await self._write_scale(info, namespace, name, current, scale, opts))
        # A fresh copy from the stored bytes: several times cheaper than copy.deepcopy.
        new = _patched(decode_json(current.raw), patch_type, patch, info.kind)
        return await self.update(
            info, namespace, name, new, opts, subresource=subresource, from_patch=True
        )

    async def _apply(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str,
    ) -> WriteResult:
        """Server-side apply (``apply``): merge, then store through update or create."""
        if subresource not in ("", "status"):
            raise errors.NotFound.generic()
        config = apply.check_config(body, info.group, info.version, info.kind, namespace, name)
        t = type_for(info.group, info.version, info.kind)
        if t is None:
            raise errors.UnsupportedMediaType(f"apply is not supported for {info.plural}")
        apply.check_known_fields(info, t, config)
        current = self.store.current(info.plural, self._key(info, namespace, name))
        if current is None and subresource:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        live = current.obj if current is not None else None
        raw = (live or {}).get("metadata", {}).get("managedFields")
        entries = (managedfields.decode(raw) if raw is not None else None) or []
        outcome = apply.apply(
            t,
            info.kind,
            live,
            config,
            entries,
            opts.field_manager or "",
            info.api_version,
            managedfields.ignored_fields(info.plural, subresource),
            format_time(self._now()),
            force=opts.force,
            subresource=subresource,
        )
        encoded = managedfields.encode(outcome.entries)
        obj = copy.deepcopy(outcome.obj)
        obj.setdefault("metadata", {})
        if current is None:
            body_name = obj["metadata"].get("name")
            if body_name in (None, ""):
                raise errors.BadRequest(
                    f"the name of the object ({name} based on URL) was undeterminable: "
                    "name must be provided"
                )
            if body_name != name:
                raise errors.BadRequest(
                    f"the name of the object ({body_name}) does not match the name on the URL "
                    f"({name})"
                )
            obj["metadata"]["name"] = name
            return await self.create(info, namespace, obj, opts, managed=encoded)
        return await self.update(
            info,
            namespace,
            name,
            obj,
            opts,
            subresource=subresource,
            from_patch=True,
            managed=encoded,
        )

    # ------------------------------------------------------------------ binding

    async def bind(self, namespace: str, name: str, binding: Any, opts: WriteOptions) -> Obj:
        """``pods/binding``: what a scheduler posts to place a pod on a node.

        Sets ``spec.nodeName`` (which a plain update may not change) and the PodScheduled
        condition, refusing a pod that is already bound or being deleted.
        """
        info = BY_PLURAL["pods"]
        node = subresources.binding_target(name, binding)
        current = self.store.current(info.plural, (namespace, name))
        if current is None:
            raise errors.NotFound.for_object(info.plural, info.group, name)
        new = subresources.bound(current.obj, name, node, format_time(self._now()))
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
        return subresources.scale_of(self.get(info, namespace, name).obj)

    async def update_scale(
        self, info: ResourceInfo, namespace: str, name: str, scale: Any, opts: WriteOptions
    ) -> Obj:
        if not isinstance(scale, dict):
            raise errors.BadRequest("the object provided is unrecognized (must be of type Scale)")
        current = self.get(info, namespace, name)
        return await self._write_scale(info, namespace, name, current, scale, opts)

    async def _write_scale(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        current: Stored,
        scale: Obj,
        opts: WriteOptions,
    ) -> Obj:
        new = subresources.scaled(info.plural, info.group, name, current.obj, current.rv, scale)
        res = await self.update(info, namespace, name, new, opts, recorded_as="scale")
        return subresources.scale_of(res.obj)

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
        rules = self.rules(info)
        terminating = rules.terminating(obj, format_time(self._now()))
        if terminating is not None:
            if terminating is obj or opts.dry_run:
                return terminating, False
            stored = await self._store_update(info, key, terminating, current.rv)
            return stored.obj, False
        plan = plan_delete(obj, rules, opts.grace_period_seconds, finalizers, self._now())
        if plan.action is Action.UNCHANGED:
            return obj, False  # a deletion in progress that this one does not shorten
        if plan.action is Action.DELETE:
            if opts.dry_run:
                return obj, True
            deleted = await self._remove(info, key, current.rv)
            return deleted.obj, True
        if opts.dry_run:
            return plan.obj, plan.action is Action.UPDATE_THEN_DELETE
        stored = await self._store_update(info, key, plan.obj, current.rv)
        if plan.action is Action.UPDATE_THEN_DELETE:
            deleted = await self._remove(info, key, stored.rv)
            return deleted.obj, True
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
        self.rules(info).released(deleted.obj)
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


def _set_managed_fields(obj: Obj, tracked: list[Obj] | None) -> None:
    meta = obj["metadata"]
    if tracked:
        meta["managedFields"] = tracked
    else:
        meta.pop("managedFields", None)


def _patched(original: Obj, patch_type: str, patch: Any, kind: str) -> Obj:
    """``original`` is a fresh copy and ``patch`` the request's: both are the result's."""
    if patch_type == "json":
        return apply_json_patch(original, patch)
    if patch_type == "merge":
        return apply_merge_patch(original, patch, owned=True)
    if patch_type == "strategic":
        return apply_strategic_merge_patch(original, patch, kind)
    raise errors.UnsupportedMediaType(f"unsupported patch type {patch_type!r}")


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
