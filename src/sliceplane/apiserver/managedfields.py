"""``metadata.managedFields``: who set which field, kept on every write as kube-apiserver keeps it.

Why: ``kubectl get --show-managed-fields``, server-side apply's conflicts and removals, and
every tool that reads ownership (GitOps controllers, Helm 4) rely on these records. Upstream
computes them in its field manager (``k8s.io/apimachinery/pkg/util/managedfields``); this
module is the same behaviour as pure functions:

* an entry per manager identity: ``manager``, ``operation`` (``Update`` or ``Apply``),
  ``subresource`` and, for Update, ``apiVersion`` (appliers keep one entry across versions);
* an Update (create, PUT, JSON/merge/strategic patch, status and scale writes) compares the
  live object with the new one (``fieldsets.compare``): the manager gains what it added or
  modified, every manager loses what was removed, and other managers lose what this one
  changed (an Update always forces). Its ``time`` moves only when it gained fields;
* fields the write's strategy resets (``status`` on the main resource, ``spec`` on
  ``/status``, ...) are never recorded; nor are ``apiVersion``, ``kind`` and the
  server-owned metadata (upstream's strip set);
* a request's own ``managedFields`` replace the live ones (how kubectl migrates client-side
  apply ownership), ``[{}]`` clears them, and an empty or invalid list keeps the live ones;
* at most ten Update entries are kept: older ones fold into ``ancient-changes``;
* entries are written sorted as upstream sorts them (operation, time, manager, version).

Callers pass plain objects; nothing here does I/O or changes its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import msgspec

from sliceplane.api.fieldpath import (
    MEMBER,
    Tree,
    difference,
    from_fields_v1,
    recursive_difference,
    to_fields_v1,
    union,
)
from sliceplane.api.fieldsets import Comparison, compare
from sliceplane.api.fieldtypes import StructType, skeleton

__all__ = [
    "APPLY",
    "STRIP",
    "UPDATE",
    "Entry",
    "Identity",
    "decode",
    "encode",
    "identity",
    "ignored_fields",
    "manager_from_user_agent",
    "record_update",
    "starting_entries",
    "update_entries",
    "with_skeleton",
]

_encode = msgspec.json.encode

UPDATE: Final = "Update"
APPLY: Final = "Apply"
MAX_UPDATE_MANAGERS: Final = 10
ANCIENT: Final = "ancient-changes"
MAX_MANAGER_LENGTH: Final = 128

# upstream's stripMetaManager: never owned by anyone.
STRIP: Final[Tree] = {
    "f:apiVersion": {MEMBER: {}},
    "f:kind": {MEMBER: {}},
    "f:metadata": {
        MEMBER: {},
        **{
            f"f:{name}": {MEMBER: {}}
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "clusterName",
                "generation",
                "managedFields",
                "resourceVersion",
            )
        },
    },
}


def _paths(*paths: tuple[str, ...]) -> Tree:
    out: Tree = {}
    for path in paths:
        node = out
        for name in path:
            node = node.setdefault("f:" + name, {})
        node[MEMBER] = {}
    return out


# The registry strategies' GetResetFields (pkg/registry/*/strategy.go at the pinned version).
_RESET_MAIN: Final = _paths(("status",))
_RESET_STATUS: Final[Mapping[str, Tree]] = {
    "pods": _paths(("spec",), ("metadata", "deletionTimestamp"), ("metadata", "ownerReferences")),
    "deployments": _paths(("spec",), ("metadata", "labels")),
}
_WITH_STATUS: Final = frozenset(
    {"pods", "services", "deployments", "replicasets", "nodes", "namespaces"}
)


def ignored_fields(resource: str, subresource: str) -> Tree:
    """What a write to ``resource``/``subresource`` never records (its reset fields)."""
    if subresource == "status":
        return _RESET_STATUS.get(resource, _paths(("spec",)))
    if subresource == "" and resource in _WITH_STATUS:
        return _RESET_MAIN
    return {}


@dataclass(frozen=True, slots=True)
class Identity:
    """What makes two entries one: upstream's manager identifier."""

    manager: str
    operation: str
    api_version: str
    subresource: str


@dataclass(frozen=True, slots=True)
class Entry:
    identity: Identity
    api_version: str
    time: str | None
    fields: Tree


def manager_from_user_agent(user_agent: str) -> str:
    """Upstream's ``prefixFromUserAgent``: the User-Agent up to its first ``/``, at most 128
    characters (``kubectl/v1.37.1 (linux/amd64) kubernetes/...`` -> ``kubectl``)."""
    return user_agent.split("/", 1)[0][:MAX_MANAGER_LENGTH]


def identity(manager: str, operation: str, api_version: str, subresource: str) -> Identity:
    return Identity(manager, operation, "" if operation == APPLY else api_version, subresource)


class _Decoded:
    """Entries already decoded, by the encoding of their ``managedFields`` item.

    Why: every write decodes the live object's entries and the request's (FieldsV1 JSON
    into trees), and most of them are the same few entries again (the store even shares
    identical entries among objects, ``storage.interning``): encoding an item is a fraction
    of parsing its FieldsV1. Trees are never changed in place, so sharing them is safe.
    Bounded by clearing.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: dict[bytes, Entry] = {}
        self._max = max_entries

    def get(self, key: bytes) -> Entry | None:
        return self._entries.get(key)

    def put(self, key: bytes, entry: Entry) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = entry


_decoded = _Decoded()


def decode(raw: Any) -> list[Entry] | None:
    """The entries of a ``managedFields`` value; None when it does not decode (upstream then
    falls back to the live object's)."""
    if not isinstance(raw, list):
        return None
    out: list[Entry] = []
    for item in raw:
        if not isinstance(item, dict):
            return None
        try:
            key = _encode(item)
        except (msgspec.EncodeError, TypeError, OverflowError):  # not JSON: not an entry
            return None
        known = _decoded.get(key)
        if known is not None:
            out.append(known)
            continue
        entry = _decode_entry(item)
        if entry is None:
            return None
        _decoded.put(key, entry)
        out.append(entry)
    return out


def _decode_entry(item: dict[str, Any]) -> Entry | None:
    try:
        fields = from_fields_v1(item.get("fieldsV1", {}))
    except ValueError:
        return None
    if item.get("fieldsType") != "FieldsV1":
        return None
    manager = item.get("manager", "")
    operation = item.get("operation", "")
    api_version = item.get("apiVersion", "")
    subresource = item.get("subresource", "")
    time = item.get("time")
    if not all(isinstance(v, str) for v in (manager, operation, api_version, subresource)):
        return None
    # upstream keeps only "applied or not" and writes anything else back as Update
    operation = APPLY if operation == APPLY else UPDATE
    return Entry(
        identity(manager, operation, api_version, subresource),
        api_version,
        time if isinstance(time, str) else None,
        fields,
    )


class _Encoded:
    """FieldsV1 values already built, by field-set tree (identity: trees are never changed
    in place, and an entry another manager's write left alone keeps its tree). Every write
    encodes every entry of the object, most of them unchanged. The values are shared among
    the objects that hold them (stored objects are read-only). Bounded by clearing."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._by_id: dict[int, tuple[Tree, dict[str, Any]]] = {}
        self._max = max_entries

    def fields_v1(self, tree: Tree) -> dict[str, Any]:
        hit = self._by_id.get(id(tree))
        if hit is not None and hit[0] is tree:
            return hit[1]
        value = to_fields_v1(tree)
        if len(self._by_id) >= self._max:
            self._by_id.clear()
        self._by_id[id(tree)] = (tree, value)
        return value


_encoded = _Encoded()


def encode(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """The ``managedFields`` value, sorted as upstream's ``sortEncodedManagedFields``."""
    ordered = sorted(
        entries,
        key=lambda e: (
            e.identity.operation,
            e.time or "",
            e.identity.manager,
            e.api_version,
            e.identity.subresource,
        ),
    )
    out = []
    for e in ordered:
        item: dict[str, Any] = {
            "manager": e.identity.manager,
            "operation": e.identity.operation,
            "apiVersion": e.api_version,
        }
        if e.time is not None:
            item["time"] = e.time
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = _encoded.fields_v1(e.fields)
        if e.identity.subresource:
            item["subresource"] = e.identity.subresource
        out.append(item)
    return out


def starting_entries(
    live: Mapping[str, Any] | None, new: Mapping[str, Any], subresource: str
) -> list[Entry]:
    """Upstream's ``decodeLiveOrNew``: a subresource write keeps the live entries; otherwise
    the request's own entries win unless they are empty or invalid, and ``[{}]`` resets."""
    live_raw = (live or {}).get("metadata", {}).get("managedFields")
    live_entries = (decode(live_raw) if live_raw is not None else None) or []
    if subresource:
        return live_entries
    raw = (new.get("metadata") or {}).get("managedFields")
    if isinstance(raw, list) and len(raw) == 1 and raw[0] == {}:
        return []
    mine = decode(raw) if raw is not None else None
    if not mine:
        return live_entries
    return mine


def with_skeleton(kind: str, obj: Any) -> Any:
    """``obj`` as Go would present it: the kind's zero-value fields filled in where absent
    (a shallow overlay, copying only the dicts it fills)."""
    return _overlay(skeleton(kind), obj)


def _overlay(skel: Any, obj: Any) -> Any:
    if not isinstance(skel, dict) or not isinstance(obj, dict):
        return obj
    out = None
    for key, value in skel.items():
        if key not in obj:
            if out is None:
                out = dict(obj)
            out[key] = value
        elif isinstance(value, dict) and value and isinstance(obj[key], dict):
            merged = _overlay(value, obj[key])
            if merged is not obj[key]:
                if out is None:
                    out = dict(obj)
                out[key] = merged
    return obj if out is None else out


def record_update(
    t: StructType,
    kind: str,
    live: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    entries: list[Entry],
    manager: str,
    api_version: str,
    subresource: str,
    ignored: Tree,
    now: str,
) -> list[Entry]:
    """The entries after ``manager`` turned ``live`` (None: a create) into ``new``."""
    old = with_skeleton(kind, live) if live is not None else skeleton(kind)
    # What the write never records is not compared either (update_entries drops it).
    c = compare(t, old, with_skeleton(kind, new), ignored)
    # Upstream's scale handler rebuilds the entry of a /scale write without its time.
    when = None if subresource == "scale" else now
    me = identity(manager, UPDATE, api_version, subresource)
    return update_entries(c, entries, me, api_version, ignored, when)


def update_entries(
    c: Comparison,
    entries: list[Entry],
    me: Identity,
    api_version: str,
    ignored: Tree,
    now: str | None,
) -> list[Entry]:
    """Upstream's ``Updater.update`` (forced) followed by the managed-fields updater."""
    if ignored:
        added = recursive_difference(c.added, ignored)
        modified = recursive_difference(c.modified, ignored)
        removed = recursive_difference(c.removed, ignored)
    else:
        added, modified, removed = c.added, c.modified, c.removed
    changed = union(added, modified)
    out: list[Entry] = []
    previous: Entry | None = None
    for e in entries:
        fields = e.fields
        if changed:
            fields = difference(fields, changed)
        if removed:
            fields = difference(fields, removed)
        if e.identity == me:
            previous = replace(e, fields=fields)
            continue
        if fields:
            out.append(e if fields is e.fields else replace(e, fields=fields))
    mine = difference(changed, STRIP)
    if mine:
        base = previous.fields if previous is not None else {}
        out.append(Entry(me, api_version, now, union(base, mine)))
    elif previous is not None and previous.fields:
        out.append(previous)
    return _cap(out)


def _cap(entries: list[Entry]) -> list[Entry]:
    """Upstream's capManagers: beyond ten Update entries, the oldest merge into one."""
    updates = [e for e in entries if e.identity.operation == UPDATE]
    if len(updates) <= MAX_UPDATE_MANAGERS:
        return entries
    updates.sort(key=lambda e: e.time or "")
    extra = len(updates) - MAX_UPDATE_MANAGERS + 1
    oldest = updates[:extra]
    drop = {id(e) for e in oldest}
    merged: Tree = {}
    for e in oldest:
        merged = union(merged, e.fields)
    last = oldest[-1]
    ancient = Entry(
        identity(ANCIENT, UPDATE, last.api_version, ""), last.api_version, last.time, merged
    )
    kept = [e for e in entries if id(e) not in drop and e.identity != ancient.identity]
    prior = next((e for e in entries if e.identity == ancient.identity), None)
    if prior is not None:
        ancient = replace(ancient, fields=union(prior.fields, merged))
    return [*kept, ancient]
