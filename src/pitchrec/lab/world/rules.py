"""The catalogue filters (spec 1.2.1, 1.2.2) evaluated on the generated columns, so the
eligible counts of the summary and the ground truth come from the data itself."""

from __future__ import annotations

import re

import numpy as np

from pitchrec.lab.world.common import DAY, Bools, Columns

#: The project's test-content rule (pitchrec.sources.content_filters): a maximal run of
#: letters of the case-folded text is one of these words. Generated rows never sit where this
#: and the plain regex ``\b(test|prueba)\b`` disagree.
TEST_WORDS = frozenset({"test", "tests", "testing", "prueba", "pruebas"})
_LETTERS = re.compile(r"[^\W\d_]+")
_TEST_SUBSTRING = re.compile(r"test|prueba", re.IGNORECASE)


def has_test_word(value: str | None) -> bool:
    return value is not None and not TEST_WORDS.isdisjoint(_LETTERS.findall(value.casefold()))


def has_test_substring(value: str | None) -> bool:
    """The legacy resume rule: ``test`` or ``prueba`` anywhere (D-C15)."""
    return value is not None and _TEST_SUBSTRING.search(value) is not None


def _nan(values: object) -> Bools:
    return np.isnan(np.asarray(values, dtype=np.float64))


def resume_eligibility(cols: Columns, owner_deleted: Bools, blacklist: set[str]) -> Bools:
    """Spec 1.2.1 with the word-level test rule instead of the substring rule."""
    videos, descriptions = cols["video"], cols["description"]
    fresh = np.asarray(cols["_created_age"]) <= 360 * DAY
    alive = _nan(cols["_deleted_age"])
    sent = np.asarray(cols["status"]) == "send"
    return np.array(
        [
            sent[i]
            and alive[i]
            and fresh[i]
            and not owner_deleted[i]
            and videos[i] is not None
            and videos[i] not in blacklist
            and not has_test_word(videos[i])
            and not has_test_word(descriptions[i])
            for i in range(len(videos))
        ],
        dtype=bool,
    )


def challenge_eligibility(cols: Columns, blacklist: set[str]) -> tuple[Bools, Bools]:
    """(eligible, test_word): spec 1.2.2 (filters, then the newest row per video URL) and
    the word-level test rule; ``test_word`` marks rows only the legacy filters keep."""
    videos, names, descs = cols["video"], cols["name"], cols["description"]
    recent = (np.asarray(cols["_created_age"]) <= 90 * DAY) | (
        np.asarray(cols["_updated_age"]) <= 90 * DAY
    )
    alive = _nan(cols["_deleted_age"])
    published = np.asarray(cols["status"]) == "published"
    n = len(videos)
    passes = [
        published[i]
        and alive[i]
        and recent[i]
        and videos[i] is not None
        and videos[i] not in blacklist
        and names[i] is not None
        and descs[i] is not None
        and names[i] not in ("prueba", "test")
        and descs[i] != "prueba"
        for i in range(n)
    ]
    created = np.asarray(cols["_created_age"], dtype=np.float64)
    newest: dict[str, int] = {}
    for i in np.argsort(-created, kind="stable").tolist():  # oldest first: newest wins
        if passes[i]:
            newest[str(videos[i])] = i
    eligible = np.zeros(n, dtype=bool)
    eligible[list(newest.values())] = True
    worded = np.array(
        [
            has_test_word(videos[i]) or has_test_word(names[i]) or has_test_word(descs[i])
            for i in range(n)
        ],
        dtype=bool,
    )
    return eligible & ~worded, eligible & worded
