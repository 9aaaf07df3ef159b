"""The "test content" rule: uploads made to try the platform are kept out of feeds.

Legacy rules (spec 1.2.1, 1.2.2) and their defects:

* resumes: lower-cased URL or description **contains** ``test`` or ``prueba``. Over-broad
  (D-C15): it drops "contest", "latest", "testimonio", "protesta", "comprueba";
* challenges: name is not exactly ``prueba``/``test`` and description not exactly
  ``prueba``. Too narrow (D-C16): "testing 002" with a ``video-de-prueba`` URL was served.

Decision (one rule for both kinds): an item is test content when a **word** of its URL,
its description or (challenges) its name is one of :data:`TEST_WORDS`. Words are the
maximal runs of letters of the case-folded text (unicode-aware: ``\\w`` minus digits and
``_``); URLs are percent-decoded first so ``video%20de%20prueba`` reads as three words.
Splitting letters from digits catches ``test1.mp4`` and ``prueba2``, and splitting on
``_``/``-``/``.``/``/`` catches ``video-de-prueba.mp4``; neither makes "contest",
"testimonio" or "comprueba" a test word.

The URL's host is part of the URL on purpose: media on a ``test``/``testing`` bucket or
host is test content too (the legacy substring rule dropped it as well).

The legacy exclusion of challenges with a NULL name or description is **kept** (an item
card without a title cannot be shown); the loader applies and counts it separately.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

#: Words that mark test content, compared with case-folded words of the text.
TEST_WORDS: Final = frozenset({"test", "tests", "testing", "prueba", "pruebas"})

_WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    """The case-folded runs of letters of ``text``."""
    return _WORD.findall(text.casefold())


def has_test_word(text: str | None) -> bool:
    """Whether free text (a description, a name) contains a test word."""
    return bool(text) and not TEST_WORDS.isdisjoint(words(text or ""))


def url_has_test_word(url: str | None) -> bool:
    """Whether a media URL, percent-decoded, contains a test word."""
    return bool(url) and not TEST_WORDS.isdisjoint(words(unquote(url or "")))


def is_test_resume(video: str | None, description: str | None) -> bool:
    """The test-content rule for a resume (replaces the substring rule, D-C15)."""
    return url_has_test_word(video) or has_test_word(description)


def is_test_challenge(video: str | None, name: str | None, description: str | None) -> bool:
    """The test-content rule for a challenge (replaces the exact-name rule, D-C16)."""
    return url_has_test_word(video) or has_test_word(name) or has_test_word(description)
