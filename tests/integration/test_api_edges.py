"""API edges: `pods/binding` (how a scheduler places a pod) and watches from the future."""

from __future__ import annotations

import uuid

import pytest
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client


async def test_binding_sets_node_once(apiserver: ServerProcess) -> None:
    async with await Client.connect(apiserver.kubeconfig) as client:
        ns = f"bind-{uuid.uuid4().hex[:6]}"
        await client.create("namespaces", {"metadata": {"name": ns}})
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
        await client.create("pods", pod, ns)
        with pytest.raises(errors.Invalid):  # a plain update may not move a pod
            await client.patch("pods", "p", {"spec": {"nodeName": "node-9"}}, ns)
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "p"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "node-9"},
        }
        path = client.path("pods", ns, "p", "binding")
        await client.request("POST", path, body=binding)
        got = await client.get("pods", "p", ns)
        assert got["spec"]["nodeName"] == "node-9"
        scheduled = [c for c in got["status"]["conditions"] if c["type"] == "PodScheduled"]
        assert scheduled and scheduled[0]["status"] == "True"
        with pytest.raises(errors.Conflict) as again:
            await client.request("POST", path, body=binding)
        assert 'is already assigned to node "node-9"' in again.value.message
        await client.delete("namespaces", ns)


async def test_watch_from_a_future_resource_version_times_out(apiserver: ServerProcess) -> None:
    async with await Client.connect(apiserver.kubeconfig) as client:
        current = int((await client.list("namespaces")).resource_version)
        with pytest.raises(errors.Timeout) as exc:
            async for _ in client.watch("namespaces", resource_version=str(current + 10_000)):
                pass
        assert f"Too large resource version: {current + 10_000}" in exc.value.message


async def test_deletecollection_with_a_label_selector(apiserver: ServerProcess) -> None:
    async with await Client.connect(apiserver.kubeconfig) as client:
        ns = f"dc-{uuid.uuid4().hex[:6]}"
        await client.create("namespaces", {"metadata": {"name": ns}})
        for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
            await client.create(
                "services",
                {
                    "metadata": {"name": name, "labels": {"team": team}},
                    "spec": {"ports": [{"port": 80}]},
                },
                ns,
            )
        doc = await client.request_json(
            "DELETE", client.path("services", ns), params={"labelSelector": "team=x"}
        )
        assert doc["kind"] == "ServiceList"
        assert sorted(i["metadata"]["name"] for i in doc["items"]) == ["a", "b"]
        left = await client.list("services", ns)
        assert [i["metadata"]["name"] for i in left.items] == ["c"]
        await client.delete("namespaces", ns)
