"""What a stream archiver (:mod:`.archiver`, where the design is described) reads and
writes, and its settings: the consumer group it reads the event stream through, the
dead-letter stream and the fields a dead letter adds, and :class:`ArchiverConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pitchrec.tracking.store import STREAM_GROUP, STREAM_KEY

#: The consumer group every archiver reads the event stream through (defined next to the
#: stream key: the producers measure their backlog against it).
ARCHIVE_GROUP: Final = STREAM_GROUP

#: Where malformed entries go, with their raw fields plus the keys below.
DEAD_LETTER_KEY: Final = f"{STREAM_KEY}:dead"
#: Approximate cap of the dead-letter stream; it only grows with malformed input.
DEAD_LETTER_MAXLEN: Final = 1_000_000
#: Fields added to a dead letter; a raw field of the same name is overwritten.
DEAD_ID, DEAD_ERROR, DEAD_CONSUMER = "dead:source_id", "dead:error", "dead:consumer"


@dataclass(frozen=True)
class ArchiverConfig:
    """``consumer``: this archiver's name in the group (a restart under the same name
    re-reads its pending entries); ``batch_size`` entries per transaction; a read waits
    ``block_ms`` for events; a dead consumer's entries are taken over after
    ``claim_idle_ms``; ``dead_letter``: where malformed entries go (default
    ``{stream}:dead``); ``delete_acked``: XDEL entries once acknowledged."""

    consumer: str
    batch_size: int = 500
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    stream: str = STREAM_KEY
    group: str = ARCHIVE_GROUP
    dead_letter: str | None = None
    delete_acked: bool = True

    def __post_init__(self) -> None:
        if not self.consumer:
            raise ValueError("consumer name must not be empty")
        if self.batch_size < 1 or self.block_ms < 0 or self.claim_idle_ms < 0:
            raise ValueError("batch_size must be >= 1; block_ms and claim_idle_ms >= 0")
