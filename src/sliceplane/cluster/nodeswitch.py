"""Node failure driven through the API: the ``sliceplane.io/stopped`` annotation.

Annotating a Node ``sliceplane.io/stopped=true`` (``sliceplane node stop NAME`` does that;
kubectl can too) stops its simulated kubelet: no heartbeats, the node turns NotReady and
its pods not ready. Removing the annotation starts it again. Anything that can write a
Node can thus fail one, and the local cluster needs no side channel for it.
"""

from __future__ import annotations

import asyncio
from typing import Final

from sliceplane.api.meta import Obj, annotations_of, name_of
from sliceplane.machinery.factory import InformerFactory
from sliceplane.workloads.kubelet.nodes import SimulatedNodes

ANNOTATION_STOPPED: Final = "sliceplane.io/stopped"


def wants_stopped(node: Obj) -> bool:
    """Whether the Node asks its simulated kubelet to be stopped."""
    return annotations_of(node).get(ANNOTATION_STOPPED) == "true"


async def run_node_switches(factory: InformerFactory, nodes: SimulatedNodes) -> None:
    """Start/stop ``nodes`` when their ``sliceplane.io/stopped`` annotation moves; runs
    until cancelled. Nodes the simulation does not own are left alone."""
    informer = factory.informer("nodes")
    wanted: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

    def seen(node: Obj) -> None:
        wanted.put_nowait((name_of(node), wants_stopped(node)))

    informer.add_handler(seen, lambda _old, new: seen(new), None)
    state: dict[str, bool] = {}
    while True:
        name, stopped = await wanted.get()
        if name not in nodes.nodes or state.get(name, False) == stopped:
            continue
        state[name] = stopped
        if stopped:
            await nodes.stop_node(name)
        else:
            await nodes.start_node(name)
