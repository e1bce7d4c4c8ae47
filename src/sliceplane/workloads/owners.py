"""Finding a dependent's owner in an informer cache: by controller reference, or by the
selectors of owners that may adopt it.

The Deployment controller does this for ReplicaSets and the ReplicaSet controller for Pods,
identically; this is that lookup once, with the parsed selectors cached per owner version.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.selectors import LabelSelector, label_selector_from_meta
from sliceplane.machinery.factory import NAMESPACE_INDEX
from sliceplane.machinery.informer import Informer, object_key
from sliceplane.workloads.ownership import controller_of


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
        key = f"{(dependent.get('metadata') or {}).get('namespace')}/{ref.get('name')}"
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
