"""The ``pod-template-hash``: a short, stable name for one version of a pod template.

Why: a Deployment names each ReplicaSet ``<deployment>-<hash>`` and adds
``pod-template-hash=<hash>`` to its selector and template labels, so the ReplicaSets of
different template versions never select each other's pods, and re-applying the same
template finds the same ReplicaSet again.

Upstream's ``controller.ComputeHash`` is FNV-32a over a ``spew`` dump of the Go
``PodTemplateSpec`` struct (every field, including nil pointers, in Go syntax), then the
``collisionCount`` as 8 little-endian bytes (a uint32 in the first four), then the decimal
sum mapped through ``rand.SafeEncodeString``. We keep every step except the dump: a
faithful ``spew`` rendering needs the full Go type of the template for the exact
Kubernetes version, which a dict does not carry. We hash the canonical JSON encoding of
the template instead (sorted keys, no whitespace, UTF-8). Consequences: the same template
always gets the same hash here, a changed template a different one, and the collision
count still moves the hash, but the value differs from what kube-controller-manager would
compute for the same template (so ReplicaSet names differ from a real cluster's).
Nothing depends on equality with upstream: a Deployment finds its new ReplicaSet by
comparing templates, never by hash.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""``rand.SafeEncodeString``'s alphabet: no vowels (no words), no 0/1/3 (look-alikes)."""


def fnv32a(data: bytes, h: int = FNV32_OFFSET) -> int:
    """FNV-1a, 32 bit, continuing from ``h`` (Go's ``hash/fnv.New32a`` + ``Write``)."""
    for byte in data:
        h ^= byte
        h = (h * FNV32_PRIME) & 0xFFFFFFFF
    return h


def safe_encode_string(s: str) -> str:
    """``rand.SafeEncodeString``: each character's code point modulo 27 indexes the
    alphabet (so the result has as many characters as the input)."""
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in s)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The pod-template-hash of ``template`` (see the module docstring)."""
    h = fnv32a(canonical_json(template))
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\x00" * 4, h)
    return safe_encode_string(str(h))
