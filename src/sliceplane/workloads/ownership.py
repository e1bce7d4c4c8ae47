"""Controller references: who owns a ReplicaSet or a Pod, and the patches that change it.

Why: a Deployment finds its ReplicaSets and a ReplicaSet its Pods by the *controller*
ownerReference (matched by UID, never by name: an owner re-created under the same name is
a different owner), with the label selector only deciding which orphans may be adopted.
Upstream keeps this in ``ControllerRefManager``; here it is a handful of pure functions and
the adoption patch, which carries the dependent's UID so the server refuses it (409) if
the object was replaced meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sliceplane.api.meta import Obj, meta_of


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
