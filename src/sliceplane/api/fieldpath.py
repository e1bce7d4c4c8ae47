"""Sets of field paths, as structured-merge-diff's ``fieldpath.Set`` and its FieldsV1 JSON.

Why: ``metadata.managedFields[].fieldsV1`` records which fields each manager owns, and
server-side apply decides conflicts and removals with set algebra on those records. Upstream
keeps a set as a tree whose every node is one path element (``f:name`` a struct field or map
key, ``k:{"port":80,"protocol":"TCP"}`` a list-map item by its keys, ``v:"x"`` a set item,
``i:3`` a list index) and may itself be a member of the set; FieldsV1 is that tree written
as JSON, a member with children carrying ``".": {}``.

Here the tree *is* the representation, as plain dicts: a node is ``dict[str, node]`` whose
``"."`` key (always present in this canonical form when the node is a member, so an empty
dict is never a member) marks membership. :func:`from_fields_v1` / :func:`to_fields_v1`
convert to and from the wire form (where a member leaf is ``{}``), :func:`to_fields_v1`
ordering keys as upstream serialises them. All functions are pure and never change their
arguments.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = [
    "MEMBER",
    "Tree",
    "difference",
    "element_order",
    "from_fields_v1",
    "index_element",
    "insert",
    "intersection",
    "is_empty",
    "key_element",
    "leaf",
    "member_paths",
    "path_string",
    "recursive_difference",
    "to_fields_v1",
    "union",
    "value_element",
]

Tree = dict[str, Any]
"""A node: path element -> child node; ``"."`` present iff the node is a member."""

MEMBER: Final = "."


def leaf() -> Tree:
    """A member node without children."""
    return {MEMBER: {}}


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)
"""One encoder for every element (``json.dumps`` with options builds one per call)."""


def encode_value(value: Any) -> str:
    """A value as structured-merge-diff writes it in ``k:``/``v:`` elements (Go's JSON)."""
    return _ENCODER.encode(value)


_KEY_ELEMENTS: Final[dict[tuple[Any, ...], str]] = {}
"""``k:`` elements by their key fields (name, type, value): a pod's conditions, ports and
IPs are keyed the same way on every write of it. Bounded by clearing."""


def key_element(keys: Mapping[str, Any]) -> str:
    """``k:{...}``: a list-map item by its key fields, sorted by name."""
    try:
        # The type is part of the key: True == 1, but they encode differently.
        memo: tuple[Any, ...] | None = tuple((k, type(v), v) for k, v in keys.items())
        known = _KEY_ELEMENTS.get(memo)  # type: ignore[arg-type]
    except TypeError:  # a key field holding a list or an object
        memo, known = None, None
    if known is not None:
        return known
    element = "k:" + encode_value(dict(keys))
    if memo is not None:
        if len(_KEY_ELEMENTS) >= 1 << 16:
            _KEY_ELEMENTS.clear()
        _KEY_ELEMENTS[memo] = element
    return element


def value_element(value: Any) -> str:
    """``v:...``: a set item by its value."""
    return "v:" + encode_value(value)


def index_element(index: int) -> str:
    return f"i:{index}"


def is_empty(tree: Tree) -> bool:
    return not tree


def insert(tree: Tree, path: list[str]) -> None:
    """Adds ``path`` as a member (in place: for building a tree one owns)."""
    node = tree
    for pe in path:
        node = node.setdefault(pe, {})
    node[MEMBER] = {}


def union(a: Tree, b: Tree) -> Tree:
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for pe, child in b.items():
        mine = out.get(pe)
        out[pe] = child if mine is None else (mine if pe == MEMBER else union(mine, child))
    return out


def difference(a: Tree, b: Tree) -> Tree:
    """Members of ``a`` that are not members of ``b`` (upstream ``Set.Difference``)."""
    if not a or not b:
        return a
    out: Tree = {}
    for pe, child in a.items():
        other = b.get(pe)
        if other is None:
            out[pe] = child
        elif pe != MEMBER:
            rest = difference(child, other)
            if rest:
                out[pe] = rest
    return out


def recursive_difference(a: Tree, b: Tree) -> Tree:
    """``a`` without every path that is, or lies under, a member of ``b``."""
    if not a or not b:
        return a
    out: Tree = {}
    for pe, child in a.items():
        other = b.get(pe)
        if other is None:
            out[pe] = child
        elif pe == MEMBER or MEMBER in other:
            continue
        else:
            rest = recursive_difference(child, other)
            if rest:
                out[pe] = rest
    return out


def intersection(a: Tree, b: Tree) -> Tree:
    if not a or not b:
        return {}
    out: Tree = {}
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    for pe, child in small.items():
        other = big.get(pe)
        if other is None:
            continue
        if pe == MEMBER:
            out[pe] = {}
            continue
        both = intersection(child, other)
        if both:
            out[pe] = both
    return out


def member_paths(tree: Tree, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every member's path, in serialisation order."""
    for pe in sorted(tree, key=element_order):
        if pe == MEMBER:
            continue
        child = tree[pe]
        path = (*prefix, pe)
        if MEMBER in child:
            yield path
        yield from member_paths(child, path)


def path_string(path: tuple[str, ...]) -> str:
    """A path as upstream's ``fieldpath.Path.String`` prints it in conflict messages:
    ``.spec.replicas``, ``.spec.ports[port=80,protocol="TCP"]``, ``.metadata.finalizers[="x"]``,
    ``.spec.args[0]``."""
    out = []
    for pe in path:
        kind, text = pe[0], pe[2:]
        if kind == "f":
            out.append("." + text)
        elif kind == "k":
            keys = json.loads(text)
            out.append("[" + ",".join(f"{k}={_go_string(v)}" for k, v in keys.items()) + "]")
        elif kind == "v":
            out.append(f"[={_go_string(json.loads(text))}]")
        else:
            out.append(f"[{text}]")
    return "".join(out)


def _go_string(value: Any) -> str:
    """``value.ToString``: strings quoted, numbers and booleans as JSON."""
    return encode_value(value)


_KIND_RANK: Final = {"f": 0, "k": 1, "v": 2, "i": 3}


_ORDERS: Final[dict[str, tuple[int, Any]]] = {}
"""Sort keys of path elements already seen: the same few (``f:metadata``,
``k:{"type":"Ready"}``) are sorted on every write, and a key or value element costs a
JSON parse. Bounded by clearing."""


def element_order(pe: str) -> tuple[int, Any]:
    """Upstream's ``PathElement.Compare`` order: fields, keys, values, indices."""
    known = _ORDERS.get(pe)
    if known is not None:
        return known
    order = _element_order(pe)
    if len(_ORDERS) >= 1 << 16:
        _ORDERS.clear()
    _ORDERS[pe] = order
    return order


def _element_order(pe: str) -> tuple[int, Any]:
    if pe == MEMBER:
        return (-1, "")
    kind = pe[0]
    rank = _KIND_RANK.get(kind, 4)
    if kind == "i":
        return (rank, int(pe[2:]))
    if kind in ("k", "v"):
        return (rank, _value_order(json.loads(pe[2:])))
    return (rank, pe[2:])


def _value_order(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k, _value_order(v)) for k, v in sorted(value.items())]
    if isinstance(value, bool):
        return (2, int(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (3, 0)


def to_fields_v1(tree: Tree) -> dict[str, Any]:
    """The FieldsV1 JSON of a set (a member leaf is ``{}``; ``"."`` first, then upstream's
    order)."""
    out: dict[str, Any] = {}
    for pe in sorted(tree, key=element_order):
        if pe == MEMBER:
            continue
        child = tree[pe]
        if len(child) == 1 and MEMBER in child:
            out[pe] = {}
            continue
        body = to_fields_v1(child)
        out[pe] = {MEMBER: {}, **body} if MEMBER in child else body
    return out


def from_fields_v1(raw: Any) -> Tree:
    """The canonical tree of a FieldsV1 value; raises ``ValueError`` on a malformed one."""
    if not isinstance(raw, dict):
        raise ValueError("FieldsV1 must be a JSON object")
    return _from_node(raw, top=True)


def _from_node(raw: Mapping[str, Any], *, top: bool) -> Tree:
    out: Tree = {}
    for pe, child in raw.items():
        if pe == MEMBER:
            if not top:
                out[MEMBER] = {}
            continue
        if not isinstance(child, dict):
            raise ValueError(f"FieldsV1 node {pe!r} must be a JSON object")
        if len(pe) < 2 or pe[1] != ":" or pe[0] not in _KIND_RANK:
            continue  # upstream skips unknown path element types
        node = _from_node(child, top=False)
        if not child:
            node = {MEMBER: {}}
        out[pe] = node
    return out
