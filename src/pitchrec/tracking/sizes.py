"""Estimated RSS of what tracking holds in memory, in bytes: the spool's writes
(:func:`spooled_bytes`) and the in-process store's keys (:mod:`pitchrec.tracking.memory_store`).

Bounds are kept in bytes, not entries (hardening issue, item 1): one entry can be a
2-byte test value or a 2 MB batch.
"""

from __future__ import annotations

from pitchrec.domain.activity import ArchiveRow
from pitchrec.tracking.store import FeedWrites

#: Measured per-object overheads of CPython 3.11+ on 64-bit (see :func:`spooled_bytes`).
STR_OVERHEAD = 56  # a str's header (49 bytes, ASCII) plus its pointer in the list/dict
ROW_OVERHEAD = 540  # an ArchiveRow (object, __dict__, ints, allocator slack), strings aside
#: Estimated bytes of one key of the in-process store beside its contents: the key string,
#: its entries in the expiry and size dicts and the container (a deque's first block is
#: about 600 bytes).
KEY_OVERHEAD = 800
#: Estimated bytes of one member of a set or one field of a hash beside its strings (the
#: table slot and the load-factor slack).
SLOT_OVERHEAD = 40


def spooled_bytes(writes: FeedWrites) -> int:
    """Estimated RSS of ``writes`` while spooled, in bytes: the lengths of its strings
    (keys, activity events, session members, impression fields and JSON, archive rows'
    ids, descriptions, properties and other fields) plus a fixed overhead per string
    and per archive row.

    The string lengths alone undercount the Python objects: measured with VmRSS
    (tests/unit/test_spool_bytes.py, CPython 3.11+, 64-bit), a spooled v1 feedback row
    costs about 714 bytes alone and about 905 bytes in place (allocator slack left by the
    events that built it) for 358 bytes of strings (2.5x), and a 25-item feed about
    32.5 KB for 22.0 KB of strings (1.5x). With the overheads the estimate is about
    900 bytes a feedback row (1.0x the RSS measured in place) and about 41 KB a feed
    (1.25x: a feed row's ``properties`` is the same string as its activity event,
    counted twice), so the RSS the spool holds stays within its byte budget."""
    size = len(writes.activity_key or "") + len(writes.session_key) + len(writes.impressions_key)
    size += sum(map(len, writes.activity_events)) + sum(map(len, writes.session_members))
    size += STR_OVERHEAD * (len(writes.activity_events) + len(writes.session_members))
    size += sum(len(k) + len(v) + 2 * STR_OVERHEAD for k, v in writes.impressions.items())
    return size + sum(map(row_bytes, writes.archive))


def row_bytes(row: ArchiveRow) -> int:
    size = ROW_OVERHEAD + len(row.event_id) + len(row.log_name) + len(row.description)
    size += len(row.subject_type or "") + len(row.causer_type or "")
    return size + len(row.properties) + len(row.url) + len(row.created_at)
