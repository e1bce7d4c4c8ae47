"""Answers remembered per zone snapshot, for every letter case of a name at once. Pure.

:func:`~sliceplane.dns.wire.respond` is a pure function of (request bytes, zone, config,
transport), so its answers can be remembered for as long as the zone snapshot they were
computed from is current, keyed by the request without its ID. Clients randomise the letter
case of the names they ask (DNS 0x20, resolvers such as Unbound do by default), and an
answer must echo the question exactly as asked, so a memo keyed by the exact bytes would
miss on nearly every such query. This memo keys a plain query (one question of plain labels,
see :func:`~sliceplane.dns.wire.case_template`) by its name in lower case instead, and
remembers the answer to the lower-case query with the places where that answer repeats the
question's letters; a query in any other case gets that answer with its own question bytes
(and its zone's spelling, which CoreDNS keeps in SRV targets) copied in. A template is only
kept after it reproduced the answer to the upper-case query byte for byte, so an answer that
depends on the case in any other way is remembered for its exact bytes only.

Requests the template does not cover (anything :func:`respond` answers through dnspython)
are remembered by their exact bytes, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sliceplane.dns.wire import CaseTemplate, Outcome, apply_case, without_question
from sliceplane.dns.zone import Zone

LIMIT = 100_000
"""Entries per memo before it is emptied (a bound on memory, not an LRU)."""


@dataclass(slots=True)
class Entry:
    """A remembered answer: the response without its ID; ``case`` when it serves every
    letter case of the name (``body`` is then the answer to the lower-case query without
    its question name, see :func:`~sliceplane.dns.wire.without_question`)."""

    body: bytes
    case: CaseTemplate | None
    tag: Any = None
    """What the server attaches (its metric children), computed once per entry."""


def folded_key(data: bytes) -> bytes | None:
    """The key of ``data`` with its question name in lower case (None without a name end)."""
    end = data.find(0, 12)
    if end < 0:
        return None
    return data[2:12] + data[12:end].lower() + data[end:]


def patched(entry: Entry, data: bytes) -> bytes:
    """The remembered answer for ``data``: its ID, and for a case template its question."""
    if entry.case is None:
        return data[:2] + entry.body
    return apply_case(entry.body, entry.case, data)


@dataclass
class Memo:
    """The remembered answers of one transport (UDP and TCP answers differ in size)."""

    limit: int = LIMIT
    zone: Zone | None = None
    entries: dict[bytes, Entry] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    retired: list[dict[bytes, Entry]] = field(default_factory=list)
    """Entries of older snapshots, for the caller to free after answering (freeing tens of
    thousands of entries takes milliseconds: not on the path of the first new answer)."""

    def for_zone(self, zone: Zone) -> None:
        """Forget everything when the snapshot changed."""
        if zone is not self.zone:
            if self.entries:
                self.retired.append(self.entries)
                self.entries = {}
            self.zone = zone

    def free_retired(self) -> None:
        self.retired.clear()

    def get(self, data: bytes) -> Entry | None:
        """The entry that answers ``data``, if any: its exact bytes first (which is also the
        case template's own key when the name is already in lower case), then its name
        folded to lower case, which only a case template may answer."""
        entries = self.entries
        entry = entries.get(data[2:])
        if entry is None:
            key = folded_key(data)
            if key is not None:
                entry = entries.get(key)
                if entry is not None and entry.case is None:
                    entry = None
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, data: bytes, outcome: Outcome, case: CaseTemplate | None) -> Entry | None:
        """Remember ``outcome``: with ``case``, the lower-case answer for every case of the
        name (``outcome`` is then the answer to the lower-case query); else for ``data``."""
        if outcome.response is None or len(data) < 12:
            return None
        key = folded_key(data) if case is not None else data[2:]
        if key is None:
            return None
        if len(self.entries) >= self.limit:
            self.entries.clear()
        body = outcome.response[2:] if case is None else without_question(outcome.response, case)
        entry = Entry(body, case)
        self.entries[key] = entry
        return entry
