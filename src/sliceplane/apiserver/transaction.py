"""A write's side effects outside the store, kept or undone as one.

Allocating a Service's cluster IPs and node ports happens before validation and before
the store write, so everything the request claimed must be given back if the request
fails for any reason (invalid, dry run, conflict, already exists, cancelled) and kept
only once the object is stored. Upstream's service REST
(``pkg/registry/core/service/storage/transaction.go``) does this with a transaction of
commit/revert callbacks; this is the same idea: parts record what undoes them, and the
registry ends the transaction exactly once.

Used as a context manager, a transaction that leaves by an exception is reverted and one
that leaves normally is committed, unless it was already ended by hand (a dry run or a
no-op update reverts explicitly, then returns).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType


class Transaction:
    """Commit and revert callbacks of one write; ended once, by commit or by revert."""

    __slots__ = ("_commits", "_ended", "_reverts")

    def __init__(self) -> None:
        self._commits: list[Callable[[], None]] = []
        self._reverts: list[Callable[[], None]] = []
        self._ended = False

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` if the write is kept (e.g. release what the old object held)."""
        self._commits.append(fn)

    def on_revert(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` if the write is abandoned (e.g. release what this write claimed)."""
        self._reverts.append(fn)

    @property
    def ended(self) -> bool:
        return self._ended

    def commit(self) -> None:
        if self._ended:
            return
        self._ended = True
        for fn in self._commits:
            fn()

    def revert(self) -> None:
        """Undo in reverse order of claiming, so later claims never outlive earlier ones."""
        if self._ended:
            return
        self._ended = True
        for fn in reversed(self._reverts):
            fn()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.revert()
