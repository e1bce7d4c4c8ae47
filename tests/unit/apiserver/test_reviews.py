"""The review APIs' answers and refusals (``apiserver.reviews``), pure.

The expected texts are kube-apiserver v1.37.2's (AlwaysAllow, the testenv default), as
the differential test ``test_diff_access.py`` checks against the real server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sliceplane.api import errors
from sliceplane.api.resources import BY_PLURAL
from sliceplane.apiserver import reviews

NOW = datetime(2026, 12, 3, 14, 0, 0, tzinfo=UTC)
SSAR = BY_PLURAL["selfsubjectaccessreviews"]
SSRR = BY_PLURAL["selfsubjectrulesreviews"]
SSR = BY_PLURAL["selfsubjectreviews"]
SAR = BY_PLURAL["subjectaccessreviews"]
LSAR = BY_PLURAL["localsubjectaccessreviews"]
TR = BY_PLURAL["tokenreviews"]
ASKER = reviews.Asker(reviews.ADMIN, "", "the-token")


def ssar(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": spec,
    }


def test_access_review_is_allowed_and_echoes_the_spec() -> None:
    attrs = {"namespace": "default", "verb": "create", "resource": "pods"}
    out = reviews.answer(SSAR, ssar(resourceAttributes=attrs), ASKER, NOW)
    assert out == {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {},
        "spec": {"resourceAttributes": attrs},
        "status": {"allowed": True},
    }


def test_access_review_of_a_non_resource_url() -> None:
    body = ssar(nonResourceAttributes={"path": "/healthz", "verb": "get"})
    assert reviews.answer(SSAR, body, ASKER, NOW)["status"] == {"allowed": True}


def test_reviews_about_anyone_are_allowed_as_always_allow_answers() -> None:
    attrs = {"verb": "get", "resource": "pods", "namespace": "default"}
    body = {"spec": {"resourceAttributes": attrs, "user": "bob"}}
    assert reviews.answer(SAR, body, ASKER, NOW)["status"] == {"allowed": True}
    local = reviews.Asker(reviews.ADMIN, "default", "the-token")
    out = reviews.answer(LSAR, {"spec": {"resourceAttributes": attrs, "groups": ["g"]}}, local, NOW)
    assert out["metadata"] == {"namespace": "default"} and out["status"] == {"allowed": True}


def test_subject_reviews_need_a_subject() -> None:
    with pytest.raises(errors.Invalid) as info:
        reviews.answer(SAR, {"spec": {}}, ASKER, NOW)
    assert info.value.message == (
        '.authorization.k8s.io "" is invalid: [spec: Invalid value: null: exactly one of '
        "nonResourceAttributes or resourceAttributes must be specified, spec.user: Invalid "
        'value: "": at least one of user or group must be specified]'
    )


def test_local_reviews_stay_in_their_namespace() -> None:
    other = reviews.Asker(reviews.ADMIN, "other", "the-token")
    body = {"spec": {"resourceAttributes": {"namespace": "default"}, "user": "u"}}
    with pytest.raises(errors.Invalid, match=r'namespace: Invalid value: "default": must match'):
        reviews.answer(LSAR, body, other, NOW)
    body = {"spec": {"nonResourceAttributes": {"path": "/x", "verb": "get"}, "user": "u"}}
    with pytest.raises(errors.Invalid, match="disallowed on this kind of request"):
        reviews.answer(LSAR, body, other, NOW)


def test_token_review_knows_only_the_servers_token() -> None:
    good = reviews.answer(TR, {"spec": {"token": "the-token"}}, ASKER, NOW)
    assert good["status"] == {
        "authenticated": True,
        "user": reviews.ADMIN.to_json(),
        "audiences": ["https://kubernetes.default.svc.cluster.local"],
    }
    for spec in ({"token": "nope"}, {"token": "the-token", "audiences": ["elsewhere"]}):
        bad = reviews.answer(TR, {"spec": spec}, ASKER, NOW)
        assert bad["status"] == {"user": {}, "error": "invalid bearer token"}
    with pytest.raises(errors.BadRequest, match=r"^token is required for TokenReview"):
        reviews.answer(TR, {"spec": {}}, ASKER, NOW)


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ({}, "null"),
        (
            {
                "resourceAttributes": {"verb": "get"},
                "nonResourceAttributes": {"path": "/x", "verb": "get"},
            },
            '{"Path":"/x","Verb":"get"}',
        ),
    ],
)
def test_access_review_needs_exactly_one_kind_of_attributes(
    spec: dict[str, Any], value: str
) -> None:
    with pytest.raises(errors.Invalid) as info:
        reviews.answer(SSAR, ssar(**spec), ASKER, NOW)
    assert info.value.message == (
        f'.authorization.k8s.io "" is invalid: spec: Invalid value: {value}: '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified"
    )
    assert info.value.details == {
        "group": "authorization.k8s.io",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {value}: exactly one of nonResourceAttributes "
                "or resourceAttributes must be specified",
                "field": "spec",
            }
        ],
    }


def test_access_review_with_metadata_is_invalid() -> None:
    body = ssar(resourceAttributes={"verb": "get"})
    body["metadata"] = {"name": "x"}
    with pytest.raises(
        errors.Invalid, match=r'metadata: Invalid value: \{"name":"x"\}: must be empty'
    ):
        reviews.answer(SSAR, body, ASKER, NOW)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"kind": "SelfSubjectAccessReview", "spec": "x"},
            "json: cannot unmarshal string into Go struct field SelfSubjectAccessReview.spec "
            "of type v1.SelfSubjectAccessReviewSpec",
        ),
        (
            {"spec": {"resourceAttributes": {"verb": 3}}},
            "json: cannot unmarshal number into Go struct field "
            "ResourceAttributes.spec.resourceAttributes.verb of type string",
        ),
        ({"apiVersion": "v1", "kind": "Pod"}, "cannot be handled as a SelfSubjectAccessReview"),
        ([1, 2], "the object provided is unrecognized"),
    ],
)
def test_malformed_access_reviews_are_bad_requests(body: Any, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message.replace(".", r"\.")):
        reviews.answer(SSAR, body, ASKER, NOW)


def test_rules_review_lists_everything_and_answers_an_empty_spec() -> None:
    body = {"kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}}
    out = reviews.answer(SSRR, body, ASKER, NOW)
    assert out["spec"] == {}
    assert out["status"] == {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    }


def test_rules_review_needs_a_namespace() -> None:
    with pytest.raises(errors.BadRequest, match=r"^no namespace on request$"):
        reviews.answer(SSRR, {"spec": {}}, ASKER, NOW)


def test_self_review_names_the_admin() -> None:
    out = reviews.answer(SSR, {}, ASKER, NOW)
    assert out == {
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": "2026-12-03T14:00:00Z"},
        "status": {
            "userInfo": {
                "username": "sliceplane-admin",
                "uid": "sliceplane-admin",
                "groups": ["system:masters", "system:authenticated"],
            }
        },
    }


@pytest.mark.parametrize(
    ("method", "name", "namespaced", "namespace", "error"),
    [
        ("GET", None, False, None, errors.MethodNotAllowed),
        ("POST", "x", False, None, errors.NotFound),
        ("POST", None, True, None, errors.NotFound),
    ],
)
def test_only_create_at_the_collection(
    method: str,
    name: str | None,
    namespaced: bool,
    namespace: str | None,
    error: type[errors.StatusError],
) -> None:
    with pytest.raises(error):
        reviews.check_request(method, name, namespaced, namespace)
    reviews.check_request("POST", None, False, None)
    reviews.check_request("POST", None, True, "default")
