"""Tests for sliceplane.api.schema: pruning, strict field validation, decode errors, /openapi/v3.

Why: these behaviours are what kubectl and kube-apiserver clients observe on every write; the
expected strings are kube-apiserver's own (integration tests in kubernetes/kubernetes
``test/integration/apiserver/field_validation_test.go`` and real error reports).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sliceplane.api import openapi, schema
from sliceplane.api.openapi import ResourceSpec

POD = "io.k8s.api.core.v1.Pod"
SERVICE = "io.k8s.api.core.v1.Service"
NODE = "io.k8s.api.core.v1.Node"
SLICE = "io.k8s.api.discovery.v1.EndpointSlice"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
LEASE = "io.k8s.api.coordination.v1.Lease"
EVENT = "io.k8s.api.core.v1.Event"

META: dict[str, Any] = {
    "name": "web-7d4b9c8f5-abcde",
    "generateName": "web-7d4b9c8f5-",
    "namespace": "default",
    "uid": "0f4a3f0e-8a43-4a8b-9c1e-2b1f7a1d9e11",
    "resourceVersion": "123456",
    "generation": 3,
    "creationTimestamp": "2025-01-02T03:04:05Z",
    "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"},
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
    "ownerReferences": [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-7d4b9c8f5",
            "uid": "1c2d3e4f-0000-4000-8000-000000000001",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ],
    "finalizers": ["example.com/cleanup"],
    "managedFields": [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2025-01-02T03:04:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
        }
    ],
}

CONTAINER: dict[str, Any] = {
    "name": "web",
    "image": "nginx:1.27",
    "imagePullPolicy": "IfNotPresent",
    "command": ["nginx"],
    "args": ["-g", "daemon off;"],
    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
    "env": [
        {"name": "MODE", "value": "prod"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {
            "name": "LIMIT",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
        },
    ],
    "resources": {
        "limits": {"cpu": "500m", "memory": "128Mi"},
        "requests": {"cpu": 0.25, "memory": "64Mi"},
    },
    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
    "livenessProbe": {
        "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    },
    "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
    "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
    "securityContext": {
        "runAsUser": 1000,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}

POD_SPEC: dict[str, Any] = {
    "containers": [CONTAINER],
    "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
    "volumes": [
        {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "cfg", "configMap": {"name": "web", "defaultMode": 420}},
        {
            "name": "token",
            "projected": {
                "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]
            },
        },
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "default",
    "nodeName": "node-1",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "securityContext": {"fsGroup": 2000, "supplementalGroups": [3000]},
    "schedulerName": "default-scheduler",
    "tolerations": [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
    ],
    "affinity": {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {
                            "matchExpressions": [
                                {"key": "app", "operator": "In", "values": ["web"]}
                            ]
                        },
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    },
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "web"}},
        }
    ],
    "priority": 0,
    "enableServiceLinks": True,
    "preemptionPolicy": "PreemptLowerPriority",
}

POD_OBJ: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": META,
    "spec": POD_SPEC,
    "status": {
        "phase": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": "2025-01-02T03:04:09Z",
            }
        ],
        "hostIP": "10.0.0.11",
        "hostIPs": [{"ip": "10.0.0.11"}],
        "podIP": "10.244.1.7",
        "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}],
        "startTime": "2025-01-02T03:04:05Z",
        "qosClass": "Burstable",
        "containerStatuses": [
            {
                "name": "web",
                "ready": True,
                "restartCount": 0,
                "started": True,
                "image": "docker.io/library/nginx:1.27",
                "imageID": "docker.io/library/nginx@sha256:abc",
                "containerID": "containerd://abc",
                "state": {"running": {"startedAt": "2025-01-02T03:04:07Z"}},
                "lastState": {},
            }
        ],
    },
}

SERVICE_OBJ: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {
        "type": "NodePort",
        "selector": {"app": "web"},
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080},
            {"name": "https", "port": 443, "targetPort": "https", "appProtocol": "https"},
        ],
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10", "fd00:10:96::a"],
        "ipFamilies": ["IPv4", "IPv6"],
        "ipFamilyPolicy": "PreferDualStack",
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
        "externalTrafficPolicy": "Local",
        "internalTrafficPolicy": "Cluster",
        "healthCheckNodePort": 31000,
        "publishNotReadyAddresses": False,
        "trafficDistribution": "PreferClose",
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "VIP"}]}},
}

SLICE_OBJ: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {
        "name": "web-abc12",
        "generateName": "web-",
        "namespace": "default",
        "labels": {
            "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        },
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": "web",
                "uid": "9b0c",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "addressType": "IPv4",
    "endpoints": [
        {
            "addresses": ["10.244.1.7"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "hostname": "web-0",
            "nodeName": "node-1",
            "zone": "zone-a",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": "u1"},
            "hints": {"forZones": [{"name": "zone-a"}], "forNodes": [{"name": "node-1"}]},
        }
    ],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}],
}

DEPLOYMENT_OBJ: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "generation": 2},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "minReadySeconds": 0,
        "paused": False,
    },
    "status": {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
                "lastUpdateTime": "2025-01-02T03:04:05Z",
                "lastTransitionTime": "2025-01-02T03:04:05Z",
            }
        ],
    },
}

NODE_OBJ: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
    "spec": {
        "podCIDR": "10.244.1.0/24",
        "podCIDRs": ["10.244.1.0/24", "fd00:244:1::/64"],
        "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
        "unschedulable": False,
    },
    "status": {
        "capacity": {"cpu": "4", "memory": "16329728Ki", "pods": "110"},
        "allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastHeartbeatTime": "2025-01-02T03:04:05Z",
                "lastTransitionTime": "2025-01-01T00:00:00Z",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
        ],
        "addresses": [
            {"type": "InternalIP", "address": "10.0.0.11"},
            {"type": "Hostname", "address": "node-1"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "m",
            "systemUUID": "s",
            "bootID": "b",
            "kernelVersion": "6.8.0",
            "osImage": "Debian GNU/Linux 12",
            "containerRuntimeVersion": "containerd://1.7.0",
            "kubeletVersion": "v1.37.0",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "images": [{"names": ["docker.io/library/nginx:1.27"], "sizeBytes": 72000000000}],
    },
}


# --- no false positives, pruning keeps known fields --------------------------------------------


@pytest.mark.parametrize(
    ("key", "obj"),
    [
        (POD, POD_OBJ),
        (SERVICE, SERVICE_OBJ),
        (SLICE, SLICE_OBJ),
        (DEPLOYMENT, DEPLOYMENT_OBJ),
        (NODE, NODE_OBJ),
    ],
)
def test_realistic_objects_pass_unchanged(key: str, obj: dict[str, Any]) -> None:
    original = copy.deepcopy(obj)
    res = schema.check(key, obj)
    assert res.unknown == []
    assert res.strict_errors == []
    assert res.type_errors == []
    assert res.obj == obj
    assert obj == original  # input not modified
    assert res.obj is not obj


def test_pruning_removes_only_unknown_fields() -> None:
    obj = copy.deepcopy(SERVICE_OBJ)
    obj["topLevel"] = 1
    obj["metadata"]["bogusMeta"] = {"x": 1}
    obj["spec"]["foo"] = "bar"
    obj["spec"]["ports"][1]["bogus"] = True
    pruned, unknown, type_errors = schema.check_and_prune(SERVICE, obj)
    # Document (insertion) order: keys added above come after the existing ones.
    assert unknown == ["metadata.bogusMeta", "spec.ports[1].bogus", "spec.foo", "topLevel"]
    assert type_errors == []
    assert pruned == SERVICE_OBJ


def test_unknown_fields_at_depth() -> None:
    obj = copy.deepcopy(POD_OBJ)
    obj["spec"]["containers"][0]["ports"][0]["hostPortt"] = 1
    obj["spec"]["containers"][0]["resources"]["limitz"] = {}
    obj["spec"]["affinity"]["podAntiAffinity"]["bogus"] = []
    obj["metadata"]["ownerReferences"][0]["extra"] = "x"
    res = schema.check(POD, obj)
    assert res.unknown == [
        "metadata.ownerReferences[0].extra",
        "spec.containers[0].ports[0].hostPortt",
        "spec.containers[0].resources.limitz",
        "spec.affinity.podAntiAffinity.bogus",
    ]
    assert res.strict_errors == [f'unknown field "{p}"' for p in res.unknown]


def test_field_names_are_case_sensitive() -> None:
    res = schema.check(SERVICE, {"apiVersion": "v1", "kind": "Service", "Spec": {}})
    assert res.unknown == ["Spec"]
    assert res.obj == {"apiVersion": "v1", "kind": "Service"}


def test_maps_accept_any_key_and_free_form_fields_anything() -> None:
    obj = {
        "metadata": {
            "labels": {"weird/key.with-dots": "v", "": ""},
            "annotations": {"spec.foo": "x"},
            "managedFields": [{"fieldsV1": {"f:anything": {'k:{"a":1}': {}}}}],
        }
    }
    res = schema.check(POD, obj)
    assert res.unknown == [] and res.type_errors == []
    assert res.obj == obj


def test_unknown_field_inside_unknown_field_is_reported_once() -> None:
    res = schema.check(POD, {"spec": {"foo": {"bar": {"baz": 1}}}})
    assert res.unknown == ["spec.foo"]


def test_nulls_are_accepted() -> None:
    obj = {"metadata": {"labels": None, "name": None}, "spec": {"containers": None}}
    res = schema.check(POD, obj)
    assert res.type_errors == [] and res.unknown == []
    assert res.obj == obj


# --- strict messages ------------------------------------------------------------------------


def test_strict_error_message_format() -> None:
    assert (
        schema.strict_error_message(["spec.foo"])
        == 'strict decoding error: unknown field "spec.foo"'
    )
    assert schema.strict_error_message(["spec.foo", "spec.ports[0].bogus"]) == (
        'strict decoding error: unknown field "spec.foo", unknown field "spec.ports[0].bogus"'
    )
    assert schema.strict_error_message(["a"], ["metadata.name"]) == (
        'strict decoding error: unknown field "a", duplicate field "metadata.name"'
    )


def test_duplicates_and_unknowns_in_document_order_like_kube() -> None:
    # Body and expected text from kube's test/integration/apiserver/field_validation_test.go.
    body = """{
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "dupename", "name": "deployment",
                   "labels": {"app": "nginx"}, "unknownMeta": "metaVal"},
      "spec": {"unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
               "paused": true, "paused": false,
               "selector": {"matchLabels": {"app": "nginx"}},
               "template": {"metadata": {"labels": {"app": "nginx"}},
                            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
                                                     "unknownNested": "val1",
                                                     "imagePullPolicy": "Always",
                                                     "imagePullPolicy": "Never"}]}}}}"""
    res = schema.check(DEPLOYMENT, schema.parse_json(body))
    assert schema.strict_message(res.strict_errors) == (
        'strict decoding error: duplicate field "metadata.name", unknown field '
        '"metadata.unknownMeta", unknown field "spec.unknown1", unknown field '
        '"spec.unknownDupe", duplicate field "spec.paused", unknown field '
        '"spec.template.spec.containers[0].unknownNested", duplicate field '
        '"spec.template.spec.containers[0].imagePullPolicy"'
    )
    assert res.duplicates == [
        "metadata.name",
        "spec.paused",
        "spec.template.spec.containers[0].imagePullPolicy",
    ]
    # The last value wins, as with Go's decoder.
    assert res.obj["metadata"]["name"] == "deployment"
    assert res.obj["spec"]["paused"] is False
    assert res.obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_duplicate_map_key() -> None:
    res = schema.check(POD, schema.parse_json('{"metadata": {"labels": {"a": "1", "a": "2"}}}'))
    assert res.strict_errors == ['duplicate field "metadata.labels.a"']
    assert res.obj == {"metadata": {"labels": {"a": "2"}}}


def test_strict_errors_are_capped_at_100() -> None:
    res = schema.check(POD, {"spec": {f"f{i}": i for i in range(150)}})
    assert len(res.strict_errors) == 100
    assert len(res.unknown) == 150


def test_parse_json_plain_objects_stay_plain() -> None:
    assert type(schema.parse_json('{"a": {"b": 1}}')["a"]) is dict


# --- type errors ----------------------------------------------------------------------------


def _type_errors(key: str, obj: dict[str, Any]) -> list[str]:
    return schema.check(key, obj).type_errors


def test_string_where_int32_expected() -> None:
    errors = _type_errors(SERVICE, {"spec": {"ports": [{"port": "80"}]}})
    assert errors == [
        "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port "
        "of type int32"
    ]
    errors = _type_errors(
        DEPLOYMENT,
        {"spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": "80"}]}]}}}},
    )
    assert errors == [
        "json: cannot unmarshal string into Go struct field "
        "ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"
    ]


def test_type_error_shapes() -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            POD,
            {"metadata": {"generation": "1"}},
            "string into Go struct field ObjectMeta.metadata.generation of type int64",
        ),
        (
            POD,
            {"metadata": {"labels": {"a": 1}}},
            "number into Go struct field ObjectMeta.metadata.labels of type string",
        ),
        (
            POD,
            {"metadata": {"labels": "a=b"}},
            "string into Go struct field ObjectMeta.metadata.labels of type map[string]string",
        ),
        (POD, {"metadata": "x"}, "string into Go struct field Pod.metadata of type v1.ObjectMeta"),
        (
            SERVICE,
            {"spec": {"ports": {"port": 80}}},
            "object into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort",
        ),
        (
            SERVICE,
            {"spec": {"ports": ["http"]}},
            "string into Go struct field ServiceSpec.spec.ports of type v1.ServicePort",
        ),
        (
            SERVICE,
            {"spec": {"ports": [{"port": 80.5}]}},
            "number 80.5 into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            SERVICE,
            {"spec": {"ports": [{"port": 2**31}]}},
            "number 2147483648 into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            SERVICE,
            {"spec": {"ports": [{"port": True}]}},
            "bool into Go struct field ServicePort.spec.ports.port of type int32",
        ),
        (
            SERVICE,
            {"spec": {"ports": [{"targetPort": True}]}},
            "bool into Go struct field ServicePort.spec.ports.targetPort of type int32",
        ),
        (
            SERVICE,
            {"spec": {"publishNotReadyAddresses": "yes"}},
            "string into Go struct field ServiceSpec.spec.publishNotReadyAddresses of type bool",
        ),
        (
            SERVICE,
            {"spec": {"type": 1}},
            "number into Go struct field ServiceSpec.spec.type of type string",
        ),
        (
            POD,
            {"metadata": {"creationTimestamp": 5}},
            "number into Go struct field ObjectMeta.metadata.creationTimestamp of type string",
        ),
    ]
    for key, obj, tail in cases:
        assert _type_errors(key, obj) == ["json: cannot unmarshal " + tail], obj


def test_int_or_string_accepts_both() -> None:
    obj = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": "x"}]}}
    assert _type_errors(SERVICE, obj) == []


def test_quantity_errors() -> None:
    bad = (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    for value in ("1.5Gi", "100m", "2", 3, 0.5, "1e3", "+1", "1E-2"):
        assert _type_errors(NODE, {"status": {"capacity": {"cpu": value}}}) == [], value
    for value in ("abc", "", True, [1], "1 Gi"):
        assert _type_errors(NODE, {"status": {"capacity": {"cpu": value}}}) == [bad], value
    assert _type_errors(NODE, {"status": {"capacity": {"cpu": "1Qi"}}}) == [bad]
    assert _type_errors(NODE, {"status": {"capacity": {"cpu": "1Mii"}}}) == [
        "unable to parse quantity's suffix"
    ]


def test_time_errors() -> None:
    def err(value: Any, key: str = POD, micro: bool = False) -> list[str]:
        if micro:
            return _type_errors(LEASE, {"spec": {"renewTime": value}})
        return _type_errors(key, {"metadata": {"creationTimestamp": value}})

    assert err("2025-01-02T03:04:05Z") == []
    assert err("2025-01-02T03:04:05.123+02:00") == []
    assert err("yesterday") == [
        'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" '
        'as "2006"'
    ]
    assert err("2025-01-02") == [
        'parsing time "2025-01-02" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T"'
    ]
    assert err("2025-13-02T03:04:05Z") == [
        'parsing time "2025-13-02T03:04:05Z": month out of range'
    ]
    assert err("2025-02-30T03:04:05Z") == ['parsing time "2025-02-30T03:04:05Z": day out of range']
    assert err("2025-01-02T03:04:05Zjunk") == [
        'parsing time "2025-01-02T03:04:05Zjunk": extra text: "junk"'
    ]
    assert err("2025-01-02T03:04:05.123456Z", micro=True) == []
    assert err("2025-01-02T03:04:05Z", micro=True) == [
        'parsing time "2025-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": '
        'cannot parse "Z" as ".000000"'
    ]
    assert _type_errors(EVENT, {"eventTime": "2025-01-02T03:04:05.000001Z"}) == []


def test_wrongly_typed_values_are_dropped_from_the_pruned_copy() -> None:
    res = schema.check(SERVICE, {"spec": {"ports": [{"port": "80", "name": "http"}]}})
    assert res.obj == {"spec": {"ports": [{"name": "http"}]}}


def test_non_object_root() -> None:
    res = schema.check(POD, [])  # type: ignore[arg-type]
    assert res.type_errors == ["json: cannot unmarshal array into Go value of type v1.Pod"]


def test_decode_error_message() -> None:
    detail = 'strict decoding error: unknown field "spec.foo"'
    assert schema.decode_error_message("Service", "v1", detail) == (
        'Service in version "v1" cannot be handled as a Service: ' + detail
    )


# --- definitions ----------------------------------------------------------------------------


def test_definition_keys_of_served_kinds() -> None:
    assert schema.definition_key("", "v1", "Pod") == POD
    assert schema.definition_key("discovery.k8s.io", "v1", "EndpointSlice") == SLICE
    assert schema.definition_key("coordination.k8s.io", "v1", "Lease") == LEASE
    assert schema.definition_key("autoscaling", "v1", "Scale") == "io.k8s.api.autoscaling.v1.Scale"
    assert schema.definition_key("", "v1", "Event") == EVENT
    assert schema.definition_key("apps", "v1", "DeleteOptions") == (
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
    )
    assert schema.definition_key("", "v1", "ConfigMap") == "io.k8s.api.core.v1.ConfigMap"
    assert schema.definition_key("", "v1", "ServiceAccount") is None
    for kind in ("Namespace", "Node", "Service", "Endpoints", "Status"):
        assert schema.definition_key("", "v1", kind) is not None


def test_required_fields_are_recorded() -> None:
    defs = schema.definitions()
    assert defs["io.k8s.api.core.v1.ServicePort"]["required"] == ["port"]
    assert "containers" in defs["io.k8s.api.core.v1.PodSpec"]["required"]
    assert "required" not in defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]


def test_generated_file_is_current() -> None:
    pytest.importorskip("kubernetes")
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [sys.executable, str(root / "tools/gen_schemas.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


# --- /openapi/v3 ----------------------------------------------------------------------------

RESOURCES = [
    ResourceSpec("", "v1", "Namespace", "namespaces", False, ("status",)),
    ResourceSpec("", "v1", "Node", "nodes", False, ("status",)),
    ResourceSpec("", "v1", "Pod", "pods", True, ("status",)),
    ResourceSpec("", "v1", "Service", "services", True, ("status",)),
    ResourceSpec("", "v1", "Endpoints", "endpoints", True),
    ResourceSpec("", "v1", "Event", "events", True),
    ResourceSpec("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceSpec("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceSpec("apps", "v1", "Deployment", "deployments", True, ("status", "scale")),
    ResourceSpec("apps", "v1", "ReplicaSet", "replicasets", True, ("status", "scale")),
]
GVS = sorted({(r.group, r.version) for r in RESOURCES})


def _supports_query_param(doc: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """kubectl's supportsQueryParamV3 (cli-runtime query_param_verifier_v3.go), in Python."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(p.get("name") == param for p in op.get("parameters", []))
    return False


def test_root_document_hashes_match_documents() -> None:
    root = openapi.openapi_v3_root(GVS, RESOURCES)
    assert set(root["paths"]) == {
        "api/v1",
        "apis/apps/v1",
        "apis/coordination.k8s.io/v1",
        "apis/discovery.k8s.io/v1",
    }
    for group, version in GVS:
        path = f"apis/{group}/{version}" if group else f"api/{version}"
        url = root["paths"][path]["serverRelativeURL"]
        data = openapi.openapi_v3_document_bytes(group, version, RESOURCES)
        assert url == f"/openapi/v3/{path}?hash={openapi.document_hash(data)}"
        assert json.loads(data) == openapi.openapi_v3_document(group, version, RESOURCES)
    assert root == openapi.openapi_v3_root(list(reversed(GVS)), list(reversed(RESOURCES)))


def test_hash_changes_with_served_resources() -> None:
    a = openapi.openapi_v3_root([("", "v1")], RESOURCES[:2])
    b = openapi.openapi_v3_root([("", "v1")], RESOURCES[:3])
    assert a != b


def test_documents_let_kubectl_use_server_side_field_validation() -> None:
    for r in RESOURCES:
        doc = openapi.openapi_v3_document(r.group, r.version, RESOURCES)
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        for param in ("fieldValidation", "dryRun", "fieldManager"):
            assert _supports_query_param(doc, gvk, param), (r.kind, param)
        # kubectl stops at the first PATCH for the kind, so every one must declare it.
        for item in doc["paths"].values():
            for method in ("post", "put", "patch"):
                op = item.get(method)
                if op is not None:
                    names = {p["name"] for p in op["parameters"]}
                    assert {"fieldValidation", "dryRun", "fieldManager"} <= names
    # Namespace is kubectl's stand-in for CRDs: it must be in the core document too.
    core = openapi.openapi_v3_document("", "v1", RESOURCES)
    ns_gvk = {"group": "", "version": "v1", "kind": "Namespace"}
    assert _supports_query_param(core, ns_gvk, "fieldValidation")


def test_document_schemas_are_closed_and_tagged() -> None:
    doc = openapi.openapi_v3_document("discovery.k8s.io", "v1", RESOURCES)
    assert doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    assert schemas[SLICE]["x-kubernetes-group-version-kind"] == [
        {"group": "discovery.k8s.io", "kind": "EndpointSlice", "version": "v1"}
    ]
    assert "io.k8s.api.discovery.v1.EndpointSliceList" in schemas
    assert "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}" in doc["paths"]
    assert "/apis/discovery.k8s.io/v1/endpointslices" in doc["paths"]
    text = json.dumps(doc)
    prefix = "#/components/schemas/"
    for ref in {part.split('"')[0] for part in text.split('"$ref": "' + prefix)[1:]}:
        assert ref in schemas, ref
    assert "io.k8s.api.core.v1.Pod" not in schemas


def test_scale_subresource_patch_is_tagged_with_scale() -> None:
    doc = openapi.openapi_v3_document("apps", "v1", RESOURCES)
    op = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert op["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
    }
    assert "io.k8s.api.autoscaling.v1.Scale" in doc["components"]["schemas"]
