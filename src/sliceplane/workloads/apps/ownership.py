"""Controller references: who owns a ReplicaSet or a Pod, finding owners, and adoption.

Why: a Deployment finds its ReplicaSets and a ReplicaSet its Pods by the *controller*
ownerReference (matched by UID, never by name: an owner re-created under the same name is
a different owner), with the label selector only deciding which orphans may be adopted.
Upstream keeps this in ``ControllerRefManager``; here it is a handful of pure functions,
the adoption patch (which carries the dependent's UID so the server refuses it, 409, if
the object was replaced meanwhile), :class:`OwnerLookup` (a dependent's owner in an
informer cache) and :func:`claim`, the one claim step both controllers run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj, is_deleting, labels_of, meta_of, namespace_of, uid_of
from sliceplane.api.selectors import LabelSelector, label_selector_from_meta
from sliceplane.client.client import Client
from sliceplane.machinery.factory import NAMESPACE_INDEX
from sliceplane.machinery.informer import Informer, object_key
from sliceplane.machinery.labelindex import select

CONTROLLER_UID_INDEX = "controller-uid"
"""Index of objects by the UID of their controller (from the controller ownerReference)."""


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true`` (``metav1.GetControllerOf``)."""
    for ref in meta_of(obj).get("ownerReferences") or []:
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    ref = controller_of(obj)
    uid = meta_of(owner).get("uid")
    return ref is not None and bool(uid) and ref.get("uid") == uid


def controller_ref(owner: Mapping[str, Any], api_version: str, kind: str) -> Obj:
    """``metav1.NewControllerRef``: the reference a controller stamps on what it creates."""
    meta = meta_of(owner)
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def adoption_patch(dependent: Mapping[str, Any], ref: Obj) -> Obj:
    """Strategic merge patch that adds ``ref`` (merged by uid) to ``dependent``, carrying
    the dependent's ``metadata.uid`` as a precondition (upstream's ``ownerRefControllerPatch``)."""
    return {
        "metadata": {
            "ownerReferences": [ref],
            "uid": meta_of(dependent).get("uid"),
        }
    }


class OwnerLookup:
    """Owners of one kind (``Deployment``, ``ReplicaSet``) held by ``owners``."""

    def __init__(self, owners: Informer, kind: str) -> None:
        self.owners = owners
        self.kind = kind
        self._selectors: dict[str, tuple[Any, LabelSelector | None]] = {}

    def selector(self, owner: Obj) -> LabelSelector | None:
        """The owner's ``spec.selector`` parsed once per version; ``None`` when malformed."""
        key = object_key(owner)
        raw = (owner.get("spec") or {}).get("selector")
        cached = self._selectors.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        try:
            sel: LabelSelector | None = label_selector_from_meta(raw)
        except errors.StatusError:
            sel = None
        self._selectors[key] = (raw, sel)
        return sel

    def forget(self, key: str) -> None:
        self._selectors.pop(key, None)

    def owner_key(self, dependent: Obj) -> str | None:
        """The key of the cached owner that controls ``dependent`` (matched by UID)."""
        ref = controller_of(dependent)
        if ref is None or ref.get("kind") != self.kind:
            return None
        key = f"{meta_of(dependent).get('namespace')}/{ref.get('name')}"
        owner = self.owners.store.get(key)
        if owner is None or meta_of(owner).get("uid") != ref.get("uid"):
            return None
        return key

    def adopting_keys(self, dependent: Obj) -> list[str]:
        """Owners in the dependent's namespace whose (non-empty) selector matches it."""
        meta = meta_of(dependent)
        labels = meta.get("labels") or {}
        out = []
        for owner in self.owners.store.by_index(NAMESPACE_INDEX, str(meta.get("namespace"))):
            sel = self.selector(owner)
            if sel is not None and not sel.empty() and sel.matches(labels):
                out.append(object_key(owner))
        return out

    def route_add(self, dependent: Obj, add: Callable[[str], None], *, adopt: bool) -> str | None:
        """Queue (with ``add``) the owner a new dependent concerns: its controller, or, for
        an orphan and with adoption on, every owner that may adopt it. Returns the
        controller's key (``None`` for an orphan or an owner not in the cache)."""
        if controller_of(dependent) is not None:
            key = self.owner_key(dependent)
            if key is not None:
                add(key)
            return key
        if adopt:
            for key in self.adopting_keys(dependent):
                add(key)
        return None

    def route_update(
        self,
        old: Obj,
        new: Obj,
        add: Callable[[str], None],
        *,
        adopt: bool,
        labels_changed: bool,
    ) -> str | None:
        """Queue the owners an updated dependent concerns: the previous controller when
        the controller reference changed, the current one, or (for an orphan whose labels
        or reference changed, with adoption on) every owner that may adopt it. Returns
        the current controller's key, as :meth:`route_add`."""
        old_ref, new_ref = controller_of(old), controller_of(new)
        if old_ref is not None and old_ref != new_ref:
            old_key = self.owner_key(old)
            if old_key is not None:
                add(old_key)
        if new_ref is not None:
            key = self.owner_key(new)
            if key is not None:
                add(key)
            return key
        if adopt and (labels_changed or old_ref != new_ref):
            for key in self.adopting_keys(new):
                add(key)
        return None


def _controller_uid_index(obj: Obj) -> list[str]:
    ref = controller_of(obj)
    uid = ref.get("uid") if ref is not None else None
    return [str(uid)] if uid else []


def ensure_controller_uid_index(informer: Informer) -> None:
    """Index an informer's objects by their controller's UID (idempotent)."""
    informer.ensure_index(CONTROLLER_UID_INDEX, _controller_uid_index)


def _always(_obj: Obj) -> bool:
    return True


async def claim(
    client: Client,
    dependents: Informer,
    resource: str,
    owner: Obj,
    ref: Obj,
    selector: LabelSelector,
    *,
    adopt_orphans: bool,
    adoptable: Callable[[Obj], bool] = _always,
    adopted: Callable[[Obj], None] | None = None,
) -> list[Obj]:
    """The dependents ``owner`` controls (``ClaimReplicaSets``/``ClaimPods``): those in
    ``dependents`` (indexed by :func:`ensure_controller_uid_index` and the label index)
    whose controller is ``owner`` and which ``selector`` matches, plus orphans it adopts.

    An orphan is adopted (with :func:`adoption_patch` carrying ``ref``) when adoption is
    on, ``owner`` is not being deleted and has a non-empty selector, the orphan matches
    the selector, is not being deleted and passes ``adoptable``. A dependent gone
    meanwhile is skipped; ``adopted`` sees each object the server returned as adopted.
    """
    owned = [
        obj
        for obj in dependents.store.by_index(CONTROLLER_UID_INDEX, uid_of(owner))
        if selector.matches(labels_of(obj))
    ]
    if not adopt_orphans or is_deleting(owner) or selector.empty():
        return owned
    ns = namespace_of(owner)
    # Candidates come from the label index: a sync costs what the owner selects, not a
    # pass over every object of the namespace.
    for obj in select(dependents, ns, selector):
        if controller_of(obj) is not None or is_deleting(obj) or not adoptable(obj):
            continue
        try:
            result = await client.patch(
                resource,
                str(meta_of(obj).get("name")),
                adoption_patch(obj, ref),
                ns,
                patch_type="strategic",
            )
        except errors.NotFound:
            continue
        if controlled_by(result, owner):
            if adopted is not None:
                adopted(result)
            owned.append(result)
    return owned
