"""Informer: a local, indexed, eventually-consistent copy of one resource collection.

Controllers never read the API server while reconciling; they read an informer's
:class:`Store`, and react to its change notifications by enqueueing keys. The informer keeps
that copy current by the list-then-watch protocol:

1. list the collection in pages (``limit`` + ``continue``); a 410 on a continue token
   means the snapshot expired mid-list, so the list restarts from scratch;
2. replace the store with the listed items and tell handlers about the difference
   (add for new keys, update for every surviving key, delete for vanished keys);
3. watch from the list's resourceVersion with bookmarks, applying each event, and
   remember the last resourceVersion seen (bookmarks advance it without changing data);
4. when a watch ends or breaks, watch again from that last resourceVersion (with backoff
   on errors); when the server says the version is gone (410, as an ``ERROR`` event or as
   :class:`~sliceplane.api.errors.Gone`/``Expired`` raised), go back to 1.

Objects are the decoded JSON dicts as received, after the informer's optional *transform*
(client-go's ``SetTransform``: kube-controller-manager uses one to drop ``managedFields``
from every cached object, see :func:`strip_managed_fields`). They are shared between the
store and every handler, so **nobody may mutate them**: copy before changing anything.

Transport is abstracted by :class:`ListWatcher`, which the project's HTTP client (or a test
fake) implements.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sliceplane.api.errors import Gone
from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.watch import ListPage, WatchEvent
from sliceplane.machinery.clock import Clock

log = logging.getLogger(__name__)

"""A decoded API object; read-only by convention (see the module docstring)."""


class ListWatcher(Protocol):
    """The two calls an informer needs from an API client, for one collection (a resource,
    optionally restricted to a namespace or by selectors, all fixed by the implementation).

    Errors are raised as :mod:`sliceplane.api.errors` classes; in particular a too-old
    resourceVersion or continue token must surface as :class:`~sliceplane.api.errors.Gone`
    (or its subclass ``Expired``), either raised or as an ``ERROR`` event carrying a Status
    with ``code: 410``.
    """

    async def list(
        self,
        *,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
    ) -> ListPage:
        """One page. ``resource_version=None`` asks for the most recent state."""
        ...

    def watch(
        self,
        *,
        resource_version: str,
        timeout_seconds: int | None,
        allow_bookmarks: bool,
    ) -> AsyncIterator[WatchEvent]:
        """Events after ``resource_version``. The iterator ends when the server closes the
        stream (e.g. after ``timeout_seconds``); transport failures are raised from it. If
        the iterator has ``aclose`` the informer calls it when it stops reading."""
        ...


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's
    ``MetaNamespaceKeyFunc``)."""
    meta = meta_of(obj)
    name = str(meta.get("name") or "")
    ns = meta.get("namespace")
    return f"{ns}/{name}" if ns else name


def resource_version(obj: Mapping[str, Any]) -> str:
    meta = meta_of(obj)
    return str(meta.get("resourceVersion") or "")


def namespace_index(obj: Mapping[str, Any]) -> list[str]:
    """Index function: the object's namespace (cluster-scoped objects are not indexed)."""
    ns = meta_of(obj).get("namespace")
    return [str(ns)] if ns else []


IndexFunc = Callable[[Obj], list[str]]

Transform = Callable[[Obj], Obj]
"""Applied to every object an informer receives (listed items and watch events' objects,
deletions included) before it is stored or handed to a handler. It returns the object to
keep: its argument when nothing changes, else a new object (a list watcher may share the
objects it hands out, so the argument is best left untouched)."""


def strip_managed_fields(obj: Obj) -> Obj:
    """Drop ``metadata.managedFields``, as kube-controller-manager's informer transform does
    (``trim`` in ``CreateControllerContext``): controllers never read them, and for a pod
    written by a kubelet they are a third of the decoded object. An update sent from a
    trimmed copy carries no managedFields, which the API server treats as "keep the live
    ones" (upstream's field manager does the same). The argument is not changed (a list
    watcher may share its objects): a trimmed object is a shallow copy."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    trimmed = dict(obj)
    trimmed["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return trimmed


class Store:
    """Objects by key, with named secondary indexes.

    Reads return the stored dicts themselves (no copies): treat them as immutable. Only the
    owning :class:`Informer` writes.
    """

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        # (index, value) -> its keys sorted, until that value's key set changes: a large
        # Service's pods are selected in key order on every sync, and sorting 10,000 keys
        # each time showed up in the controller's profile.
        self._sorted: dict[tuple[str, str], tuple[str, ...]] = {}

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add_index(self, name: str, fn: IndexFunc) -> None:
        """Register an index (may be called after objects are stored: it is backfilled).

        ``fn`` maps an object to the index values it should be found under."""
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists")
        self._index_funcs[name] = fn
        self._sorted = {k: v for k, v in self._sorted.items() if k[0] != name}
        index: dict[str, set[str]] = {}
        self._indices[name] = index
        for key, obj in self._items.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def by_index(self, name: str, value: str, *, ordered: bool = True) -> builtins.list[Obj]:
        """Objects whose index ``name`` contains ``value``, sorted by key unless ``ordered``
        is False (sorting a namespace of 10k keys on every call shows up in profiles)."""
        keys = self._indices[name].get(value, set())
        return [self._items[k] for k in (sorted(keys) if ordered else keys)]

    def index_set(self, name: str, value: str) -> frozenset[str]:
        """The keys under ``value`` in index ``name``, unordered (cheap)."""
        return frozenset(self._indices[name].get(value, ()))

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        return list(self.sorted_keys(name, value))

    def sorted_keys(self, name: str, value: str) -> tuple[str, ...]:
        """The keys under ``value`` in index ``name``, sorted; remembered until an object
        joins or leaves that value (updates that keep an object's index values do not
        count), so repeated selections of an unchanged set cost no sort."""
        cached = self._sorted.get((name, value))
        if cached is None:
            cached = tuple(sorted(self._indices[name].get(value, ())))
            self._sorted[(name, value)] = cached
        return cached

    # -- writes (informer only) ----------------------------------------------------------

    def _put(self, key: str, obj: Obj) -> Obj | None:
        old = self._items.get(key)
        self._items[key] = obj
        sorted_cache = self._sorted
        for name, fn in self._index_funcs.items():
            values = fn(obj)
            if old is not None:
                before = fn(old)
                if before == values:
                    continue  # the usual update: same index values, nothing to move
                self._unindex_values(name, key, before)
            index = self._indices[name]
            for value in values:
                keys = index.get(value)
                if keys is None:
                    keys = index[value] = set()
                if key not in keys:
                    keys.add(key)
                    if sorted_cache:
                        sorted_cache.pop((name, value), None)
        return old

    def _delete(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._index_funcs.items():
            self._unindex_values(name, key, fn(obj))

    def _unindex_values(self, name: str, key: str, values: builtins.list[str]) -> None:
        index = self._indices[name]
        for value in values:
            keys = index.get(value)
            if keys is not None and key in keys:
                keys.discard(key)
                if self._sorted:
                    self._sorted.pop((name, value), None)
                if not keys:
                    del index[value]


@dataclass
class _Handler:
    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


class _Relist(Exception):
    """Internal: the watch's resourceVersion is gone; list again."""


@dataclass
class InformerOptions:
    """Tuning knobs; defaults follow client-go's reflector where it has one."""

    page_size: int = 500
    """``limit`` for each list page."""
    watch_timeout_seconds: int | None = 300
    """Shortest server-side watch timeout; the watch is re-established from the last RV
    after it. Each watch asks for a random timeout between this and twice this, as
    client-go's reflector does, so informers started together do not all re-watch at
    the same moment."""
    backoff_initial: float = 0.8
    """First wait after a failed list or a broken watch."""
    backoff_max: float = 30.0
    """Cap for the doubling backoff."""
    min_healthy_watch: float = 1.0
    """A watch that ends normally sooner than this without delivering an event counts as a
    failure for backoff purposes, so a server that closes streams at once is not hot-looped."""


class Informer:
    """Keeps a :class:`Store` in sync with a collection and notifies handlers.

    Promises:

    * handlers are called synchronously, in event order, after the store has been updated,
      from the informer's task; they must be quick and must not block (map to keys and
      enqueue). An exception in a handler is logged and does not stop the informer;
    * ``on_update`` is also called for objects that a relist found unchanged (like a
      client-go resync): compare resourceVersions if that matters;
    * ``on_delete`` receives the last state the informer knew (from the DELETED event, or
      the store's copy when a relist found the object gone);
    * :meth:`has_synced` turns true once the first complete list has been stored and its
      add notifications delivered; a handler added later is first told about every stored
      object as an add.
    """

    def __init__(
        self,
        lw: ListWatcher,
        clock: Clock,
        options: InformerOptions | None = None,
        *,
        name: str = "",
        transform: Transform | None = None,
    ) -> None:
        self.name = name
        self._transform = transform
        self._lw = lw
        self._clock = clock
        self._opts = options or InformerOptions()
        self.store = Store()
        self._handlers: list[_Handler] = []
        self._synced = asyncio.Event()
        self._last_rv = ""
        self._watch_delivered = False
        self._inner: asyncio.Task[None] | None = None
        self._stop_requested = False

    # -- public --------------------------------------------------------------------------

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self.store.add_index(name, fn)

    def ensure_index(self, name: str, fn: IndexFunc) -> None:
        """Add the index unless this very function is already registered under ``name``
        (controllers sharing a factory's informer each ask for the indexes they use); a
        different function under the same name is still an error."""
        if self.store._index_funcs.get(name) is fn:
            return
        self.store.add_index(name, fn)

    def add_handler(
        self,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        handler = _Handler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    @property
    def last_resource_version(self) -> str:
        """The newest resourceVersion seen (list, event or bookmark)."""
        return self._last_rv

    async def run(self) -> None:
        """List and watch until cancelled or :meth:`stop` is called (then return)."""
        if self._inner is not None:
            raise RuntimeError("informer already running")
        self._stop_requested = False
        self._inner = asyncio.create_task(self._run(), name=f"informer-{self.name}")
        try:
            await self._inner
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._stop_requested and task is not None and not task.cancelling():
                return
            raise
        finally:
            self._inner = None

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop_requested = True
        if self._inner is not None:
            self._inner.cancel()

    # -- loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = _Backoff(self._clock, self._opts.backoff_initial, self._opts.backoff_max)
        relist_backoff = _Backoff(self._clock, self._opts.backoff_initial, self._opts.backoff_max)
        barren_relists = 0
        while True:
            try:
                await self._list_and_replace()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("informer %s: list failed: %s", self.name, exc)
                await backoff.wait()
                continue
            backoff.reset()
            while True:
                try:
                    healthy = await self._watch_once()
                except _Relist:
                    log.info(
                        "informer %s: resourceVersion %s gone, relisting", self.name, self._last_rv
                    )
                    # The first 410 relists at once; a watch that keeps failing with 410
                    # right after a relist must not turn into a list storm.
                    if self._watch_delivered:
                        relist_backoff.reset()
                        barren_relists = 0
                    barren_relists += 1
                    if barren_relists > 1:
                        await relist_backoff.wait()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("informer %s: watch failed: %s", self.name, exc)
                    if self._watch_delivered:
                        backoff.reset()  # it was working: this is a fresh failure
                    await backoff.wait()
                    continue
                if healthy:
                    backoff.reset()
                else:
                    await backoff.wait()

    async def _list_all(self) -> tuple[list[Obj], str]:
        items: list[Obj] = []
        token: str | None = None
        restarted = False
        while True:
            try:
                page = await self._lw.list(limit=self._opts.page_size, continue_=token)
            except Gone:
                if token is None or restarted:
                    raise
                # The snapshot behind the continue token expired: start over, once.
                log.info("informer %s: continue token expired, restarting list", self.name)
                items, token, restarted = [], None, True
                continue
            if self._transform is not None:
                items.extend(self._transform(o) for o in page.items)
            else:
                items.extend(page.items)
            if not page.continue_:
                return items, page.resource_version
            token = page.continue_

    async def _list_and_replace(self) -> None:
        items, rv = await self._list_all()
        fresh: dict[str, Obj] = {}
        for obj in items:
            fresh[object_key(obj)] = obj
        store = self.store
        stale = [k for k in store._items if k not in fresh]
        removed = [store._delete(k) for k in stale]
        changes: list[tuple[Obj | None, Obj]] = [(store._put(k, o), o) for k, o in fresh.items()]
        self._last_rv = rv
        for old in removed:
            if old is not None:
                self._notify_delete(old)
        for old_obj, new_obj in changes:
            if old_obj is None:
                self._notify_add(new_obj)
            else:
                self._notify_update(old_obj, new_obj)
        self._synced.set()

    async def _watch_once(self) -> bool:
        """One watch stream. Returns whether it was healthy (delivered an event or lasted
        long enough) when it ended normally; raises on failure or :class:`_Relist`."""
        started = self._clock.now()
        self._watch_delivered = False
        stream: AsyncIterator[WatchEvent] | None = None
        try:
            stream = self._lw.watch(
                resource_version=self._last_rv,
                timeout_seconds=_jittered(self._opts.watch_timeout_seconds),
                allow_bookmarks=True,
            )
            async for event in stream:
                self._apply(event)
                self._watch_delivered = True
        except Gone as exc:
            raise _Relist() from exc
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # the stream is being abandoned anyway
                    log.debug("informer %s: closing watch failed", self.name, exc_info=True)
        return self._watch_delivered or self._clock.now() - started >= self._opts.min_healthy_watch

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        if event.type == "ERROR":
            if obj.get("code") == 410 or obj.get("reason") in ("Gone", "Expired"):
                raise _Relist()
            raise WatchError(obj)
        rv = resource_version(obj)
        if event.type == "BOOKMARK":
            if rv:
                self._last_rv = rv
            return
        if self._transform is not None:
            obj = self._transform(obj)
        key = object_key(obj)
        if event.type in ("ADDED", "MODIFIED"):
            old = self.store._put(key, obj)
            if rv:
                self._last_rv = rv
            if old is None:
                self._notify_add(obj)
            else:
                self._notify_update(old, obj)
        elif event.type == "DELETED":
            gone = self.store._delete(key)
            if rv:
                self._last_rv = rv
            if gone is not None:
                self._notify_delete(obj)
        else:
            log.warning("informer %s: ignoring unknown event type %r", self.name, event.type)

    # -- notifications -------------------------------------------------------------------

    def _notify_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., None], *args: Obj) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("informer %s: handler %r failed", self.name, fn)


def _jittered(seconds: int | None) -> int | None:
    """``seconds`` to ``2 * seconds``, uniformly (client-go: minWatchTimeout * (1 + rand))."""
    if seconds is None:
        return None
    return int(seconds * (1.0 + random.random()))


class WatchError(Exception):
    """A watch ``ERROR`` event other than 410; the informer re-watches after backoff."""

    def __init__(self, status: Obj) -> None:
        super().__init__(str(status.get("message") or status))
        self.status = status


class _Backoff:
    """Doubling delay on the injected clock, without jitter (deterministic in tests)."""

    def __init__(self, clock: Clock, initial: float, cap: float) -> None:
        self._clock = clock
        self._initial = initial
        self._cap = cap
        self._next = initial

    def reset(self) -> None:
        self._next = self._initial

    async def wait(self) -> None:
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        await self._clock.sleep(delay)
