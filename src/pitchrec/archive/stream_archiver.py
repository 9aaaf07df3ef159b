"""The stream archiver: :class:`Archiver` moves event-stream entries into ``activity_log``,
exactly once. How, and why exactly once: :mod:`.archiver`, which re-exports these names."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from pitchrec.archive.archiver_config import (
    DEAD_CONSUMER,
    DEAD_ERROR,
    DEAD_ID,
    DEAD_LETTER_MAXLEN,
    ArchiverConfig,
)
from pitchrec.archive.entries import (
    ENTRY_GONE,
    MalformedEntryError,
    decode_entry,
    idempotent_insert,
    raw_bytes,
)
from pitchrec.archive.trim import trim_acknowledged

#: The archiver's logger (this code was part of archiver.py): the name is what the JSON
#: logs carry, and what their filters match.
log = logging.getLogger("pitchrec.archive.archiver")

MIN_BACKOFF_S: Final = 0.1
MAX_BACKOFF_S: Final = 5.0

Entry = tuple[str, dict[str, str]]
Reporter = Callable[["Archiver"], None]


class Archiver:
    """Moves stream entries into ``activity_log`` exactly once (see :mod:`.archiver`).

    ``redis_client`` must be a synchronous client with ``decode_responses=True`` and a
    socket timeout longer than ``block_ms`` (XREADGROUP blocks that long). Counters
    are plain ``int`` attributes, updated after every batch, for the service to export:

    * ``inserted``: rows the database accepted;
    * ``duplicates``: rows ignored because their ``event_id`` was already archived;
    * ``dead_lettered``: malformed entries moved to the dead-letter stream;
    * ``missing``: entries gone from the stream before they were archived (see :mod:`.archiver`);
    * ``batches``: batches committed and acknowledged;
    * ``reclaimed``: pending entries taken over by XAUTOCLAIM (possibly this consumer's
      own, after a restart under the same name);
    * ``trimmed``: acknowledged entries trimmed (``delete_acked=False`` only);
    * ``errors``: failed iterations of :meth:`run` (each retried after a back-off).
    """

    def __init__(self, redis_client: redis.Redis, engine: Engine, config: ArchiverConfig) -> None:
        self._redis = redis_client
        self._engine = engine
        self._insert = idempotent_insert(engine)
        self.config = config
        self.consumer = config.consumer
        self.batch_size = config.batch_size
        self.block_ms = config.block_ms
        self.claim_idle_ms = config.claim_idle_ms
        self.stream = config.stream
        self.group = config.group
        self.dead_letter = (
            config.dead_letter if config.dead_letter is not None else f"{config.stream}:dead"
        )
        self.delete_acked = config.delete_acked

        self.inserted = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.missing = 0
        self.batches = 0
        self.reclaimed = 0
        self.trimmed = 0
        self.errors = 0

        self._group_ready = False
        # True while this consumer may own pending entries: at start (a previous process of
        # the same name may have died), after a reclaim, after a failed batch.
        self._check_own = True
        self._claim_cursor = "0-0"
        self._next_reclaim = 0.0

    # -- Redis ------------------------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the stream and the group (from the first entry) unless they exist."""
        try:
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _read(self, last_id: str, block: int | None) -> list[Entry]:
        reply: Any = self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: last_id}, count=self.batch_size, block=block
        )
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3: {stream: [[entries]]}
            return cast(list[Entry], reply[self.stream][0])
        return cast(list[Entry], reply[0][1])  # RESP2: [[stream, [entries]]]

    def _reclaim(self) -> None:
        """XAUTOCLAIM idle pending entries of other (dead) consumers to this one.

        At most every ``claim_idle_ms / 2``, except while a scan of the pending list is
        under way: then one page (``batch_size`` entries) per call until it wraps.
        """
        now = time.monotonic()
        if now < self._next_reclaim:
            return
        reply = self._redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            self.claim_idle_ms,
            self._claim_cursor,
            count=self.batch_size,
        )
        cursor, claimed = str(reply[0]), cast(list[Entry], reply[1])
        gone = cast(list[str], reply[2]) if len(reply) > 2 else []  # Redis >= 7
        self._claim_cursor = cursor
        self._next_reclaim = now if cursor != "0-0" else now + self.claim_idle_ms / 2000
        if claimed:
            self._check_own = True
            self.reclaimed += len(claimed)
            log.info("reclaimed %d entries idle for over %d ms", len(claimed), self.claim_idle_ms)
        if gone:
            # Redis already dropped them from the pending list; leave a trace of each.
            pipe = self._redis.pipeline(transaction=True)
            for entry_id in gone:
                self._dead_letter(pipe, entry_id, {}, ENTRY_GONE)
            pipe.execute()
            self.missing += len(gone)
            log.error("%d pending entries were trimmed before archival: %s", len(gone), gone)

    def _dead_letter(
        self, pipe: redis.client.Pipeline, entry_id: str, fields: dict[str, str], error: str
    ) -> None:
        # dict[Any, Any]: xadd's parameter type is a dict of unions, and dict is invariant.
        # Fields are sent back as the bytes they arrived as: a client decoding with
        # surrogateescape holds lone surrogates for invalid UTF-8, which hiredis's packer
        # (rightly) refuses to encode as text.
        letter: dict[Any, Any] = {
            raw_bytes(name): raw_bytes(value) for name, value in fields.items()
        } | {
            DEAD_ID: entry_id,
            DEAD_ERROR: error,
            DEAD_CONSUMER: self.consumer,
        }
        pipe.xadd(self.dead_letter, letter, maxlen=DEAD_LETTER_MAXLEN, approximate=True)

    # -- database ---------------------------------------------------------------------

    def _insert_rows(
        self, good: Sequence[tuple[str, dict[str, str], dict[str, Any]]]
    ) -> tuple[int, list[tuple[str, dict[str, str], str]]]:
        """Insert in one transaction; rows inserted and rows the database refused.

        Validation makes refusals unexpected; if one happens anyway (a schema that differs
        from ours), the batch is retried row by row so one bad row cannot block the stream.
        Transient errors (connection lost, deadlock) propagate and the batch is retried.
        """
        try:
            with self._engine.begin() as conn:
                return conn.execute(self._insert, [row for _, _, row in good]).rowcount, []
        except (DataError, IntegrityError) as exc:
            log.warning("batch refused (%s); inserting its %d rows one by one", exc, len(good))
        inserted, refused = 0, []
        for entry_id, fields, row in good:
            try:
                with self._engine.begin() as conn:
                    inserted += conn.execute(self._insert, row).rowcount
            except (DataError, IntegrityError) as exc:
                refused.append((entry_id, fields, f"refused by the database: {exc.orig}"))
        return inserted, refused

    # -- the loop ---------------------------------------------------------------------

    def run_once(self) -> int:
        """Process at most one batch; the number of entries handled (0 if none came)."""
        if not self._group_ready:
            self.ensure_group()
        self._reclaim()
        entries: list[Entry] = []
        own = self._check_own
        if own:
            entries = self._read("0", None)
            if not entries:
                self._check_own = own = False
        if not entries:
            entries = self._read(">", self.block_ms)
        if not entries:
            return 0
        self._check_own = True  # until this batch is acknowledged
        self._process(entries)
        # Entries read from ">" are all acknowledged now; a batch of own pending ones may
        # have been one page of several.
        self._check_own = own
        return len(entries)

    def _process(self, entries: list[Entry]) -> None:
        good: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        dead: list[tuple[str, dict[str, str], str]] = []
        for entry_id, fields in entries:
            try:
                good.append((entry_id, fields, decode_entry(fields)))
            except MalformedEntryError as exc:
                dead.append((entry_id, fields, str(exc)))
        inserted = 0
        if good:
            inserted, refused = self._insert_rows(good)
            dead.extend(refused)
        # Committed: now dead letters, XACK and XDEL, all or nothing.
        ids = [entry_id for entry_id, _ in entries]
        pipe = self._redis.pipeline(transaction=True)
        for entry_id, fields, error in dead:
            self._dead_letter(pipe, entry_id, fields, error)
        pipe.xack(self.stream, self.group, *ids)
        if self.delete_acked:
            pipe.xdel(self.stream, *ids)
        pipe.execute()
        if not self.delete_acked:
            self._trim()

        gone = sum(1 for _, _, error in dead if error == ENTRY_GONE)
        for entry_id, _, error in dead:
            if error == ENTRY_GONE:
                log.error("entry %s was trimmed before archival", entry_id)
            else:
                log.warning("entry %s dead-lettered to %s: %s", entry_id, self.dead_letter, error)
        self.missing += gone
        self.dead_lettered += len(dead) - gone
        self.inserted += inserted
        self.duplicates += len(entries) - len(dead) - inserted
        self.batches += 1

    def _trim(self) -> None:
        """Trim what every group acknowledged; a failure is logged and the next batch
        tries again (the batch itself is committed and acknowledged)."""
        try:
            self.trimmed += trim_acknowledged(self._redis, self.stream)
        except redis.RedisError as exc:
            log.warning("trimming acknowledged entries failed (%s); next batch retries", exc)

    def run(self, stop: threading.Event | None = None, reporter: Reporter | None = None) -> None:
        """Call :meth:`run_once` until ``stop`` is set.

        Errors never end the loop: each is logged and counted, and the iteration is retried
        after an exponential back-off (0.1 s doubling up to 5 s; reset by a success). The
        group is re-created after an error, in case Redis lost it (a restart without
        persistence). ``reporter(self)`` is called after every successful iteration, e.g. to
        export the counters; its own errors are logged and ignored.
        """
        stop = stop if stop is not None else threading.Event()
        backoff = 0.0
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as exc:
                self.errors += 1
                self._group_ready = False
                self._check_own = True
                backoff = min(MAX_BACKOFF_S, max(MIN_BACKOFF_S, backoff * 2))
                transient = (redis.RedisError, OperationalError, OSError)
                log.error(
                    "archiver iteration failed (%s); retrying in %.1f s",
                    exc,
                    backoff,
                    exc_info=not isinstance(exc, transient),
                )
                stop.wait(backoff)
                continue
            backoff = 0.0
            if reporter is not None:
                try:
                    reporter(self)
                except Exception:
                    log.exception("archiver reporter failed")

    def metrics(self) -> dict[str, int]:
        """The counters, by name."""
        return {
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "missing": self.missing,
            "batches": self.batches,
            "reclaimed": self.reclaimed,
            "trimmed": self.trimmed,
            "errors": self.errors,
        }
