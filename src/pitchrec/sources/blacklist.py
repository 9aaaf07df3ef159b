"""The media blacklist file (spec 1.2.7).

Format: UTF-8 text, one absolute media URL per line. Each line is trimmed; blank lines and
lines starting with ``#`` are ignored. A UTF-8 byte-order mark is tolerated. Matching is
by exact string equality against ``resumes.video`` and ``challenges.video``
(percent-escapes are compared literally), so the result is a plain ``frozenset``.

Differences from the legacy service:

* the URLs are never pasted into SQL (D-S1): the loaders compare them in Python, so a URL
  holding a quote is just a string;
* reading is a cheap pure function with no cache, so whoever reloads the catalogue can
  re-read the file on every reload (the legacy read it once per process, D-C18).

A missing file is not an error (the legacy logged a warning and used an empty list); a
file that exists but cannot be read or decoded is a :class:`ConfigurationError`, because
silently serving blacklisted media is worse than failing at start-up.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from pitchrec.errors import ConfigurationError

logger = logging.getLogger(__name__)

#: The packaged default: a comment line and no URLs.
DEFAULT_BLACKLIST: Traversable = files("pitchrec") / "data" / "blacklist.csv"


def parse_blacklist(text: str) -> frozenset[str]:
    """The URLs listed in the blacklist ``text``."""
    urls = (line.strip() for line in text.lstrip("\ufeff").splitlines())
    return frozenset(url for url in urls if url and not url.startswith("#"))


def load_blacklist(path: Path | str | None = None) -> frozenset[str]:
    """Read the blacklist at ``path`` (None: the packaged, empty default).

    Returns an empty set, with a logged warning, when the file does not exist.
    """
    source: Path | Traversable = DEFAULT_BLACKLIST if path is None else Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        logger.warning("blacklist file %s not found: no media URL is blacklisted", source)
        return frozenset()
    except OSError as exc:
        raise ConfigurationError(f"cannot read blacklist file {source}: {exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"blacklist file {source} is not UTF-8: {exc}") from exc
    urls = parse_blacklist(text)
    logger.info("blacklist %s: %d media URLs", source, len(urls))
    return urls
