"""Read shadow logs and their rewards from ``activity_log`` or the Redis event stream.

Shadow rows (:mod:`pitchrec.domain.shadow`: ``description`` ``#feed #shadow #...``) are
joined with the v1 feedback rows (``url`` ``/v1/events``, ``properties`` the event JSON)
that name the same server-made ``request_id``, the same item and the feed's user (an
anonymous feed's events are user 0's, as learning matches them). Per served position:

* reward: 1 when at least one event of a reward type (default: ``like``) names the item
  in that feed, else 0; a second like of the same item counts once, so a feed's reward is
  the number of its items liked, between 0 and its size;
* examined: at least one event of any type names it (a ``view``, ``skip``, ``like``,
  ...), which is what :func:`~pitchrec.lab.offpolicy.slate_reward_model.examination` counts.

Only feedback sent through ``POST /v1/events`` with the feed's ``request_id`` reaches a
shadow log; the legacy routes return no request id. The Redis stream holds only what the
archiver has not trimmed yet: read the database for the whole history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.shadow import SHADOW_DESCRIPTION, ShadowLog, item_key
from pitchrec.lab.offpolicy.shadow_feed import ShadowFeed

FEEDBACK_URL = "/v1/events"  # legacy/events.py feedback_row
DEFAULT_REWARD_TYPES = ("like",)
STREAM_CHUNK = 1_000  # entries per XRANGE


@dataclass(frozen=True)
class _Event:
    request_id: str
    user_id: int
    item: str
    type: str


@dataclass
class LogReader:
    """Shadow logs (the first per request id) and feedback events, as rows arrive;
    ``skipped``: rows that looked like ours but did not parse."""

    logs: dict[str, ShadowLog] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)
    skipped: int = 0

    def add(self, description: str, url: str | None, properties: str | None) -> None:
        if description.startswith(SHADOW_DESCRIPTION):
            try:
                record = ShadowLog.from_json(properties or "")
            except (ValueError, KeyError, TypeError):
                self.skipped += 1
                return
            self.logs.setdefault(record.request_id, record)
        elif url == FEEDBACK_URL:
            event = _feedback(properties)
            if event is not None:
                self.events.append(event)

    def add_row(self, row: ArchiveRow) -> None:
        self.add(row.description, row.url, row.properties)

    def feeds(self, reward_types: Iterable[str] = DEFAULT_REWARD_TYPES) -> list[ShadowFeed]:
        """The shadowed feeds with their rewards, in request id order."""
        return join(list(self.logs.values()), self.events, reward_types)


def _feedback(properties: str | None) -> _Event | None:
    try:
        data = orjson.loads(properties or "")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not data.get("request_id"):
        return None
    try:
        return _Event(
            str(data["request_id"]),
            int(data["user_id"]),
            item_key(str(data.get("item_type", "resume")), int(data["item_id"])),
            str(data["type"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def join(
    logs: list[ShadowLog], events: Iterable[_Event], reward_types: Iterable[str]
) -> list[ShadowFeed]:
    """Each log with its per-position rewards and examination (module docstring)."""
    rewarding = set(reward_types)
    positions = {log.request_id: {item: k for k, item in enumerate(log.items)} for log in logs}
    users = {log.request_id: log.user_id or 0 for log in logs}
    rewards = {log.request_id: [0.0] * len(log.items) for log in logs}
    examined = {log.request_id: [False] * len(log.items) for log in logs}
    for event in events:
        at = positions.get(event.request_id, {}).get(event.item)
        if at is None or users[event.request_id] != event.user_id:
            continue
        examined[event.request_id][at] = True
        if event.type in rewarding:
            rewards[event.request_id][at] = 1.0
    return [
        ShadowFeed(log, tuple(rewards[log.request_id]), tuple(examined[log.request_id]))
        for log in sorted(logs, key=lambda log: log.request_id)
    ]


def read_database(
    url: Any,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    advance: Callable[[int], None] | None = None,
) -> LogReader:
    """Shadow rows, then the feedback rows of their requests, from ``activity_log``
    (``created_at`` within [since, until) when given), streamed."""
    from sqlalchemy import select

    from pitchrec.sources.database import make_engine
    from pitchrec.sources.schema import activity_log

    al = activity_log.c
    window = []
    if since is not None:
        window.append(al.created_at >= since)
    if until is not None:
        window.append(al.created_at < until)
    reader = LogReader()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            shadows = select(al.description, al.url, al.properties).where(
                al.description.like(SHADOW_DESCRIPTION + "%"), *window
            )
            for row in connection.execution_options(yield_per=STREAM_CHUNK).execute(shadows):
                reader.add(row.description, row.url, row.properties)
                if advance is not None:
                    advance(1)
            feedback = select(al.description, al.url, al.properties).where(
                al.url == FEEDBACK_URL, *([al.created_at >= since] if since else [])
            )
            for row in connection.execution_options(yield_per=STREAM_CHUNK).execute(feedback):
                event = _feedback(row.properties)
                if event is not None and event.request_id in reader.logs:
                    reader.events.append(event)
                if advance is not None:
                    advance(1)
    finally:
        engine.dispose()
    return reader


def stream_rows(client: Any, stream: str, chunk: int = STREAM_CHUNK) -> Iterator[ArchiveRow]:
    """Every readable archive row of ``stream`` (XRANGE, ``chunk`` entries at a time)."""
    start = "-"
    while True:
        entries = client.xrange(stream, min=start, max="+", count=chunk)
        for _entry_id, fields in entries:
            try:
                yield ArchiveRow.from_fields(fields)
            except (ValueError, KeyError, TypeError):
                continue
        if len(entries) < chunk:
            return
        start = "(" + entries[-1][0]


def read_stream(redis_url: str, advance: Callable[[int], None] | None = None) -> LogReader:
    """Shadow and feedback rows still in the Redis event stream."""
    from pitchrec.tracking.redis_client import redis_client
    from pitchrec.tracking.store import STREAM_KEY

    client = redis_client(redis_url, timeout=30.0)
    reader = LogReader()
    try:
        for row in stream_rows(client, STREAM_KEY):
            reader.add_row(row)
            if advance is not None:
                advance(1)
    finally:
        client.close()
    return reader
