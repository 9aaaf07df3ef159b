"""Trim from the event stream what every consumer group has acknowledged (XTRIM MINID).

An archiver that deletes what it acknowledged (``delete_acked=True``, the default) needs
none of this: its XDEL, in the same MULTI as the XACK, already leaves only the backlog.
An archiver that keeps acknowledged entries (``delete_acked=False``, because another
group reads the same stream) calls :func:`trim_acknowledged` after each batch; without
it the stream would grow to its cap (:data:`pitchrec.tracking.store.STREAM_MAXLEN`) and
producers would refuse every new event.

What is kept, per group: its oldest pending entry and everything after it (delivered to a
consumer, not acknowledged: a crash or a reclaim re-reads it), or, with nothing pending,
everything after its last-delivered id (not read yet). The trim point is the lowest over
all groups, so no group loses an entry it has not acknowledged. Entries only ever move
forward past these points between the read and the XTRIM (new deliveries have higher ids,
a reclaim keeps an entry pending), so the trim point stays safe; the exception is a group
created (or moved back with XGROUP SETID) meanwhile, which is an operator's action.
"""

from __future__ import annotations

from typing import Any

import redis


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id``."""
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"


def safe_min_id(client: redis.Redis, stream: str) -> str | None:
    """The lowest id some group of ``stream`` may still need (see the module docstring);
    None when the stream has no group (then nothing is known to be acknowledged)."""
    groups: list[dict[str, Any]] = list(client.xinfo_groups(stream))
    if not groups:
        return None
    busy = [g for g in groups if int(g["pending"]) > 0]
    summaries: list[Any] = []
    if busy:
        pipe = client.pipeline(transaction=False)
        for group in busy:
            pipe.xpending(stream, group["name"])
        summaries = pipe.execute()
    oldest_pending = {g["name"]: s["min"] for g, s in zip(busy, summaries, strict=True)}
    points = [
        str(oldest_pending.get(g["name"]) or next_id(str(g["last-delivered-id"]))) for g in groups
    ]
    return min(points, key=_id_key)


def trim_acknowledged(client: redis.Redis, stream: str) -> int:
    """XTRIM ``stream`` MINID to :func:`safe_min_id`; the number of entries removed."""
    min_id = safe_min_id(client, stream)
    if min_id is None:
        return 0
    return int(client.xtrim(stream, minid=min_id, approximate=False))
