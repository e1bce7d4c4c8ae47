"""Discovery documents: aggregated (apidiscovery.k8s.io/v2) and the legacy ones.

kubectl uses aggregated discovery only when the reply carries exactly
``AGGREGATED_CONTENT_TYPE``; kr8s and older clients walk the legacy documents. Both are
derived from the resource table, so they can never disagree. The OpenAPI v3 documents
(``/openapi/v3``, what ``kubectl explain`` and client-side validation read) are served from
here too, built once per group-version by ``api.schema`` and cached.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api.openapi import (
    ResourceSpec,
    openapi_v2_document_bytes,
    openapi_v3_document_bytes,
    openapi_v3_root,
)
from sliceplane.api.resources import RESOURCES, ResourceInfo, group_versions
from sliceplane.apiserver.httperrors import PageNotFound

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "finalize": ["update"],
    "binding": ["create"],
    "exec": ["create", "get"],
    "attach": ["create", "get"],
    "portforward": ["create", "get"],
}
_SUB_KINDS = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    # kube-apiserver's aggregated discovery gives pods/log, exec and portforward a kind
    # without a version.
    "log": ("", "", "Pod"),
    "exec": ("", "", "PodExecOptions"),
    "attach": ("", "", "PodAttachOptions"),
    "portforward": ("", "", "PodPortForwardOptions"),
}


def _aggregated_resource(r: ResourceInfo) -> dict[str, Any]:
    # kube-apiserver names the review kinds (never stored) without group and version.
    group, version = (r.group, r.version) if r.stored else ("", "")
    doc: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": group, "version": version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": sorted(r.verbs),
    }
    if r.short_names:
        doc["shortNames"] = list(r.short_names)
    if r.categories:
        doc["categories"] = list(r.categories)
    subs = []
    for sub in r.subresources:
        g, v, k = _SUB_KINDS.get(sub, (r.group, r.version, r.kind))
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": g, "version": v, "kind": k},
                "verbs": _SUB_VERBS.get(sub, ["get"]),
            }
        )
    if subs:
        doc["subresources"] = subs
    return doc


def aggregated(core: bool) -> dict[str, Any]:
    """The APIGroupDiscoveryList for ``/api`` (core=True) or ``/apis``."""
    items = []
    for group, version in group_versions():
        if (group == "") != core:
            continue
        resources = [
            _aggregated_resource(r) for r in RESOURCES if (r.group, r.version) == (group, version)
        ]
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [{"version": version, "resources": resources, "freshness": "Current"}],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str) -> dict[str, Any]:
    versions = [v for g, v in group_versions() if g == group]
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    groups: list[dict[str, Any]] = []
    for g, _ in group_versions():
        if g and all(x["name"] != g for x in groups):
            groups.append(_group_doc(g))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    if not any(g == group for g, _ in group_versions()) or not group:
        return None
    doc = _group_doc(group)
    doc.update({"kind": "APIGroup", "apiVersion": "v1"})
    return doc


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    if (group, version) not in group_versions():
        return None
    resources: list[dict[str, Any]] = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": sorted(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for sub in r.subresources:
            g, v, k = _SUB_KINDS.get(sub, ("", "", r.kind))
            sub_entry: dict[str, Any] = {
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": k,
                "verbs": _SUB_VERBS.get(sub, ["get"]),
            }
            if g:
                sub_entry["group"] = g
                sub_entry["version"] = v
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# Read-only kinds have no schema, so no OpenAPI document (nothing can be written to them).
# Only stored kinds have schemas; ``pods/log`` answers text, not an object to describe.
_NO_OPENAPI_SUBRESOURCES = ("log",)
_SPECS = [
    ResourceSpec(
        r.group,
        r.version,
        r.kind,
        r.plural,
        r.namespaced,
        tuple(s for s in r.subresources if s not in _NO_OPENAPI_SUBRESOURCES),
    )
    for r in RESOURCES
    if r.stored and not r.read_only
]


def _served_group_versions() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for r in RESOURCES:
        if r.stored and not r.read_only and (r.group, r.version) not in out:
            out.append((r.group, r.version))
    return out


class OpenAPIDocs:
    """``/openapi/v3`` and its per-group-version documents, and the ``/openapi/v2`` types
    document (built once, then cached)."""

    def __init__(self) -> None:
        self._cache: dict[str, bytes] = {}

    def answer(self, path: str) -> dict[str, Any] | bytes:
        """The root index (an object) or a group-version document (encoded); NotFound."""
        path = path.rstrip("/")
        if path == "/openapi/v2":
            return openapi_v2_document_bytes(tuple(_SPECS))
        if path == "/openapi/v3":
            return openapi_v3_root(_served_group_versions(), _SPECS)
        prefix = "/openapi/v3/"
        if not path.startswith(prefix):
            raise PageNotFound()  # outside /openapi/v2 and /openapi/v3: Go's mux
        gv = path[len(prefix) :]
        doc = self._cache.get(gv)
        if doc is None:
            if gv.startswith("api/"):
                group, version = "", gv[4:]
            elif gv.startswith("apis/") and gv.count("/") == 2:
                _, group, version = gv.split("/")
            else:
                raise PageNotFound("")  # kube-openapi's v3 handler: an empty 404
            if (group, version) not in _served_group_versions():
                raise PageNotFound("")
            doc = openapi_v3_document_bytes(group, version, _SPECS)
            self._cache[gv] = doc
        return doc
