"""Discovery documents: aggregated (apidiscovery.k8s.io/v2) and the legacy ones.

kubectl uses aggregated discovery only when the reply carries exactly
``AGGREGATED_CONTENT_TYPE``; kr8s and older clients walk the legacy documents. Both are
derived from the resource table, so they can never disagree.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api.resources import RESOURCES, ResourceInfo, group_versions

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "finalize": ["update"],
    "binding": ["create"],
}
_SUB_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "binding": ("", "v1", "Binding")}


def _aggregated_resource(r: ResourceInfo) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
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
