"""Objects by label: an informer index and the selection it makes cheap.

Controllers keep asking "which objects of this namespace does this selector match?" (a
ReplicaSet's pods, a Service's pods). Scanning the namespace costs its size on every sync;
indexing every object under ``namespace/key=value`` for each of its labels answers
equality selectors from the index instead, so the cost follows the number of selected
objects. Kind-agnostic: the objects may be of any kind that has labels.
"""

from __future__ import annotations

from collections.abc import Sequence

from sliceplane.api.meta import Obj, labels_of, meta_of
from sliceplane.api.selectors import LabelSelector
from sliceplane.machinery.factory import NAMESPACE_INDEX
from sliceplane.machinery.informer import Informer

LABEL_INDEX = "labels"
"""Index of objects by ``namespace/key=value`` for each of their labels."""


def pair_keys(namespace: str, pairs: dict[str, str]) -> list[str]:
    """Index values ``namespace/key=value`` for label pairs. Exact: label keys and values
    cannot contain "=", namespaces cannot contain "/", so no two pairs share a value."""
    return [f"{namespace}/{k}={v}" for k, v in pairs.items()]


def label_index(obj: Obj) -> list[str]:
    meta = meta_of(obj)
    return pair_keys(meta.get("namespace") or "", meta.get("labels") or {})


def ensure_label_index(informer: Informer) -> None:
    informer.ensure_index(LABEL_INDEX, label_index)


def select(informer: Informer, namespace: str, selector: LabelSelector) -> list[Obj]:
    """Objects of ``namespace`` that ``selector`` matches, in key order.

    Equality terms (every Service selector, most workload selectors) are answered from the
    label index, so the cost follows the number of selected objects, not the namespace's
    size; other selectors fall back to scanning the namespace.
    """
    store = informer.store
    terms = selector.equality_requirements()
    if terms:
        # A pure conjunction of equalities is answered exactly by the index (see
        # pair_keys): no matching needed.
        values = pair_keys(namespace, terms)
        ordered: Sequence[str]
        if len(values) == 1:
            ordered = store.sorted_keys(LABEL_INDEX, values[0])
        else:
            keys: frozenset[str] | None = None
            for value in values:
                found = store.index_set(LABEL_INDEX, value)
                keys = found if keys is None else keys & found
                if not keys:
                    return []
            ordered = sorted(keys or ())
        get = store.get
        return [obj for key in ordered if (obj := get(key)) is not None]
    return [o for o in store.by_index(NAMESPACE_INDEX, namespace) if selector.matches(labels_of(o))]
