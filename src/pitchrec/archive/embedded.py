"""The in-process archiver of the embedded default: drains the in-process store's archive
queue into ``activity_log`` (the demo SQLite file), with the same idempotent insert as the
Redis archiver, so ``make run`` persists its tracking without Redis.

Rows are taken from the queue only after their batch committed; a failed batch stays
queued and is retried. What is still queued when the process is killed is lost: the
embedded default is for laptops; production runs Redis and ``pitchrec archive``.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from pitchrec.archive.entries import MalformedEntryError, decode_entry, idempotent_insert
from pitchrec.sources.migrations import migrate
from pitchrec.tracking.memory_store import MemoryStore

log = logging.getLogger(__name__)
BATCH = 500
PERIOD_SECONDS = 1.0


class EmbeddedArchiver:
    def __init__(self, store: MemoryStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self.inserted = 0
        self.errors = 0
        #: When the queue was last seen empty (unix seconds): what is queued now came
        #: after it, so ``now - caught_up_at`` bounds the archive's lag while rows wait.
        self.caught_up_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._statement = idempotent_insert(engine)

    def start(self) -> None:
        migrate(self.engine)
        self._thread = threading.Thread(target=self._run, name="pitchrec-archiver", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.drain()

    def _run(self) -> None:
        while not self._stop.wait(PERIOD_SECONDS):
            self.drain()

    def drain(self) -> int:
        """Archive everything queued now; returns rows inserted."""
        total = 0
        while True:
            batch = self.store.peek_archive(BATCH)
            if not batch:
                self.caught_up_at = time.time()
                return total
            rows = []
            for row in batch:
                try:
                    rows.append(decode_entry(row.fields()))
                except MalformedEntryError:
                    log.error("dropping a malformed archive row", extra={"event_id": row.event_id})
            try:
                with self.engine.begin() as connection:
                    inserted = connection.execute(self._statement, rows).rowcount if rows else 0
            except Exception:
                self.errors += 1
                log.warning("local archive batch failed; will retry", exc_info=True)
                return total
            self.store.drop_archive(len(batch))
            self.inserted += inserted
            total += inserted
