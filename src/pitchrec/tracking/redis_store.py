"""The Redis adapter of :class:`~pitchrec.tracking.store.TrackingStore`.

Short timeouts (a tracking write never stalls a feed; the legacy waited 10 s per command,
spec 4.5), ``decode_responses`` on, TLS when the URL says ``rediss://`` with certificate
verification left on (D-S6).

Archive rows go to the stream through one Lua call per write (in the same pipeline): the
length check and the XADDs are atomic, so replicas writing at once never take the stream
past its cap, and at the cap the rows are refused instead of the oldest being trimmed.
"""

from __future__ import annotations

from typing import Any

import redis

from pitchrec.domain.activity import ArchiveRow
from pitchrec.tracking.redis_client import BACKGROUND_TIMEOUT_SECONDS, redis_client
from pitchrec.tracking.store import (
    ACTIVITY_LIST_CAP,
    APPLIED_BATCH_PREFIX,
    APPLIED_BATCHES_TTL,
    POLICY_VERSION_KEY,
    STREAM_GROUP,
    STREAM_KEY,
    STREAM_MAXLEN,
    FeedWrites,
)

#: Atomic, idempotent batch of HINCRBYFLOATs: applied only if the batch id is new.
#: ARGV[1]: the batch id's TTL; ARGV[2]: the written keys' TTL (0: none); then triples.
#: The hash keys are passed as arguments, so this needs a single Redis (not a cluster).
_ADD_STATS_LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  redis.call('HINCRBYFLOAT', ARGV[i], ARGV[i + 1], ARGV[i + 2])
  if ttl > 0 then redis.call('EXPIRE', ARGV[i], ttl) end
end
return 1
"""


#: XADD every entry of one write, or none when the stream would exceed its cap. KEYS[1]:
#: the stream; ARGV[1]: the cap; then each entry as its field count n and n name/value
#: pairs. Returns the number of entries added (0: refused). Sent with EVAL, not EVALSHA:
#: a pipeline of Script objects costs a SCRIPT EXISTS round trip per execute, and the
#: text (about 400 bytes) is small next to a feed's writes (about 40 kB).
_CAPPED_XADD_LUA = """
local entries, i = {}, 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  entries[#entries + 1] = {i + 1, i + 2 * n}
  i = i + 1 + 2 * n
end
if redis.call('XLEN', KEYS[1]) + #entries > tonumber(ARGV[1]) then return 0 end
for _, e in ipairs(entries) do
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, e[1], e[2]))
end
return #entries
"""


def _entries_args(rows: list[ArchiveRow]) -> list[str | int]:
    """The ARGV of :data:`_CAPPED_XADD_LUA` after the cap, for ``rows``."""
    arguments: list[str | int] = []
    for row in rows:
        fields = row.fields()
        arguments.append(len(fields))
        for name, value in fields.items():
            arguments.extend((name, value))
    return arguments


def stream_backlog(client: redis.Redis, stream: str = STREAM_KEY, group: str = STREAM_GROUP) -> int:
    """Entries of ``stream`` not yet acknowledged by ``group``: XINFO GROUPS ``lag`` (not
    yet delivered, Redis >= 7) plus ``pending`` (delivered, not acknowledged). Without
    the group (nothing ever archived), or when Redis cannot tell the lag (Redis < 7, or
    entries deleted ahead of the group), the stream's length: the archiver removes what
    it acknowledges, so XLEN is the backlog then, an upper bound at worst."""
    pipe = client.pipeline(transaction=False)
    pipe.xlen(stream)
    pipe.xinfo_groups(stream)
    length, groups = pipe.execute(raise_on_error=False)
    if isinstance(length, Exception):
        raise length
    if isinstance(groups, Exception):  # ERR no such key: the stream was never written
        if int(length) == 0:
            return 0
        raise groups
    for info in groups:
        if info["name"] == group:
            lag = info.get("lag")
            return int(length) if lag is None else int(lag) + int(info["pending"])
    return int(length)


class RedisStore:
    """``stream_cap``: entries the archive stream holds at most (default
    :data:`~pitchrec.tracking.store.STREAM_MAXLEN`, read when the store is made)."""

    def __init__(self, client: redis.Redis, stream_cap: int | None = None) -> None:
        self.client = client
        self.stream_cap = STREAM_MAXLEN if stream_cap is None else stream_cap
        self._add_stats_script = client.register_script(_ADD_STATS_LUA)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(redis_client(url))

    def background(self, timeout: float = BACKGROUND_TIMEOUT_SECONDS) -> RedisStore:
        """This store over connections of its own (same server, TLS and options) with a
        ``timeout`` of several seconds: for round trips off the request path (the
        tracker's spool replays), which a slow Redis must not cut off (a cut-off write
        may have been applied, and is then written twice)."""
        pool = self.client.connection_pool
        options = {**pool.connection_kwargs, "socket_timeout": timeout}
        own = redis.ConnectionPool(connection_class=pool.connection_class, **options)
        return RedisStore(redis.Redis(connection_pool=own), self.stream_cap)

    def ping(self) -> bool:
        return bool(self.client.ping())

    def session_members(self, key: str) -> set[str]:
        members: Any = self.client.smembers(key)
        return set(members)

    def read_request_state(
        self, session_key: str | None, profile_key: str | None
    ) -> tuple[set[str], dict[str, str]]:
        if session_key is None and profile_key is None:
            return set(), {}
        pipe = self.client.pipeline(transaction=False)
        if session_key is not None:
            pipe.smembers(session_key)
        if profile_key is not None:
            pipe.hgetall(profile_key)
        results = list(pipe.execute())
        members: set[str] = set(results.pop(0)) if session_key is not None else set()
        profile: dict[str, str] = dict(results.pop(0)) if profile_key is not None else {}
        return members, profile

    def add_profiles(self, increments: dict[str, dict[str, float]], ttl: int) -> None:
        if not increments:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, fields in increments.items():
            for name, amount in fields.items():
                pipe.hincrbyfloat(key, name, float(amount))
            pipe.expire(key, ttl)
        pipe.execute()

    def write_feed(self, writes: list[FeedWrites]) -> list[FeedWrites]:
        pipe = self.client.pipeline(transaction=False)
        archived: list[tuple[int, FeedWrites]] = []  # (index of its EVAL, write)
        for w in writes:
            if w.activity_key is not None and w.activity_events:
                pipe.lpush(w.activity_key, *w.activity_events)
                pipe.ltrim(w.activity_key, 0, ACTIVITY_LIST_CAP - 1)
                pipe.expire(w.activity_key, w.activity_ttl)
            if w.session_members:
                pipe.sadd(w.session_key, *w.session_members)
                pipe.expire(w.session_key, w.session_ttl)
            if w.impressions:
                pipe.hset(w.impressions_key, mapping=dict[Any, Any](w.impressions))
                pipe.expire(w.impressions_key, w.impressions_ttl)
            for key, fields in w.counters.items():
                for name, amount in fields.items():
                    if isinstance(amount, int):
                        pipe.hincrby(key, name, amount)
                    else:
                        pipe.hincrbyfloat(key, name, amount)
                if key in w.counter_ttls:
                    pipe.expire(key, w.counter_ttls[key])
            if w.archive:
                archived.append((len(pipe), w))
                args = _entries_args(w.archive)
                pipe.eval(_CAPPED_XADD_LUA, 1, STREAM_KEY, self.stream_cap, *args)
        results = pipe.execute()
        return [w for index, w in archived if not results[index]]

    def stream_backlog(self) -> int:
        return stream_backlog(self.client)

    def read_impressions(self, lookups: list[tuple[str, str]]) -> list[str | None]:
        if not lookups:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key, field in lookups:
            pipe.hget(key, field)
        return list(pipe.execute())

    def claim_events(self, keys: list[str], ttl: int) -> list[bool]:
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, "1", nx=True, ex=ttl)
        return [bool(result) for result in pipe.execute()]

    def add_stats(
        self, batch_id: str, increments: dict[str, dict[str, float]], ttl: int | None = None
    ) -> bool:
        arguments: list[str | float] = [APPLIED_BATCHES_TTL, ttl or 0]
        for key, fields in increments.items():
            for name, amount in fields.items():
                arguments.extend((key, name, repr(float(amount))))
        applied = self._add_stats_script(keys=[APPLIED_BATCH_PREFIX + batch_id], args=arguments)
        return bool(applied)

    def read_stats(self, keys: list[str]) -> dict[str, dict[str, float]]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        results = pipe.execute()
        return {
            key: {name: float(value) for name, value in result.items()}
            for key, result in zip(keys, results, strict=True)
        }

    def read_hashes(self, keys: list[str]) -> list[dict[str, str]]:
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return [dict(result) for result in pipe.execute()]

    def set_field_once(self, key: str, name: str, value: str, ttl: int) -> bool:
        pipe = self.client.pipeline(transaction=False)
        pipe.hsetnx(key, name, value)
        pipe.expire(key, ttl)
        created, _ = pipe.execute()
        return bool(created)

    def policy_version(self) -> int:
        value = self.client.get(POLICY_VERSION_KEY)
        return int(str(value)) if value is not None else 1

    def set_policy_version(self, version: int) -> None:
        self.client.set(POLICY_VERSION_KEY, version)
