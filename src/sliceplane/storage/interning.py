"""One shared copy of the parts of objects that many objects hold identically.

Why: the store keeps every object decoded, and most of a decoded pod is what its siblings
hold too: the ``managedFields`` entries of objects written by the same manager in the same
second (a FieldsV1 tree is some forty small dicts, nearly half of a pod's memory), the
containers and tolerations of pods from one template, their labels and owner references.
Interning those subtrees by their encoded bytes makes a hundred thousand such pods hold one
copy of each, the way etcd's and kube-apiserver's memory is not spent either (they keep
bytes, we keep dicts for the server's own reads).

Safe because stored objects are read-only (``storage.store``): nothing changes a stored
dict in place, so sharing one among objects cannot leak a change from one to another. The
served bytes are the object's own encoding, unchanged. The table is bounded: two
generations of ``max_entries`` each; when the young one is full the old one is dropped
(objects keep what they share) and what is still asked for moves up, so a long run keeps
sharing its current parts and the table never holds more than ``2 * max_entries``.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.encode

_META_PARTS = ("labels", "ownerReferences")


class Interner:
    """The table of shared subtrees of one store."""

    __slots__ = ("_max", "_old", "_young")

    def __init__(self, max_entries: int = 4096) -> None:
        self._young: dict[bytes, Any] = {}
        self._old: dict[bytes, Any] = {}
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def shared(self, value: Any) -> Any:
        """The table's copy of a JSON value equal to ``value`` (``value`` itself if new)."""
        key = _encode(value)
        young = self._young
        hit = young.get(key)
        if hit is not None:
            return hit
        hit = self._old.get(key)
        if hit is not None:
            value = hit
        if len(young) >= self._max:
            self._old = young
            young = self._young = {}
        young[key] = value
        return value

    def intern_object(self, obj: dict[str, Any]) -> None:
        """Replace ``obj``'s shareable subtrees by the table's copies.

        ``obj`` itself and its ``metadata`` dict are the caller's to change (the store owns
        what it is given); every other dict is replaced, never changed, since it may be
        shared with the previous version of the object.
        """
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            entries = meta.get("managedFields")
            if isinstance(entries, list) and entries:
                meta["managedFields"] = [self.shared(e) for e in entries]
            for part in _META_PARTS:
                value = meta.get(part)
                if value:
                    meta[part] = self.shared(value)
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec:
            obj["spec"] = {
                k: self.shared(v) if isinstance(v, dict | list) and v else v
                for k, v in spec.items()
            }
