"""``metadata`` validation shared by every kind, on create and on update.

Mirrors apimachinery's ``ValidateObjectMeta``/``ValidateObjectMetaUpdate`` plus the
core-group extra finalizer check, with the same field paths (``metadata.name``,
``metadata.labels``, ...) and messages, so a rejected object reads the same as upstream.

Deliberate differences: an empty ``name`` is accepted when ``generateName`` is set
(upstream validates after generating the name; we may be called before); ``managedFields``
are not validated; and updates are not rejected for lacking ``resourceVersion`` (upstream's
store fills it in for unconditional updates before validating, while our registry checks
and stamps it itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sliceplane.api.field import ErrorList, Path
from sliceplane.api.validation import _util as u
from sliceplane.api.validation.names import (
    IS_NEGATIVE_ERROR_MSG,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    name_is_dns_label,
)

NameFunc = Callable[[str, bool], list[str]]
"""``(name, prefix) -> messages``: ``prefix`` is True when checking a generateName."""

TOTAL_ANNOTATION_SIZE_LIMIT_B: Final = 256 * (1 << 10)

FINALIZER_ORPHAN_DEPENDENTS: Final = "orphan"
FINALIZER_DELETE_DEPENDENTS: Final = "foregroundDeletion"
_STANDARD_FINALIZERS: Final = frozenset(
    {"kubernetes", FINALIZER_ORPHAN_DEPENDENTS, FINALIZER_DELETE_DEPENDENTS}
)
_BANNED_OWNERS: Final = frozenset({("", "v1", "Event")})

METADATA: Final = Path("metadata")


# --- labels / annotations -------------------------------------------------------------


def validate_label_name(name: str, path: Path) -> ErrorList:
    return [path.invalid(name, m) for m in is_qualified_name(name)]


def validate_labels(labels: dict[str, str] | None, path: Path) -> ErrorList:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    errs: ErrorList = []
    for k in sorted(labels or {}):
        v = (labels or {})[k]
        errs.extend(validate_label_name(k, path))
        errs.extend(path.invalid(v, m) for m in is_valid_label_value(v))
    return errs


def validate_annotations(annotations: dict[str, str] | None, path: Path) -> ErrorList:
    errs: ErrorList = []
    total = 0
    for k in sorted(annotations or {}):
        # Same rule as label keys except that case does not matter.
        errs.extend(path.invalid(k, m) for m in is_qualified_name(k.lower()))
        total += len(k.encode()) + len((annotations or {})[k].encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        errs.append(path.too_long(TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return errs


# --- owner references / finalizers ----------------------------------------------------


def _split_api_version(api_version: str) -> tuple[str, str]:
    """``schema.ParseGroupVersion``: ``v1`` -> ("", "v1"), ``apps/v1`` -> ("apps", "v1")."""
    if not api_version:
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", ""


def validate_owner_references(refs: list[Any], path: Path) -> ErrorList:
    errs: ErrorList = []
    first_controller = ""
    for _, ref in u.dict_items(refs, path, errs):
        api_version = u.get_str(ref, "apiVersion", path.child("apiVersion"), errs) or ""
        kind = u.get_str(ref, "kind", path.child("kind"), errs) or ""
        name = u.get_str(ref, "name", path.child("name"), errs) or ""
        uid = u.get_str(ref, "uid", path.child("uid"), errs) or ""
        group, version = _split_api_version(api_version)
        if not version:
            errs.append(path.child("apiVersion").invalid(api_version, "version must not be empty"))
        if not kind:
            errs.append(path.child("kind").invalid(kind, "must not be empty"))
        if not name:
            errs.append(path.child("name").invalid(name, "must not be empty"))
        if not uid:
            errs.append(path.child("uid").invalid(uid, "must not be empty"))
        if (group, version, kind) in _BANNED_OWNERS:
            gvk = f"{group}/{version}, Kind={kind}"
            errs.append(path.invalid(ref, f"{gvk} is disallowed from being an owner"))
        if u.get_bool(ref, "controller", path.child("controller"), errs):
            current = f"{kind}/{name}"
            if first_controller:
                errs.append(
                    path.invalid(
                        refs,
                        "Only one reference can have Controller set to true. Found "
                        f'"true" in references for {first_controller} and {current}',
                    )
                )
            else:
                first_controller = current
    return errs


def _validate_kube_finalizer_name(value: str, path: Path) -> ErrorList:
    if len(value.split("/")) == 1 and value not in _STANDARD_FINALIZERS:
        return [
            path.invalid(
                value, "name is neither a standard finalizer name nor is it fully qualified"
            )
        ]
    return []


def validate_finalizer_name(value: str, path: Path) -> ErrorList:
    """Generic qualified-name check plus the core group's standard-name rule."""
    errs = [path.invalid(value, m) for m in is_qualified_name(value)]
    return errs + _validate_kube_finalizer_name(value, path)


def _validate_finalizers(finalizers: list[tuple[int, str]], path: Path) -> ErrorList:
    errs: ErrorList = []
    for _, f in finalizers:
        errs.extend(path.invalid(f, m) for m in is_qualified_name(f))
    names = {f for _, f in finalizers}
    if FINALIZER_ORPHAN_DEPENDENTS in names and FINALIZER_DELETE_DEPENDENTS in names:
        errs.append(
            path.invalid(
                [f for _, f in finalizers],
                f"finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} "
                "cannot be both set",
            )
        )
    return errs


# --- create ---------------------------------------------------------------------------


def _meta_of(obj: dict[str, Any], errs: ErrorList) -> dict[str, Any]:
    return u.get_dict(obj, "metadata", METADATA, errs) or {}


def validate_object_meta(
    obj: dict[str, Any], namespaced: bool, name_fn: NameFunc, path: Path = METADATA
) -> ErrorList:
    """Create-time metadata checks for ``obj`` (the whole object)."""
    errs: ErrorList = []
    meta = _meta_of(obj, errs)
    name = u.get_str(meta, "name", path.child("name"), errs) or ""
    generate_name = u.get_str(meta, "generateName", path.child("generateName"), errs) or ""
    if generate_name:
        errs.extend(
            path.child("generateName").invalid(generate_name, m)
            for m in name_fn(generate_name, True)
        )
    if name:
        errs.extend(path.child("name").invalid(name, m) for m in name_fn(name, False))
    elif not generate_name:
        errs.append(path.child("name").required("name or generateName is required"))

    namespace = u.get_str(meta, "namespace", path.child("namespace"), errs) or ""
    if namespaced:
        if not namespace:
            errs.append(path.child("namespace").required())
        else:
            errs.extend(
                path.child("namespace").invalid(namespace, m)
                for m in name_is_dns_label(namespace, False)
            )
    elif namespace:
        errs.append(path.child("namespace").forbidden("not allowed on this type"))

    errs.extend(_validate_common(meta, path, errs))
    finalizers = _finalizers(meta, path, errs)
    errs.extend(_validate_finalizers(finalizers, path.child("finalizers")))
    for i, f in finalizers:
        errs.extend(_validate_kube_finalizer_name(f, path.child("finalizers").index(i)))
    return errs


def _finalizers(meta: dict[str, Any], path: Path, errs: ErrorList) -> list[tuple[int, str]]:
    items = u.get_list(meta, "finalizers", path.child("finalizers"), errs) or []
    return u.str_items(items, path.child("finalizers"), errs)


def _validate_common(meta: dict[str, Any], path: Path, errs: ErrorList) -> ErrorList:
    """Checks shared by create and update (labels, annotations, owners, generation)."""
    out: ErrorList = []
    generation = u.get_int(meta, "generation", path.child("generation"), errs)
    if generation is not None and generation < 0:
        out.append(path.child("generation").invalid(generation, IS_NEGATIVE_ERROR_MSG))
    out.extend(
        validate_labels(
            u.get_str_map(meta, "labels", path.child("labels"), errs), path.child("labels")
        )
    )
    out.extend(
        validate_annotations(
            u.get_str_map(meta, "annotations", path.child("annotations"), errs),
            path.child("annotations"),
        )
    )
    refs = u.get_list(meta, "ownerReferences", path.child("ownerReferences"), errs)
    if refs:
        out.extend(validate_owner_references(refs, path.child("ownerReferences")))
    return out


# --- update ---------------------------------------------------------------------------


def validate_object_meta_update(
    new: dict[str, Any], old: dict[str, Any], path: Path = METADATA
) -> ErrorList:
    """Update-time metadata checks: identity fields are immutable."""
    errs: ErrorList = []
    nm = _meta_of(new, errs)
    om = old.get("metadata") if isinstance(old.get("metadata"), dict) else {}
    assert isinstance(om, dict)

    new_finalizers = _finalizers(nm, path, errs)
    if om.get("deletionTimestamp"):
        old_f = om.get("finalizers") if isinstance(om.get("finalizers"), list) else []
        assert isinstance(old_f, list)
        extra = sorted({f for _, f in new_finalizers} - {f for f in old_f if isinstance(f, str)})
        if extra:
            listed = ", ".join(f'"{f}"' for f in extra)
            errs.append(
                path.child("finalizers").forbidden(
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers []string{{{listed}}}"
                )
            )

    new_gen = nm.get("generation")
    old_gen = om.get("generation")
    if (
        isinstance(new_gen, int)
        and isinstance(old_gen, int)
        and not isinstance(new_gen, bool)
        and new_gen < old_gen
    ):
        errs.append(path.child("generation").invalid(new_gen, "must not be decremented"))

    for key in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        errs.extend(u.immutable(nm.get(key), om.get(key), path.child(key)))

    errs.extend(_validate_common(nm, path, errs))
    for i, f in new_finalizers:
        errs.extend(_validate_kube_finalizer_name(f, path.child("finalizers").index(i)))
    return errs


def validate_subdomain_value(value: str, path: Path) -> ErrorList:
    return [path.invalid(value, m) for m in is_dns1123_subdomain(value)]
