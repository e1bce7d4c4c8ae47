"""The shared informer factory keys informers by (resource, label selector, field
selector): the same collection is one list+watch, a restricted one is its own."""

from __future__ import annotations

from typing import Any, cast

from sliceplane.client.client import Client
from sliceplane.machinery.clock import FakeClock
from sliceplane.machinery.factory import InformerFactory


class RecordingClient:
    """Records the list_watcher calls; the informers are never run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def list_watcher(self, resource: str, **kw: Any) -> object:
        self.calls.append((resource, kw))
        return object()


def test_informers_are_keyed_by_resource_and_selectors() -> None:
    rec = RecordingClient()
    factory = InformerFactory(cast(Client, rec), FakeClock())
    everything = factory.informer("services")
    assert factory.informer("services") is everything
    assert factory.informer("services", label_selector="", field_selector="") is everything
    proxied = factory.informer("services", label_selector="!a,!b")
    assert proxied is not everything
    assert factory.informer("services", label_selector="!a,!b") is proxied
    node = factory.informer("nodes", field_selector="metadata.name=n1")
    assert factory.informer("nodes") is not node
    assert rec.calls == [
        ("services", {}),
        ("services", {"label_selector": "!a,!b", "field_selector": None}),
        ("nodes", {"label_selector": None, "field_selector": "metadata.name=n1"}),
        ("nodes", {}),
    ]
    assert [everything.name, proxied.name, node.name] == [
        "services",
        "services[!a,!b]",
        "nodes[metadata.name=n1]",
    ]
