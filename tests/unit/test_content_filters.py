"""The word-level test-content rule (D-C15, D-C16)."""

from __future__ import annotations

import pytest

from pitchrec.sources.content_filters import (
    TEST_WORDS,
    has_test_word,
    is_test_challenge,
    is_test_resume,
    url_has_test_word,
    words,
)

URL = "https://cdn.talentpitch.co/resumes/abc123.mp4"


@pytest.mark.parametrize(
    "text",
    [
        "contest",
        "Gané el contest regional",
        "latest",
        "Mi testimonio",
        "Participé en la protesta",
        "Esto comprueba que sí",
        "testigo",
        "attestation",
        "pruebaron",  # not a word of the list
        "",
        None,
    ],
)
def test_near_misses_are_not_test_content(text: str | None) -> None:
    assert not has_test_word(text)
    assert not is_test_resume(URL, text)
    assert not is_test_challenge(URL, text or "Reto", text)


@pytest.mark.parametrize(
    "text",
    [
        "test",
        "TEST",
        "Test de video",
        "Video de prueba",
        "PRUEBAS finales",
        "testing 002",
        "tests!",
        "esto es una prueba.",
        "prueba2",
        "(test)",
        "Prueba_de_sonido",
    ],
)
def test_test_words(text: str) -> None:
    assert has_test_word(text)
    assert is_test_resume(URL, text)
    assert is_test_challenge(URL, "Reto", text)
    assert is_test_challenge(URL, text, "Ven")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.x.co/challenges/video-de-prueba.mp4", True),
        ("https://cdn.x.co/resumes/test_upload1.mp4", True),
        ("https://cdn.x.co/resumes/video%20de%20prueba.mp4", True),  # percent-decoded
        ("https://cdn.x.co/resumes/MyTEST.mp4", False),  # one word "mytest"
        ("https://cdn.x.co/resumes/TEST-01.MP4", True),
        ("https://test.x.co/resumes/a.mp4", True),  # a test host is test content
        ("https://cdn.x.co/resumes/contest-final.mp4", False),
        ("https://cdn.x.co/resumes/protesta-comprueba.mp4", False),
        ("https://cdn.x.co/resumes/latest.mp4", False),
        ("", False),
        (None, False),
    ],
)
def test_urls(url: str | None, expected: bool) -> None:
    assert url_has_test_word(url) is expected
    assert is_test_resume(url, "Hola") is expected


def test_challenge_name_counts_too() -> None:
    assert is_test_challenge(URL, "Reto de PRUEBA", "Ven")
    assert not is_test_challenge(URL, "Reto", "Ven")


def test_words_are_unicode_aware() -> None:
    assert words("Diseño-gráfico_2024 ÁRBOL") == ["diseño", "gráfico", "árbol"]
    assert {"test", "tests", "testing", "prueba", "pruebas"} == TEST_WORDS
