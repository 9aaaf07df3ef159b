"""The keys of the legacy feed items, in order (spec 3.3-3.5), shared by the tests that
check a served or built item key for key."""

from __future__ import annotations

RESUME_KEYS = [
    "type",
    "id",
    "name",
    "slug",
    "description",
    "video",
    "image",
    "user_id",
    "user_name",
    "user_slug",
    "avatar",
    "main_objective",
    "type_audience",
    "type_audiences",
    "interest_areas",
    "role_objectives",
    "connected",
]
CHALLENGE_KEYS = [
    "type",
    "id",
    "name",
    "slug",
    "description",
    "video_url",
    "image",
    "user_id",
    "user_name",
    "user_slug",
    "user_avatar",
    "talent_type",
    "interest_areas",
    "type_objectives",
    "top",
    "created_at",
    "updated_at",
]
