"""Kubernetes strategic merge patch (``application/strategic-merge-patch+json``).

Driven by the per-kind ``patchStrategy``/``patchMergeKey`` table (``api.patchmeta``) that
records the struct tags upstream declares in ``k8s.io/api``: lists with a merge key merge
element by element, ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList`` and
``$setElementOrder`` directives work as in ``apimachinery/pkg/util/strategicpatch``, and
the errors carry upstream's texts (``patch`` explains which are 400 and which 422).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from sliceplane.api.errors import BadRequest
from sliceplane.api.patchmeta import META_ONLY, PATCH_META, PatchMeta, PatchStrategy
from sliceplane.api.schema import json_kind
from sliceplane.apiserver.rfcpatch import _rejected

# ---------------------------------------------------------------------------------------------
# Strategic merge patch: the patch-meta table
# ---------------------------------------------------------------------------------------------


_Path = tuple[str, ...]


def _compile(table: Mapping[str, PatchMeta]) -> dict[_Path, PatchMeta]:
    return {tuple(path.split(".")): meta for path, meta in table.items()}


_COMPILED: Final[dict[str, dict[_Path, PatchMeta]]] = {
    kind: _compile(table) for kind, table in PATCH_META.items()
}
_COMPILED_META_ONLY: Final = _compile(META_ONLY)


# ---------------------------------------------------------------------------------------------
# Strategic merge patch: the algorithm
# ---------------------------------------------------------------------------------------------

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_DELETE_PRIMITIVE: Final = "$deleteFromPrimitiveList"
_SET_ORDER: Final = "$setElementOrder"

_ERR_PRIMITIVE_LIST: Final = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS: Final = "invalid patch format of retainKeys"
_ERR_SET_ORDER: Final = "invalid patch format of setElementOrder list"
_ERR_LIST_OF_LISTS: Final = "lists of lists are not supported"


def apply_strategic_merge_patch(original: dict[str, Any], patch: Any, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of ``kind``; inputs are not modified.

    Supported, with upstream's server-side semantics:

    * objects merge key by key; ``null`` deletes a key;
    * lists tagged ``merge`` merge elements by their merge key (objects) or by value
      (primitives, union without duplicates); untagged lists are replaced;
    * ``$patch: replace`` (object or list element) replaces instead of merging,
      ``$patch: delete`` empties an object or removes the list elements with that key;
      ``$patch: merge`` is refused, as upstream refuses it;
    * ``$retainKeys: [...]`` drops every existing key not listed;
    * ``$deleteFromPrimitiveList/<field>: [...]`` removes values from a primitive list;
    * ``$setElementOrder/<field>: [...]`` fixes the order of the merged list; without it
      the patch's order wins for the elements it mentions and new elements go in front of
      elements only the server knew about (upstream's ordering rule).

    Values the patch adds are resolved too (nulls dropped, nested directives applied), so no
    ``$``-keys or nulls ever reach the stored object.
    """
    if not isinstance(patch, dict):
        raise BadRequest(
            f"json: cannot unmarshal {json_kind(patch)} into Go value of type "
            "map[string]interface {}"
        )
    merger = _Merger(_COMPILED.get(kind, _COMPILED_META_ONLY))
    return merger.merge_map(copy.deepcopy(original), copy.deepcopy(patch), ())


def _strategy_error(message: str) -> BadRequest:
    return BadRequest(message)


def _no_merge_key(element: dict[str, Any], key: str) -> BadRequest:
    return BadRequest(f"map: {_go_format(element)} does not contain declared merge key: {key}")


class _Merger:
    """One strategic-merge run over private (already deep-copied) documents."""

    def __init__(self, table: dict[_Path, PatchMeta]) -> None:
        self._table = table

    def _meta(self, path: _Path) -> PatchMeta | None:
        return self._table.get(path)

    # -- objects -------------------------------------------------------------------------------

    def merge_map(
        self, original: dict[str, Any] | None, patch: dict[str, Any], path: _Path
    ) -> dict[str, Any]:
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            if directive == "replace":
                rest = {k: v for k, v in patch.items() if k != _DIRECTIVE}
                return self.merge_map({}, rest, path)
            if directive == "delete":
                return {}
            raise _strategy_error(
                f"unknown patch type: {_go_format(directive)} in map: {_go_format(patch)}"
            )

        result: dict[str, Any] = original if original is not None else {}
        if _RETAIN_KEYS in patch:
            self._apply_retain_keys(result, patch)

        handled: set[str] = set()
        for key, order in patch.items():
            if key.startswith(_SET_ORDER):
                field = _directive_field(key, _SET_ORDER, _ERR_SET_ORDER)
                self._apply_set_order(result, patch, field, order, path)
                handled.add(field)

        deletions: list[tuple[str, Any]] = []
        for key, value in patch.items():
            if key.startswith(_DELETE_PRIMITIVE):
                deletions.append(
                    (_directive_field(key, _DELETE_PRIMITIVE, _ERR_PRIMITIVE_LIST), value)
                )
                continue
            if key.startswith("$") or key in handled:
                continue  # directives are consumed above; unknown ones carry no data
            if value is None:
                result.pop(key, None)
                continue
            child = (*path, key)
            current = result.get(key)
            if current is None:
                result[key] = self._fresh(value, child)
                continue
            _check_same_shape(current, value, child)
            if isinstance(current, dict) and isinstance(value, dict):
                meta = self._meta(child)
                if meta is not None and meta.strategy is PatchStrategy.REPLACE:
                    result[key] = self._fresh(value, child)
                else:
                    result[key] = self.merge_map(current, value, child)
            elif isinstance(current, list) and isinstance(value, list):
                meta = self._meta(child)
                if meta is not None and meta.merges_lists:
                    result[key] = self.merge_list(current, value, child, meta.merge_key)
                else:
                    result[key] = self._fresh(value, child)
            else:
                result[key] = self._fresh(value, child)

        for field, values in deletions:
            self._delete_from_primitive_list(result, field, values)
        return result

    def _fresh(self, value: Any, path: _Path) -> Any:
        """A patch value with nothing to merge into, with its directives resolved."""
        if isinstance(value, dict):
            return self.merge_map({}, value, path)
        if isinstance(value, list):
            meta = self._meta(path)
            if meta is not None and meta.merges_lists:
                return self.merge_list([], value, path, meta.merge_key)
        return value

    def _apply_retain_keys(self, result: dict[str, Any], patch: dict[str, Any]) -> None:
        keep = patch[_RETAIN_KEYS]
        if not isinstance(keep, list):
            raise _strategy_error(_ERR_RETAIN_KEYS)
        allowed = {_ident(k) for k in keep}
        for key, value in patch.items():
            if value is None or key.startswith("$"):
                continue
            if _ident(key) not in allowed:
                raise _strategy_error(_ERR_RETAIN_KEYS)
        for key in [k for k in result if _ident(k) not in allowed]:
            del result[key]

    def _delete_from_primitive_list(self, result: dict[str, Any], field: str, values: Any) -> None:
        if values is None:  # a null is a null: the field goes, as upstream does
            result.pop(field, None)
            return
        if not isinstance(values, list):
            raise _strategy_error(f"expected a []interface {{}}, but received a {_go_type(values)}")
        current = result.get(field)
        if current is None:
            return  # never adds the list
        if not isinstance(current, list) or any(isinstance(v, dict | list) for v in values):
            raise _strategy_error(_ERR_PRIMITIVE_LIST)
        doomed = {_ident(v) for v in values}
        result[field] = [v for v in current if _ident(v) not in doomed]

    def _apply_set_order(
        self,
        result: dict[str, Any],
        patch: dict[str, Any],
        field: str,
        order: Any,
        path: _Path,
    ) -> None:
        if not isinstance(order, list):
            raise _strategy_error(f"expected a []interface {{}}, but received a {_go_type(order)}")
        child = (*path, field)
        meta = self._meta(child)
        merges = meta is not None and meta.merges_lists
        key = meta.merge_key if meta is not None else ""

        in_original = result.get(field) is not None
        in_patch = field in patch
        current = result.get(field)
        incoming = patch.get(field)
        if in_original and not isinstance(current, list):
            raise _strategy_error(
                f"expected a []interface {{}}, but received a {_go_type(current)}"
            )
        if in_patch and not isinstance(incoming, list):
            raise _strategy_error(
                f"expected a []interface {{}}, but received a {_go_type(incoming)}"
            )
        current_list: list[Any] = current if isinstance(current, list) else []
        incoming_list: list[Any] = incoming if isinstance(incoming, list) else []
        _check_order_matches_patch(incoming_list, order, key)

        if not in_original and not in_patch:
            return
        if in_original and not in_patch:
            merged = current_list
        elif merges:
            merged = self.merge_list(list(current_list), incoming_list, child, key)
        else:
            merged = self._fresh(incoming_list, child)

        if any(isinstance(v, dict) for v in merged) and not key:
            result[field] = merged  # no identity to order by
            return
        if key:
            _require_merge_key(order, key)
        result[field] = _ordered(merged, order, current_list, key)

    # -- lists -------------------------------------------------------------------------------

    def merge_list(self, original: list[Any], patch: list[Any], path: _Path, key: str) -> list[Any]:
        if not original and not patch:
            return original
        of_maps = _element_kind(original, patch)
        if not of_maps:
            merged: list[Any] = []
            seen: set[Any] = set()
            for v in (*original, *patch):
                ident = _ident(v)
                if ident not in seen:
                    seen.add(ident)
                    merged.append(v)
            return _ordered(merged, patch, original, "")

        if not key:
            raise _strategy_error("cannot merge lists without merge key for type struct")

        regular: list[dict[str, Any]] = []
        replace = False
        survivors: list[Any] = original
        for element in patch:
            if _DIRECTIVE not in element:
                regular.append(element)
                continue
            directive = element[_DIRECTIVE]
            if directive == "delete":
                if key not in element:
                    raise _no_merge_key(element, key)
                doomed = _ident(element[key])
                survivors = [e for e in survivors if not (key in e and _ident(e[key]) == doomed)]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise _strategy_error("merging lists cannot yet be specified in the patch")
            else:
                raise _strategy_error(
                    f"unknown patch type: {_go_format(directive)} in map: {_go_format(element)}"
                )

        if replace:
            _require_merge_key(regular, key)
            return [self.merge_map({}, e, path) for e in regular]

        merged = list(survivors)
        for element in regular:
            if key not in element:
                raise _no_merge_key(element, key)
            wanted = _ident(element[key])
            for i, existing in enumerate(merged):
                if key in existing and _ident(existing[key]) == wanted:
                    merged[i] = self.merge_map(existing, element, path)
                    break
            else:
                merged.append(self.merge_map({}, element, path))
        _require_merge_key(merged, key)
        return _ordered(merged, regular, survivors, key)


# -- helpers -----------------------------------------------------------------------------------


def _directive_field(key: str, prefix: str, error: str) -> str:
    head, sep, field = key.partition("/")
    if not sep or head != prefix:
        raise _strategy_error(error)
    return field


def _check_same_shape(current: Any, value: Any, path: _Path) -> None:
    """Objects and lists only merge with their own kind.

    Upstream replaces the value and then fails to decode the typed object (a 422); scalars
    may change type freely because int-or-string and quantity fields accept both.
    """
    have, got = json_kind(current), json_kind(value)
    if have != got and ({have, got} & {"object", "array"}):
        raise BadRequest(
            f"json: cannot unmarshal {got} into {'.'.join(path)} of the object, which is "
            f"{'an' if have in ('object', 'array') else 'a'} {have}"
        )


def _element_kind(*lists: list[Any]) -> bool:
    """True for lists of objects, False for primitives; mixtures and nesting are errors."""
    maps = prims = False
    for lst in lists:
        for v in lst:
            if isinstance(v, list):
                raise _rejected(_ERR_LIST_OF_LISTS)
            if isinstance(v, dict):
                maps = True
            else:
                prims = True
    if maps and prims:
        raise _strategy_error("list element types are not identical: " + _go_format(list(lists)))
    return maps


def _require_merge_key(elements: list[Any], key: str) -> None:
    for e in elements:
        if not isinstance(e, dict):
            raise _strategy_error(
                f"expected a map[string]interface {{}}, but received a {_go_type(e)}"
            )
        if key not in e:
            raise _no_merge_key(e, key)


def _check_order_matches_patch(patch_list: list[Any], order: list[Any], key: str) -> None:
    """Every element the patch sets must appear in ``$setElementOrder``, in the same order."""
    if not patch_list or not order:
        return
    pending = [e for e in patch_list if not (isinstance(e, dict) and _DIRECTIVE in e)]
    pi = oi = 0
    while pi < len(pending) and oi < len(order):
        if _same_entry(pending[pi], order[oi], key):
            pi += 1
        oi += 1
    if pi < len(pending):
        raise _strategy_error(
            f"The order in patch list:\n{_go_format(patch_list)}\n doesn't match "
            f"{_SET_ORDER} list:\n{_go_format(order)}\n"
        )


def _same_entry(left: Any, right: Any, key: str) -> bool:
    if not key:
        return _ident(left) == _ident(right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise _strategy_error(
                f"expected a map[string]interface {{}}, but received a {_go_type(side)}"
            )
        if key not in side:
            raise _no_merge_key(side, key)
    return _ident(left[key]) == _ident(right[key])


def _ordered(merged: list[Any], wanted: list[Any], server: list[Any], key: str) -> list[Any]:
    """Order a merged list the way upstream does.

    Elements named by ``wanted`` (the patch list or ``$setElementOrder``) keep that relative
    order; the others keep the server's order; the two runs are interleaved, an element only
    the server had going first when both it and the competing patch element have a position
    in the server's list and the server's comes earlier.
    """

    def ident(v: Any) -> Any:
        return _ident(v[key]) if key else _ident(v)

    wanted_pos: dict[Any, int] = {}
    for i, v in enumerate(wanted):
        wanted_pos.setdefault(ident(v), i)
    server_pos: dict[Any, int] = {}
    for i, v in enumerate(server):
        server_pos.setdefault(ident(v), i)

    from_patch = [v for v in merged if ident(v) in wanted_pos]
    server_only = [v for v in merged if ident(v) not in wanted_pos]
    from_patch.sort(key=lambda v: wanted_pos[ident(v)])
    last = len(server)
    server_only.sort(key=lambda v: server_pos.get(ident(v), last))

    out: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(from_patch):
        li = server_pos.get(ident(server_only[i]))
        rj = server_pos.get(ident(from_patch[j]))
        if li is not None and rj is not None and li < rj:
            out.append(server_only[i])
            i += 1
        else:
            out.append(from_patch[j])
            j += 1
    out.extend(server_only[i:])
    out.extend(from_patch[j:])
    return out


def _ident(value: Any) -> tuple[str, object]:
    """A hashable identity with JSON equality (``true`` is not ``1``, ``1`` is ``1.0``)."""
    if value is None or isinstance(value, str):
        return ("s", value)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    return ("j", json.dumps(value, sort_keys=True, separators=(",", ":")))


def _go_type(value: Any) -> str:
    """``reflect.TypeOf(v)`` for a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _go_format(value: Any) -> str:
    """Go's ``%v`` for a decoded JSON value: ``map[a:1 b:[x y]]``, keys sorted."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{_go_format(value[k])}" for k in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(_go_format(v) for v in value) + "]"
    return str(value)
