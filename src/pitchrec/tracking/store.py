"""The tracking port: a small Protocol with a Redis adapter and an in-process adapter of
identical semantics (the embedded default, not a test mock).

Every method is one round trip to Redis. Keys (spec 4.2, kept for other consumers):

* ``user_activity:{user_id}``: LIST of legacy event JSON, newest first, TTL 24 h;
* ``session:{user}:{session}:videos``: SET of served ids, TTL 1 h (namespaced, D-S10);

and pitchrec's own, under ``pitchrec:``:

* ``pitchrec:imp:{request_id}``: HASH ``{r|c}:{item_id}`` -> impression JSON, with TTL;
* ``pitchrec:profile:{user_id}``: HASH resume id -> summed reward, with TTL
  (:mod:`pitchrec.learning.profiles`);
* ``pitchrec:events``: the archive STREAM (:mod:`pitchrec.domain.activity`), capped at
  :data:`STREAM_MAXLEN` entries by refusing new ones (never by trimming unarchived ones);
* ``pitchrec:policy:version`` and ``pitchrec:policy:v{version}:{pool}``: HASHes of summed
  policy statistics, grown only by HINCRBYFLOAT (commutative, no read-modify-write); a
  non-control experiment variant's under ``...{pool}:exp:{experiment}:{variant}``;
* ``pitchrec:exp:{experiment}:total`` and ``...:h:{hour start}``: HASHes of per-variant
  counters (``{variant}:impressions``, ``:likes``, ``:saves``, ``:views``, ``:watch``),
  grown by HINCRBY / HINCRBYFLOAT, the hourly ones expiring after
  :data:`EXPERIMENT_HOUR_TTL`; ``...:stopped``: HASH variant -> why the guardrail stopped
  it (HSETNX: the first replica to decide wins); ``...:once:{...}``: the first like, save
  or view of an impression (SET NX, like the event claims).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile

STREAM_KEY = "pitchrec:events"
#: The consumer group the archiver reads the stream through
#: (:data:`pitchrec.archive.archiver.ARCHIVE_GROUP`); here because the producer measures
#: the backlog against it and may not import the archiver.
STREAM_GROUP = "archiver"
#: Entries the stream holds at most. The archiver removes what it has acknowledged (XDEL;
#: or XTRIM MINID when it keeps them, which also keeps acknowledged entries behind a
#: pending one), so the length is the backlog not yet archived. At the cap (checked
#: against XLEN, atomically with the XADDs) new rows are *refused*: they wait in the
#: tracker's spool, counted in ``stream_refused``; old ones are never trimmed (the former
#: ``MAXLEN ~`` on XADD trimmed events nobody had archived). 10 million is the former
#: cap, about a day of events at 100/s; at the 625 bytes an entry measured for feed rows
#: (MEMORY USAGE of 10,000 real rows, Redis 7.0) it is about 6.3 GB of Redis memory. The
#: alert rules (deploy/k8s/monitoring/alerts.yaml) fire long before it.
STREAM_MAXLEN = 10_000_000
POLICY_VERSION_KEY = "pitchrec:policy:version"
#: ``{prefix}{batch id}``: one key per applied learning batch, each expiring on its own (a
#: single set whose TTL every publish renewed never expired and grew a member a second).
APPLIED_BATCH_PREFIX = "pitchrec:policy:applied:"
APPLIED_BATCHES_TTL = 86_400  # seconds a batch id is remembered (retries come within seconds)
#: Entries kept in a legacy ``user_activity:{user}`` list (newest first): 40 feeds of 25
#: events, at about 700 bytes an event about 0.7 MB for the busiest key (user 0 takes
#: every anonymous feed and grew without bound: 21 feeds, 525 entries, TTL renewed).
#: The archive does not read these lists (it reads the event stream), so trimming the
#: oldest loses nothing durable.
ACTIVITY_LIST_CAP = 1_000


def policy_stats_key(version: int, pool: str) -> str:
    return f"pitchrec:policy:v{version}:{pool}"


#: Seconds an experiment's totals and stopped variants are kept after its last write.
EXPERIMENT_TTL = 90 * 86_400
#: Seconds an hourly counter bucket is kept: the 7 days a report shows, and one more.
EXPERIMENT_HOUR_TTL = 8 * 86_400


def experiment_key(experiment: str, part: str) -> str:
    """``pitchrec:exp:{experiment}:{part}`` (part: ``total``, ``h:{hour}``, ``stopped``)."""
    return f"pitchrec:exp:{experiment}:{part}"


def experiment_hour(now: float) -> int:
    """The unix second that starts ``now``'s hour (the counters' bucket)."""
    return int(now // 3600) * 3600


def profile_key(user_id: int) -> str:
    return f"pitchrec:profile:{user_id}"


#: Rewarded resumes read per request, heaviest first: the size of spec 2.2's preference
#: sample, so a profile never outweighs the history by its length alone. Skipped resumes
#: read per request, most skipped first: as many.
PROFILE_SAMPLE = 80
#: A profile field naming a skipped resume: ``s{resume_id}`` -> skips. Readers before
#: skips were kept ignore such fields (not all digits), so replicas of both versions can
#: share the hashes during a rolling update.
SKIP_FIELD_PREFIX = "s"


def skip_field(resume_id: int) -> str:
    """The profile hash field counting the user's skips of ``resume_id``."""
    return f"{SKIP_FIELD_PREFIX}{resume_id}"


def parse_profile(fields: Mapping[str, str]) -> TasteProfile:
    """The profile stored in ``fields`` (resume id -> summed reward, ``s`` + resume id ->
    skips); entries that are not a positive id with a positive finite weight are ignored
    (the hash is shared, a bad writer must not break feeds)."""
    liked: tuple[list[int], list[float]] = ([], [])
    skipped: tuple[list[int], list[float]] = ([], [])
    for name, value in fields.items():
        target, digits = liked, name
        if name.startswith(SKIP_FIELD_PREFIX):
            target, digits = skipped, name[len(SKIP_FIELD_PREFIX) :]
        if not (digits.isascii() and digits.isdigit()):
            continue
        try:
            weight = float(value)
        except ValueError:
            continue
        if math.isfinite(weight) and weight > 0.0 and int(digits) < 2**63:
            target[0].append(int(digits))
            target[1].append(weight)
    if not liked[0] and not skipped[0]:
        return EMPTY_PROFILE
    resume_ids, weights = _heaviest(*liked)
    skipped_ids, skips = _heaviest(*skipped)
    return TasteProfile(resume_ids, weights, skipped_ids, skips)


def _heaviest(
    ids: list[int], weights: list[float]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The :data:`PROFILE_SAMPLE` heaviest of ``ids`` and their ``weights`` (ties by id)."""
    id_array = np.asarray(ids, dtype=np.int64)
    weight_array = np.asarray(weights, dtype=np.float64)
    order = np.lexsort((id_array, -weight_array))[:PROFILE_SAMPLE]
    return id_array[order], weight_array[order]


def event_claim_key(event_id: str) -> str:
    """Where a feedback event's first arrival is remembered (``event_id``: the event's
    archive id, at most 64 characters, :func:`pitchrec.legacy.events.stable_event_id`)."""
    return f"pitchrec:event:{event_id}"


def impression_key(request_id: str) -> str:
    return f"pitchrec:imp:{request_id}"


def impression_field(item_type: str, item_id: int) -> str:
    return f"{'c' if item_type == 'challenge' else 'r'}:{item_id}"


@dataclass
class FeedWrites:
    """Everything one served feed writes, sent in one pipeline; a part left at its
    default is not written (feedback, for one, only archives)."""

    activity_key: str | None = None  # None: nothing for the legacy list
    activity_events: list[str] = field(default_factory=list)  # JSON, in push order
    activity_ttl: int = 0
    session_key: str = ""
    session_members: list[str] = field(default_factory=list)
    session_ttl: int = 0
    impressions_key: str = ""
    impressions: dict[str, str] = field(default_factory=dict)  # field -> Impression JSON
    impressions_ttl: int = 0
    archive: list[ArchiveRow] = field(default_factory=list)
    #: Accepted feedback events (only archive rows): never dropped from the spool.
    feedback: bool = False
    #: Counter increments, key -> field -> amount (HINCRBY for an int, HINCRBYFLOAT for
    #: a float), and the TTL each key is given (a key without one keeps its own).
    counters: dict[str, dict[str, int | float]] = field(default_factory=dict)
    counter_ttls: dict[str, int] = field(default_factory=dict)

    def split_archive(self) -> tuple[FeedWrites | None, FeedWrites | None]:
        """These writes without their archive rows, and the archive rows alone (each None
        when empty): what goes out while the stream refuses rows, and what waits."""
        rest = replace(self, archive=[])
        has_rest = bool(
            (rest.activity_key is not None and rest.activity_events)
            or rest.session_members
            or rest.impressions
            or rest.counters
        )
        rows = FeedWrites(archive=self.archive, feedback=self.feedback) if self.archive else None
        return (rest if has_rest else None), rows


class TrackingStore(Protocol):
    def ping(self) -> bool: ...

    def session_members(self, key: str) -> set[str]: ...

    def read_request_state(
        self, session_key: str | None, profile_key: str | None
    ) -> tuple[set[str], dict[str, str]]:
        """The session set and the taste-profile hash, in one round trip (a key given as
        None is not read and comes back empty)."""
        ...

    def add_profiles(self, increments: dict[str, dict[str, float]], ttl: int) -> None:
        """HINCRBYFLOAT every (key, field, amount) and refresh each key's TTL, in one
        round trip."""
        ...

    def write_feed(self, writes: list[FeedWrites]) -> list[FeedWrites]:
        """Apply the writes of one or more feeds in one round trip. Returns the writes
        whose archive rows the stream refused (it holds :data:`STREAM_MAXLEN` entries
        not yet archived; each write's rows are all taken or all refused); their other
        parts were written."""
        ...

    def stream_backlog(self) -> int:
        """Archive rows not yet acknowledged by the archiver (:data:`STREAM_GROUP`)."""
        ...

    def read_impressions(self, lookups: list[tuple[str, str]]) -> list[str | None]:
        """HGET each (key, field) in one round trip."""
        ...

    def claim_events(self, keys: list[str], ttl: int) -> list[bool]:
        """SET each key NX with ``ttl`` seconds, in one round trip: True where this call
        set it (the first to claim an event), False where it existed (a retry)."""
        ...

    def add_stats(
        self, batch_id: str, increments: dict[str, dict[str, float]], ttl: int | None = None
    ) -> bool:
        """Add every (key, field, amount) atomically and at most once per ``batch_id``
        (a retried batch is not applied twice); False when the batch was already applied.
        ``ttl``: each written key expires that many seconds after this write (None: never,
        the statistics of a version)."""
        ...

    def read_stats(self, keys: list[str]) -> dict[str, dict[str, float]]: ...

    def read_hashes(self, keys: list[str]) -> list[dict[str, str]]:
        """HGETALL each key in one round trip (a missing key: an empty dict)."""
        ...

    def set_field_once(self, key: str, name: str, value: str, ttl: int) -> bool:
        """HSETNX ``name`` of hash ``key`` and give the key ``ttl`` seconds, in one round
        trip; True when this call set it, False when it was already set."""
        ...

    def policy_version(self) -> int:
        """The current policy statistics version (1 when never set)."""
        ...

    def set_policy_version(self, version: int) -> None: ...
