"""The legacy item schemas and envelope (spec 3.3-3.5, 3.8), key for key."""

from __future__ import annotations

from datetime import datetime

from factories import NOW, random_snapshot
from legacy_schema import CHALLENGE_KEYS, RESUME_KEYS
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.legacy.envelope import challenge_item, name_slug, resume_item
from pitchrec.service import Recommender


def test_resume_item_keys_order_and_constants() -> None:
    snapshot = random_snapshot(1)
    row = snapshot.resumes.row_of(3)
    item = resume_item(snapshot, row)
    assert list(item) == RESUME_KEYS
    name = snapshot.resumes.creator_name.text(row)
    assert item["name"] == item["user_name"] == name
    assert item["slug"] == f"{name_slug(name)}-3"
    assert item["image"] == item["video"]
    assert item["avatar"] == f"https://media.talentpitch.co/users/{item['user_id']}/avatar-100.png"
    assert item["main_objective"] == "be_discovered"
    assert item["type_audiences"] == ["innovators"]
    assert item["interest_areas"] == item["role_objectives"] == []
    assert item["connected"] == ""


def test_slug_keeps_accents_and_empty_name_gives_dash_id() -> None:
    assert name_slug("José Pérez Ñandú") == "josé-pérez-ñandú"
    snapshot = random_snapshot(1, n_creators=5)
    rows = [r for r in range(len(snapshot.resumes)) if snapshot.resumes.creator_name.text(r) == ""]
    assert rows, "the factory gives creator 5 an empty name"
    item = resume_item(snapshot, rows[0])
    assert item["slug"] == f"-{item['id']}"


def test_challenge_item_keys_and_timestamps() -> None:
    snapshot = random_snapshot(1)
    now = datetime(2025, 10, 23, 21, 5, 45, 790791)
    item = challenge_item(snapshot, 0, now=now)
    assert list(item) == CHALLENGE_KEYS
    assert item["slug"] == item["user_slug"] == ""
    assert item["image"] == item["video_url"]
    assert item["type_objectives"] == ["hire"]
    assert item["top"] is True
    assert item["updated_at"] == "2025-10-23T21:05:45.790791"
    datetime.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%S")


def test_envelope_ids_match_items_for_every_kind() -> None:
    recommender = Recommender(random_snapshot(2, n_resumes=300, n_challenges=12, n_creators=200))
    keys = {
        FeedKind.TOTAL: "mix_ids",
        FeedKind.DISCOVER: "resume_ids",
        FeedKind.FLOW: "challenge_ids",
    }
    for kind, key in keys.items():
        feed = recommender.feed(FeedRequest(kind=kind, user_id=1, seed=1, now=NOW))
        envelope = recommender.legacy_response(feed)
        assert envelope["statusCode"] == 200
        assert list(envelope["body"]) == [key, "items"]
        ids = envelope["body"][key]
        assert ids == [str(item["id"]) for item in envelope["body"]["items"]]
        assert 0 < len(ids) <= 24
