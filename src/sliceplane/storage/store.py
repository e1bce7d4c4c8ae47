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
  any revision still inside the history window (bounded by events, bytes and age, see
  ``storage/history.py``); older revisions raise :class:`TooOld`.
* No object is stored whose JSON exceeds ``max_object_bytes`` (about etcd's 1.5 MiB
  request limit): :class:`ObjectTooLarge`.
* Damaged or foreign state is refused with one line (:class:`StateError`, see
  ``storage/statefile.py``), and a revision lower than one already acknowledged is never
  handed out: the acknowledged high-water mark lives outside SQLite.

Objects are JSON dicts owned by the store once written: callers must treat what they get
back as read-only (copy before changing).

This module is the store's state and its write path; what it hands out (``Stored``,
``Event``, the errors) is ``objects``', the state file's checks and loading ``loading``'s,
a subscription ``watcher``'s. Everything is importable from here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from sliceplane.storage.history import Entry, History
from sliceplane.storage.interning import Interner
from sliceplane.storage.keyindex import KeyIndex, namespace_end
from sliceplane.storage.labelindex import MAX_INDEXED_LABELS, LabelIndex
from sliceplane.storage.listsnapshot import ListSnapshot
from sliceplane.storage.loading import SCHEMA, check_state, read_state
from sliceplane.storage.objects import (
    Event,
    EventType,
    Key,
    KeyExists,
    KeyNotFound,
    ObjectTooLarge,
    RevisionConflict,
    StorageError,
    Stored,
    TooOld,
    WatchFilter,
    decode_json,
    encode_json,
)
from sliceplane.storage.statefile import (
    SCHEMA_VERSION,
    RevisionMark,
    StateError,
    wal_path,
)
from sliceplane.storage.watcher import Watcher

log = logging.getLogger(__name__)

__all__ = [
    "MAX_OBJECT_BYTES",
    "Event",
    "EventType",
    "Key",
    "KeyExists",
    "KeyNotFound",
    "ListSnapshot",
    "ObjectTooLarge",
    "RevisionConflict",
    "StateError",
    "StorageError",
    "Store",
    "Stored",
    "TooOld",
    "WatchFilter",
    "Watcher",
    "check_state",
    "decode_json",
    "encode_json",
]

_encode = msgspec.json.encode


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
    watchers: set[Watcher] = field(default_factory=set)
    # Built on the first ordered read, then kept current by every commit.
    index: KeyIndex | None = None
    snapshots: set[ListSnapshot] = field(default_factory=set)
    # Label key -> its index, each built on the first list selecting on it (labelindex).
    labels: dict[str, LabelIndex] = field(default_factory=dict)

    def keys(self) -> KeyIndex:
        index = self.index
        if index is None:
            index = self.index = KeyIndex(self.objects)
        return index


MAX_OBJECT_BYTES = 2 * 1024 * 1024
"""etcd refuses requests over 1.5 MiB (``--max-request-bytes``), measured on the protobuf
encoding kube-apiserver stores; 2 MiB of our JSON is about that (kube-apiserver 1.37
stored a 1.96 MB JSON Endpoints and refused a 2.1 MB one)."""


class Store:
    """See the module docstring. Use from one asyncio event loop."""

    def __init__(
        self,
        path: Path | str,
        *,
        history_max: int = 200_000,
        history_bytes: int = 256 * 1024 * 1024,
        history_seconds: float = 600.0,
        watcher_backlog: int = 100_000,
        synchronous: str = "FULL",
        max_object_bytes: int = MAX_OBJECT_BYTES,
        accept_data_loss: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.history_max = history_max
        self.history_seconds = history_seconds
        self.watcher_backlog = watcher_backlog
        self.max_object_bytes = max_object_bytes
        self.accept_data_loss = accept_data_loss
        self._clock = clock
        self._synchronous = synchronous
        self._resources: dict[str, _ResourceState] = {}
        self._all_watchers: set[Watcher] = set()
        self._rev = 0
        self._history = History(history_max, history_bytes, history_seconds)
        self._interner = Interner()
        # Writes queued but not yet committed, so later writes are checked against them.
        self._pending: dict[tuple[str, Key], _Op] = {}
        self._db_trim_to = 0
        self._db_trimmed = 0
        self._db_trim_bytes = 0  # history bytes compacted since the last trim of the table
        self._queue: list[_Op] = []
        self._queue_ready = asyncio.Event()
        self._writer_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._db: sqlite3.Connection | None = None
        self._mark: RevisionMark | None = None
        self._db_lock = threading.Lock()
        self._closing = False
        self.commits = 0

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open (or create) the state file; :class:`StateError` if it cannot be trusted."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._writer_task = asyncio.create_task(self._writer(), name="store-writer")

    def _open(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._mark = RevisionMark(path)  # first: it is also the data's lock
        try:
            self._load_state()
        except BaseException:
            self._mark.close()
            self._mark = None
            raise

    def _load_state(self) -> None:
        path = self.path
        assert self._mark is not None
        loaded, mark = read_state(
            path, accept_data_loss=self.accept_data_loss, integrity=None, create_missing=True
        )
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.executescript(SCHEMA)
            db.execute(
                "INSERT OR REPLACE INTO meta(k, v) VALUES ('schema_version', ?), "
                "('clean_shutdown', '0')",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.DatabaseError as exc:
            raise StateError(path, f"is damaged: {exc}") from None
        for p in (path, wal_path(path), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                p.chmod(0o600)
        self._db = db
        for resource, key, item in loaded.objects:
            self._interner.intern_object(item.obj)  # freshly decoded: the store's own
            self._state(resource).objects[key] = item
        for entry in loaded.history:
            self._history.append(entry)
        rev = max(loaded.revision, mark or 0)
        self._mark.write(rev)
        self._rev = rev
        self._committed_rev = rev
        # Everything up to the first retained history row is gone; after a restart we can
        # only promise continuity from the oldest retained event (and none across a loss).
        if loaded.history and rev == loaded.revision:
            self._history.compacted = loaded.history[0].rv - 1
        else:
            self._history.compacted = rev
        self._db_trim_to = self._db_trimmed = self._history.trim(self._clock())

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
            with self._db_lock, contextlib.suppress(sqlite3.Error):
                self._db.execute("INSERT OR REPLACE INTO meta(k, v) VALUES ('clean_shutdown', '1')")
            self._db.close()
            self._db = None
        if self._mark is not None:
            self._mark.close()
            self._mark = None

    # ---------------------------------------------------------------- reads

    @property
    def revision(self) -> int:
        """The newest committed revision."""
        return self._committed_rev

    _committed_rev: int = 0

    @property
    def oldest_watchable(self) -> int:
        """Watches may start from any revision >= this."""
        return self._history.compacted

    @property
    def history_len(self) -> int:
        return len(self._history)

    @property
    def history_bytes(self) -> int:
        """Bytes the watch history is charged for (see ``storage/history.py``)."""
        return self._history.bytes

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
        objects = st.objects
        if namespace is None:
            keys = st.keys().walk(("", ""))
            return [objects[k] for k in keys], self._committed_rev
        out: list[Stored] = []
        for k in st.keys().walk((namespace, "")):
            if k[0] != namespace:
                break
            out.append(objects[k])
        return out, self._committed_rev

    def list_labelled(
        self, resource: str, namespace: str | None, pairs: Iterable[tuple[str, str]]
    ) -> tuple[list[Stored], int] | None:
        """Committed objects sorted by (namespace, name) that carry one of ``pairs``
        (label key, value): the pair fewest objects carry, so the answer holds every object
        carrying all of them, and maybe others. With the revision it reflects, as
        :meth:`list_objects`; None when no pair's label key can be indexed (see
        ``labelindex.MAX_INDEXED_LABELS``): scan instead."""
        st = self._resources.get(resource)
        if st is None:
            return [], self._committed_rev
        indexes = st.labels
        best: tuple[int, LabelIndex, str] | None = None
        for label, value in pairs:
            index = indexes.get(label)
            if index is None:
                if len(indexes) >= MAX_INDEXED_LABELS:
                    continue
                index = indexes[label] = LabelIndex(label, st.objects)
            n = index.count(value, namespace)
            if best is None or n < best[0]:
                best = (n, index, value)
        if best is None:
            return None
        _, index, value = best
        objects = st.objects
        return [objects[k] for k in index.keys(value, namespace)], self._committed_rev

    def count_in(self, resource: str, namespace: str | None) -> int:
        """How many committed objects ``resource`` has (in ``namespace``, if given)."""
        st = self._resources.get(resource)
        if st is None:
            return 0
        if namespace is None:
            return len(st.objects)
        return st.keys().count_between((namespace, ""), namespace_end(namespace))

    def snapshot(self, resource: str, namespace: str | None) -> ListSnapshot:
        """The committed state of ``resource`` (in ``namespace``) as of now, for paging: it
        stays as it is while later commits go on, until closed (see ``listsnapshot``)."""
        st = self._state(resource)
        snap = ListSnapshot(
            resource, namespace, self._committed_rev, st.keys(), st.objects, st.snapshots.discard
        )
        st.snapshots.add(snap)
        return snap

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
        if self._closing:
            raise StorageError("store is shutting down")
        rv = self._rev + 1
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(rv)
        raw = _encode(obj)
        if len(raw) > self.max_object_bytes:
            raise ObjectTooLarge(len(raw), self.max_object_bytes)
        self._interner.intern_object(obj)  # same content, shared with identical objects
        self._rev = rv
        return Stored(obj, raw, rv)

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
                if trim_to - self._db_trimmed >= 1000 or (
                    trim_to > self._db_trimmed and self._db_trim_bytes >= 16 * 1024 * 1024
                ):
                    db.execute("DELETE FROM history WHERE rv <= ?", (trim_to,))
                    self._db_trimmed = trim_to
                    self._db_trim_bytes = 0
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            # Before any answer goes out: see storage/statefile.py.
            assert self._mark is not None
            self._mark.write(batch[-1].item.rv)

    def _apply(self, batch: list[_Op]) -> None:
        now = self._clock()
        history = self._history
        for op in batch:
            st = self._state(op.resource)
            pk = (op.resource, op.key)
            prev = op.prev
            objects = st.objects
            old = objects.get(op.key)
            if st.snapshots:
                deleting = op.kind == "delete"
                for snap in st.snapshots:
                    if snap.covers(op.key):
                        snap.record(op.key, old, deleting)
            if st.labels:
                now_item = op.item if op.kind == "put" else None
                for label_index in st.labels.values():
                    label_index.change(op.key, old, now_item)
            if op.kind == "put":
                if st.index is not None and old is None:
                    st.index.add(op.key)
                objects[op.key] = op.item
                typ: EventType = "ADDED" if prev is None else "MODIFIED"
            else:
                if objects.pop(op.key, None) is not None and st.index is not None:
                    st.index.remove(op.key)
                typ = "DELETED"
            ev = Event(typ, op.resource, op.key, op.item, prev)
            if self._pending.get(pk) is op:  # no later queued write replaced it
                del self._pending[pk]
            self._committed_rev = op.item.rv
            history.append(
                Entry(
                    op.item.rv,
                    typ,
                    op.resource,
                    op.key,
                    op.item.raw,
                    None if prev is None else prev.raw,
                    0 if prev is None else prev.rv,
                    now,
                )
            )
            for w in list(st.watchers):
                w._offer(ev)
            for w in list(self._all_watchers):
                w._offer(ev)
            if not op.future.done():
                op.future.set_result(op.item)
        before = history.bytes
        compacted = history.trim(now)
        if compacted > self._db_trim_to:
            self._db_trim_bytes += max(0, before - history.bytes)
            self._db_trim_to = compacted

    # ---------------------------------------------------------------- watch

    def watch(self, resource: str, namespace: str | None, since_rv: int) -> Watcher:
        """Events of ``resource`` with revision > ``since_rv``, then live ones.

        Raises :class:`TooOld` if events after ``since_rv`` may have been compacted.
        """
        compacted = self._history.compacted
        if since_rv < compacted:
            raise TooOld(since_rv, compacted + 1)
        st = self._state(resource)
        w = Watcher(self._unsubscribe, resource, namespace, self.watcher_backlog)
        for e in self._history.since(resource, since_rv):
            prev = None if e.prev_raw is None else Stored.lazy(e.prev_raw, e.prev_rv)
            w._offer(Event(e.type, resource, e.key, Stored.lazy(e.raw, e.rv), prev))
        # History is appended only in _apply on this loop, so there is no gap between
        # the replay above and the live subscription below.
        st.watchers.add(w)
        return w

    def watch_all(self) -> Watcher:
        """Every committed event of every resource from now on (for in-server loops)."""
        w = Watcher(self._unsubscribe, None, None, 10_000_000)
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
