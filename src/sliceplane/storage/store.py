"""A revisioned object store on SQLite, in the role etcd plays for kube-apiserver.

Promises:

* Every object write gets a new, globally monotonic revision (the resourceVersion), also
  across restarts (the revision counter is the maximum stored in the database).
* A write is acknowledged only after its SQLite transaction has committed, so it survives
  ``kill -9`` of the server. Writes are group-committed: while one batch is being written by
  the writer thread, new writes queue up and go out together in the next transaction, which
  is what keeps throughput up with ``synchronous=FULL``.
* Reads are served from memory and only ever show committed state.
* Watchers see every committed change of their resource in revision order, starting after
  any revision still inside the history window; older revisions raise :class:`TooOld`.

Objects are JSON dicts owned by the store once written: callers must treat what they get
back as read-only (copy before changing).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(namespace, name); the namespace is "" for cluster-scoped objects."""

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

_encode = msgspec.json.encode
_decode = msgspec.json.decode


class StorageError(Exception):
    """Base for store failures the API layer maps to Status errors."""


class KeyExists(StorageError):
    pass


class KeyNotFound(StorageError):
    pass


class RevisionConflict(StorageError):
    """The caller's expected revision is not the stored one (optimistic concurrency)."""


class TooOld(StorageError):
    """The requested revision has been compacted out of the history window."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(frozen=True, slots=True)
class Stored:
    """One committed object version: the dict, its JSON bytes and its revision."""

    obj: dict[str, Any]
    raw: bytes
    rv: int

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.obj.get("metadata", {}).get("labels") or {}
        return labels


@dataclass(frozen=True, slots=True)
class Event:
    """A committed change. ``prev`` is the version it replaced (None for ADDED)."""

    type: EventType
    resource: str
    key: Key
    item: Stored
    prev: Stored | None


@dataclass(slots=True)
class _Op:
    kind: Literal["put", "delete"]
    resource: str
    key: Key
    item: Stored
    prev: Stored | None
    future: asyncio.Future[Stored]


@dataclass(slots=True)
class _ResourceState:
    objects: dict[Key, Stored] = field(default_factory=dict)
    history: deque[Event] = field(default_factory=deque)
    watchers: set[Watcher] = field(default_factory=set)
    sorted_keys: list[Key] | None = None


class Watcher:
    """A subscription to one resource's committed events (optionally one namespace).

    The queue is bounded: a consumer that falls ``max_backlog`` events behind is closed
    with an overflow marker, and must relist, like upstream's watch cache does to slow
    watchers.
    """

    def __init__(self, store: Store, resource: str | None, namespace: str | None, backlog: int):
        self._store = store
        self.resource = resource
        self.namespace = namespace
        self._queue: deque[Event] = deque()
        self._backlog = backlog
        self._wakeup = asyncio.Event()
        self.closed = False
        self.overflowed = False

    def _offer(self, ev: Event) -> None:
        if self.closed:
            return
        if self.namespace is not None and ev.key[0] != self.namespace:
            return
        if len(self._queue) >= self._backlog:
            self.overflowed = True
            self.close()
            return
        self._queue.append(ev)
        self._wakeup.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wakeup.set()
            self._store._unsubscribe(self)

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None on timeout or when closed with nothing left."""
        while not self._queue:
            if self.closed:
                return None
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return None
        return self._queue.popleft()

    def drain(self) -> list[Event]:
        """Everything queued right now (no waiting)."""
        out = list(self._queue)
        self._queue.clear()
        return out

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            ev = await self.next()
            if ev is None:
                return
            yield ev


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    rv INTEGER PRIMARY KEY,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


class Store:
    """See the module docstring. Use from one asyncio event loop."""

    def __init__(
        self,
        path: Path | str,
        *,
        history_max: int = 200_000,
        history_seconds: float = 300.0,
        watcher_backlog: int = 100_000,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self.history_max = history_max
        self.history_seconds = history_seconds
        self.watcher_backlog = watcher_backlog
        self._synchronous = synchronous
        self._resources: dict[str, _ResourceState] = {}
        self._all_watchers: set[Watcher] = set()
        self._rev = 0
        self._compacted = 0  # every event with rv > _compacted is still in history
        # Writes queued but not yet committed, so later writes are checked against them.
        self._pending: dict[tuple[str, Key], _Op] = {}
        self._db_trim_to = 0
        self._db_trimmed = 0
        self._queue: list[_Op] = []
        self._queue_ready = asyncio.Event()
        self._writer_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._history_len = 0
        self._closing = False
        self.commits = 0

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open)
        self._writer_task = asyncio.create_task(self._writer(), name="store-writer")

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.executescript(_SCHEMA)
        self._db = db
        max_rv = 0
        for resource, ns, name, rv, data in db.execute(
            "SELECT resource, namespace, name, rv, data FROM objects"
        ):
            obj = _decode(data)
            st = self._state(resource)
            st.objects[(ns, name)] = Stored(obj, bytes(data), rv)
            max_rv = max(max_rv, rv)
        oldest: int | None = None
        rows = db.execute(
            "SELECT rv, resource, namespace, name, type, data FROM history ORDER BY rv"
        ).fetchall()
        for rv, resource, ns, name, typ, data in rows:
            if oldest is None:
                oldest = rv
            item = Stored(_decode(data), bytes(data), rv)
            # prev is not persisted; consumers that need it (selector transitions) treat
            # a replayed MODIFIED without prev conservatively.
            self._state(resource).history.append(Event(typ, resource, (ns, name), item, None))
            max_rv = max(max_rv, rv)
        self._history_len = len(rows)
        row = db.execute("SELECT v FROM meta WHERE k='revision'").fetchone()
        if row:
            max_rv = max(max_rv, int(row[0]))
        self._rev = max_rv
        self._committed_rev = max_rv
        # Everything up to the first retained history row is gone; after a restart we can
        # only promise continuity from the oldest retained event.
        self._compacted = (oldest - 1) if oldest is not None else max_rv

    async def stop(self) -> None:
        self._closing = True
        self._queue_ready.set()
        if self._writer_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
        for w in list(self._all_watchers):
            w.close()
        for st in self._resources.values():
            for w in list(st.watchers):
                w.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_db)
        self._executor.shutdown(wait=True)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---------------------------------------------------------------- reads

    @property
    def revision(self) -> int:
        """The newest committed revision."""
        return self._committed_rev

    _committed_rev: int = 0

    @property
    def oldest_watchable(self) -> int:
        """Watches may start from any revision >= this."""
        return self._compacted

    def _state(self, resource: str) -> _ResourceState:
        st = self._resources.get(resource)
        if st is None:
            st = self._resources[resource] = _ResourceState()
        return st

    def get(self, resource: str, key: Key) -> Stored | None:
        st = self._resources.get(resource)
        return st.objects.get(key) if st else None

    def list_objects(self, resource: str, namespace: str | None = None) -> tuple[list[Stored], int]:
        """Committed objects sorted by (namespace, name), and the revision they reflect."""
        st = self._resources.get(resource)
        if st is None:
            return [], self._committed_rev
        keys = st.sorted_keys
        if keys is None:
            keys = st.sorted_keys = sorted(st.objects)
        if namespace is None:
            return [st.objects[k] for k in keys], self._committed_rev
        lo = bisect.bisect_left(keys, (namespace, ""))
        out: list[Stored] = []
        for k in keys[lo:]:
            if k[0] != namespace:
                break
            out.append(st.objects[k])
        return out, self._committed_rev

    def count(self, resource: str) -> int:
        st = self._resources.get(resource)
        return len(st.objects) if st else 0

    def resources(self) -> Iterable[str]:
        return list(self._resources)

    # ---------------------------------------------------------------- writes

    def _current(self, resource: str, key: Key) -> Stored | None:
        """The latest value including writes queued but not yet committed."""
        op = self._pending.get((resource, key))
        if op is not None:
            return op.item if op.kind == "put" else None
        return self.get(resource, key)

    def current(self, resource: str, key: Key) -> Stored | None:
        """Like :meth:`get` but sees queued writes: use it to base a write on."""
        return self._current(resource, key)

    def _stamp(self, obj: dict[str, Any]) -> Stored:
        self._rev += 1
        rv = self._rev
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(rv)
        return Stored(obj, _encode(obj), rv)

    def _enqueue(
        self,
        kind: Literal["put", "delete"],
        resource: str,
        key: Key,
        item: Stored,
        prev: Stored | None,
    ) -> asyncio.Future[Stored]:
        if self._closing:
            raise StorageError("store is shutting down")
        fut: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        op = _Op(kind, resource, key, item, prev, fut)
        self._queue.append(op)
        self._pending[(resource, key)] = op
        self._queue_ready.set()
        return fut

    async def create(self, resource: str, key: Key, obj: dict[str, Any]) -> Stored:
        """Store a new object; ``obj`` is taken over (its resourceVersion is set)."""
        if self._current(resource, key) is not None:
            raise KeyExists(key)
        item = self._stamp(obj)
        return await self._enqueue("put", resource, key, item, None)

    async def update(
        self, resource: str, key: Key, obj: dict[str, Any], *, expect_rv: int | None = None
    ) -> Stored:
        """Replace an object. With ``expect_rv``, fail unless it is the stored revision."""
        prev = self._current(resource, key)
        if prev is None:
            raise KeyNotFound(key)
        if expect_rv is not None and expect_rv != prev.rv:
            raise RevisionConflict(key)
        item = self._stamp(obj)
        return await self._enqueue("put", resource, key, item, prev)

    async def delete(self, resource: str, key: Key, *, expect_rv: int | None = None) -> Stored:
        """Remove an object; the returned version carries the deletion's revision."""
        prev = self._current(resource, key)
        if prev is None:
            raise KeyNotFound(key)
        if expect_rv is not None and expect_rv != prev.rv:
            raise RevisionConflict(key)
        # The tombstone is the last state with a fresh revision, as etcd reports it.
        obj = dict(prev.obj)
        obj["metadata"] = dict(prev.obj.get("metadata", {}))
        item = self._stamp(obj)
        return await self._enqueue("delete", resource, key, item, prev)

    async def barrier(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._queue:
            fut = self._queue[-1].future
            with contextlib.suppress(Exception):
                await asyncio.shield(fut)

    # ---------------------------------------------------------------- writer

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._queue_ready.clear()
                await self._queue_ready.wait()
                continue
            batch, self._queue = self._queue, []
            try:
                await loop.run_in_executor(self._executor, self._commit, batch)
            except Exception as exc:  # disk full, I/O error: fail the whole batch
                log.exception("store commit failed")
                for op in batch:
                    pk = (op.resource, op.key)
                    if self._pending.get(pk) is op:
                        del self._pending[pk]
                    if not op.future.done():
                        op.future.set_exception(StorageError(f"commit failed: {exc}"))
                continue
            self.commits += 1
            self._apply(batch)

    def _commit(self, batch: list[_Op]) -> None:
        db = self._db
        assert db is not None
        now = time.time()
        put_rows = []
        del_rows = []
        hist_rows = []
        for op in batch:
            ns, name = op.key
            if op.kind == "put":
                put_rows.append((op.resource, ns, name, op.item.rv, op.item.raw))
                typ = "ADDED" if op.prev is None else "MODIFIED"
            else:
                del_rows.append((op.resource, ns, name))
                typ = "DELETED"
            hist_rows.append((op.item.rv, op.resource, ns, name, typ, op.item.raw, now))
        with self._db_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                if put_rows:
                    db.executemany(
                        "INSERT OR REPLACE INTO objects(resource, namespace, name, rv, data) "
                        "VALUES (?,?,?,?,?)",
                        put_rows,
                    )
                if del_rows:
                    db.executemany(
                        "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                        del_rows,
                    )
                db.executemany(
                    "INSERT INTO history(rv, resource, namespace, name, type, data, at) "
                    "VALUES (?,?,?,?,?,?,?)",
                    hist_rows,
                )
                db.execute(
                    "INSERT OR REPLACE INTO meta(k, v) VALUES ('revision', ?)",
                    (str(batch[-1].item.rv),),
                )
                # Trim persisted history in the same transaction, in chunks, so the window
                # costs no extra fsyncs.
                trim_to = self._db_trim_to
                if trim_to - self._db_trimmed >= 1000:
                    db.execute("DELETE FROM history WHERE rv <= ?", (trim_to,))
                    self._db_trimmed = trim_to
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _apply(self, batch: list[_Op]) -> None:
        for op in batch:
            st = self._state(op.resource)
            pk = (op.resource, op.key)
            if op.kind == "put":
                if op.prev is None:
                    st.sorted_keys = None
                st.objects[op.key] = op.item
                ev = Event(
                    "ADDED" if op.prev is None else "MODIFIED",
                    op.resource,
                    op.key,
                    op.item,
                    op.prev,
                )
            else:
                st.objects.pop(op.key, None)
                st.sorted_keys = None
                ev = Event("DELETED", op.resource, op.key, op.item, op.prev)
            if self._pending.get(pk) is op:  # no later queued write replaced it
                del self._pending[pk]
            self._committed_rev = op.item.rv
            st.history.append(ev)
            self._history_len += 1
            for w in list(st.watchers):
                w._offer(ev)
            for w in list(self._all_watchers):
                w._offer(ev)
            if not op.future.done():
                op.future.set_result(op.item)
        self._compact_memory()

    def _compact_memory(self) -> None:
        """Drop history beyond the window (by count); the DB is trimmed in the same spirit."""
        excess = self._history_len - self.history_max
        if excess <= 0:
            return
        # Find the revision below which we drop: the excess oldest events across resources.
        heads = [st.history for st in self._resources.values() if st.history]
        cutoff = self._compacted
        while excess > 0 and heads:
            oldest = min(heads, key=lambda h: h[0].item.rv)
            ev = oldest.popleft()
            cutoff = ev.item.rv
            excess -= 1
            self._history_len -= 1
            if not oldest:
                heads.remove(oldest)
        self._compacted = cutoff
        self._db_trim_to = cutoff

    # ---------------------------------------------------------------- watch

    def watch(self, resource: str, namespace: str | None, since_rv: int) -> Watcher:
        """Events of ``resource`` with revision > ``since_rv``, then live ones.

        Raises :class:`TooOld` if events after ``since_rv`` may have been compacted.
        """
        if since_rv < self._compacted:
            raise TooOld(since_rv, self._compacted + 1)
        st = self._state(resource)
        w = Watcher(self, resource, namespace, self.watcher_backlog)
        for ev in st.history:
            if ev.item.rv > since_rv:
                w._offer(ev)
        # History is appended only in _apply on this loop, so there is no gap between
        # the replay above and the live subscription below.
        st.watchers.add(w)
        return w

    def watch_all(self) -> Watcher:
        """Every committed event of every resource from now on (for in-server loops)."""
        w = Watcher(self, None, None, 10_000_000)
        self._all_watchers.add(w)
        return w

    def _unsubscribe(self, w: Watcher) -> None:
        if w.resource is None:
            self._all_watchers.discard(w)
        else:
            st = self._resources.get(w.resource)
            if st is not None:
                st.watchers.discard(w)

    # ---------------------------------------------------------------- misc

    def get_meta(self, key: str) -> str | None:
        assert self._db is not None
        with self._db_lock:
            row = self._db.execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        assert self._db is not None
        with self._db_lock:
            self._db.execute("INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)", (key, value))


def decode_json(data: bytes) -> Any:
    return _decode(data)


def encode_json(obj: Any) -> bytes:
    return _encode(obj)


WatchFilter = Callable[[Event], bool]
