"""Server-side apply (``application/apply-patch+yaml``), as kube-apiserver's field manager does it.

Why: ``kubectl apply --server-side``, Helm 4, GitOps controllers and Terraform declare the
fields they want and let the server merge them with everyone else's. The behaviour is
structured-merge-diff's ``Updater.Apply`` plus the field manager's wrappers, as pure
functions over plain objects:

* the configuration merges into the live object by the served types' rules
  (:func:`merge`): structs and granular maps key by key, list-maps by their keys and sets by
  value (upstream's order of items), atomic values replaced whole;
* the applier's entry becomes exactly what it applied (``fieldsets.field_set``);
* fields it applied last time and no longer applies are removed, unless another manager
  owns them or something under them (:func:`_remove`);
* changing a field another manager owns is a conflict (409, upstream's message and
  ``FieldManagerConflict`` causes) unless ``force``, which takes it over; fields the apply
  removed leave every owner;
* for the manager ``kubectl``, conflicts on fields whose live values equal the object's
  client-side ``last-applied-configuration`` are forced (the client-side to server-side
  migration), and that annotation, when present, is rewritten to the applied configuration.

The caller (``registry``) decodes the body, checks it, and stores the result through its
normal update or create path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from sliceplane.api import errors
from sliceplane.api.field import ErrorList, Path
from sliceplane.api.fieldpath import (
    MEMBER,
    Tree,
    difference,
    element_order,
    intersection,
    path_string,
    recursive_difference,
    union,
)
from sliceplane.api.fieldsets import MISSING, ItemError, compare, field_set, item_element
from sliceplane.api.fieldtypes import LEAF, ListType, MapType, StructType, Type, skeleton
from sliceplane.api.resources import ResourceInfo
from sliceplane.api.schema import check, definition_key
from sliceplane.apiserver.managedfields import (
    APPLY,
    STRIP,
    Entry,
    Identity,
    identity,
    with_skeleton,
)

__all__ = [
    "LAST_APPLIED",
    "ApplyOutcome",
    "apply",
    "check_config",
    "check_known_fields",
    "check_patch_options",
    "conflict_error",
    "merge",
]

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
KUBECTL: Final = "kubectl"


@dataclass(slots=True)
class ApplyOutcome:
    obj: dict[str, Any]
    entries: list[Entry]
    changed: bool


class Conflicts(Exception):
    """Fields another manager owns, as (manager identity, path) pairs."""

    def __init__(self, pairs: list[tuple[Identity, tuple[str, ...]]]) -> None:
        super().__init__(f"{len(pairs)} conflicts")
        self.pairs = pairs


# --------------------------------------------------------------------------- merge


def merge(t: Type, live: Any, config: Any) -> Any:
    """``live.Merge(config)``: the configuration's values win, granular containers union."""
    if config is MISSING:
        return live
    if live is MISSING:
        live_empty = True
    else:
        live_empty = live is None or (isinstance(live, dict | list) and not live)
    config_empty = config is None or (isinstance(config, dict | list) and not config)
    if t is LEAF or (live_empty and config_empty):
        return config
    if isinstance(t, ListType):
        if t.relationship == "atomic" or not isinstance(config, list | type(None)):
            return config
        return _merge_list(t, live if isinstance(live, list) else [], config or [])
    assert isinstance(t, StructType | MapType)
    if t.atomic or not isinstance(config, dict | type(None)):
        return config
    lo = live if isinstance(live, dict) else {}
    ro = config or {}
    out: dict[str, Any] = {}
    for key in (*lo, *(k for k in ro if k not in lo)):
        ct = t.value if isinstance(t, MapType) else t.fields.get(key, LEAF)
        merged = merge(ct, lo.get(key, MISSING), ro.get(key, MISSING))
        if merged is not MISSING:
            out[key] = merged
    return out


def _pes(t: ListType, items: list[Any], *, duplicates: bool) -> tuple[list[str], dict[str, Any]]:
    pes: list[str] = []
    seen: dict[str, Any] = {}
    for item in items:
        try:
            pe = item_element(t, item)
        except ItemError as exc:
            raise errors.BadRequest(f"failed to merge config: {exc}") from None
        if pe in seen:
            if not duplicates:
                raise errors.BadRequest(f"failed to merge config: duplicate entries for key {pe}")
            seen[pe] = MISSING
        else:
            seen[pe] = item
        pes.append(pe)
    return pes, seen


def _merge_list(t: ListType, lhs: list[Any], rhs: list[Any]) -> list[Any]:
    """Upstream's associative merge order: live items keep their places, shared items follow
    the configuration's order, new items come where the configuration puts them."""
    rpes, robs = _pes(t, rhs, duplicates=False)
    lpes, lobs = _pes(t, lhs, duplicates=True)
    shared = [pe for pe in rpes if pe in lobs]
    next_shared = shared.pop(0) if shared else None
    done: set[str] = set()
    out: list[Any] = []

    def item(pe: str, lv: Any, rv: Any) -> None:
        merged = merge(t.item, MISSING if lv is None else lv, rv)
        if merged is not MISSING:
            out.append(merged)

    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                done.add(pe)
                item(pe, lobs.get(pe), robs[pe])
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in robs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in robs:
                if lobs.get(pe) is not MISSING:
                    out.append(lhs[li])
                li += 1
                continue
            if pe in done:
                li += 1
        if ri < len(rpes):
            pe = rpes[ri]
            done.add(pe)
            item(pe, lobs.get(pe), robs[pe])
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


def _go_nulls(t: Type, value: Any) -> Any:
    """The merged object as it comes back from Go structs: a ``null`` struct field is the
    zero value, omitted (and defaulted later) except a time, which Go writes as ``null``;
    a ``null`` in a map of strings is ``""``."""
    if isinstance(t, ListType):
        if t.relationship == "atomic" or not isinstance(value, list):
            return value
        return [_go_nulls(t.item, item) for item in value]
    if not isinstance(t, StructType | MapType) or not isinstance(value, dict):
        return value
    if isinstance(t, MapType):
        if t.value is LEAF:
            return {k: "" if v is None else v for k, v in value.items()}
        return {k: _go_nulls(t.value, v) for k, v in value.items()}
    out = {}
    for name, child in value.items():
        if (
            child is None
            and name in t.fields
            and name not in t.times
            and not isinstance(t.fields[name], ListType)
        ):
            continue
        out[name] = _go_nulls(t.fields.get(name, LEAF), child)
    return out


# --------------------------------------------------------------------------- removal


def _remove(t: Type, value: Any, remove: Tree, keep: Tree) -> Any:
    """``value`` without the members of ``remove`` that nobody keeps (a removed node goes
    with everything under it unless something under it is kept)."""
    if not remove or t is LEAF:
        return value
    if isinstance(t, ListType):
        if t.relationship == "atomic" or not isinstance(value, list):
            return value
        out_list = []
        for item in value:
            try:
                pe = item_element(t, item)
            except ItemError:
                out_list.append(item)
                continue
            kept = _kept(t.item, item, pe, remove, keep)
            if kept is not MISSING:
                out_list.append(kept)
        return out_list
    assert isinstance(t, StructType | MapType)
    if t.atomic or not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name, child in value.items():
        ct = t.value if isinstance(t, MapType) else t.fields.get(name, LEAF)
        kept = _kept(ct, child, "f:" + name, remove, keep)
        if kept is not MISSING:
            out[name] = kept
    return out


def _kept(t: Type, value: Any, pe: str, remove: Tree, keep: Tree) -> Any:
    rnode = remove.get(pe)
    if rnode is None:
        return value
    knode = keep.get(pe, {})
    # A removed node stays only if someone keeps it: as a member, or, for a named field
    # (upstream's EnsureNamedFieldsAreMembers), through something they own under it. A list
    # item somebody only owns fields of goes whole, as upstream's RemoveItems does.
    if MEMBER in rnode and MEMBER not in knode and (not knode or not pe.startswith("f:")):
        return MISSING
    out = _remove(t, value, rnode, knode)
    if isinstance(out, dict | list) and not out and value:
        # emptied by the removal: Go's omitempty drops it on the way back from the typed form
        return MISSING
    return out


# --------------------------------------------------------------------------- apply


def apply(
    t: StructType,
    kind: str,
    live: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    entries: list[Entry],
    manager: str,
    api_version: str,
    ignored: Tree,
    now: str,
    *,
    force: bool,
    subresource: str = "",
) -> ApplyOutcome:
    """Applies ``config`` for ``manager``; raises ``errors.Conflict`` on conflicts."""
    me = identity(manager, APPLY, api_version, subresource)
    try:
        return _apply(t, kind, live, config, entries, me, api_version, ignored, now, force)
    except Conflicts as first:
        if manager != KUBECTL or live is None:
            raise conflict_error(first.pairs) from None
        allowed = _allowed_by_last_applied(t, kind, live, api_version)
        if allowed is None:
            raise conflict_error(first.pairs) from None
        rest = [(m, p) for m, p in first.pairs if not _has(allowed, p)]
        if rest:
            raise conflict_error(rest) from None
        return _apply(t, kind, live, config, entries, me, api_version, ignored, now, True)


def _apply(
    t: StructType,
    kind: str,
    live: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    entries: list[Entry],
    me: Identity,
    api_version: str,
    ignored: Tree,
    now: str,
    force: bool,
) -> ApplyOutcome:
    old = with_skeleton(kind, live) if live is not None else skeleton(kind)
    merged = _go_nulls(t, merge(t, old, config))
    mine = recursive_difference(field_set(t, config), ignored)
    last: Tree = {}
    previous: Entry | None = None
    others: list[Entry] = []
    for e in entries:
        if e.identity == me:
            previous = e
            last = e.fields
        else:
            others.append(e)
    if last:
        keep = mine
        for e in others:
            keep = union(keep, e.fields)
        gone = difference(last, keep)
        if gone:
            merged = _remove(t, merged, gone, keep)
    c = compare(t, old, merged)
    changed_fields = recursive_difference(union(c.added, c.modified), ignored)
    removed = recursive_difference(c.removed, ignored)
    pairs: list[tuple[Identity, tuple[str, ...]]] = []
    after: list[Entry] = []
    for e in others:
        clash = intersection(e.fields, changed_fields)
        if clash:
            pairs.extend((e.identity, p) for p in _iterate(clash))
        fields = difference(difference(e.fields, clash), removed) if clash or removed else e.fields
        if fields:
            after.append(e if fields is e.fields else replace(e, fields=fields))
    if pairs and not force:
        raise Conflicts(pairs)
    changed = merged != old
    mine = difference(mine, STRIP)
    if mine:
        when = now if changed else (previous.time if previous is not None else None)
        after.append(Entry(me, api_version, when, mine))
    result = merged if isinstance(merged, dict) else {}
    if me.manager == KUBECTL and LAST_APPLIED in (
        (result.get("metadata") or {}).get("annotations") or {}
    ):
        result = _with_last_applied(result, config)
    return ApplyOutcome(result, after, changed)


def _iterate(tree: Tree, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Upstream's ``Set.Iterate`` order: a node's members, then its children's paths."""
    keys = sorted((k for k in tree if k != MEMBER), key=element_order)
    out = [(*prefix, k) for k in keys if MEMBER in tree[k]]
    for k in keys:
        children = {pe: v for pe, v in tree[k].items() if pe != MEMBER}
        if children:
            out.extend(_iterate(children, (*prefix, k)))
    return out


def _has(tree: Tree, path: tuple[str, ...]) -> bool:
    node = tree
    for pe in path:
        found = node.get(pe)
        if found is None:
            return False
        node = found
    return MEMBER in node


def _allowed_by_last_applied(
    t: StructType, kind: str, live: Mapping[str, Any], api_version: str
) -> Tree | None:
    """Fields of the client-side last-applied configuration whose live values equal it."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    fields = field_set(t, last)
    c = compare(t, last, with_skeleton(kind, live))
    return difference(difference(difference(fields, c.modified), c.added), c.removed)


def _with_last_applied(obj: dict[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The annotation rewritten to the applied configuration, encoded as Go's JSON encoder
    writes it (sorted keys, HTML characters escaped, a final newline)."""
    applied = json.loads(json.dumps(config))
    ann = (applied.get("metadata") or {}).get("annotations")
    if isinstance(ann, dict):
        ann.pop(LAST_APPLIED, None)
    text = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    meta = dict(obj["metadata"])
    meta["annotations"] = {**meta["annotations"], LAST_APPLIED: text + "\n"}
    return {**obj, "metadata": meta}


def conflict_error(pairs: list[tuple[Identity, tuple[str, ...]]]) -> errors.Conflict:
    """Upstream's ``NewConflictError``: one cause per field, the message grouped by manager."""
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {_manager_text(m)}",
            "field": path_string(p),
        }
        for m, p in pairs
    ]
    if len(pairs) == 1:
        m, p = pairs[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {_manager_text(m)}: {path_string(p)}"
        )
    else:
        by: dict[str, list[str]] = {}
        order: dict[str, Identity] = {}
        for m, p in pairs:
            key = _identifier(m)
            by.setdefault(key, []).append(path_string(p))
            order[key] = m
        lines = []
        for key in sorted(by):
            lines.append(f"conflicts with {_manager_text(order[key])}:")
            lines.extend(f"- {p}" for p in by[key])
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, {"causes": causes})


def _identifier(m: Identity) -> str:
    """The manager identifier upstream sorts by (the entry's JSON without fields and time)."""
    d: dict[str, str] = {"manager": m.manager, "operation": m.operation}
    if m.api_version:
        d["apiVersion"] = m.api_version
    if m.subresource:
        d["subresource"] = m.subresource
    return json.dumps(d, separators=(",", ":"))


def _manager_text(m: Identity) -> str:
    text = json.dumps(m.manager)
    if m.subresource:
        text += f" with subresource {json.dumps(m.subresource)}"
    if m.operation == "Update":
        text += f" using {m.api_version}"
    return text


def check_patch_options(patch_type: str, field_manager: str | None, force: str | None) -> bool:
    """Upstream's ``ValidatePatchOptions`` for what apply adds: an apply needs a
    ``fieldManager``, only an apply may say ``force``. Returns ``force``."""
    errs = ErrorList()
    if patch_type == "apply":
        if not field_manager:
            errs.append(Path("fieldManager").required("is required for apply patch"))
    elif force is not None:
        errs.append(Path("force").forbidden("may not be specified for non-apply patch"))
    if errs:
        raise errors.Invalid("PatchOptions", "meta.k8s.io", "", errs)
    if force is None:
        return False
    if force.lower() not in ("true", "false", "1", "0", "t", "f"):
        raise errors.BadRequest(f'strconv.ParseBool: parsing "{force}": invalid syntax')
    return force.lower() in ("true", "1", "t")


def check_config(
    config: Any, group: str, version: str, kind: str, namespace: str, name: str
) -> dict[str, Any]:
    """The applied configuration's own checks (version check, no managedFields)."""
    if not isinstance(config, dict):
        raise errors.BadRequest("error decoding patch: the patch is not a JSON or YAML object")
    api_version = config.get("apiVersion")
    body_kind = config.get("kind")
    gv = api_version if isinstance(api_version, str) else ""
    bgroup, _, bversion = gv.rpartition("/")
    if (bgroup, bversion, body_kind) != (group, version, kind):
        shown_kind = body_kind if isinstance(body_kind, str) else ""
        raise errors.BadRequest(f"invalid object type: {bgroup}/{bversion}, Kind={shown_kind}")
    meta = config.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")
    return config


def check_known_fields(info: ResourceInfo, t: StructType, config: Mapping[str, Any]) -> None:
    """Upstream converts the configuration to its typed form first: a field the schema does
    not declare, or a list-map key given twice, fails that conversion whatever
    ``fieldValidation`` says. Upstream answers 500 InternalError; the same message as a 400
    here (docs/upstream-differences.md)."""
    key = definition_key(info.group, info.version, info.kind)
    what = None
    if key is not None:
        res = check(key, config)
        if res.unknown:
            what = f".{res.unknown[0]}: field not declared in schema"
        elif res.type_errors:
            what = res.type_errors[0]
    if what is None:
        what = _duplicate_item(t, config, ())
    if what is None:
        return
    meta = config.get("metadata")
    namespace = meta.get("namespace", "") if isinstance(meta, dict) else ""
    name = meta.get("name", "") if isinstance(meta, dict) else ""
    raise errors.BadRequest(
        f"failed to create typed patch object ({namespace}/{name}; "
        f"{info.group}/{info.version}, Kind={info.kind}): {what}"
    )


def _duplicate_item(t: Type, value: Any, path: tuple[str, ...]) -> str | None:
    """``.spec.ports: duplicate entries for key [port=5,protocol="TCP"]`` for the first
    associative list that repeats an item, or None."""
    if isinstance(t, ListType):
        if t.relationship == "atomic" or not isinstance(value, list):
            return None
        seen: set[str] = set()
        for item in value:
            try:
                pe = item_element(t, item)
            except ItemError:
                continue
            if pe in seen:
                return f"{path_string(path)}: duplicate entries for key {path_string((pe,))}"
            seen.add(pe)
            found = _duplicate_item(t.item, item, (*path, pe))
            if found is not None:
                return found
        return None
    if isinstance(t, StructType | MapType) and not t.atomic and isinstance(value, dict):
        for name, child in value.items():
            ct = t.value if isinstance(t, MapType) else t.fields.get(name, LEAF)
            found = _duplicate_item(ct, child, (*path, "f:" + name))
            if found is not None:
                return found
    return None
