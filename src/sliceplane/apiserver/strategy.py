"""Per-kind create/update rules that are not validation: what the server owns.

Upstream calls these "registry strategies": which fields the server sets on create
(uid, timestamps, generation, reset status), how ``metadata.generation`` moves on update,
and what a status-subresource write may change. Pure functions over dicts.
"""

from __future__ import annotations

import random

from sliceplane.api.meta import Obj, meta_of

# Upstream's SimpleNameGenerator: no vowels (no accidental words), no 0/1/3 (look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_GENERATED_BASE = 58
_RANDOM_LENGTH = 5

# Kinds whose metadata.generation tracks spec changes.
_GENERATION_KINDS = {"deployments", "replicasets", "endpointslices", "pods"}


def generate_name(base: str, rng: random.Random | None = None) -> str:
    r = rng or random
    if len(base) > _MAX_GENERATED_BASE:
        base = base[:_MAX_GENERATED_BASE]
    return base + "".join(r.choice(NAME_ALPHABET) for _ in range(_RANDOM_LENGTH))


def prepare_for_create(resource: str, obj: Obj) -> None:
    """Reset what clients may not set on create (status for most kinds, generation)."""
    meta = obj["metadata"]
    for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(k, None)
    if resource in _GENERATION_KINDS:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if resource == "pods":
        old = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
        del old
    elif resource in ("services",):
        obj["status"] = {"loadBalancer": {}}
    elif resource in ("deployments", "replicasets"):
        obj["status"] = {}
    elif resource == "namespaces":
        obj["status"] = {"phase": "Active"}


def _qos_class(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    requests = limits = False
    guaranteed = True
    for c in (spec.get("containers") or []) if isinstance(spec, dict) else []:
        res = c.get("resources") if isinstance(c, dict) else None
        res = res if isinstance(res, dict) else {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        requests = requests or bool(req)
        limits = limits or bool(lim)
        if (
            not lim
            or set(lim) < {"cpu", "memory"}
            or (req and any(req.get(k) != lim.get(k) for k in req))
        ):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _without(obj: Obj, *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


def prepare_for_update(resource: str, new: Obj, old: Obj, *, has_status: bool) -> None:
    """Carry over server-owned fields from ``old`` and move the generation."""
    meta = new["metadata"]
    old_meta = old["metadata"]
    for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if k in old_meta:
            meta[k] = old_meta[k]
        else:
            meta.pop(k, None)
    if has_status:
        if "status" in old:
            # Shared, not copied: stored objects are never changed in place.
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if resource in _GENERATION_KINDS:
        gen = int(old_meta.get("generation") or 1)
        if resource == "endpointslices":
            # Anything but metadata changed, or the labels changed (§1.8).
            changed = _without(new, "metadata") != _without(old, "metadata") or (
                meta.get("labels") or {}
            ) != (old_meta.get("labels") or {})
        elif resource == "deployments":
            changed = new.get("spec") != old.get("spec") or (meta.get("annotations") or {}) != (
                old_meta.get("annotations") or {}
            )
        else:
            changed = new.get("spec") != old.get("spec")
        meta["generation"] = gen + 1 if changed else gen
    else:
        meta.pop("generation", None)


def prepare_for_status_update(resource: str, new: Obj, old: Obj) -> Obj:
    """A status write, as upstream's per-kind status strategies shape it.

    The spec and server-owned metadata come from ``old``; status and other metadata
    (annotations, and labels for most kinds) come from the request. Deployments and
    ReplicaSets also keep their labels, pods their owner references. This is how a
    controller can set an annotation (e.g. a Deployment's revision) together with status
    without moving ``metadata.generation``.
    """
    # ``new`` is the request's (the caller's to give away) and what comes from ``old`` is
    # shared, not copied: stored objects are never changed in place (the store replaces,
    # never edits, the subtrees it interns), and a pod's spec copied on every status write
    # showed in the API server's profile.
    out = new
    if "spec" in old:
        out["spec"] = old["spec"]
    else:
        out.pop("spec", None)
    meta = out.setdefault("metadata", {})
    old_meta = old["metadata"]
    keep = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "name",
        "namespace",
    ]
    if resource in ("deployments", "replicasets"):
        keep.append("labels")
    if resource == "pods":
        keep.append("ownerReferences")
    for k in keep:
        if k in old_meta:
            meta[k] = old_meta[k]
        else:
            meta.pop(k, None)
    return out


def same_object(a: Obj, b: Obj) -> bool:
    """Equal ignoring resourceVersion: an update that changes nothing is not written."""
    ma = dict(meta_of(a))
    mb = dict(meta_of(b))
    ma.pop("resourceVersion", None)
    mb.pop("resourceVersion", None)
    return ma == mb and _without(a, "metadata") == _without(b, "metadata")
