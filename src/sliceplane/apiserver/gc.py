"""The garbage collector and the namespace cleaner, run inside the API server.

Upstream runs both in kube-controller-manager; sliceplane's embedded server runs them
in-process so a laptop cluster behaves like a real one with nothing else started:
deleting a Service removes the EndpointSlices it owns, ``propagationPolicy`` Foreground
and Orphan work, and deleting a namespace empties it before it goes.

Ownership is matched by owner UID, as upstream does: an owner re-created under the same
name is a different owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections import defaultdict
from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import meta_of
from sliceplane.api.resources import BY_PLURAL, RESOURCES
from sliceplane.apiserver.registry import (
    FINALIZER_FOREGROUND,
    FINALIZER_ORPHAN,
    DeleteOptions,
    Registry,
    WriteOptions,
)
from sliceplane.storage.store import Event, Key, Stored

log = logging.getLogger(__name__)

_GC_WRITES = WriteOptions(field_manager="kube-controller-manager")
"""The collector's writes carry the manager of upstream's, which runs in
kube-controller-manager (they only remove fields, so they rarely leave an entry)."""

Ref = tuple[str, Key]  # (resource, key)


class GarbageCollector:
    """Watches every committed change and deletes or orphans dependents accordingly."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store
        self._uids: dict[str, Ref] = {}
        self._dependents: dict[str, set[Ref]] = defaultdict(set)
        self._owners_of: dict[Ref, set[str]] = {}
        self._dirty: set[Ref] = set()  # dependents to re-check
        self._owners_dirty: set[Ref] = set()  # owners with a deletion finalizer to process
        self._namespaces_dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        watcher = self.store.watch_all()
        for resource in list(self.store.resources()):
            items, _ = self.store.list_objects(resource)
            for it in items:
                self._observe(resource, it, None)
        for ref in list(self._owners_of):
            self._dirty.add(ref)
        self._task = asyncio.create_task(self._run(watcher), name="garbage-collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def settle(self) -> None:
        """Wait until nothing is left to do (tests and bootstrap use this)."""
        for _ in range(1000):
            await self.store.barrier()
            await asyncio.sleep(0)
            if not (self._dirty or self._owners_dirty or self._namespaces_dirty):
                return
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ indexing

    def _observe(self, resource: str, item: Stored, ev_type: str | None) -> None:
        meta = meta_of(item.obj)
        ref: Ref = (resource, (meta.get("namespace") or "", meta.get("name") or ""))
        uid = meta.get("uid")
        old_owners = self._owners_of.pop(ref, set())
        for o in old_owners:
            deps = self._dependents.get(o)
            if deps is not None:
                deps.discard(ref)
                if not deps:
                    del self._dependents[o]
        if ev_type == "DELETED":
            self._recheck_owners(old_owners)
            if isinstance(uid, str) and self._uids.get(uid) == ref:
                del self._uids[uid]
                self._dirty.update(self._dependents.get(uid, ()))
            if resource != "namespaces" and ref[1][0]:
                self._namespaces_dirty.add(ref[1][0])
            return
        if isinstance(uid, str):
            self._uids[uid] = ref
        owners = {
            r["uid"]
            for r in meta.get("ownerReferences") or []
            if isinstance(r, dict) and isinstance(r.get("uid"), str)
        }
        self._recheck_owners(old_owners - owners)
        if owners:
            self._owners_of[ref] = owners
            for o in owners:
                self._dependents[o].add(ref)
            if ev_type == "ADDED" or owners != old_owners:
                self._dirty.add(ref)
        if meta.get("deletionTimestamp"):
            fins = meta.get("finalizers") or []
            if FINALIZER_ORPHAN in fins or FINALIZER_FOREGROUND in fins:
                self._owners_dirty.add(ref)
            if resource == "namespaces":
                self._namespaces_dirty.add(ref[1][1])
        if isinstance(uid, str) and uid in self._dependents and meta.get("deletionTimestamp"):
            # An owner is being deleted: its dependents may have to go (foreground).
            self._dirty.update(self._dependents[uid])

    def _recheck_owners(self, uids: set[str]) -> None:
        """A dependent went away or dropped these owners: an owner waiting in foreground
        deletion for its dependents may be done now."""
        for o in uids:
            owner = self._uids.get(o)
            if owner is not None:
                self._owners_dirty.add(owner)

    async def _run(self, watcher: Any) -> None:
        while True:
            for ev in watcher.drain():
                self._on_event(ev)
            try:
                await self._process()
            except Exception:
                log.exception("garbage collector pass failed")
            if not (self._dirty or self._owners_dirty or self._namespaces_dirty):
                ev = await watcher.next()
                if ev is None:
                    return
                self._on_event(ev)
            else:
                await asyncio.sleep(0.05)

    def _on_event(self, ev: Event) -> None:
        self._observe(ev.resource, ev.item, ev.type)

    # ------------------------------------------------------------------ work

    async def _process(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for ref in dirty:
            await self._check_dependent(ref)
        owners, self._owners_dirty = self._owners_dirty, set()
        for ref in owners:
            await self._finish_owner(ref)
        namespaces, self._namespaces_dirty = self._namespaces_dirty, set()
        for ns in namespaces:
            await self._clean_namespace(ns)

    def _alive(self, uid: str) -> Stored | None:
        ref = self._uids.get(uid)
        if ref is None:
            return None
        item = self.store.get(ref[0], ref[1])
        if item is None or item.obj["metadata"].get("uid") != uid:
            return None
        return item

    async def _check_dependent(self, ref: Ref) -> None:
        resource, key = ref
        item = self.store.current(resource, key)
        if item is None:
            return
        refs = [r for r in item.obj["metadata"].get("ownerReferences") or [] if isinstance(r, dict)]
        if not refs:
            return
        absent = [r for r in refs if self._alive(str(r.get("uid"))) is None]
        foreground_owner = False
        for r in refs:
            owner = self._alive(str(r.get("uid")))
            if owner is not None:
                ometa = owner.obj["metadata"]
                if ometa.get("deletionTimestamp") and FINALIZER_FOREGROUND in (
                    ometa.get("finalizers") or []
                ):
                    foreground_owner = True
        info = BY_PLURAL.get(resource)
        if info is None:
            return
        if len(absent) == len(refs) or (foreground_owner and len(absent) + 1 >= len(refs)):
            policy = "Foreground" if foreground_owner else "Background"
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.registry.delete(
                    info, key[0], key[1], DeleteOptions(propagation_policy=policy)
                )
            return
        if absent:
            gone = {r.get("uid") for r in absent}
            new = copy.deepcopy(item.obj)
            new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") not in gone]
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.registry.update(info, key[0], key[1], new, _GC_WRITES)

    async def _finish_owner(self, ref: Ref) -> None:
        resource, key = ref
        item = self.store.current(resource, key)
        if item is None:
            return
        meta = item.obj["metadata"]
        fins = list(meta.get("finalizers") or [])
        uid = meta.get("uid")
        deps = [d for d in self._dependents.get(str(uid), set())]
        info = BY_PLURAL[resource]
        if FINALIZER_ORPHAN in fins:
            for dep in deps:
                ditem = self.store.current(*dep)
                if ditem is None:
                    continue
                new = copy.deepcopy(ditem.obj)
                new["metadata"]["ownerReferences"] = [
                    r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                ]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    await self.registry.update(
                        BY_PLURAL[dep[0]], dep[1][0], dep[1][1], new, _GC_WRITES
                    )
            fins.remove(FINALIZER_ORPHAN)
        elif FINALIZER_FOREGROUND in fins:
            blocking = False
            for dep in deps:
                ditem = self.store.current(*dep)
                if ditem is None:
                    continue
                for r in ditem.obj["metadata"].get("ownerReferences") or []:
                    if r.get("uid") == uid and r.get("blockOwnerDeletion"):
                        blocking = True
                self._dirty.add(dep)
            if blocking:
                return
            fins.remove(FINALIZER_FOREGROUND)
        else:
            return
        new = copy.deepcopy(item.obj)
        new["metadata"]["finalizers"] = fins
        if not fins:
            del new["metadata"]["finalizers"]
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.registry.update(info, key[0], key[1], new, _GC_WRITES)

    async def _clean_namespace(self, name: str) -> None:
        ns = self.store.current("namespaces", ("", name))
        if ns is None or not ns.obj["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for info in RESOURCES:
            if not info.namespaced:
                continue
            items, _ = self.store.list_objects(info.plural, name)
            for it in items:
                remaining += 1
                if it.obj["metadata"].get("deletionTimestamp") and info.plural == "pods":
                    continue
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    await self.registry.delete(
                        info, name, it.obj["metadata"]["name"], DeleteOptions()
                    )
        if remaining == 0:
            await self.registry.finish_namespace(name)
        # Otherwise nothing to poll for: every deletion in this namespace marks it dirty
        # again (see _observe), including pods whose node finishes their termination.
