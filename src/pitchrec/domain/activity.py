"""One ``activity_log`` row as it travels from serving to the MySQL archive.

Every tracked event becomes one entry of the event stream
(:data:`pitchrec.tracking.store.STREAM_KEY`). An entry has two fields:

* ``event_id``: a unique id (client-made for v1 events, server-made otherwise);
* ``row``: JSON of the ``activity_log`` row to insert, already mapped with the legacy
  column mapping (spec 4.4): ``log_name``, ``description``, ``subject_id``,
  ``subject_type``, ``causer_id``, ``causer_type``, ``properties`` (the event JSON, a
  string), ``url``, ``created_at`` (ISO-8601, naive UTC).

The archiver (:mod:`pitchrec.archive.archiver`) inserts rows under a unique ``event_id``
and acknowledges only after commit, so every event lands exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson


@dataclass(frozen=True)
class ArchiveRow:
    """One ``activity_log`` row (spec 4.4) plus its idempotency key."""

    event_id: str
    log_name: str
    description: str
    subject_id: int | None
    subject_type: str | None
    causer_id: int | None
    causer_type: str | None
    properties: str
    url: str
    created_at: str  # ISO-8601, naive UTC

    def fields(self) -> dict[str, str]:
        """The stream entry fields (hand-built: ``dataclasses.asdict`` deep-copies, and this
        runs once per served item)."""
        row = {
            "log_name": self.log_name,
            "description": self.description,
            "subject_id": self.subject_id,
            "subject_type": self.subject_type,
            "causer_id": self.causer_id,
            "causer_type": self.causer_type,
            "properties": self.properties,
            "url": self.url,
            "created_at": self.created_at,
        }
        return {"event_id": self.event_id, "row": orjson.dumps(row).decode()}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> ArchiveRow:
        """Decode a stream entry; raises ValueError (or KeyError) when malformed."""
        row = orjson.loads(fields["row"])
        if not isinstance(row, dict):
            raise ValueError("row is not a JSON object")
        return cls(event_id=fields["event_id"], **row)

    def created_datetime(self) -> datetime:
        return datetime.fromisoformat(self.created_at).replace(tzinfo=None)
