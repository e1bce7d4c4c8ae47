"""The compact objects the DNS informers keep make the same zone as the whole objects."""

from __future__ import annotations

import copy
from typing import Any

from sliceplane.dns.compact import (
    compact_namespace,
    compact_pod,
    compact_service,
    compact_slice,
)
from sliceplane.dns.zone import RECORD, pod_from_object, service_from_object, slice_from_object
from sliceplane.machinery.informer import namespace_index, object_key, resource_version

Obj = dict[str, Any]

META: Obj = {
    "namespace": "default",
    "resourceVersion": "42",
    "uid": "6e0c1f0a-0000-4000-8000-000000000001",
    "creationTimestamp": "2026-12-03T12:00:00Z",
    "annotations": {"a": "b" * 200},
    "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
}

SERVICES: list[Obj] = [
    {
        "metadata": {**META, "name": "web"},
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10", "fd00::10"],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
            "selector": {"app": "web"},
            "sessionAffinity": "None",
        },
        "status": {"loadBalancer": {}},
    },
    {"metadata": {**META, "name": "hl"}, "spec": {"clusterIP": "None"}},
    {
        "metadata": {**META, "name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com", "ports": []},
    },
    {"metadata": {"name": "bare"}},
]

SLICES: list[Obj] = [
    {
        "metadata": {
            **META,
            "name": "hl-a",
            "labels": {"kubernetes.io/service-name": "hl", "other": "x"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"port": 53}],
        "endpoints": [
            {
                "addresses": ["10.0.0.1"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "hostname": "a",
                "targetRef": {"kind": "Pod", "name": "hl-0", "namespace": "default", "uid": "u"},
                "nodeName": "n1",
                "zone": "z",
            },
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.3", "10.0.0.4"], "conditions": {}},
            {"addresses": ["10.0.0.5"], "targetRef": {"name": "p" * 70}},
            {"conditions": {"ready": True}},
        ],
    },
    {"metadata": {**META, "name": "orphan"}, "endpoints": None, "ports": None},
]

PODS: list[Obj] = [
    {
        "metadata": {**META, "name": "p1"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.1"}, {"ip": "fd00::1"}]},
    },
    {
        "metadata": {**META, "name": "p2", "deletionTimestamp": "2026-12-03T12:00:00Z"},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.2"}]},
    },
    {"metadata": {**META, "name": "p3"}, "status": {"phase": "Succeeded"}},
    {"metadata": {**META, "name": "p4"}, "status": {}},
]


def _informer_view(a: Obj, b: Obj) -> None:
    assert object_key(a) == object_key(b)
    assert resource_version(a) == resource_version(b)
    assert namespace_index(a) == namespace_index(b)


def test_services() -> None:
    for obj in SERVICES:
        before = copy.deepcopy(obj)
        small = compact_service(obj)
        assert obj == before  # the received object is not changed
        assert service_from_object(small) == service_from_object(obj)
        _informer_view(small, obj)
    assert set(compact_service(SERVICES[0])) == {"metadata", RECORD}
    assert compact_service(SERVICES[0])["metadata"] == {
        "name": "web",
        "namespace": "default",
        "resourceVersion": "42",
    }


def test_slices() -> None:
    for obj in SLICES:
        small = compact_slice(obj)
        assert slice_from_object(small) == slice_from_object(obj)
        _informer_view(small, obj)
    small = compact_slice(SLICES[0])
    assert set(small) == {"metadata", RECORD}  # no endpoints kept beside the record
    assert small[RECORD].service == "hl"


def test_pods_and_namespaces() -> None:
    for obj in PODS:
        small = compact_pod(obj)
        assert pod_from_object(small) == pod_from_object(obj)
        _informer_view(small, obj)
    ns = {"metadata": {"name": "default", "resourceVersion": "7", "uid": "u"}, "spec": {}}
    assert compact_namespace(ns) == {"metadata": {"name": "default", "resourceVersion": "7"}}
