"""The legacy event JSON (spec 4.2) and the ``activity_log`` mapping (spec 4.4).

Kept: the ``video_view`` and ``feed_request`` JSON, ``log_name='app'``, the descriptions
``#video #view #<feed_type>`` and ``#feed #request #<endpoint>``, ``causer_type``, the
hard-coded URLs, and timestamps as naive ISO-8601 with microseconds (UTC).

Fixed: challenges are archived with the challenge ``subject_type`` (D-C11: the legacy
wrote the resume type for both); whether served items count as *views* is a setting
(D-C11/D-C12): with ``impressions_as_views`` (the legacy behaviour, default) an
impression is archived as ``#video #view #<slot>`` and the loader will treat it as seen;
without it, as ``#feed #impression #<slot>``, which the loader does not read as a view.
Real watch events (v1 ``view``) are archived as ``#video #view #watched``.

Hardened: the legacy wrote the user "as received" into the event JSON and the Redis key,
so a client-chosen ``SELF_ID`` (100 KB strings, nested lists) was stored 25 times per feed
and could crash the serialiser. Events now carry the parsed user id, or
:data:`COLD_START_USER` (0, what the legacy wrote for an absent ``SELF_ID``), and
``params`` is cut by :func:`bounded_params`, so one event stays a few hundred bytes
whatever the request body held.

``created_at`` is the event's timestamp. A v1 event's client timestamp is only accepted
inside a window around the server clock, checked where it enters (``api/v1_events.py``); the
simulator's events carry simulated times, so nothing is clamped here.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

import orjson

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.events import FeedbackEvent
from pitchrec.sources.schema import (
    CHALLENGE_MODEL_TYPE,
    RESUME_MODEL_TYPE,
    USER_MODEL_TYPE,
    V1_EVENTS_URL,
)

LOG_NAME = "app"
EVENT_ID_LENGTH = 64  # activity_log.event_id column width


def now_iso() -> str:
    """Naive UTC ISO-8601 with microseconds, the legacy timestamp format."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def stable_event_id(*parts: object) -> str:
    """An id of at most 64 characters made from ``parts`` (hashed when longer)."""
    text = ":".join(str(p) for p in parts)
    if len(text) <= EVENT_ID_LENGTH:
        return text
    return "h:" + hashlib.sha256(text.encode()).hexdigest()[: EVENT_ID_LENGTH - 2]


MAX_ID = 2**63 - 1  # activity_log.causer_id is a signed BIGINT
#: The user of an anonymous request in ``user_activity:{user}`` and the event JSON: spec
#: 3.3-3.5 default an absent user to 0, so the legacy wrote ``user_activity:0``.
COLD_START_USER = 0
#: Bounds of the echoed ``params`` (spec 4.2: ``{"excluded_count": n}`` or
#: ``{"size": n}``, one entry): a few entries of short keys and scalars, so a
#: ``feed_request`` event stays a few hundred bytes.
MAX_PARAMS = 4
MAX_PARAM_TEXT = 24  # characters kept of a key or a string value
_INT64 = 2**63  # orjson serialises 64-bit integers only


def _causer(user: object) -> int | None:
    """``activity_log.causer_id`` (BIGINT) of a tracked user id, or NULL."""
    if isinstance(user, bool):
        return None
    if isinstance(user, int) and 0 <= user <= MAX_ID:
        return user
    return None


def _bounded_value(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:MAX_PARAM_TEXT]
    return None  # lists, objects: never echoed


def bounded_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` cut to :data:`MAX_PARAMS` entries of short keys and JSON scalars (see
    the module docstring)."""
    bounded: dict[str, Any] = {}
    for key, value in params.items():
        if len(bounded) == MAX_PARAMS:
            break
        bounded[str(key)[:MAX_PARAM_TEXT]] = _bounded_value(value)
    return bounded


def feed_request_event(
    user: int, endpoint: str, params: dict[str, Any], timestamp: str, session_key: str
) -> dict[str, Any]:
    """The ``feed_request`` JSON; ``params`` pass through :func:`bounded_params`."""
    return {
        "event_type": "feed_request",
        "user_id": user,
        "endpoint": endpoint,
        "params": bounded_params(params),
        "timestamp": timestamp,
        "session_id": session_key,
    }


def video_view_event(
    user: int,
    item_id: int,
    url: str,
    position: int,
    feed_type: str,
    timestamp: str,
    session_key: str,
) -> dict[str, Any]:
    return {
        "event_type": "video_view",
        "user_id": user,
        "video_id": item_id,
        "video_url": url,
        "position": position,
        "feed_type": feed_type,
        "timestamp": timestamp,
        "session_id": session_key,
    }


def dumps(event: dict[str, Any]) -> str:
    """Compact UTF-8 JSON (the legacy wrote ``json.dumps`` defaults; consumers parse it)."""
    return orjson.dumps(event).decode()


def request_row(event: dict[str, Any], event_id: str, event_json: str) -> ArchiveRow:
    endpoint = str(event["endpoint"])
    return ArchiveRow(
        event_id=event_id,
        log_name=LOG_NAME,
        description=f"#feed #request #{endpoint}",
        subject_id=None,
        subject_type=None,
        causer_id=_causer(event["user_id"]),
        causer_type=USER_MODEL_TYPE,
        properties=event_json,
        url=f"/api/search/{endpoint}",
        created_at=str(event["timestamp"]),
    )


def impression_row(
    event: dict[str, Any],
    event_id: str,
    event_json: str,
    *,
    is_challenge: bool,
    impressions_as_views: bool,
) -> ArchiveRow:
    feed_type = event["feed_type"]
    description = (
        f"#video #view #{feed_type}" if impressions_as_views else f"#feed #impression #{feed_type}"
    )
    return ArchiveRow(
        event_id=event_id,
        log_name=LOG_NAME,
        description=description,
        subject_id=int(event["video_id"]),
        subject_type=CHALLENGE_MODEL_TYPE if is_challenge else RESUME_MODEL_TYPE,
        causer_id=_causer(event["user_id"]),
        causer_type=USER_MODEL_TYPE,
        properties=event_json,
        url=f"/api/search/feed/video/{event['video_id']}",
        created_at=str(event["timestamp"]),
    )


def feedback_row(
    event: FeedbackEvent, event_id: str, tags: dict[str, str | None] | None = None
) -> ArchiveRow:
    """A v1 feedback event (view, like, save, match, skip, share); ``tags``: the experiment
    variant of its impression, added to ``properties``."""
    kind = event.type
    description = "#video #view #watched" if kind == "view" else f"#{event.item_type} #{kind}"
    timestamp = event.timestamp or now_iso()  # naive UTC ISO-8601 (the API normalises)
    is_challenge = event.item_type == "challenge"
    return ArchiveRow(
        event_id=event_id,
        log_name=LOG_NAME,
        description=description,
        subject_id=event.item_id,
        subject_type=CHALLENGE_MODEL_TYPE if is_challenge else RESUME_MODEL_TYPE,
        causer_id=event.user_id,
        causer_type=USER_MODEL_TYPE,
        properties=dumps(event.as_json() if not tags else {**event.as_json(), **tags}),
        url=V1_EVENTS_URL,
        created_at=str(timestamp),
    )
