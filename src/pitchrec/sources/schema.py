"""The TalentPitch tables pitchrec reads and writes, as SQLAlchemy Core metadata.

Names are the legacy ones (spec sections 1.2 and 4.4), so pitchrec can be pointed at a
replica of the real ``interacpedia`` database. Types are chosen to work on MySQL 8,
MariaDB 10.11 and SQLite:

* ids are BIGINT (INTEGER on SQLite, where only ``INTEGER PRIMARY KEY`` autoincrements);
* JSON lists (skills, tools, ...) are TEXT: the legacy loader reads them as JSON text,
  and a MySQL ``JSON`` column in the real database reads back the same way;
* strings that are matched exactly (status, type, URL) are VARCHAR so they can be indexed;
* MySQL tables are utf8mb4 so accents round-trip as real UTF-8 (spec D-C26).

Only columns the legacy service touches, plus a few that the API schema names
(``challenges.slug``, ``image``, ``status_at``) and the polymorphic ``model_type`` columns
that let the loader fix D-C14, are declared. A real database may hold more; pitchrec never
selects ``*``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()

#: BIGINT on MySQL/MariaDB; INTEGER on SQLite so the primary key is a rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")

#: Stored value of ``views.model_type`` / ``activity_log.subject_type`` for resumes
#: (spec 1.2.1: single backslashes in the stored value).
RESUME_MODEL_TYPE = "App\\Interacpedia\\Resumes\\Resume"
#: Stored value for challenges; the legacy tracker wrongly wrote the resume type (D-C11).
CHALLENGE_MODEL_TYPE = "App\\Interacpedia\\Challenges\\Challenge"
#: ``activity_log.causer_type`` written by the legacy flush (spec 4.4).
USER_MODEL_TYPE = "App\\User"

#: ``activity_log.url`` of the rows archived from ``POST /v1/events`` (legacy/events.py):
#: what a client sent, as opposed to what the service served or the apps logged.
V1_EVENTS_URL = "/v1/events"
#: ``activity_log.description`` of the v1 feedback that is taste (a like, save, match or
#: share of a resume or challenge; ``feedback_row`` writes ``#<item type> #<type>``).
V1_TASTE_DESCRIPTIONS = tuple(
    f"#{item} #{kind}"
    for item in ("resume", "challenge")
    for kind in ("like", "save", "match", "share")
)

#: ``activity_log.event_id``. Binary collation on MySQL/MariaDB: under the table's
#: ``utf8mb4_unicode_ci`` the UNIQUE index would take "AbC" and "abc" (or "é" and "e") for the
#: same id, and the archiver's INSERT IGNORE would drop the second event as a duplicate.
#: (``utf8mb4_bin`` still pads: "a" and "a " collide; the archiver refuses ids with
#: trailing spaces.) SQLite compares bytes by default.
EventId = String(64).with_variant(
    mysql.VARCHAR(64, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
)

_MYSQL: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}
_URL = 500  # VARCHAR length of media URLs: 500 * 4 bytes fits InnoDB's 3072-byte key limit


def _timestamps() -> tuple[Column[datetime], Column[datetime]]:
    return (
        Column("created_at", DateTime, nullable=True),
        Column("updated_at", DateTime, nullable=True),
    )


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=True),
    Column("city", String(255), nullable=True),
    Column("country", String(255), nullable=True),
    *_timestamps(),
    Column("deleted_at", DateTime, nullable=True),
    Index("idx_users_deleted", "deleted_at"),
    **_MYSQL,
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("skills", Text, nullable=True),
    Column("languages", Text, nullable=True),
    Column("tools", Text, nullable=True),
    Column("knowledge", Text, nullable=True),
    Column("hobbies", Text, nullable=True),
    Column("type_talentees", Text, nullable=True),
    Column("opencall_objective", Text, nullable=True),
    *_timestamps(),
    Index("idx_profiles_user", "user_id"),
    **_MYSQL,
)

resumes = Table(
    "resumes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("video", String(_URL), nullable=True),
    Column("views", Integer, nullable=True),
    Column("skills", Text, nullable=True),
    Column("knowledges", Text, nullable=True),
    Column("tools", Text, nullable=True),
    Column("languages", Text, nullable=True),
    Column("role_objectives", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("status", String(32), nullable=True),
    *_timestamps(),
    Column("deleted_at", DateTime, nullable=True),
    # The three indexes of the legacy migrations/create_indexes.sql (spec 5.10).
    Index("idx_resumes_search", "deleted_at", "status", "created_at"),
    Index("idx_resumes_video", "video", "deleted_at", mysql_length={"video": 255}),
    Index("idx_resumes_user", "user_id", "deleted_at"),
    **_MYSQL,
)

challenges = Table(
    "challenges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("video", String(_URL), nullable=True),
    Column("name", String(255), nullable=True),
    Column("slug", String(255), nullable=True),
    Column("image", String(_URL), nullable=True),
    Column("description", Text, nullable=True),
    Column("status", String(32), nullable=True),
    Column("status_at", DateTime, nullable=True),
    *_timestamps(),
    Column("deleted_at", DateTime, nullable=True),
    Index("idx_challenges_search", "deleted_at", "status", "created_at"),
    Index("idx_challenges_video", "video", mysql_length={"video": 255}),
    **_MYSQL,
)

team_feedbacks = Table(
    "team_feedbacks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=True),
    Column("model_id", BigInteger, nullable=True),
    Column("model_type", String(255), nullable=True),
    Column("type", String(64), nullable=True),
    Column("value", Float, nullable=True),
    *_timestamps(),
    Index("idx_team_feedbacks_model", "model_id", "type"),
    Index("idx_team_feedbacks_user", "user_id", "created_at"),
    **_MYSQL,
)

likes = Table(
    "likes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=True),
    Column("model_id", BigInteger, nullable=True),
    Column("model_type", String(255), nullable=True),
    Column("type", String(64), nullable=True),
    *_timestamps(),
    Index("idx_likes_model", "model_id", "type"),
    Index("idx_likes_user", "user_id", "created_at"),
    **_MYSQL,
)

matches = Table(
    "matches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=True),
    Column("model_id", BigInteger, nullable=True),
    Column("model_type", String(255), nullable=True),
    Column("status", String(32), nullable=True),
    *_timestamps(),
    Index("idx_matches_model", "model_id", "status"),
    Index("idx_matches_user", "user_id", "created_at"),
    **_MYSQL,
)

resumes_exhibited = Table(
    "resumes_exhibited",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("resume_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    *_timestamps(),
    Index("idx_resumes_exhibited_resume", "resume_id"),
    **_MYSQL,
)

views = Table(
    "views",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("model_id", BigInteger, nullable=True),
    Column("model_type", String(255), nullable=True),
    Column("user_id", BigInteger, nullable=True),
    *_timestamps(),
    Index("idx_views_model", "model_type", "model_id"),
    **_MYSQL,
)

user_connections = Table(
    "user_connections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("from_id", BigInteger, nullable=False),
    Column("to_id", BigInteger, nullable=False),
    Column("status", String(32), nullable=True),
    *_timestamps(),
    Index("idx_user_connections_from", "status", "created_at", "from_id"),
    **_MYSQL,
)

activity_log = Table(
    "activity_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("log_name", String(255), nullable=True),
    Column("description", Text, nullable=False),
    Column("subject_id", BigInteger, nullable=True),
    Column("subject_type", String(255), nullable=True),
    Column("causer_id", BigInteger, nullable=True),
    Column("causer_type", String(255), nullable=True),
    Column("properties", Text, nullable=True),
    Column("url", String(1024), nullable=True),
    *_timestamps(),
    # Idempotency key of the stream archiver (tracking/archiver.py). Not in the legacy
    # table: sources/migrations.py adds it to an existing database. Legacy rows keep NULL,
    # which a UNIQUE index allows any number of times on MySQL, MariaDB and SQLite.
    Column("event_id", EventId, nullable=True),
    Index("idx_activity_log_causer", "causer_id", "created_at"),
    Index("idx_activity_log_created", "created_at"),
    Index("uq_activity_log_event_id", "event_id", unique=True),
    **_MYSQL,
)

ALL_TABLES: tuple[Table, ...] = (
    users,
    profiles,
    resumes,
    challenges,
    team_feedbacks,
    likes,
    matches,
    resumes_exhibited,
    views,
    user_connections,
    activity_log,
)
