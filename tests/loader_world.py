"""A tiny hand-made world for the loaders: one row per filter edge case.

Shared by ``tests/unit/test_loaders.py`` (SQLite) and
``tests/integration/test_loaders_mariadb.py`` (MariaDB), which must load the very same
result from it. Every row says in a comment why it is there; the expectations below the
inserts are the contract.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, Table, insert

from pitchrec.sources.database import create_schema
from pitchrec.sources.schema import (
    CHALLENGE_MODEL_TYPE,
    RESUME_MODEL_TYPE,
    USER_MODEL_TYPE,
    activity_log,
    challenges,
    likes,
    matches,
    profiles,
    resumes,
    resumes_exhibited,
    team_feedbacks,
    user_connections,
    users,
    views,
)
from pitchrec.sources.tables import InteractionKind, ItemType, ProfileTable, SourceData

NOW = datetime(2025, 6, 30, 12, 0, 0)
SECOND = timedelta(seconds=1)
OTHER_MODEL_TYPE = "App\\Interacpedia\\Companies\\Company"
QUOTED_URL = "https://cdn.example.com/resumes/it's-mine.mp4"  # the old SQL injection
BLACKLIST = frozenset({QUOTED_URL, "https://cdn.example.com/challenges/banned.mp4"})


def ago(days: float, seconds: float = 0) -> datetime:
    return NOW - timedelta(days=days, seconds=seconds)


def _url(kind: str, name: str) -> str:
    return f"https://cdn.example.com/{kind}/{name}.mp4"


USERS: list[dict[str, Any]] = [
    # id, name, city, country, created, updated, deleted
    dict(id=1, name="Ana", city=" bogota ", country="Colombia", created_at=ago(10)),
    dict(id=2, name="Bruno", city="BOGOTA", country=" Colombia ", created_at=ago(90)),
    dict(id=3, name=None, city=None, country=" México ", created_at=ago(400), updated_at=ago(5)),
    dict(id=4, name="Dora", city="Cali", country="Colombia", created_at=ago(5), deleted_at=ago(1)),
    dict(id=5, name="Eva", city="  ", country="", created_at=ago(20)),
    # Too old for the profiles window: created and updated more than 90 days ago.
    dict(id=6, name="Fede", city="Nuevo León", country="México", created_at=ago(90, 1)),
    dict(id=7, name="Gus", city="Nuevo León", country="México", created_at=ago(300)),
]

R, C = RESUME_MODEL_TYPE, CHALLENGE_MODEL_TYPE
SKILLS_101 = '["Python", " SQL ", "python", "SQL", "", 3, {"a": 1}, ["x"], null]'

RESUMES: list[dict[str, Any]] = [
    # Kept: exactly at the 360-day boundary; JSON list with every kind of junk.
    dict(
        id=101,
        user_id=1,
        video=_url("resumes", "r101"),
        created_at=ago(360),
        description="Analista de datos",
        skills=SKILLS_101,
        tools='["Excel"]',
        views=999,
        knowledges="",
        languages=None,
        role_objectives='["hire", "hire"]',
    ),
    # Excluded: one second older than the window.
    dict(id=102, user_id=1, video=_url("resumes", "r102"), created_at=ago(360, 1)),
    # Excluded: owner deleted.
    dict(id=103, user_id=4, video=_url("resumes", "r103"), created_at=ago(3)),
    # Excluded: blacklisted URL holding a single quote.
    dict(id=104, user_id=1, video=QUOTED_URL, created_at=ago(3)),
    # Kept: "testimonio", "contest", "protesta", "comprueba" are not test words (D-C15);
    # malformed JSON gives ().
    dict(
        id=105,
        user_id=2,
        video=_url("resumes", "protesta-comprueba"),
        created_at=ago(2),
        description="Mi testimonio: gané el contest",
        skills='["a", ',
        tools="python, sql",
    ),
    # Excluded: "prueba" as a word of the description.
    dict(
        id=106,
        user_id=2,
        video=_url("resumes", "r106"),
        created_at=ago(2),
        description="Video de PRUEBA",
    ),
    # Excluded: "test" as a word of the URL.
    dict(id=107, user_id=2, video=_url("resumes", "test_upload1"), created_at=ago(2)),
    # Excluded: not sent, deleted, no video, blank video.
    dict(id=108, user_id=2, video=_url("resumes", "r108"), created_at=ago(2), status="draft"),
    dict(id=109, user_id=2, video=_url("resumes", "r109"), created_at=ago(2), deleted_at=ago(1)),
    dict(id=110, user_id=2, video=None, created_at=ago(2)),
    dict(id=115, user_id=2, video="  ", created_at=ago(2)),
    # Kept: NULL description, skills a JSON object (not a list), creator with mixed-case city.
    dict(
        id=111,
        user_id=2,
        video=_url("resumes", "r111"),
        created_at=ago(30),
        description=None,
        skills='{"a": 1}',
    ),
    # Kept: creator with NULL name and city, country only.
    dict(
        id=112,
        user_id=3,
        video=_url("resumes", "r112"),
        created_at=ago(100),
        skills='["Diseño", "Diseño"]',
    ),
    # Excluded: owner does not exist.
    dict(id=113, user_id=999, video=_url("resumes", "r113"), created_at=ago(2)),
]

CHALLENGES: list[dict[str, Any]] = [
    # Kept: created exactly at the 90-day boundary.
    dict(id=201, user_id=1, video=_url("challenges", "c201"), created_at=ago(90)),
    # Kept: created long ago, updated recently.
    dict(
        id=202, user_id=2, video=_url("challenges", "c202"), created_at=ago(200), updated_at=ago(10)
    ),
    # Excluded: one second too old, never updated.
    dict(id=203, user_id=1, video=_url("challenges", "c203"), created_at=ago(90, 1)),
    # Duplicate URL: 205 is newer than 204, so 205 is kept.
    dict(id=204, user_id=1, video=_url("challenges", "dup"), created_at=ago(5)),
    dict(id=205, user_id=2, video=_url("challenges", "dup"), created_at=ago(3)),
    # Excluded: NULL name; NULL description.
    dict(id=206, user_id=1, video=_url("challenges", "c206"), created_at=ago(4), name=None),
    dict(id=207, user_id=1, video=_url("challenges", "c207"), created_at=ago(4), description=None),
    # Excluded: test word in the name (D-C16); in the URL.
    dict(
        id=208, user_id=1, video=_url("challenges", "c208"), created_at=ago(4), name="testing 002"
    ),
    dict(id=209, user_id=1, video=_url("challenges", "video-de-prueba"), created_at=ago(4)),
    # Excluded: owner deleted (D-C17); blacklisted; draft; deleted.
    dict(id=210, user_id=4, video=_url("challenges", "c210"), created_at=ago(4)),
    dict(id=211, user_id=1, video=_url("challenges", "banned"), created_at=ago(4)),
    dict(id=212, user_id=1, video=_url("challenges", "c212"), created_at=ago(4), status="draft"),
    dict(id=213, user_id=1, video=_url("challenges", "c213"), created_at=ago(4), deleted_at=ago(1)),
    # Kept: "contest" and "protesta" are not test words.
    dict(
        id=214,
        user_id=3,
        video=_url("challenges", "c214"),
        created_at=ago(6),
        name="Contest de protesta",
    ),
    # Same URL: the newest copy (216) has a deleted owner, so the older 217 is kept.
    dict(id=216, user_id=4, video=_url("challenges", "dup2"), created_at=ago(1)),
    dict(id=217, user_id=5, video=_url("challenges", "dup2"), created_at=ago(20)),
]

# (model_id, model_type, type, value, user_id, created_at)
FEEDBACKS: list[tuple[int, str | None, str, float, int | None, datetime]] = [
    (101, R, "ranking_resume", 7, 5, ago(90)),  # clamped to 5; also history (boundary)
    (101, None, "ranking_resume", 3, None, ago(400)),  # untyped counts; no user: no history
    (101, R, "ranking_resume", 0, 5, ago(1)),  # value 0: ignored everywhere
    (101, OTHER_MODEL_TYPE, "ranking_resume", 4, 5, ago(1)),  # another entity (D-C14)
    (101, R, "other_feedback", 5, 5, ago(1)),  # another feedback type
    (112, R, "ranking_resume", 2, 6, ago(90, 1)),  # counted all-time; too old for history
    (201, C, "ranking_resume", 4.5, 7, ago(2)),  # a rated challenge: history of type CHALLENGE
]
# (model_id, model_type, status, user_id, created_at)
MATCHES: list[tuple[int, str | None, str, int | None, datetime]] = [
    (101, R, "accepted", 6, ago(1)),
    (101, None, "accepted", None, ago(500)),
    (101, R, "pending", 6, ago(1)),
    (101, C, "accepted", 6, ago(1)),  # a challenge with the same id: not a resume match
    (112, R, "accepted", 5, ago(91)),  # too old for history
]
# (model_id, model_type, type, user_id, created_at)
LIKES: list[tuple[int, str | None, str, int | None, datetime]] = [
    (101, R, "save", 5, ago(10)),
    (101, R, "like", 5, ago(10)),
    (111, None, "save", 6, ago(90)),
    (201, C, "save", 6, ago(3)),
    (111, OTHER_MODEL_TYPE, "save", 7, ago(3)),  # skipped in history and aggregates
]
EXHIBITED = [101, 101, 101, 105]
VIEWS: list[tuple[int, str | None]] = [
    *[(101, R)] * 4,
    (101, C),
    (101, None),
    (105, R),
]
# (description, subject_id, subject_type, causer_id, created_at)
ACTIVITY: list[tuple[str, int | None, str | None, int | None, datetime]] = [
    ("#video #view #total", 105, R, 5, ago(30)),  # boundary: kept
    ("#video #view #total", 111, R, 5, ago(30, 1)),  # too old
    ("#video #view #flow", 201, C, 5, ago(1)),  # a challenge view
    ("#video #view #total", 112, OTHER_MODEL_TYPE, 5, ago(1)),  # another entity: skipped
    ("#video #view #total", 112, None, None, ago(1)),  # no causer
    ("#video #view #total", None, R, 5, ago(1)),  # no subject
    ("#feed #request #total", None, None, 5, ago(1)),  # not a view
    ("Video VIEWED", 112, None, 6, ago(2)),  # LIKE is case-insensitive on both back ends
]
# (from_id, to_id, status, created_at)
CONNECTIONS: list[tuple[int, int, str, datetime]] = [
    (1, 2, "accepted", ago(90)),  # boundary: kept
    (1, 2, "accepted", ago(5)),  # duplicate edge
    (3, 3, "accepted", ago(5)),  # self-loop
    (2, 1, "pending", ago(5)),
    (2, 3, "accepted", ago(90, 1)),  # too old
    (5, 1, "accepted", ago(1)),
    (2, 1, "accepted", ago(2)),  # the reverse edge is another edge
]
# (id, user_id, skills)
PROFILES: list[tuple[int, int, str | None]] = [
    (1, 1, '["Python", {"x": 1}]'),
    (2, 1, '["Go", "Go "]'),  # the newer profile row of user 1 wins
    (3, 3, "not json"),
    (4, 6, '["Old"]'),
]


def _insert(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(table), rows)


def build_world(engine: Engine) -> None:
    """Create the schema and insert the world above."""
    create_schema(engine)
    _insert(engine, users, [{"updated_at": None, "deleted_at": None, **u} for u in USERS])
    resume_defaults = {
        "status": "send",
        "deleted_at": None,
        "description": "Hola",
        "skills": None,
        "knowledges": None,
        "tools": None,
        "languages": None,
        "role_objectives": None,
        "views": 0,
        "updated_at": None,
    }
    _insert(engine, resumes, [{**resume_defaults, **r} for r in RESUMES])
    challenge_defaults = {
        "status": "published",
        "deleted_at": None,
        "name": "Reto",
        "description": "Ven",
        "updated_at": None,
    }
    _insert(engine, challenges, [{**challenge_defaults, **c} for c in CHALLENGES])
    _insert(
        engine,
        team_feedbacks,
        [
            dict(model_id=m, model_type=t, type=k, value=v, user_id=u, created_at=at)
            for m, t, k, v, u, at in FEEDBACKS
        ],
    )
    _insert(
        engine,
        matches,
        [
            dict(model_id=m, model_type=t, status=s, user_id=u, created_at=at)
            for m, t, s, u, at in MATCHES
        ],
    )
    _insert(
        engine,
        likes,
        [
            dict(model_id=m, model_type=t, type=k, user_id=u, created_at=at)
            for m, t, k, u, at in LIKES
        ],
    )
    _insert(engine, resumes_exhibited, [dict(resume_id=r, created_at=ago(1)) for r in EXHIBITED])
    _insert(
        engine,
        views,
        [dict(model_id=m, model_type=t, user_id=5, created_at=ago(700)) for m, t in VIEWS],
    )
    _insert(
        engine,
        activity_log,
        [
            dict(
                log_name="app",
                description=d,
                subject_id=s,
                subject_type=t,
                causer_id=c,
                causer_type=USER_MODEL_TYPE,
                created_at=at,
                updated_at=at,
            )
            for d, s, t, c, at in ACTIVITY
        ],
    )
    _insert(
        engine,
        user_connections,
        [dict(from_id=f, to_id=t, status=s, created_at=at) for f, t, s, at in CONNECTIONS],
    )
    _insert(engine, profiles, [dict(id=i, user_id=u, skills=s) for i, u, s in PROFILES])


# --------------------------------------------------------------------------- expectations

EXPECTED_RESUME_IDS = [101, 105, 111, 112]
EXPECTED_CHALLENGE_IDS = [205, 214, 217, 201, 202]  # newest created_at first
EXPECTED_RESUME_SKIPS = {
    "resumes.owner_deleted": 1,
    "resumes.owner_missing": 1,
    "resumes.blacklisted": 1,
    "resumes.test_content": 2,
    "resumes.blank_video": 1,
}
EXPECTED_CHALLENGE_SKIPS = {
    "challenges.owner_deleted": 2,
    "challenges.blacklisted": 1,
    "challenges.null_name": 1,
    "challenges.null_description": 1,
    "challenges.test_content": 2,
    "challenges.duplicate_video": 1,
}


def epoch(at: datetime) -> float:
    return (at - datetime(1970, 1, 1)).total_seconds()


def assert_resumes(data: SourceData) -> None:
    table = data.resumes
    assert table.id.tolist() == EXPECTED_RESUME_IDS
    assert table.user_id.tolist() == [1, 2, 2, 3]
    assert table.video[1] == _url("resumes", "protesta-comprueba")
    assert table.description == (
        "Analista de datos",
        "Mi testimonio: gané el contest",
        None,
        "Hola",
    )
    assert table.created_at.tolist() == [
        epoch(ago(360)),
        epoch(ago(2)),
        epoch(ago(30)),
        epoch(ago(100)),
    ]
    assert table.skills == (("Python", "SQL", "python"), (), (), ("Diseño",))
    assert table.tools == (("Excel",), (), (), ())
    assert table.knowledges == ((), (), (), ())
    assert table.languages == ((), (), (), ())
    assert table.role_objectives == (("hire",), (), (), ())
    assert table.creator_name == ("Ana", "Bruno", "Bruno", "")
    assert table.city == ("Bogotá", "BOGOTA", "BOGOTA", "Other-México")
    assert table.country == ("Colombia", "Colombia", "Colombia", "México")
    # Aggregates, all time. 101: ratings 7 -> 5 and 3 (value 0, another type, another
    # feedback type ignored); 112: one rating of 2.
    assert table.avg_rating.tolist() == [4.0, 0.0, 0.0, 2.0]
    assert table.rating_count.tolist() == [2, 0, 0, 1]
    assert table.connection_count.tolist() == [2, 0, 0, 1]
    assert table.like_count.tolist() == [1, 0, 1, 0]
    assert table.exhibited_count.tolist() == [3, 1, 0, 0]
    assert table.views.tolist() == [4, 1, 0, 0]  # the views table, not resumes.views (999)
    for column in (table.id, table.user_id, table.views, table.rating_count):
        assert column.dtype == np.int64
    assert table.avg_rating.dtype == np.float64 and table.created_at.dtype == np.float64


def assert_challenges(data: SourceData) -> None:
    table = data.challenges
    assert table.id.tolist() == EXPECTED_CHALLENGE_IDS
    assert table.user_id.tolist() == [2, 3, 5, 1, 2]
    assert table.video == tuple(
        _url("challenges", n) for n in ("dup", "c214", "dup2", "c201", "c202")
    )
    assert table.name == ("Reto", "Contest de protesta", "Reto", "Reto", "Reto")
    assert table.description == ("Ven",) * 5
    assert table.created_at.tolist() == [epoch(ago(d)) for d in (3, 6, 20, 90, 200)]
    updated = table.updated_at.tolist()
    assert updated[4] == epoch(ago(10))
    assert all(math.isnan(updated[i]) for i in (0, 1, 2, 3))
    assert table.creator_name == ("Bruno", "", "Eva", "Ana", "Bruno")
    assert table.city == ("BOGOTA", "Other-México", "Unknown", "Bogotá", "BOGOTA")


def _interaction_rows(data: SourceData) -> list[tuple[Any, ...]]:
    """(user, item, item type, kind, rating, created) of each history row, in order."""
    table = data.interactions
    columns = (table.user_id, table.item_id, table.item_type, table.kind, table.rating)
    return list(zip(*(c.tolist() for c in columns), table.created_at.tolist(), strict=True))


def assert_interactions(data: SourceData) -> None:
    table = data.interactions
    res, cha = int(ItemType.RESUME), int(ItemType.CHALLENGE)
    K = InteractionKind
    rat, sav, mat, vie = int(K.RATING), int(K.SAVE), int(K.MATCH), int(K.VIEW)
    expected = [
        # user, item, item type, kind, rating, created
        (5, 101, res, rat, 5.0, ago(90)),
        (5, 105, res, vie, 2.0, ago(30)),
        (5, 101, res, sav, 3.0, ago(10)),
        (5, 201, cha, vie, 2.0, ago(1)),
        (6, 111, res, sav, 3.0, ago(90)),
        (6, 201, cha, sav, 3.0, ago(3)),
        (6, 112, res, vie, 2.0, ago(2)),
        (6, 101, res, mat, 4.0, ago(1)),
        (6, 101, cha, mat, 4.0, ago(1)),
        (7, 201, cha, rat, 4.5, ago(2)),
    ]
    got = _interaction_rows(data)
    assert got == [(u, i, t, k, r, epoch(at)) for u, i, t, k, r, at in expected]
    assert table.item_type.dtype == np.uint8 and table.kind.dtype == np.uint8
    assert table.rating.dtype == np.float32


def assert_connections(data: SourceData) -> None:
    table = data.connections
    assert list(zip(table.from_id.tolist(), table.to_id.tolist(), strict=True)) == [
        (1, 2),
        (2, 1),
        (5, 1),
    ]
    assert table.created_at.tolist() == [epoch(ago(90)), epoch(ago(2)), epoch(ago(1))]


def assert_report(data: SourceData) -> None:
    report = data.report
    assert data.loaded_at == epoch(NOW)
    assert report.rows["resumes"] == 4
    assert report.rows["challenges"] == 5
    assert report.rows["interactions"] == 10
    assert report.rows["connections"] == 3
    expected = {
        **EXPECTED_RESUME_SKIPS,
        **EXPECTED_CHALLENGE_SKIPS,
        "resumes.skills.non_string": 4,
        "resumes.skills.empty_string": 1,
        "resumes.skills.duplicate": 2,
        "resumes.skills.malformed": 1,
        "resumes.skills.not_list": 1,
        "resumes.tools.malformed": 1,
        "resumes.role_objectives.duplicate": 1,
        "resume_ratings.other_model_type": 1,
        "resume_matches.other_model_type": 1,
        "resume_likes.other_model_type": 1,
        "history_ratings.other_model_type": 1,
        "history_saves.other_model_type": 1,
        "history_views.other_model_type": 1,
        "connections.self_loop": 1,
        "connections.duplicate_edge": 1,
        "declared_skills.skills.malformed": 1,
        "declared_skills.skills.duplicate": 1,
    }
    assert report.skipped == expected
    assert {
        "resumes",
        "resume_views",
        "challenges",
        "history_views",
        "connections",
        "total",
    } <= set(report.seconds)
    assert all(seconds >= 0 for seconds in report.seconds.values())


def assert_world(data: SourceData) -> None:
    """Everything load_sources must return for this world, at NOW, with BLACKLIST."""
    assert_resumes(data)
    assert_challenges(data)
    assert_interactions(data)
    assert_connections(data)
    assert_report(data)
    declared = data.declared_skills
    assert declared is not None  # only user 1 declares a skill (see assert_profiles)
    assert declared.user_id.tolist() == [1] and declared.skills == (("Go",),)


def assert_profiles(table: ProfileTable) -> None:
    """What load_profiles must return for this world, at NOW."""
    assert table.user_id.tolist() == [1, 2, 3, 5]
    assert table.name == ("Ana", "Bruno", "", "Eva")
    assert table.city == ("Bogotá", "BOGOTA", "Other-México", "Unknown")
    assert table.skills == (("Go",), (), (), ())


# --------------------------------------------------------------------------- v1 feedback


def _archive(engine: Engine, rows: list[Any]) -> None:
    """Insert ``ArchiveRow`` values exactly as the archivers do (stream fields decoded)."""
    from pitchrec.archive.entries import decode_entry, idempotent_insert

    with engine.begin() as connection:
        connection.execute(idempotent_insert(engine), [decode_entry(r.fields()) for r in rows])


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def add_v1_feedback(engine: Engine) -> None:
    """Feedback posted to ``POST /v1/events`` and feeds the service served, archived to
    ``activity_log`` as the tracker writes them (legacy/events.py)."""
    from pitchrec.domain.events import FeedbackEvent
    from pitchrec.legacy.events import feedback_row, impression_row

    def served(user: int, item: int, at: datetime, *, as_view: bool) -> Any:
        event = {"feed_type": "total", "video_id": item, "user_id": user, "timestamp": _iso(at)}
        return impression_row(
            event, f"imp-{user}-{item}", "{}", is_challenge=False, impressions_as_views=as_view
        )

    def posted(key: str, kind: str, user: int, item: int, at: datetime) -> Any:
        event = FeedbackEvent(key, kind, user, item, "resume", timestamp=_iso(at))
        return feedback_row(event, f"v1-{key}")

    _archive(
        engine,
        [
            served(5, 112, ago(2), as_view=True),  # a served item, archived as a view
            posted("a", "like", 5, 112, ago(1)),  # liked what was served: read
            posted("b", "like", 5, 112, ago(0.5)),  # liked again: one row, the newest
            posted("c", "like", 7, 112, ago(1)),  # never served to user 7: not read
            served(5, 101, ago(3), as_view=True),
            posted("d", "save", 5, 101, ago(2)),  # the likes table has this save: once
            posted("e", "view", 6, 105, ago(1)),  # a v1 view of an item never served
            posted("f", "skip", 6, 112, ago(1)),  # served ("Video VIEWED"), but a skip
            served(7, 105, ago(1), as_view=False),  # served, archived as an impression
            posted("g", "match", 7, 105, ago(0.5)),  # read
        ],
    )


def assert_v1_feedback(data: SourceData) -> None:
    """What :func:`add_v1_feedback` adds to :func:`assert_interactions`'s history."""
    table = data.interactions
    res, feedback = int(ItemType.RESUME), int(InteractionKind.FEEDBACK)
    view = int(InteractionKind.VIEW)
    got = set(_interaction_rows(data))
    added = {
        (5, 112, res, view, 2.0, epoch(ago(2))),
        (5, 101, res, view, 2.0, epoch(ago(3))),
        (5, 112, res, feedback, 3.0, epoch(ago(0.5))),
        (7, 105, res, feedback, 3.0, epoch(ago(0.5))),
    }
    assert added <= got
    assert len(table) == 10 + len(added)  # assert_interactions' ten rows, and these
    assert data.report.skipped["history_feedback.repeated"] == 2  # "a" and "d"
