"""The legacy response envelope and item schemas (spec 3.3-3.5 and 3.8), exactly.

Key order, constants and the avatar URL are part of what the apps see (MUST-KEEP 3-4).
Values come from the snapshot by row, never by scanning a table (D-P2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pitchrec.domain.feed import Feed, FeedKind, ItemKind
from pitchrec.index.snapshot import Snapshot

#: Spec 3.8: synthesised avatar URL.
AVATAR_URL = "https://media.talentpitch.co/users/{user_id}/avatar-100.png"
#: Spec 3.3-3.5: the id-list key per endpoint.
IDS_KEY = {
    FeedKind.TOTAL: "mix_ids",
    FeedKind.DISCOVER: "resume_ids",
    FeedKind.FLOW: "challenge_ids",
}
#: Spec 3.8 / D-C24: the current legacy code sends ["hire"]; older samples show [].
CHALLENGE_TYPE_OBJECTIVES = ("hire",)


def name_slug(name: str) -> str:
    """Lower-cased, spaces replaced by '-'; accents and punctuation kept (spec 3.8)."""
    return name.lower().replace(" ", "-")


def resume_item(snapshot: Snapshot, row: int) -> dict[str, Any]:
    resumes = snapshot.resumes
    item_id = int(resumes.id[row])
    user_id = int(resumes.creator[row])
    name = resumes.creator_name.text(row)
    video = resumes.video.text(row)
    return {
        "type": "resume",
        "id": item_id,
        "name": name,
        "slug": f"{name_slug(name)}-{item_id}",
        "description": resumes.description.get(row),
        "video": video,
        "image": video,
        "user_id": user_id,
        "user_name": name,
        "user_slug": name_slug(name),
        "avatar": AVATAR_URL.format(user_id=user_id),
        "main_objective": "be_discovered",
        "type_audience": "innovators",
        "type_audiences": ["innovators"],
        "interest_areas": [],
        "role_objectives": [],
        "connected": "",
    }


def _naive_utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


def challenge_item(snapshot: Snapshot, row: int, *, now: datetime | None = None) -> dict[str, Any]:
    """``updated_at`` is the response time, as the legacy sends it (spec 3.8)."""
    challenges = snapshot.challenges
    user_id = int(challenges.creator[row])
    video = challenges.video.text(row)
    response_time = now if now is not None else datetime.now(UTC).replace(tzinfo=None)
    return {
        "type": "challenge",
        "id": int(challenges.id[row]),
        "name": challenges.name.text(row),
        "slug": "",
        "description": challenges.description.get(row),
        "video_url": video,
        "image": video,
        "user_id": user_id,
        "user_name": challenges.creator_name.text(row),
        "user_slug": "",
        "user_avatar": AVATAR_URL.format(user_id=user_id),
        "talent_type": "innovators",
        "interest_areas": [],
        "type_objectives": list(CHALLENGE_TYPE_OBJECTIVES),
        "top": True,
        "created_at": _naive_utc(float(challenges.created_at[row])).isoformat(timespec="seconds"),
        "updated_at": response_time.isoformat(timespec="microseconds"),
    }


def legacy_items(snapshot: Snapshot, feed: Feed) -> list[dict[str, Any]]:
    """The public items of ``feed``, in order. An item no longer in the snapshot is
    dropped, as the legacy did (spec 3.3 step 3)."""
    items: list[dict[str, Any]] = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for item in feed.items:
        if item.kind is ItemKind.RESUME:
            row = snapshot.resumes.row_of(item.item_id)
            if row >= 0:
                items.append(resume_item(snapshot, row))
        else:
            row = snapshot.challenges.row_of(item.item_id)
            if row >= 0:
                items.append(challenge_item(snapshot, row, now=now))
    return items


def legacy_envelope(kind: FeedKind, items: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"statusCode": 200, "body": {<ids key>: [ids as strings], "items": [...]}}``."""
    return {
        "statusCode": 200,
        "body": {IDS_KEY[kind]: [str(item["id"]) for item in items], "items": items},
    }
