"""The review APIs people reach through ``kubectl auth``: who am I, what may I do.

``kubectl auth can-i`` creates a SelfSubjectAccessReview (``can-i --list`` a
SelfSubjectRulesReview) and ``kubectl auth whoami`` a SelfSubjectReview; components ask
SubjectAccessReview, LocalSubjectAccessReview and TokenReview about someone else. As in
kube-apiserver these are create-only resources whose objects are never stored: the
request comes back with a ``status`` filled in, answered 201.

sliceplane's authentication is one bearer token, generated at first start; its
authorization is kube-apiserver's ``AlwaysAllow``: whoever authenticates may do anything.
So the honest answers are AlwaysAllow's: every access review is allowed (no reason), the
rules are ``*`` on every resource and every non-resource URL, and the one identity is
named as ``sliceplane.testenv`` names its admin token (``sliceplane-admin`` in
``system:masters``), so the differential test compares both servers' answers unchanged.
See ``docs/upstream-differences.md``.

Pure: a decoded body in, the answer object (or a Status error) out.
"""

from __future__ import annotations

import copy
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sliceplane.api import errors
from sliceplane.api.field import ErrorList, Path
from sliceplane.api.meta import Obj, format_time
from sliceplane.api.resources import ResourceInfo
from sliceplane.apiserver.bodies import check_body


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated identity, as ``authentication.k8s.io/v1`` UserInfo spells it."""

    username: str
    uid: str
    groups: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "uid": self.uid, "groups": list(self.groups)}


ADMIN: Final = UserInfo(
    "sliceplane-admin", "sliceplane-admin", ("system:masters", "system:authenticated")
)
"""The one identity the embedded API server knows: the holder of its bearer token."""

EVERYTHING_RULES: Final = {
    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    "incomplete": False,
}
"""What the superuser group may do, as kube-apiserver's rule resolver lists it."""


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks, and what the server knows: the requester, the URL's namespace, the
    server's bearer token (None when it serves without authentication)."""

    user: UserInfo
    namespace: str = ""
    token: str | None = None


AUDIENCES: Final = ("https://kubernetes.default.svc.cluster.local",)
"""What a token is valid for (kube-apiserver's default: its service-account issuer)."""


def answer(info: ResourceInfo, body: Any, asker: Asker, now: datetime) -> Obj:
    """The review ``body`` (already decoded) answered; BadRequest for a body that is not
    an object of ``info``'s kind, Invalid (422) for a spec upstream refuses."""
    obj = check_body(info, asker.namespace, body)
    handler = _ANSWERS.get(info.kind)
    if handler is None:  # a resource routed here by mistake is a bug, not the client's
        raise errors.InternalError(f"no review handler for {info.kind}")
    return handler(info, obj, asker, now)


class _GoJSON:
    """A bad value shown as upstream shows a Go struct: its JSON, unquoted."""

    def __init__(self, value: Any) -> None:
        self.text = json.dumps(value, separators=(",", ":"))

    def __str__(self) -> str:
        return self.text


def _invalid(info: ResourceInfo, errs: ErrorList) -> errors.Invalid:
    """422 as kube-apiserver words it for a review: its validation names no kind and no
    object (``.authorization.k8s.io "" is invalid: ...``), and the empty name and kind are
    left out of the details."""
    err = errors.Invalid("", info.group, "", errs)
    err.details = {k: v for k, v in (err.details or {}).items() if v not in ("", None)}
    return err


def _metadata_errors(obj: Obj, *, keep_namespace: bool = False) -> ErrorList:
    """Reviews carry no metadata of their own (a local review, its namespace); upstream
    refuses any other set field."""
    meta = {
        k: v
        for k, v in obj["metadata"].items()
        if v not in (None, "", {}, []) and not (keep_namespace and k == "namespace")
    }
    return [Path("metadata").invalid(_GoJSON(meta), "must be empty")] if meta else []


def _decode_error(kind: str, value: Any, where: str, go_type: str) -> errors.BadRequest:
    """The 400 Go's JSON decoder gives for a field of the wrong JSON type."""
    return errors.BadRequest(
        f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal '
        f"{_json_type(value)} into Go struct field {where} of type {go_type}"
    )


def _object(value: Any, kind: str, where: str, go_type: str) -> dict[str, Any] | None:
    """A nested field that must be a JSON object (or absent/null)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _decode_error(kind, value, where, go_type)
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _strings(obj: dict[str, Any], keys: tuple[str, ...], struct: str, path: str, kind: str) -> None:
    for key in keys:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise _decode_error(kind, value, f"{struct}.{path}.{key}", "string")


_RESOURCE_ATTRIBUTE_STRINGS: Final = (
    "namespace",
    "verb",
    "group",
    "version",
    "resource",
    "subresource",
    "name",
)


_SPEC_TYPES: Final = {
    "SelfSubjectAccessReview": "SelfSubjectAccessReviewSpec",
    "SubjectAccessReview": "SubjectAccessReviewSpec",
    "LocalSubjectAccessReview": "SubjectAccessReviewSpec",
}


def _non_resource_shown(non_resource: dict[str, Any]) -> _GoJSON:
    """nonResourceAttributes as upstream's internal Go struct (capitalised names)."""
    return _GoJSON(
        {"Path": str(non_resource.get("path") or ""), "Verb": str(non_resource.get("verb") or "")}
    )


def _access_review(info: ResourceInfo, obj: Obj, asker: Asker, now: datetime) -> Obj:
    """Self/Local/SubjectAccessReview: may the subject do what ``spec`` names? Yes: the
    authorization is AlwaysAllow's. The spec is checked as upstream's validation does."""
    kind = info.kind
    spec_type = _SPEC_TYPES[kind]
    spec = _object(obj.get("spec"), kind, f"{kind}.spec", f"v1.{spec_type}") or {}
    obj["spec"] = spec
    resource = _object(
        spec.get("resourceAttributes"),
        kind,
        f"{spec_type}.spec.resourceAttributes",
        "v1.ResourceAttributes",
    )
    non_resource = _object(
        spec.get("nonResourceAttributes"),
        kind,
        f"{spec_type}.spec.nonResourceAttributes",
        "v1.NonResourceAttributes",
    )
    if resource is not None:
        _strings(
            resource,
            _RESOURCE_ATTRIBUTE_STRINGS,
            "ResourceAttributes",
            "spec.resourceAttributes",
            kind,
        )
    if non_resource is not None:
        _strings(
            non_resource,
            ("path", "verb"),
            "NonResourceAttributes",
            "spec.nonResourceAttributes",
            kind,
        )
    subject = kind != "SelfSubjectAccessReview"
    if subject:
        _strings(spec, ("user", "uid"), spec_type, "spec", kind)
    errs: ErrorList = []
    if (resource is None) == (non_resource is None):
        # Upstream shows the nonResourceAttributes as the bad value, or null.
        shown: Any = None if non_resource is None else _non_resource_shown(non_resource)
        errs.append(
            Path("spec").invalid(
                shown,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    if subject and not spec.get("user") and not spec.get("groups"):
        errs.append(
            Path("spec")
            .child("user")
            .invalid(str(spec.get("user") or ""), "at least one of user or group must be specified")
        )
    local = kind == "LocalSubjectAccessReview"
    errs += _metadata_errors(obj, keep_namespace=local)
    if local and non_resource is not None:
        errs.append(
            Path("spec")
            .child("nonResourceAttributes")
            .invalid(_non_resource_shown(non_resource), "disallowed on this kind of request")
        )
    if local and resource is not None and resource.get("namespace", "") != asker.namespace:
        errs.append(
            Path("spec")
            .child("resourceAttributes", "namespace")
            .invalid(str(resource.get("namespace") or ""), "must match metadata.namespace")
        )
    if errs:
        raise _invalid(info, errs)
    out = _answered(obj)
    if local:
        out["metadata"] = {"namespace": asker.namespace}
    out["status"] = {"allowed": True}
    return out


def _rules_review(info: ResourceInfo, obj: Obj, asker: Asker, now: datetime) -> Obj:
    """SelfSubjectRulesReview: everything ``user`` may do in ``spec.namespace``. Upstream
    answers with an empty ``spec`` (the namespace asked is not echoed)."""
    spec = _object(obj.get("spec"), info.kind, f"{info.kind}.spec", "v1.SelfSubjectRulesReviewSpec")
    spec = spec or {}
    _strings(spec, ("namespace",), "SelfSubjectRulesReviewSpec", "spec", info.kind)
    if not spec.get("namespace"):
        raise errors.BadRequest("no namespace on request")
    out = _answered(obj)
    out["spec"] = {}
    out["status"] = copy.deepcopy(EVERYTHING_RULES)
    return out


def _self_review(info: ResourceInfo, obj: Obj, asker: Asker, now: datetime) -> Obj:
    """SelfSubjectReview: the requester's identity, stamped with the time it was asked."""
    out = _answered(obj)
    out["metadata"]["creationTimestamp"] = format_time(now)
    out["status"] = {"userInfo": asker.user.to_json()}
    return out


def _token_review(info: ResourceInfo, obj: Obj, asker: Asker, now: datetime) -> Obj:
    """TokenReview: is ``spec.token`` the server's token (for one of its audiences)?"""
    kind = info.kind
    spec = _object(obj.get("spec"), kind, f"{kind}.spec", "v1.TokenReviewSpec") or {}
    obj["spec"] = spec
    _strings(spec, ("token",), "TokenReviewSpec", "spec", kind)
    token = str(spec.get("token") or "")
    if not token:
        raise errors.BadRequest("token is required for TokenReview in authentication")
    wanted = spec.get("audiences")
    audiences = [a for a in AUDIENCES if not wanted or a in wanted]
    out = _answered(obj)
    known = asker.token is not None and hmac.compare_digest(token, asker.token)
    if known and audiences:
        out["status"] = {
            "authenticated": True,
            "user": ADMIN.to_json(),
            "audiences": audiences,
        }
    else:
        out["status"] = {"user": {}, "error": "invalid bearer token"}
    return out


def _answered(obj: Obj) -> Obj:
    """The request as upstream echoes it back: kind, apiVersion, empty metadata, spec."""
    out: Obj = {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "metadata": {}}
    if "spec" in obj:
        out["spec"] = obj["spec"]
    return out


_ANSWERS: Final = {
    "SelfSubjectAccessReview": _access_review,
    "SubjectAccessReview": _access_review,
    "LocalSubjectAccessReview": _access_review,
    "SelfSubjectRulesReview": _rules_review,
    "SelfSubjectReview": _self_review,
    "TokenReview": _token_review,
}


def check_request(method: str, name: str | None, namespaced: bool, namespace: str | None) -> None:
    """Reviews are created at the collection URL only (a local review's under its
    namespace): anything else is refused as kube-apiserver refuses it."""
    if name is not None or (namespaced and namespace is None):
        raise errors.NotFound.generic()
    if method != "POST":
        raise errors.MethodNotAllowed.generic()
