"""PATCH bodies applied the way kube-apiserver applies them.

kubectl never sends whole objects for ``apply`` (second time), ``label``, ``annotate``,
``scale`` or ``edit``: it sends a patch whose content type picks the algorithm.  Getting the
algorithm wrong silently corrupts objects (a merge patch replaces a container list, a strategic
patch that ignores ``$setElementOrder`` reorders env vars), so the three algorithms live here as
pure functions over plain JSON values, with no I/O and no knowledge of storage:

* RFC 7386 JSON merge patch (``application/merge-patch+json``),
* RFC 6902 JSON patch (``application/json-patch+json``) via the ``jsonpatch`` library,
* Kubernetes strategic merge patch (``application/strategic-merge-patch+json``), driven by a
  small per-kind table that records the ``patchStrategy``/``patchMergeKey`` struct tags
  upstream declares in ``k8s.io/api``.

Errors are raised as the ``sliceplane.api.errors`` classes kube-apiserver answers with:

* a JSON patch that cannot be decoded -> 400 BadRequest; one that decodes but fails to apply
  (failed ``test``, missing path, unknown op) -> 422 Invalid with the fixed message
  ``the server rejected our request due to an error in our request`` and the library's
  message as the single cause (upstream ``NewGenericServerResponse(422, ...)``);
* strategic-merge format errors (bad ``$retainKeys``, ``$setElementOrder``,
  ``$deleteFromPrimitiveList``) -> 400 BadRequest, lists of lists -> 422, exactly as upstream's
  ``interpretStrategicMergePatchError``;
* every other strategic-merge failure (missing merge key, unknown ``$patch`` value, element
  type mismatch) -> 400 BadRequest with upstream's message text.  Upstream lets those escape
  as untyped Go errors, which the server reports as 500 with reason ``Unknown`` (kubectl shows
  ``Error from server: map: map[...] does not contain declared merge key: name``); a client
  error is the honest code, and the text is the same.

Server-side apply (``application/apply-patch+yaml``) is recognised by
:func:`patch_content_type`; it is not a patch algorithm over JSON but a merge by field
ownership, in ``apply``.

This module picks the algorithm by content type and is the one import for all three; the
RFC formats live in ``rfcpatch``, the strategic merge in ``strategicpatch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from sliceplane.api.patchmeta import PATCH_META, PatchMeta, PatchStrategy, patch_meta_for
from sliceplane.apiserver.rfcpatch import apply_json_patch, apply_merge_patch, merge_patch_value
from sliceplane.apiserver.strategicpatch import apply_strategic_merge_patch

__all__ = [
    "PATCH_META",
    "PatchMeta",
    "PatchStrategy",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "merge_patch_value",
    "patch_content_type",
    "patch_meta_for",
]

PatchType = Literal["json", "merge", "strategic", "apply"]

_CONTENT_TYPES: Final[Mapping[str, PatchType]] = MappingProxyType(
    {
        "application/json-patch+json": "json",
        "application/merge-patch+json": "merge",
        "application/strategic-merge-patch+json": "strategic",
        "application/apply-patch+yaml": "apply",
    }
)


def patch_content_type(ct: str) -> PatchType | None:
    """Which patch algorithm a ``Content-Type`` header selects (parameters ignored)."""
    media = ct.split(";", 1)[0].strip().lower()
    return _CONTENT_TYPES.get(media)
