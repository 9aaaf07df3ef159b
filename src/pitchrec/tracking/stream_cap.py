"""The archive stream's cap as the tracker sees it: which archive rows to offer, what waits
in the spool and is counted, and the backlog gauge.

The stream holds at most :data:`~pitchrec.tracking.store.STREAM_MAXLEN` rows the archiver
has not acknowledged; at the cap the store refuses a write's rows (all or nothing) and
writes the rest of it (legacy activity, session, impressions). Refused rows are never lost
silently: they wait in the tracker's spool, bounded in bytes (its drops are counted there),
and each new row is counted once in :attr:`StreamCap.refused`. After a refusal a breaker
holds new rows back for :data:`STREAM_RETRY_SECONDS` without offering them, then one write
(with up to a replay's worth of spooled rows) tries again.
"""

from __future__ import annotations

import logging
import math

from pitchrec.tracking.breakers import CircuitBreaker
from pitchrec.tracking.resilience import CachedReading
from pitchrec.tracking.store import FeedWrites, TrackingStore

log = logging.getLogger(__name__)

#: Seconds archive rows go straight to the spool after the stream refused some: a full
#: stream stays full until the archiver catches up (batches of 500 rows, about a second
#: apart while it drains; bench/RESULTS.md), and re-offering up to
#: :data:`~pitchrec.tracking.config.REPLAY_BYTES` of spooled rows on every request in the
#: meantime would only be refused again.
STREAM_RETRY_SECONDS = 1.0
#: Seconds the backlog gauge is cached: one scrape reads it once per tracking gauge (they
#: share the tracker's counters), so at most one XINFO per worker every 5 s.
BACKLOG_MAX_AGE = 5.0


def hold_archive(writes: list[FeedWrites]) -> tuple[list[FeedWrites], list[FeedWrites]]:
    """``writes`` without their archive rows (to send), and the rows alone (to spool)."""
    sending: list[FeedWrites] = []
    held: list[FeedWrites] = []
    for w in writes:
        rest, rows = w.split_archive()
        if rest is not None:
            sending.append(rest)
        if rows is not None:
            held.append(rows)
    return sending, held


class StreamCap:
    """``breaker`` is open (rows held back) for a while after a refusal; ``refused``
    counts the archive rows of new writes refused or held back, each once; ``backlog``
    reads the store's backlog, cached, NaN while ``redis`` (the tracker's breaker) is
    open."""

    def __init__(self, store: TrackingStore, redis: CircuitBreaker) -> None:
        self.breaker = CircuitBreaker(1, STREAM_RETRY_SECONDS, name="archive stream")
        self.refused = 0
        self._store = store
        self._redis = redis
        self.backlog = CachedReading(self._read_backlog, BACKLOG_MAX_AGE)

    def _read_backlog(self) -> float:
        return float(self._store.stream_backlog()) if self._redis.closed else math.nan

    def settle(
        self,
        writes: list[FeedWrites],
        refused: list[FeedWrites],
        held: list[FeedWrites],
        *,
        offered: bool,
    ) -> list[FeedWrites]:
        """After a send: ``writes`` were the new writes, ``refused`` those (new or
        replayed) whose rows the stream refused, ``held`` the rows not offered to it
        (``offered`` False: the breaker was open). Returns what waits in the spool, as
        archive-only writes, and counts the new rows among it."""
        if refused:
            self.breaker.failure()
        elif offered:
            self.breaker.success()
        new = {id(w) for w in writes}
        rows = sum(len(w.archive) for w in refused if id(w) in new)
        rows += sum(len(w.archive) for w in held)
        if refused and rows:
            log.warning("archive stream at its cap: %d new rows wait in the spool", rows)
        self.refused += rows
        return [FeedWrites(archive=w.archive, feedback=w.feedback) for w in refused] + held
