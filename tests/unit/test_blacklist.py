"""The blacklist file (spec 1.2.7, D-S1)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pitchrec.errors import ConfigurationError
from pitchrec.sources.blacklist import DEFAULT_BLACKLIST, load_blacklist, parse_blacklist

QUOTED = "https://cdn.example.com/resumes/it's-mine.mp4"


def test_parse_trims_and_skips_blank_and_comment_lines() -> None:
    text = (
        "# a comment\n"
        "  https://a.example/x.mp4  \n"
        "\n"
        "   \n"
        "   # an indented comment\n"
        "https://a.example/y%20z.mp4\r\n"
        f"{QUOTED}"  # the last line has no newline, as in the legacy file
    )
    assert parse_blacklist(text) == {
        "https://a.example/x.mp4",
        "https://a.example/y%20z.mp4",
        QUOTED,
    }


def test_quote_is_matched_exactly(tmp_path: Path) -> None:
    path = tmp_path / "blacklist.csv"
    path.write_text(f"{QUOTED}\nhttps://x'); DROP TABLE resumes; --\n", encoding="utf-8")
    urls = load_blacklist(path)
    assert QUOTED in urls
    assert "https://cdn.example.com/resumes/it''s-mine.mp4" not in urls
    assert "https://x'); DROP TABLE resumes; --" in urls
    assert len(urls) == 2


def test_percent_escapes_are_literal() -> None:
    urls = parse_blacklist("https://a.example/y%20z.mp4")
    assert "https://a.example/y z.mp4" not in urls


def test_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "blacklist.csv"
    path.write_bytes("\ufeffhttps://a.example/x.mp4\n".encode())
    assert load_blacklist(path) == {"https://a.example/x.mp4"}


def test_missing_file_warns_and_gives_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pitchrec.sources.blacklist"):
        assert load_blacklist(tmp_path / "nope.csv") == frozenset()
    assert "not found" in caplog.text


def test_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_blacklist(tmp_path)  # a directory
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"https://a.example/ni\xf1o.mp4\n")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        load_blacklist(path)


def test_packaged_default_is_empty_with_a_comment() -> None:
    text = DEFAULT_BLACKLIST.read_text(encoding="utf-8")
    assert text.startswith("#")
    assert load_blacklist() == frozenset()
    assert isinstance(load_blacklist(), frozenset)
