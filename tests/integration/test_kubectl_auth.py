"""The real kubectl's ``auth can-i`` and ``auth whoami`` against the embedded API server,
and the official Python client's typed review calls: what a user checking their access
sees. (kubectl sends these reviews as protobuf; the client as JSON.)"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import kubernetes
import yaml
from harness import Kubectl, ServerProcess

ADMIN_GROUPS = ["system:masters", "system:authenticated"]


def test_can_i_create_pods_says_yes(kubectl: Kubectl) -> None:
    res = kubectl.run("auth", "can-i", "create", "pods")
    assert (res.returncode, res.stdout) == (0, "yes\n")
    res = kubectl.run("auth", "can-i", "get", "pods/log", "-n", "kube-system")
    assert (res.returncode, res.stdout) == (0, "yes\n")
    res = kubectl.run("auth", "can-i", "get", "/healthz")
    assert (res.returncode, res.stdout) == (0, "yes\n")
    res = kubectl.run("auth", "can-i", "delete", "endpointslices.discovery.k8s.io", "-A", "-q")
    assert (res.returncode, res.stdout) == (0, "")


def test_can_i_list_shows_every_resource_and_url(kubectl: Kubectl) -> None:
    out = kubectl("auth", "can-i", "--list").splitlines()
    header = out[0].split()
    assert header == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    rows = [line.split() for line in out[1:]]
    assert rows == [["*.*", "[]", "[]", "[*]"], ["[*]", "[]", "[*]"]]


def test_whoami_table_json_and_yaml(kubectl: Kubectl) -> None:
    table = [line.split(None, 1) for line in kubectl("auth", "whoami").splitlines()]
    assert table == [
        ["ATTRIBUTE", "VALUE"],
        ["Username", "sliceplane-admin"],
        ["UID", "sliceplane-admin"],
        ["Groups", "[system:masters system:authenticated]"],
    ]
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        review = load(kubectl("auth", "whoami", "-o", fmt))
        assert review["kind"] == "SelfSubjectReview"
        assert review["apiVersion"] == "authentication.k8s.io/v1"
        assert review["metadata"]["creationTimestamp"]
        assert review["status"]["userInfo"] == {
            "username": "sliceplane-admin",
            "uid": "sliceplane-admin",
            "groups": ADMIN_GROUPS,
        }


def test_discovery_lists_the_review_resources(kubectl: Kubectl) -> None:
    rows = {
        line.split()[0]: line.split()
        for line in kubectl("api-resources", "--no-headers").splitlines()
        if "review" in line
    }
    assert rows == {
        plural: [plural, f"{group}/v1", namespaced, kind]
        for plural, group, namespaced, kind in (
            ("selfsubjectreviews", "authentication.k8s.io", "false", "SelfSubjectReview"),
            ("tokenreviews", "authentication.k8s.io", "false", "TokenReview"),
            (
                "localsubjectaccessreviews",
                "authorization.k8s.io",
                "true",
                "LocalSubjectAccessReview",
            ),
            (
                "selfsubjectaccessreviews",
                "authorization.k8s.io",
                "false",
                "SelfSubjectAccessReview",
            ),
            ("selfsubjectrulesreviews", "authorization.k8s.io", "false", "SelfSubjectRulesReview"),
            ("subjectaccessreviews", "authorization.k8s.io", "false", "SubjectAccessReview"),
        )
    }
    # Create-only, as upstream: nothing to get or list.
    res = kubectl.run("get", "selfsubjectaccessreviews", check=False)
    assert res.returncode == 1
    assert "the server does not allow this method on the requested resource" in res.stderr


def test_the_official_client_asks_the_same(apiserver: ServerProcess) -> None:
    api = kubernetes.config.new_client_from_config(str(apiserver.kubeconfig))
    with api:
        authz = kubernetes.client.AuthorizationV1Api(api)
        review = authz.create_self_subject_access_review(
            kubernetes.client.V1SelfSubjectAccessReview(
                spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=kubernetes.client.V1ResourceAttributes(
                        namespace="default", verb="watch", resource="services"
                    )
                )
            )
        )
        assert review.status.allowed is True
        assert review.spec.resource_attributes.resource == "services"
        rules = authz.create_self_subject_rules_review(
            kubernetes.client.V1SelfSubjectRulesReview(
                spec=kubernetes.client.V1SelfSubjectRulesReviewSpec(namespace="default")
            )
        )
        assert rules.status.incomplete is False
        assert [r.verbs for r in rules.status.resource_rules] == [["*"]]
        who = kubernetes.client.AuthenticationV1Api(api).create_self_subject_review(
            kubernetes.client.V1SelfSubjectReview()
        )
        assert who.status.user_info.username == "sliceplane-admin"
        assert who.status.user_info.groups == ADMIN_GROUPS
        # A malformed review: 422 with the field, and nothing else changes.
        try:
            authz.create_self_subject_access_review(
                kubernetes.client.V1SelfSubjectAccessReview(
                    spec=kubernetes.client.V1SelfSubjectAccessReviewSpec()
                )
            )
        except kubernetes.client.ApiException as exc:
            status = json.loads(exc.body)
            assert exc.status == 422
            assert [c["field"] for c in status["details"]["causes"]] == ["spec"]
        else:
            raise AssertionError("an empty access review was accepted")


def _post(apiserver: ServerProcess, path: str, body: bytes, token: str | None) -> int:
    config = yaml.safe_load(apiserver.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
    if "certificate-authority-data" in cluster:
        ctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    req = urllib.request.Request(cluster["server"] + path, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_reviews_need_the_token(apiserver: ServerProcess) -> None:
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    body = b'{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'
    assert _post(apiserver, path, body, None) == 401
    assert _post(apiserver, path, body, "not-the-token") == 401
    token = yaml.safe_load(apiserver.kubeconfig.read_text())["users"][0]["user"]["token"]
    assert _post(apiserver, path, body, token) == 201
    assert _post(apiserver, path, b"{not json", token) == 400
