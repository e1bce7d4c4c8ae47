"""Per-kind hooks of the generic REST path: what only some kinds do on write and delete.

``registry`` is one path for every kind; where a kind differs (a Service claims addresses,
a bound pod waits for its node before it goes, a namespace is emptied instead of deleted,
some kinds may be created by PUT) the path calls a hook of the kind's :class:`KindRules`
at a fixed point. A new kind's rules are a subclass here and an entry in :func:`rules`,
never an edit of the generic path. ``strategy`` holds the pure field rules (what the
server owns, how generation moves); these hooks are the behaviour around them, as
upstream's per-kind ``pkg/registry/<group>/<kind>/storage`` packages wrap the generic
store.
"""

from __future__ import annotations

import copy

from sliceplane.api.meta import Obj
from sliceplane.apiserver.servicealloc import ServiceAllocator
from sliceplane.apiserver.transaction import Transaction

# Kinds whose PUT may create a missing object (upstream AllowCreateOnUpdate).
_CREATE_ON_UPDATE = ("endpoints", "events", "leases")
"""Kinds whose strategy says ``AllowCreateOnUpdate`` (Services too, in their own rules)."""


class KindRules:
    """The defaults: no side effects, immediate deletion, no create on update."""

    #: A PUT of a missing object creates it (upstream ``AllowCreateOnUpdate``).
    create_on_update: bool = False
    #: A DELETE that removed the object answers with it, not a Status (upstream
    #: ``ReturnDeletedObject``; the official clients decode a Service delete as V1Service).
    return_deleted_object: bool = False
    #: A DELETE first stores the object with ``deletionTimestamp`` set, even with no grace
    #: left, and only then removes it, so watchers see it terminating before it goes
    #: (upstream: kinds with a graceful delete strategy, i.e. pods, whose
    #: ``CheckGracefulDelete`` always answers yes and whose zero grace period makes the
    #: generic store delete right after that update).
    graceful_delete: bool = False

    def allocate(self, obj: Obj, old: Obj | None, name: str, txn: Transaction) -> None:
        """Before validation of a create (``old`` None) or a spec update: claim what the
        object needs outside the store, recording in ``txn`` how to undo it."""

    def released(self, obj: Obj) -> None:
        """After ``obj`` left the store: give back what it held."""

    def deletion_grace(self, obj: Obj, requested: int | None) -> int:
        """Seconds a DELETE leaves the object terminating (``requested``: the client's)."""
        return 0

    def removable(self, obj: Obj) -> bool:
        """Whether an object whose last finalizer is gone may leave the store now."""
        return True

    def terminating(self, obj: Obj, now: str) -> Obj | None:
        """For kinds that a DELETE marks terminating instead of removing: the object to
        store (``obj`` itself when it already is); None for the ordinary path."""
        return None


class ServiceRules(KindRules):
    """Cluster IPs and node ports (``servicealloc``), claimed per write, freed on delete."""

    return_deleted_object = True
    create_on_update = True

    def __init__(self, allocator: ServiceAllocator) -> None:
        self.allocator = allocator

    def allocate(self, obj: Obj, old: Obj | None, name: str, txn: Transaction) -> None:
        self.allocator.allocate(obj, old, name, txn)

    def released(self, obj: Obj) -> None:
        self.allocator.release(obj)


class PodRules(KindRules):
    """A bound, running pod gets its grace period and goes only when its node confirms."""

    return_deleted_object = True
    graceful_delete = True

    def deletion_grace(self, obj: Obj, requested: int | None) -> int:
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, int(requested))
        value = spec.get("terminationGracePeriodSeconds")
        return int(value) if isinstance(value, int) and value >= 0 else 30

    def removable(self, obj: Obj) -> bool:
        """A bound, non-terminal pod with grace left stays until its node confirms."""
        grace = obj["metadata"].get("deletionGracePeriodSeconds")
        return not (
            (obj.get("spec") or {}).get("nodeName")
            and grace
            and (obj.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        )


class NamespaceRules(KindRules):
    """A deleted namespace turns Terminating; the namespace cleaner (``gc``) empties it."""

    return_deleted_object = True

    def terminating(self, obj: Obj, now: str) -> Obj | None:
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = now
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        return new


class _CreateOnUpdate(KindRules):
    create_on_update = True


DEFAULT = KindRules()


def rules(services: ServiceAllocator) -> dict[str, KindRules]:
    """The hooks of every kind that has any, by plural; others get :data:`DEFAULT`."""
    table: dict[str, KindRules] = {
        "services": ServiceRules(services),
        "pods": PodRules(),
        "namespaces": NamespaceRules(),
    }
    for plural in _CREATE_ON_UPDATE:
        table[plural] = _CreateOnUpdate()
    return table
