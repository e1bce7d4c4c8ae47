"""The keys of one resource in (namespace, name) order, kept sorted as they come and go.

Why: a ``limit=500`` list must find its first 500 keys without sorting, or even walking,
the whole collection (kube-apiserver reads a key range from etcd or from its watch cache's
B-tree). A sorted Python list would make every create an O(n) ``memmove`` and re-sorting
after creates an O(n log n) pause; this keeps keys in short sorted chunks (at most
``2 * LOAD``), so adding or removing a key moves at most a chunk, and a walk from a key
starts with two bisections (the chunks' last keys, then the chunk).

Used on the store's event loop only; a walk must be consumed before the next change.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

Key = tuple[str, str]

LOAD = 512


def namespace_end(namespace: str) -> Key:
    """The smallest key after every key of ``namespace`` (keys are (namespace, name))."""
    return (namespace + "\x00", "")


class KeyIndex:
    """A sorted set of keys, chunked (see the module docstring)."""

    __slots__ = ("_chunks", "_len", "_maxes")

    def __init__(self, keys: Iterable[Key] = ()) -> None:
        ordered = sorted(keys)
        self._chunks: list[list[Key]] = [
            ordered[i : i + LOAD] for i in range(0, len(ordered), LOAD)
        ]
        self._maxes: list[Key] = [c[-1] for c in self._chunks]
        self._len = len(ordered)

    def __len__(self) -> int:
        return self._len

    def add(self, key: Key) -> None:
        """Insert ``key`` (the caller knows it is not there yet)."""
        maxes, chunks = self._maxes, self._chunks
        if not chunks:
            chunks.append([key])
            maxes.append(key)
            self._len = 1
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
        chunk = chunks[i]
        insort(chunk, key)
        maxes[i] = chunk[-1]
        self._len += 1
        if len(chunk) > 2 * LOAD:
            half = chunk[LOAD:]
            del chunk[LOAD:]
            chunks.insert(i + 1, half)
            maxes[i] = chunk[-1]
            maxes.insert(i + 1, half[-1])

    def remove(self, key: Key) -> None:
        """Remove ``key`` if present."""
        maxes, chunks = self._maxes, self._chunks
        i = bisect_left(maxes, key)
        if i == len(maxes):
            return
        chunk = chunks[i]
        j = bisect_left(chunk, key)
        if j == len(chunk) or chunk[j] != key:
            return
        del chunk[j]
        self._len -= 1
        if chunk:
            maxes[i] = chunk[-1]
        else:
            del chunks[i]
            del maxes[i]

    def rank(self, key: Key) -> int:
        """How many keys sort before ``key``."""
        i = bisect_left(self._maxes, key)
        before = sum(len(c) for c in self._chunks[:i])
        if i == len(self._chunks):
            return before
        return before + bisect_left(self._chunks[i], key)

    def count_between(self, lo: Key, hi: Key) -> int:
        """How many keys k satisfy lo <= k < hi."""
        return self.rank(hi) - self.rank(lo)

    def walk(self, start: Key, *, after: bool = False) -> Iterator[Key]:
        """The keys from ``start`` (or strictly after it with ``after``), in order."""
        find = bisect_right if after else bisect_left
        maxes, chunks = self._maxes, self._chunks
        i = find(maxes, start)
        if i == len(chunks):
            return
        chunk = chunks[i]
        yield from chunk[find(chunk, start) :]
        for chunk in chunks[i + 1 :]:
            yield from chunk
