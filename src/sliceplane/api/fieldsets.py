"""Field sets of objects: what an object sets, and what changed between two objects.

Why: managed fields are computed from the object tree directly, walking the value and its
compiled type together once (``fieldtypes``). Two walks exist upstream
(structured-merge-diff's ``typed``):

* :func:`field_set` (``ToFieldSet``): every path an applied configuration sets. Leaves,
  atomic values and list items are members; structs and granular maps are members only when
  empty (or null), or when they are entries of a map rather than declared fields.
* :func:`compare` (``Compare``): the paths *added*, *modified* and *removed* going from one
  object to another. A node present on one side only is a member of added/removed together
  with everything under it; atomic nodes and leaves (and containers empty on both sides) are
  compared by value.

``MISSING`` stands for an absent field; JSON ``null`` is a value (an absent Go slice is
``null`` in the zero-value object, and a list going from ``null`` to items is not "added").
"""

from __future__ import annotations

from typing import Any, Final

from sliceplane.api.fieldpath import MEMBER, Tree, key_element, value_element
from sliceplane.api.fieldtypes import LEAF, ListType, MapType, StructType, Type

__all__ = ["MISSING", "Comparison", "compare", "field_set", "item_element"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class ItemError(ValueError):
    """A list item that has no path element (a list-map item without a key field)."""


def item_element(t: ListType, item: Any) -> str:
    """The path element of one list item: ``k:{...}`` or ``v:...`` (upstream
    ``listItemToPathElement``)."""
    if t.relationship == "set":
        if isinstance(item, dict | list):
            raise ItemError("set items must be scalars")
        return value_element(item)
    if not isinstance(item, dict):
        raise ItemError("associative list with keys has an element that is not a map type")
    keys: dict[str, Any] = {}
    defaults = t.item.defaults if isinstance(t.item, StructType) else {}
    for name in t.keys:
        if name in item and item[name] is not None:
            keys[name] = item[name]
        elif name in defaults:
            keys[name] = defaults[name]
        else:
            raise ItemError(
                f"associative list with keys has an element that omits key field {name!r}"
                " (and doesn't have default value)"
            )
    return key_element(keys)


def _child_type(t: StructType | MapType, name: str) -> tuple[Type, bool]:
    """(type, declared) of a key of a struct or map."""
    if isinstance(t, MapType):
        return t.value, False
    found = t.fields.get(name)
    return (LEAF, False) if found is None else (found, True)


def _atomic(t: Type) -> bool:
    if t is LEAF:
        return True
    if isinstance(t, ListType):
        return t.relationship == "atomic"
    assert isinstance(t, StructType | MapType)
    return t.atomic


# --------------------------------------------------------------------------- ToFieldSet


def field_set(t: Type, value: Any) -> Tree:
    """Every path ``value`` sets (the set of an applied configuration), rooted at ``t``."""
    out: Tree = {}
    _fill(t, value, out)
    return out


def _fill(t: Type, value: Any, node: Tree) -> None:
    """Adds the children of ``value`` (at ``node``) to ``node``."""
    if _atomic(t):
        return
    if isinstance(t, ListType):
        if not isinstance(value, list):
            return
        seen: dict[str, int] = {}
        for item in value:
            try:
                pe = item_element(t, item)
            except ItemError:
                continue
            seen[pe] = seen.get(pe, 0) + 1
        for item in value:
            try:
                pe = item_element(t, item)
            except ItemError:
                continue
            entry = node.setdefault(pe, {})
            entry[MEMBER] = {}
            if seen[pe] == 1:
                _fill(t.item, item, entry)
        return
    if not isinstance(value, dict):
        return
    assert isinstance(t, StructType | MapType)
    for name, val in value.items():
        ct, declared = _child_type(t, name)
        child: Tree = {}
        if _atomic(ct) or val is None or (isinstance(val, dict) and not val) or not declared:
            child[MEMBER] = {}
        _fill(ct, val, child)
        if child:
            node["f:" + name] = child


# --------------------------------------------------------------------------- Compare


class Comparison:
    """Added, modified and removed paths (canonical trees)."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added: Tree = {}
        self.modified: Tree = {}
        self.removed: Tree = {}

    def changed(self) -> bool:
        return bool(self.added or self.modified or self.removed)


def compare(t: Type, old: Any, new: Any, skip: Tree | None = None) -> Comparison:
    """What changed going from ``old`` to ``new`` (either may be MISSING).

    ``skip``: paths not to compare at all. A member of ``skip`` and everything under it is
    left out of the three trees, which is what ``recursive_difference(tree, skip)`` of the
    full comparison gives, without walking those subtrees (a pod's spec on every status
    write, its status on every spec write)."""
    c = Comparison()
    if skip:
        _cmp_skipping(t, old, new, c.added, c.modified, c.removed, skip)
    else:
        _cmp(t, old, new, c.added, c.modified, c.removed)
    return c


def _cmp_skipping(
    t: Type, old: Any, new: Any, added: Tree, modified: Tree, removed: Tree, skip: Tree
) -> None:
    """``_cmp`` at a node with paths to skip below it (``skip``: this node's entry, never
    a member itself); the children without any go to ``_cmp``."""
    if (
        _atomic(t)
        or (_empty(old) and _empty(new))
        or not isinstance(old if old is not MISSING and old is not None else new, list | dict)
    ):
        _cmp(t, old, new, added, modified, removed)
        return
    if isinstance(t, ListType):
        lv = _index(t, old)
        rv = _index(t, new)
        for pe in list(lv) + [p for p in rv if p not in lv]:
            sub = skip.get(pe)
            if sub is not None and MEMBER in sub:
                continue
            _list_element(t, pe, lv, rv, added, modified, removed, sub)
    else:
        assert isinstance(t, StructType | MapType)
        lo = old if isinstance(old, dict) else {}
        ro = new if isinstance(new, dict) else {}
        for name in lo.keys() | ro.keys() if lo and ro else (lo or ro):
            pe = "f:" + name
            sub = skip.get(pe)
            if sub is not None and MEMBER in sub:
                continue
            ct, _ = _child_type(t, name)
            _descend(
                pe, ct, lo.get(name, MISSING), ro.get(name, MISSING), added, modified, removed, sub
            )
    if old is MISSING:
        added[MEMBER] = {}
    elif new is MISSING:
        removed[MEMBER] = {}


def _empty(v: Any) -> bool:
    return v is MISSING or v is None or (isinstance(v, dict | list) and not v)


def _cmp(t: Type, old: Any, new: Any, added: Tree, modified: Tree, removed: Tree) -> None:
    """Compares at one node; ``added`` etc. are this node's entries in the three trees."""
    if (
        _atomic(t)
        or (_empty(old) and _empty(new))
        or not isinstance(old if old is not MISSING and old is not None else new, list | dict)
    ):
        if old is MISSING:
            if new is not MISSING:
                added[MEMBER] = {}
        elif new is MISSING:
            removed[MEMBER] = {}
        elif not _same(old, new):
            modified[MEMBER] = {}
        return
    if isinstance(t, ListType):
        _cmp_list(t, old, new, added, modified, removed)
    else:
        assert isinstance(t, StructType | MapType)
        lo = old if isinstance(old, dict) else {}
        ro = new if isinstance(new, dict) else {}
        for name in lo.keys() | ro.keys() if lo and ro else (lo or ro):
            ct, _ = _child_type(t, name)
            _descend(
                "f:" + name,
                ct,
                lo.get(name, MISSING),
                ro.get(name, MISSING),
                added,
                modified,
                removed,
            )
    if old is MISSING:
        added[MEMBER] = {}
    elif new is MISSING:
        removed[MEMBER] = {}


def _descend(
    pe: str,
    t: Type,
    old: Any,
    new: Any,
    added: Tree,
    modified: Tree,
    removed: Tree,
    skip: Tree | None = None,
) -> None:
    a: Tree = {}
    if old is MISSING and new is not MISSING and not skip and _ADDED_WALK:
        _all_added(t, new, a)
        added[pe] = a
        return
    m: Tree = {}
    r: Tree = {}
    if skip:
        _cmp_skipping(t, old, new, a, m, r, skip)
    else:
        _cmp(t, old, new, a, m, r)
    if a:
        added[pe] = a
    if m:
        modified[pe] = m
    if r:
        removed[pe] = r


_ADDED_WALK = True
"""Compare a node present on the new side only with :func:`_all_added` (tests turn it
off to check both walks agree)."""


def _all_added(t: Type, new: Any, node: Tree) -> None:
    """``_cmp(t, MISSING, new, node, {}, {})`` without the two trees that stay empty: a
    node only on the new side is added with everything under it (most of an object being
    created, which is compared with its kind's nearly empty zero value)."""
    if _atomic(t) or _empty(new) or not isinstance(new, list | dict):
        node[MEMBER] = {}
        return
    if isinstance(t, ListType):
        for pe, items in _index(t, new).items():
            child: Tree = {}
            if len(items) == 1:
                _all_added(t.item, items[0], child)
            else:
                child[MEMBER] = {}
            node[pe] = child
    else:
        assert isinstance(t, StructType | MapType)
        for name, value in (new if isinstance(new, dict) else {}).items():
            ct, _ = _child_type(t, name)
            child = {}
            _all_added(ct, value, child)
            node["f:" + name] = child
    node[MEMBER] = {}


def _index(t: ListType, items: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        try:
            pe = item_element(t, item)
        except ItemError:
            continue
        out.setdefault(pe, []).append(item)
    return out


def _cmp_list(t: ListType, old: Any, new: Any, added: Tree, modified: Tree, removed: Tree) -> None:
    lv = _index(t, old)
    rv = _index(t, new)
    for pe in list(lv) + [p for p in rv if p not in lv]:
        _list_element(t, pe, lv, rv, added, modified, removed)


def _list_element(
    t: ListType,
    pe: str,
    lv: dict[str, list[Any]],
    rv: dict[str, list[Any]],
    added: Tree,
    modified: Tree,
    removed: Tree,
    skip: Tree | None = None,
) -> None:
    ll = lv.get(pe, [])
    rl = rv.get(pe, [])
    if len(ll) <= 1 and len(rl) <= 1:
        _descend(
            pe,
            t.item,
            ll[0] if ll else MISSING,
            rl[0] if rl else MISSING,
            added,
            modified,
            removed,
            skip,
        )
    elif len(ll) >= 2 and len(rl) >= 2:
        if ll != rl:
            modified.setdefault(pe, {})[MEMBER] = {}
    elif len(ll) >= 2:
        if rl:
            _descend(pe, t.item, MISSING, rl[0], added, modified, removed, skip)
        removed.setdefault(pe, {})[MEMBER] = {}
    else:
        if ll:
            _descend(pe, t.item, ll[0], MISSING, added, modified, removed, skip)
        added.setdefault(pe, {})[MEMBER] = {}


def _same(a: Any, b: Any) -> bool:
    """Value equality as Go's: ``true`` is not ``1``."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return bool(a == b)
