"""The in-process store's archive queue (:class:`ArchiveQueue`): the rows waiting for the
in-process archiver, in order, bounded in rows (:data:`ARCHIVE_CAP`) and in estimated
bytes (:data:`ARCHIVE_MAX_BYTES`). A write whose rows do not fit is refused whole, as the
Redis stream's Lua call refuses it at :data:`~pitchrec.tracking.store.STREAM_MAXLEN`.

A mixin of :class:`~pitchrec.tracking.memory_store.MemoryStore`, which provides the lock:
every change to the queue is made under it, as before the split.
"""

from __future__ import annotations

import threading
from collections import deque

from pitchrec.domain.activity import ArchiveRow
from pitchrec.tracking.sizes import row_bytes

#: Rows waiting for the in-process archiver (about 8,000 feeds). At the cap new rows are
#: refused (the tracker spools and counts them, as with the Redis stream's
#: :data:`~pitchrec.tracking.store.STREAM_MAXLEN`); a ``deque(maxlen=...)`` used to drop
#: the oldest, never archived, silently. Read when a store is made.
ARCHIVE_CAP = 200_000
#: Estimated bytes of the rows waiting for the in-process archiver, at most (about 1,600
#: feeds of 25 rows, 70,000 feedback rows: :func:`~pitchrec.tracking.sizes.row_bytes`).
#: The row cap alone let 200,000 rows hold about 180 MB.
ARCHIVE_MAX_BYTES = 64 * 1024 * 1024


class ArchiveQueue:
    """The archive rows a :class:`~pitchrec.tracking.memory_store.MemoryStore` holds for
    its archiver: ``archive`` (oldest first; callers may read and clear it), its caps
    ``archive_cap`` and ``archive_max_bytes``, and the estimated size of each row."""

    _lock: threading.Lock  # the store's; it guards the queue too

    def _init_archive(self) -> None:
        """Start with an empty queue and the module's caps (read now, per store)."""
        self.archive: deque[ArchiveRow] = deque()
        self.archive_cap = ARCHIVE_CAP
        self.archive_max_bytes = ARCHIVE_MAX_BYTES
        self._archive_sizes: deque[int] = deque()
        self._archive_bytes = 0

    def _queue(self, rows: list[ArchiveRow]) -> bool:
        """Queue ``rows`` for the archiver, all or none; False when the queue is full (in
        rows or in estimated bytes). No database to archive into: rows are not kept.
        Called with the lock held (:meth:`MemoryStore.write_feed`)."""
        if not self.archive:  # emptied by a caller's clear(): nothing is held
            self._archive_sizes.clear()
            self._archive_bytes = 0
        sizes = [row_bytes(row) for row in rows]
        if (
            len(self.archive) + len(rows) > self.archive_cap
            or self._archive_bytes + sum(sizes) > self.archive_max_bytes
        ):
            return False
        self.archive.extend(rows)
        self._archive_sizes.extend(sizes)
        self._archive_bytes += sum(sizes)
        return True

    def stream_backlog(self) -> int:
        """Rows queued for the in-process archiver."""
        return len(self.archive)

    def peek_archive(self, limit: int) -> list[ArchiveRow]:
        """The oldest ``limit`` queued rows, left in the queue until :meth:`drop_archive`."""
        with self._lock:
            return [self.archive[i] for i in range(min(limit, len(self.archive)))]

    def drop_archive(self, count: int) -> None:
        """Remove the oldest ``count`` rows (after they were committed)."""
        with self._lock:
            for _ in range(min(count, len(self.archive))):
                self.archive.popleft()
                self._archive_bytes -= self._archive_sizes.popleft()
