"""The official ``kubernetes`` Python client (sync) against the embedded API server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from harness import ServerProcess
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture
def api(apiserver: ServerProcess) -> Iterator[client.ApiClient]:
    """A fresh ApiClient per test, configured from the server's kubeconfig."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(apiserver.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield api_client


def service(name: str, app: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def endpoint_slice(name: str, svc: str, ips: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    }


def test_create_get_list_with_label_selector(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    disc = client.DiscoveryV1Api(api)
    svc = core.create_namespaced_service(namespace, service("web"))
    assert svc.metadata.uid
    assert svc.spec.cluster_ip.startswith("10.")
    assert svc.spec.type == "ClusterIP"

    disc.create_namespaced_endpoint_slice(namespace, endpoint_slice("web-1", "web", ["10.0.0.1"]))
    disc.create_namespaced_endpoint_slice(namespace, endpoint_slice("web-2", "web", ["10.0.0.2"]))
    disc.create_namespaced_endpoint_slice(
        namespace, endpoint_slice("other-1", "other", ["10.0.0.3"])
    )

    got = disc.read_namespaced_endpoint_slice("web-1", namespace)
    assert got.address_type == "IPv4"
    assert got.endpoints[0].addresses == ["10.0.0.1"]
    assert got.endpoints[0].conditions.ready is True
    assert got.ports[0].port == 8080

    lst = disc.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=web"
    )
    assert sorted(s.metadata.name for s in lst.items) == ["web-1", "web-2"]
    assert int(lst.metadata.resource_version) >= int(got.metadata.resource_version)

    neg = disc.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name!=web"
    )
    assert [s.metadata.name for s in neg.items] == ["other-1"]

    # Across namespaces, the selector still applies.
    everywhere = disc.list_endpoint_slice_for_all_namespaces(
        label_selector="kubernetes.io/service-name=web"
    )
    ours = [s.metadata.name for s in everywhere.items if s.metadata.namespace == namespace]
    assert sorted(ours) == ["web-1", "web-2"]


def test_watch_sees_concurrent_changes_and_bookmarks(api: client.ApiClient, namespace: str) -> None:
    disc = client.DiscoveryV1Api(api)
    start_rv = disc.list_namespaced_endpoint_slice(namespace).metadata.resource_version
    errors: list[BaseException] = []
    done = threading.Event()

    def mutate() -> None:
        try:
            # A separate ApiClient: the official client is not shared across threads.
            with client.ApiClient(api.configuration) as other:
                d = client.DiscoveryV1Api(other)
                d.create_namespaced_endpoint_slice(
                    namespace, endpoint_slice("w-1", "w", ["10.1.0.1"])
                )
                d.patch_namespaced_endpoint_slice(
                    "w-1", namespace, {"metadata": {"labels": {"touched": "yes"}}}
                )
                d.delete_namespaced_endpoint_slice("w-1", namespace)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    w = watch.Watch()
    events: list[dict[str, Any]] = []
    t = threading.Thread(target=mutate)
    started = time.monotonic()
    t.start()
    for ev in w.stream(
        disc.list_namespaced_endpoint_slice,
        namespace,
        resource_version=start_rv,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    ):
        events.append(ev)
        assert time.monotonic() - started < 20, "watch did not end after its timeout"
    t.join(10)
    assert done.is_set() and not errors, errors

    kinds = [e["type"] for e in events if e["type"] != "BOOKMARK"]
    assert kinds == ["ADDED", "MODIFIED", "DELETED"]
    changes = [e for e in events if e["type"] != "BOOKMARK"]
    assert changes[0]["object"].metadata.name == "w-1"
    assert changes[1]["object"].metadata.labels["touched"] == "yes"
    rvs = [int(e["object"].metadata.resource_version) for e in changes]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3

    # The server closes a watch at its timeout with a bookmark at least as new as the
    # last event; bookmarks carry only the resourceVersion.
    assert events[-1]["type"] == "BOOKMARK"
    bookmark = events[-1]["raw_object"]
    assert bookmark["kind"] == "EndpointSlice"
    assert int(bookmark["metadata"]["resourceVersion"]) >= rvs[-1]
    assert "name" not in bookmark["metadata"]
    assert w.resource_version == bookmark["metadata"]["resourceVersion"]


def test_watch_without_bookmarks_gets_none(api: client.ApiClient, namespace: str) -> None:
    disc = client.DiscoveryV1Api(api)
    rv = disc.list_namespaced_endpoint_slice(namespace).metadata.resource_version
    events = list(
        watch.Watch().stream(
            disc.list_namespaced_endpoint_slice, namespace, resource_version=rv, timeout_seconds=1
        )
    )
    assert events == []


def test_patch_strategic_and_merge(api: client.ApiClient, namespace: str) -> None:
    disc = client.DiscoveryV1Api(api)
    created = disc.create_namespaced_endpoint_slice(
        namespace, endpoint_slice("p-1", "p", ["10.2.0.1"])
    )
    gen = created.metadata.generation
    assert gen == 1

    # A dict body is sent as a strategic-merge patch: labels merge, existing ones stay.
    patched = disc.patch_namespaced_endpoint_slice(
        "p-1", namespace, {"metadata": {"labels": {"tier": "front"}}}
    )
    assert patched.metadata.labels == {"kubernetes.io/service-name": "p", "tier": "front"}
    assert patched.metadata.generation == gen + 1  # label change bumps an EndpointSlice
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    # A JSON merge patch (explicit Content-Type) replaces lists wholesale and null removes.
    merged = disc.patch_namespaced_endpoint_slice(
        "p-1",
        namespace,
        {
            "metadata": {"labels": {"tier": None}},
            "endpoints": [{"addresses": ["10.2.0.9"], "conditions": {"ready": False}}],
        },
        _content_type="application/merge-patch+json",
    )
    assert merged.metadata.labels == {"kubernetes.io/service-name": "p"}
    assert [e.addresses for e in merged.endpoints] == [["10.2.0.9"]]
    assert merged.endpoints[0].conditions.ready is False
    assert merged.metadata.generation == gen + 2

    # Stored state matches what the patch returned.
    again = disc.read_namespaced_endpoint_slice("p-1", namespace)
    assert again.metadata.resource_version == merged.metadata.resource_version


def test_delete_then_404(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_service(namespace, service("gone"))
    status = core.delete_namespaced_service("gone", namespace)
    assert status.metadata.name == "gone"  # Service delete answers with the object
    with pytest.raises(ApiException) as exc_info:
        core.read_namespaced_service("gone", namespace)
    err = exc_info.value
    assert err.status == 404
    body = json.loads(err.body)
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["code"] == 404
    assert body["message"] == 'services "gone" not found'
    assert body["details"] == {"name": "gone", "kind": "services"}

    disc = client.DiscoveryV1Api(api)
    with pytest.raises(ApiException) as exc_info:
        disc.delete_namespaced_endpoint_slice("never-was", namespace)
    assert exc_info.value.status == 404
    assert "endpointslices.discovery.k8s.io" in json.loads(exc_info.value.body)["message"]


def test_replace_with_stale_resource_version_conflicts(
    api: client.ApiClient, namespace: str
) -> None:
    disc = client.DiscoveryV1Api(api)
    first = disc.create_namespaced_endpoint_slice(
        namespace, endpoint_slice("c-1", "c", ["10.3.0.1"])
    )
    first.metadata.labels["round"] = "1"
    second = disc.replace_namespaced_endpoint_slice("c-1", namespace, first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)

    # `first` still carries the old resourceVersion: the write must be refused.
    first.metadata.labels["round"] = "2"
    with pytest.raises(ApiException) as exc_info:
        disc.replace_namespaced_endpoint_slice("c-1", namespace, first)
    assert exc_info.value.status == 409
    body = json.loads(exc_info.value.body)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    stored = disc.read_namespaced_endpoint_slice("c-1", namespace)
    assert stored.metadata.labels["round"] == "1"

    # Creating it again is AlreadyExists (also 409).
    with pytest.raises(ApiException) as exc_info:
        disc.create_namespaced_endpoint_slice(namespace, endpoint_slice("c-1", "c", ["10.3.0.1"]))
    assert exc_info.value.status == 409
    assert json.loads(exc_info.value.body)["reason"] == "AlreadyExists"


def test_invalid_endpoint_slice_is_422_with_causes(api: client.ApiClient, namespace: str) -> None:
    disc = client.DiscoveryV1Api(api)
    bad = endpoint_slice("bad", "bad", ["not-an-ip"])
    bad["ports"][0]["protocol"] = "ICMP"
    with pytest.raises(ApiException) as exc_info:
        disc.create_namespaced_endpoint_slice(namespace, bad)
    err = exc_info.value
    assert err.status == 422
    body = json.loads(err.body)
    assert body["reason"] == "Invalid"
    assert body["code"] == 422
    assert body["details"]["name"] == "bad"
    assert body["details"]["kind"] == "EndpointSlice"
    assert body["details"]["group"] == "discovery.k8s.io"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert "endpoints[0].addresses[0]" in fields
    assert "ports[0].protocol" in fields
    assert all(c["reason"] and c["message"] for c in body["details"]["causes"])
    assert body["message"].startswith('EndpointSlice.discovery.k8s.io "bad" is invalid: ')
    # Nothing was stored.
    with pytest.raises(ApiException) as nf:
        disc.read_namespaced_endpoint_slice("bad", namespace)
    assert nf.value.status == 404
