"""The two RFC patch formats, as kube-apiserver applies them to an object.

RFC 7386 JSON merge patch (``application/merge-patch+json``) and RFC 6902 JSON patch
(``application/json-patch+json``, applied with the ``jsonpatch`` library), pure functions
over plain JSON values. Failures are upstream's: a body that does not decode is a 400
with Go's decoder wording, too many JSON patch operations a 413, and an operation that
fails to apply a 422 whose single cause is the library's message (``patch`` has the whole
story, ``strategicpatch`` the Kubernetes-specific algorithm).
"""

from __future__ import annotations

import copy
from typing import Any, Final

import jsonpatch
import jsonpointer

from sliceplane.api.errors import BadRequest, Invalid, RequestEntityTooLarge, StatusError
from sliceplane.api.schema import json_kind

# ---------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch
# ---------------------------------------------------------------------------------------------


def merge_patch_value(target: Any, patch: Any) -> Any:
    """RFC 7386 ``MergePatch(Target, Patch)`` over any JSON values; inputs are not modified."""
    return _merge_owned(copy.deepcopy(target), patch)


def _merge_owned(target: Any, patch: Any, *, share: bool = False) -> Any:
    """RFC 7386 on a target this call may modify; patch values are copied, never shared,
    unless ``share`` (the patch too is the caller's to give away)."""
    if not isinstance(patch, dict):
        return patch if share else copy.deepcopy(patch)
    result: dict[str, Any] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_owned(result.get(key), value, share=share)
    return result


def apply_merge_patch(
    original: dict[str, Any], patch: Any, *, owned: bool = False
) -> dict[str, Any]:
    """Apply a JSON merge patch to an object; the patch must itself be a JSON object.
    ``owned``: ``original`` and ``patch`` are the caller's to give away (``original`` is
    changed in place, and the result may share parts of ``patch``).

    A ``null`` patch is refused with upstream's ``Invalid JSON Patch``; an array or scalar
    patch would replace the whole object with a non-object, which can never decode into a
    Kubernetes resource, so it is refused up front as well.
    """
    if patch is None:
        raise BadRequest("Invalid JSON Patch")
    if not isinstance(patch, dict):
        raise BadRequest(
            f"json: cannot unmarshal {json_kind(patch)} into Go value of type "
            "map[string]interface {}"
        )
    result = (
        _merge_owned(original, patch, share=True) if owned else merge_patch_value(original, patch)
    )
    assert isinstance(result, dict)
    return result


# ---------------------------------------------------------------------------------------------
# RFC 6902 JSON patch
# ---------------------------------------------------------------------------------------------

MAX_JSON_PATCH_OPERATIONS: Final = 10000
"""kube-apiserver refuses JSON patches with more operations than this (413)."""


def _rejected(cause: str) -> StatusError:
    """The 422 kube-apiserver builds with ``NewGenericServerResponse`` for a failed patch."""
    err = StatusError.from_status(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": "the server rejected our request due to an error in our request",
            "reason": "Invalid",
            "code": 422,
            "details": {"causes": [{"reason": "UnexpectedServerResponse", "message": cause}]},
        }
    )
    if isinstance(err, Invalid):
        err.errors = []
    return err


def apply_json_patch(original: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Apply an RFC 6902 operation list; the original is not modified.

    Mirrors kube-apiserver: a body that is not a list of objects is a 400, too many
    operations a 413, and any failure while applying (including a failed ``test``) a 422.
    """
    if not isinstance(ops, list):
        raise BadRequest(
            f"json: cannot unmarshal {json_kind(ops)} into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        if not isinstance(op, dict):
            raise BadRequest(
                f"json: cannot unmarshal {json_kind(op)} into Go value of type jsonpatch.Operation"
            )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(ops)}"
        )
    failures = (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        TypeError,
        ValueError,
        KeyError,
        IndexError,
    )
    try:
        # Building the whole patch first validates every operation's shape up front.
        plan = jsonpatch.JsonPatch(copy.deepcopy(ops))
    except failures as e:
        raise _rejected(str(e) or type(e).__name__) from e
    result: Any = copy.deepcopy(original)
    for op in plan.patch:
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.JsonPatchTestFailed as e:
            # evanphx/json-patch's wording, which kubectl users see in the cause.
            raise _rejected(f"testing value {op.get('path')} failed: test failed") from e
        except failures as e:
            raise _rejected(str(e) or type(e).__name__) from e
    if not isinstance(result, dict):
        raise _rejected(f"patched document is a {json_kind(result)}, not an object")
    return result
