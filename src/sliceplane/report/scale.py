"""``sliceplane report scale``: what one pod's change costs the watchers, Endpoints vs
EndpointSlices, measured on the embedded API server with real watch connections.

KEP-752 (the EndpointSlice API) made the case with arithmetic: the Endpoints object of a
5,000-pod Service is about 1.5 MB, and every change sends all of it to every watcher — one
kube-proxy per node, so about 7.5 GB for 5,000 nodes — while a slice change sends one
slice of about 100 endpoints. This module measures it:

* **one change**: for a Service of N pods, W watchers of Endpoints and W of
  EndpointSlices (cluster-wide, as kube-proxy watches) are opened; one pod turns not ready
  (or ready again); the writes the Endpoints and EndpointSlice controllers make for that
  change are applied; every watcher's bytes and events are counted once all arrived;
* **rolling update**: every pod replaced in turn, one step per pod, with each step's writes;
* where N times W would exceed the byte budget, or the Endpoints object is over the API server's
  object size limit (etcd's 1.5 MiB, which the embedded server applies too), the row says
  so and is extrapolated from the measured per-watcher bytes — the same bytes go to every
  watcher, which the measured rows check.

Pure parts are in :mod:`.workload` (objects) and :mod:`.output` (tables, plots).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sliceplane.api.errors import StatusError
from sliceplane.api.meta import Obj
from sliceplane.client.client import Client, wait_ready
from sliceplane.cluster.apiserverprocess import APIServerProcess
from sliceplane.cluster.config import ClusterConfig
from sliceplane.endpointbase.plan import Action
from sliceplane.report.watchers import WatchCounter, close_all, open_all, session_for
from sliceplane.report.workload import ServiceState, initial_state, service_manifest

log = logging.getLogger(__name__)

API = Literal["endpoints", "endpointslices"]
APIS: tuple[API, ...] = ("endpoints", "endpointslices")
PATHS: dict[API, str] = {
    "endpoints": "/api/v1/endpoints",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
}

Progress = Callable[[str, int, int], None]
"""``(task description, done, total)``; the CLI draws it with rich."""


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    pods: tuple[int, ...] = (100, 1_000, 5_000, 10_000)
    watchers: tuple[int, ...] = (1, 10, 100, 1_000)
    rolling_pods: tuple[int, ...] = (100, 300, 1_000)
    rolling_watchers: int = 1
    byte_budget: int = 1_000_000_000
    """Largest total (bytes times watchers) one measurement may send; beyond, extrapolate."""
    nodes: int = 5_000
    """The cluster size to extrapolate to: one kube-proxy watcher per node (KEP-752)."""
    max_endpoints_per_slice: int = 100
    wait_timeout: float = 300.0
    """Upper bound of a wait for every watcher's events (a bound, not a measurement)."""


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One pod's change, one API, N pods, W watchers."""

    api: API
    pods: int
    watchers: int
    measured: bool
    writes: int
    """Objects written for the change."""
    bytes_per_watcher: int
    events_per_watcher: int
    total_bytes: int
    total_events: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class RollingRow:
    api: API
    pods: int
    watchers: int
    writes: int
    bytes_per_watcher: int
    events_per_watcher: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class ObjectSize:
    pods: int
    endpoints_bytes: int
    """The Endpoints object's JSON as a watch event carries it (measured, or encoded here
    when the server refused it)."""
    slice_bytes: int
    """The largest slice a one-pod change rewrote."""
    slices: int
    endpoints_stored: bool


@dataclass
class ScaleResults:
    config: ScaleConfig
    changes: list[ChangeRow] = field(default_factory=list)
    rolling: list[RollingRow] = field(default_factory=list)
    sizes: list[ObjectSize] = field(default_factory=list)

    def per_watcher(self, api: API, pods: int) -> int | None:
        """Measured bytes one watcher received for one change (any W)."""
        for row in self.changes:
            if row.api == api and row.pods == pods and row.measured:
                return row.bytes_per_watcher
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ScaleResults:
        """The inverse of :meth:`to_json` (``results.json`` next to the report)."""
        cfg: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in doc["config"].items()
        }
        return cls(
            config=ScaleConfig(**cfg),
            changes=[ChangeRow(**r) for r in doc["changes"]],
            rolling=[RollingRow(**r) for r in doc["rolling"]],
            sizes=[ObjectSize(**r) for r in doc["sizes"]],
        )


class ScaleError(Exception):
    """The report cannot run (the API server did not start, a write failed)."""


def _noop(_what: str, _done: int, _total: int) -> None:
    return None


class _Runner:
    def __init__(self, client: Client, config: ScaleConfig, progress: Progress) -> None:
        self.client = client
        self.config = config
        self.progress = progress
        self.session = session_for(client.conn)
        self.results = ScaleResults(config)

    async def close(self) -> None:
        await self.session.close()

    # -- writes ------------------------------------------------------------------------

    async def _apply_slices(self, state: ServiceState, actions: list[Action]) -> int:
        by_name = {s["metadata"]["name"]: i for i, s in enumerate(state.slices)}
        for action in actions:
            obj = action.slice
            if action.verb == "create":
                created = await self.client.create("endpointslices", obj, state.namespace)
                state.slices.append(created)
            elif action.verb == "update":
                updated = await self.client.update("endpointslices", obj)
                state.slices[by_name[obj["metadata"]["name"]]] = updated
            else:
                await self.client.delete("endpointslices", obj["metadata"]["name"], state.namespace)
                state.slices = [
                    s for s in state.slices if s["metadata"]["name"] != obj["metadata"]["name"]
                ]
            by_name = {s["metadata"]["name"]: i for i, s in enumerate(state.slices)}
        return len(actions)

    async def _apply_endpoints(self, state: ServiceState) -> tuple[int, str]:
        """Write the Endpoints object; ``(writes, refusal)``: a refused write (over the
        object size limit) is recorded, not raised."""
        obj = state.endpoints_object()
        try:
            if state.endpoints is None:
                state.endpoints = await self.client.create("endpoints", obj, state.namespace)
            else:
                state.endpoints = await self.client.update("endpoints", obj)
        except StatusError as exc:
            return 0, str(exc)
        return 1, ""

    async def _setup(self, namespace: str, pods: int) -> tuple[ServiceState, str]:
        await self.client.create(
            "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        service = await self.client.create("services", service_manifest(namespace), namespace)
        state = initial_state(service, pods, self.config.max_endpoints_per_slice)
        await self._apply_slices(state, state.slice_actions())
        _, refused = await self._apply_endpoints(state)
        return state, refused

    async def _revision(self) -> str:
        page = await self.client.list("namespaces", limit=1)
        return page.resource_version

    # -- one change --------------------------------------------------------------------

    async def one_change(self, pods: int, task: Iterator[None]) -> None:
        cfg = self.config
        state, refused = await self._setup(f"scale-{pods}", pods)
        endpoints_bytes = len(_encode_event(state.endpoints_object()))
        flip = pods // 2
        ready = False
        slice_bytes = 0
        per_watcher: dict[API, int] = {}
        for watchers in cfg.watchers:
            wanted: list[API] = []
            for api in APIS:
                if api == "endpoints" and refused:
                    continue
                estimate = per_watcher.get(api) or (
                    endpoints_bytes if api == "endpoints" else 64 * 1024
                )
                if estimate * watchers <= cfg.byte_budget:
                    wanted.append(api)
            rv = await self._revision()
            counters = {
                api: [
                    WatchCounter(self.session, self.client.conn.server + PATHS[api], rv)
                    for _ in range(watchers if api in wanted else 0)
                ]
                for api in APIS
            }
            every = [c for cs in counters.values() for c in cs]
            try:
                await open_all(every)
                state.set_ready(flip, ready)
                ready = not ready
                writes: dict[API, int] = {
                    "endpointslices": await self._apply_slices(state, state.slice_actions()),
                    "endpoints": (await self._apply_endpoints(state))[0],
                }
                for api in wanted:
                    for c in counters[api]:
                        await c.wait_for(writes[api], cfg.wait_timeout)
                for api in APIS:
                    row = self._row(api, pods, watchers, writes[api], counters[api], per_watcher)
                    if api == "endpointslices" and counters[api]:
                        slice_bytes = max(
                            slice_bytes, counters[api][0].bytes // max(1, writes[api])
                        )
                    if api == "endpoints" and refused:
                        reason = refused.rsplit(":", 1)[-1].strip()
                        row = _extrapolated(
                            api, pods, watchers, endpoints_bytes, f"not stored: {reason}"
                        )
                    self.results.changes.append(row)
            finally:
                await close_all(every)
            next(task)
        self.results.sizes.append(
            ObjectSize(pods, endpoints_bytes, slice_bytes, len(state.slices), not refused)
        )

    def _row(
        self,
        api: API,
        pods: int,
        watchers: int,
        writes: int,
        counters: list[WatchCounter],
        per_watcher: dict[API, int],
    ) -> ChangeRow:
        if not counters:
            known = per_watcher.get(api, 0)
            return _extrapolated(api, pods, watchers, known, "over the byte budget")
        sizes = {c.bytes for c in counters}
        if len(sizes) != 1:
            raise ScaleError(f"{api}: watchers received different bytes: {sorted(sizes)[:5]}")
        per = counters[0].bytes
        per_watcher[api] = per
        return ChangeRow(
            api=api,
            pods=pods,
            watchers=watchers,
            measured=True,
            writes=writes,
            bytes_per_watcher=per,
            events_per_watcher=counters[0].events,
            total_bytes=sum(c.bytes for c in counters),
            total_events=sum(c.events for c in counters),
        )

    # -- rolling update ----------------------------------------------------------------

    async def rolling_update(self, pods: int, task: Iterator[None]) -> None:
        cfg = self.config
        state, refused = await self._setup(f"roll-{pods}", pods)
        rv = await self._revision()
        counters = {
            api: [
                WatchCounter(self.session, self.client.conn.server + PATHS[api], rv)
                for _ in range(cfg.rolling_watchers)
            ]
            for api in APIS
        }
        every = [c for cs in counters.values() for c in cs]
        writes: dict[API, int] = {"endpoints": 0, "endpointslices": 0}
        try:
            await open_all(every)
            for i in range(pods):
                state.replace(i, 2)
                writes["endpointslices"] += await self._apply_slices(state, state.slice_actions())
                writes["endpoints"] += (await self._apply_endpoints(state))[0]
                next(task)
            for api in APIS:
                for c in counters[api]:
                    await c.wait_for(writes[api], cfg.wait_timeout)
                cs = counters[api]
                self.results.rolling.append(
                    RollingRow(
                        api=api,
                        pods=pods,
                        watchers=len(cs),
                        writes=writes[api],
                        bytes_per_watcher=cs[0].bytes,
                        events_per_watcher=cs[0].events,
                        total_bytes=sum(c.bytes for c in cs),
                    )
                )
        finally:
            await close_all(every)
        if refused:
            log.warning("roll-%d: Endpoints not stored: %s", pods, refused)


def _extrapolated(api: API, pods: int, watchers: int, per: int, note: str) -> ChangeRow:
    return ChangeRow(
        api=api,
        pods=pods,
        watchers=watchers,
        measured=False,
        writes=1 if per else 0,
        bytes_per_watcher=per,
        events_per_watcher=1 if per else 0,
        total_bytes=per * watchers,
        total_events=watchers if per else 0,
        note=note,
    )


def _encode_event(obj: Obj) -> bytes:
    import msgspec

    return msgspec.json.encode({"type": "MODIFIED", "object": obj}) + b"\n"


def _ticker(progress: Progress, what: str, total: int) -> Iterator[None]:
    """``next()`` once per finished step; the start (0 of total) is reported at once."""

    def steps() -> Iterator[None]:
        done = 0
        while True:
            yield
            done += 1
            progress(what, done, total)

    progress(what, 0, total)
    ticks = steps()
    next(ticks)  # run up to the first yield: the next next() is step 1
    return ticks


async def measure(client: Client, config: ScaleConfig, progress: Progress = _noop) -> ScaleResults:
    """Every scenario of ``config`` against the API server ``client`` talks to."""
    runner = _Runner(client, config, progress)
    try:
        for pods in config.pods:
            await runner.one_change(
                pods, _ticker(progress, f"one change, {pods} pods", len(config.watchers))
            )
        for pods in config.rolling_pods:
            await runner.rolling_update(
                pods, _ticker(progress, f"rolling update, {pods} pods", pods)
            )
    finally:
        await runner.close()
    return runner.results


async def run(
    config: ScaleConfig, progress: Progress = _noop, data_dir: Path | None = None
) -> ScaleResults:
    """Start an embedded API server (in a temporary directory unless ``data_dir``), measure,
    stop it."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sp-scale-")))
        server = APIServerProcess(ClusterConfig(data_dir=data_dir, listen="127.0.0.1:0"))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, server.start)
        except Exception as exc:
            raise ScaleError(f"the API server did not start: {exc}") from None
        try:
            async with await Client.connect(data_dir / "kubeconfig") as client:
                await wait_ready(client)
                return await measure(client, config, progress)
        finally:
            await loop.run_in_executor(None, server.stop)
    raise AssertionError("unreachable")
