"""The durable archiver: Redis Stream :data:`STREAM_KEY` -> ``activity_log``, exactly once.

What it replaces (spec 4.4, 4.5): the legacy flush LRANGEd a per-user list, inserted and
committed row by row, then DELeted the key. Events pushed between LRANGE and DEL were lost,
a DB error part-way re-inserted the committed rows at the next flush, two workers flushing
at once both inserted, unparseable events were dropped for good, and nothing ran at
shutdown.

How this one works. Producers XADD one entry per event (its fields: :mod:`.entries`).
Archivers read them through the consumer group :data:`ARCHIVE_GROUP`; any number of them can run,
each under its own consumer name. One :meth:`Archiver.run_once`:

1. reclaims (XAUTOCLAIM) entries that some consumer read but has not acknowledged for
   ``claim_idle_ms``: that consumer died or hangs;
2. reads its own pending entries (XREADGROUP from id ``0``): what it read before a crash
   or a failed batch, and what it just reclaimed;
3. otherwise reads new entries (XREADGROUP ``>``, blocking up to ``block_ms``);
4. decodes the batch; a malformed entry is not retried forever, nor dropped: its raw
   fields go to the dead-letter stream :data:`DEAD_LETTER_KEY`;
5. inserts the rows in ONE transaction with an idempotent insert (``INSERT IGNORE`` on
   MySQL/MariaDB, ``INSERT OR IGNORE`` on SQLite) keyed on the UNIQUE ``event_id``, and
   commits;
6. only then, in one MULTI/EXEC: XADDs the dead letters, XACKs every entry of the batch,
   and XDELs them (with ``delete_acked=False``: then XTRIMs what every group acknowledged).

Exactly once. *At least once*: an entry leaves the group's pending list (XACK) only after
its row is committed (or its dead letter written, in the same MULTI as the XACK). A crash
anywhere before the XACK leaves it pending, and it is read again: by the same consumer on
restart (step 2) or by another one after ``claim_idle_ms`` (step 1). *At most once*: the
row carries the event id and ``activity_log.event_id`` is UNIQUE; a second insert of the
same id (a redelivery after a crash between commit and XACK, a reclaim racing a slow
consumer, or a producer that XADDs the same event twice) is ignored by the database.
Together: every event id that reaches the stream lands in ``activity_log`` exactly once
(counted in :attr:`Archiver.duplicates` when a repeat is ignored). Nothing trims the stream
past what the group acknowledged: producers no longer XADD with ``MAXLEN ~`` (which
trimmed events no archiver had read during an outage); at the cap
(:data:`~pitchrec.tracking.store.STREAM_MAXLEN`) they refuse new events instead, which
wait in their spool, counted. An entry that is gone anyway (deleted by hand, or trimmed by
an older producer) is logged, counted in :attr:`Archiver.missing` and leaves a tombstone
in the dead-letter stream.

XDEL after XACK (``delete_acked=True``, the default): the stream then holds only events not
yet archived, so its length is the archiver's backlog and Redis memory follows the backlog.
Pass ``delete_acked=False`` if another consumer group ever reads the same stream: XDEL
would take entries from under it; the archiver then trims, after each batch, only what
every group has acknowledged (XTRIM MINID, :mod:`.trim`), so the stream still follows the
slowest group's backlog instead of filling up to the cap.

Reading with ``decode_responses=True``: a producer that wrote bytes that are not UTF-8 would
make every read fail with the client's default ``encoding_errors="strict"``. Build the client
with ``encoding_errors="surrogateescape"`` (as :mod:`.runner` does): such an entry then
fails validation, and its raw bytes round-trip into the dead-letter stream.

The code: :mod:`.archiver_config` (the group, the dead-letter stream and the fields of a
dead letter, :class:`ArchiverConfig`) and :mod:`.stream_archiver` (:class:`Archiver`, its
loop and back-off). Their names are re-exported here.
"""

from __future__ import annotations

from pitchrec.archive.archiver_config import (
    ARCHIVE_GROUP,
    DEAD_CONSUMER,
    DEAD_ERROR,
    DEAD_ID,
    DEAD_LETTER_KEY,
    DEAD_LETTER_MAXLEN,
    ArchiverConfig,
)
from pitchrec.archive.stream_archiver import (
    MAX_BACKOFF_S,
    MIN_BACKOFF_S,
    Archiver,
    Entry,
    Reporter,
)

__all__ = [
    "ARCHIVE_GROUP",
    "DEAD_CONSUMER",
    "DEAD_ERROR",
    "DEAD_ID",
    "DEAD_LETTER_KEY",
    "DEAD_LETTER_MAXLEN",
    "MAX_BACKOFF_S",
    "MIN_BACKOFF_S",
    "Archiver",
    "ArchiverConfig",
    "Entry",
    "Reporter",
]
