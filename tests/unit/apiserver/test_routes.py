"""Table tests of the URL grammar (``apiserver.routes``): paths to targets, verbs, refusals."""

from __future__ import annotations

import pytest

from sliceplane.api import errors
from sliceplane.apiserver import discovery
from sliceplane.apiserver.httperrors import PageNotFound
from sliceplane.apiserver.routes import Document, Target, route, verb


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/api/v1/pods", ("pods", None, None, ""), id="cluster-list"),
        pytest.param(
            "/api/v1/namespaces/ns/pods/p/status", ("pods", "ns", "p", "status"), id="status"
        ),
        pytest.param("/api/v1/namespaces/ns", ("namespaces", None, "ns", ""), id="namespace"),
        pytest.param(
            "/api/v1/namespaces/ns/finalize", ("namespaces", None, "ns", "finalize"), id="finalize"
        ),
        pytest.param(
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            ("deployments", "ns", "d", "scale"),
            id="scale",
        ),
        pytest.param(
            "/apis/discovery.k8s.io/v1/endpointslices",
            ("endpointslices", None, None, ""),
            id="group-list",
        ),
    ],
)
def test_resource_paths(path: str, expected: tuple[str, str | None, str | None, str]) -> None:
    t = route(path, "", "127.0.0.1:6443")
    assert isinstance(t, Target)
    assert (t.info.plural, t.namespace, t.name, t.subresource) == expected


@pytest.mark.parametrize(
    ("path", "status"),
    [
        # Under a served group (or /api, /version): a Status with empty details.
        pytest.param("/api/v2/pods", True, id="unknown-core-version"),
        pytest.param("/api/v1/widgets", True, id="unknown-resource"),
        pytest.param("/api/v1/namespaces/ns/nodes/n", True, id="namespaced-cluster-kind"),
        pytest.param("/api/v1/pods/p", True, id="namespaced-object-without-namespace"),
        pytest.param("/api/v1/namespaces/ns/pods/p/scale", True, id="unserved-subresource"),
        pytest.param("/api/v1/namespaces/ns/pods/p/status/x", True, id="too-deep"),
        pytest.param("/apis/apps/v2/deployments", True, id="unknown-version-of-a-group"),
        pytest.param("/version/x", True, id="below-version"),
        # Anywhere else kube-apiserver's mux answers: Go's plain "404 page not found".
        pytest.param("/apis/nope.example", False, id="unknown-group"),
        pytest.param("/apis/nope.example/v1/things", False, id="below-an-unknown-group"),
        pytest.param("/elsewhere", False, id="outside-the-api"),
        pytest.param("/metrics/x", False, id="below-metrics"),
    ],
)
def test_unknown_paths_are_not_found(path: str, status: bool) -> None:
    if status:
        with pytest.raises(errors.NotFound) as caught:
            route(path, "", "127.0.0.1:6443")
        assert caught.value.to_status()["details"] == {}
    else:
        with pytest.raises(PageNotFound) as page:
            route(path, "", "127.0.0.1:6443")
        assert (page.value.body, page.value.content_type) == (
            "404 page not found\n",
            "text/plain; charset=utf-8",
        )


def test_documents() -> None:
    root = route("/", "", "x")
    assert isinstance(root, Document) and "/api/v1" in root.body["paths"]
    agg = route(
        "/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "x"
    )
    assert isinstance(agg, Document) and agg.content_type == discovery.AGGREGATED_CONTENT_TYPE
    legacy = route("/api", "application/json", "10.0.0.1:6443")
    assert isinstance(legacy, Document) and legacy.content_type == "application/json"


@pytest.mark.parametrize(
    ("method", "path", "watch", "ctype", "expected"),
    [
        pytest.param("GET", "/api/v1/namespaces/ns/pods", False, "", "LIST", id="list"),
        pytest.param("GET", "/api/v1/namespaces/ns/pods", True, "", "WATCH", id="watch"),
        pytest.param("GET", "/api/v1/namespaces/ns/pods/p", False, "", "GET", id="get"),
        pytest.param("POST", "/api/v1/namespaces/ns/pods", False, "", "POST", id="create"),
        pytest.param("POST", "/api/v1/namespaces/ns/pods/p/binding", False, "", "POST", id="bind"),
        pytest.param("PUT", "/api/v1/namespaces/ns/pods/p", False, "", "PUT", id="update"),
        pytest.param(
            "PATCH",
            "/api/v1/namespaces/ns/pods/p",
            False,
            "application/apply-patch+yaml",
            "APPLY",
            id="apply",
        ),
        pytest.param(
            "DELETE",
            "/api/v1/namespaces/ns/pods",
            False,
            "",
            "DELETECOLLECTION",
            id="delete-collection",
        ),
        pytest.param("POST", "/api/v1/pods", False, "", None, id="create-without-namespace"),
        pytest.param("POST", "/api/v1/namespaces/ns/pods/p", False, "", None, id="post-to-name"),
        pytest.param("PUT", "/api/v1/namespaces/ns/pods", False, "", None, id="put-to-list"),
        # Subresources take only the methods their storage serves (405 before any lookup).
        pytest.param(
            "DELETE", "/api/v1/namespaces/ns/pods/p/status", False, "", None, id="delete-status"
        ),
        pytest.param(
            "POST", "/api/v1/namespaces/ns/pods/p/status", False, "", None, id="post-status"
        ),
        pytest.param(
            "PUT", "/api/v1/namespaces/ns/pods/p/status", False, "", "PUT", id="put-status"
        ),
        pytest.param(
            "GET", "/api/v1/namespaces/ns/pods/p/binding", False, "", None, id="get-binding"
        ),
        pytest.param(
            "PUT", "/api/v1/namespaces/ns/pods/p/binding", False, "", None, id="put-binding"
        ),
        pytest.param(
            "DELETE",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            False,
            "",
            None,
            id="delete-scale",
        ),
        pytest.param(
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            False,
            "",
            "PATCH",
            id="patch-scale",
        ),
        pytest.param("GET", "/api/v1/namespaces/n/finalize", False, "", None, id="get-finalize"),
        pytest.param("PUT", "/api/v1/namespaces/n/finalize", False, "", "PUT", id="put-finalize"),
        pytest.param(
            "DELETE", "/api/v1/namespaces/ns/pods/p/log", False, "", None, id="delete-log"
        ),
        # Read-only kinds (what upstream components list at start) take no writes.
        pytest.param(
            "GET", "/apis/networking.k8s.io/v1/servicecidrs", True, "", "WATCH", id="ro-watch"
        ),
        pytest.param("GET", "/apis/storage.k8s.io/v1/csinodes/n1", False, "", "GET", id="ro-get"),
        pytest.param(
            "POST", "/apis/networking.k8s.io/v1/servicecidrs", False, "", None, id="ro-create"
        ),
        pytest.param(
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            False,
            "",
            "LIST",
            id="ro-list-crds",
        ),
        pytest.param(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            False,
            "",
            None,
            id="ro-create-crd",
        ),
        pytest.param(
            "DELETE",
            "/apis/networking.k8s.io/v1/servicecidrs/kubernetes",
            False,
            "",
            None,
            id="ro-delete",
        ),
        pytest.param(
            "PATCH",
            "/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims/c",
            False,
            "application/merge-patch+json",
            None,
            id="ro-patch",
        ),
    ],
)
def test_verbs(method: str, path: str, watch: bool, ctype: str, expected: str | None) -> None:
    t = route(path, "", "x")
    assert isinstance(t, Target)
    if expected is None:
        with pytest.raises(errors.MethodNotAllowed) as caught:
            verb(method, t, watch=watch, content_type=ctype)
        assert caught.value.to_status()["details"] == {}
    else:
        assert verb(method, t, watch=watch, content_type=ctype) == expected
