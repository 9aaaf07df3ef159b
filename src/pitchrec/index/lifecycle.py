"""Where the served snapshot comes from, and how a new one replaces it.

Two sources:

* a database: the snapshot is built from it at start, on reload and every
  ``refresh_seconds`` (D-R10); when a snapshot directory is configured it is also saved
  there, so the worker processes of one pod map the same files;
* a snapshot directory alone: it is loaded memory-mapped, and loaded again whenever its
  manifest changes (another process wrote a newer one).

A refresh builds aside and swaps one reference (:meth:`Recommender.swap`); requests keep
being served from the old snapshot meanwhile. Builds into a shared directory take an
exclusive file lock, so N workers asked to reload at once build once: the others find a
manifest newer than the request and just load it.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from pitchrec.errors import SnapshotError
from pitchrec.index import snapshot as snapshot_files
from pitchrec.index.build import snapshot_from_database
from pitchrec.index.snapshot import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotSource:
    database_url: str | URL | None  # None: serve the directory only
    directory: Path | None
    blacklist_path: Path | None = None
    declared_skills: bool = True  # load the users' declared skills (D-C20)

    def __post_init__(self) -> None:
        if self.database_url is None and self.directory is None:
            raise SnapshotError("need a database or a snapshot directory to serve from")


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.with_name(f".{directory.name}.lock")
    with lock_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _manifest_built_at(directory: Path) -> float | None:
    try:
        return float(snapshot_files.read_manifest(directory)["built_at"])
    except (SnapshotError, KeyError, TypeError, ValueError):
        return None


class EmptyCatalogueError(SnapshotError):
    """A build found no servable resume. Its message is fixed text of ours (no path, host
    or driver text), so the HTTP layer may show it to clients."""


def check_servable(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` if it can be served; :class:`EmptyCatalogueError` for an empty
    catalogue (a table emptied by mistake, a wrong database), so that it is never swapped
    in as ready nor written where other workers would load it."""
    if len(snapshot.resumes) == 0:
        raise EmptyCatalogueError(
            "refusing a snapshot with no resume: the catalogue query returned none "
            "(an emptied table or the wrong database?); the current snapshot is kept"
        )
    return snapshot


class SnapshotManager:
    """Produces snapshots from a :class:`SnapshotSource` (blocking; call from a thread)."""

    def __init__(self, source: SnapshotSource) -> None:
        self.source = source

    def existing(self, max_age_seconds: float) -> Snapshot | None:
        """The directory's snapshot if it can be served as it is (younger than
        ``max_age_seconds``, or no database to rebuild from), else None. Cheap (a few
        milliseconds of mapping), so a worker calls it before it accepts connections."""
        directory = self.source.directory
        if directory is None:
            return None
        built_at = _manifest_built_at(directory)
        fresh = built_at is not None and time.time() - built_at < max_age_seconds
        if not fresh and self.source.database_url is not None:
            return None
        try:
            return check_servable(snapshot_files.load(directory))
        except SnapshotError:
            return None

    def on_disk(self, max_age_seconds: float) -> bool:
        """Whether the directory holds a snapshot :meth:`existing` would serve, judged by
        its manifest alone (a file read, no mapping)."""
        directory = self.source.directory
        if directory is None:
            return False
        built_at = _manifest_built_at(directory)
        if built_at is None:
            return False
        return self.source.database_url is None or time.time() - built_at < max_age_seconds

    def initial(self, max_age_seconds: float) -> Snapshot:
        """The snapshot to start with: an existing directory younger than
        ``max_age_seconds`` when there is one (start-up in well under a second), else a
        fresh build."""
        directory = self.source.directory
        if directory is not None:
            built_at = _manifest_built_at(directory)
            fresh = built_at is not None and time.time() - built_at < max_age_seconds
            if self.source.database_url is None:
                return snapshot_files.load(directory)
            if fresh:
                try:
                    return snapshot_files.load(directory)
                except SnapshotError:  # damaged (another format version is never fresh)
                    log.warning("snapshot directory unusable; rebuilding", exc_info=True)
                    return self.rebuild(newer_than=time.time())
        return self.rebuild(newer_than=0.0)

    def _build(self, url: str | URL) -> Snapshot:
        return check_servable(
            snapshot_from_database(
                url,
                blacklist_path=self.source.blacklist_path,
                declared_skills=self.source.declared_skills,
            )
        )

    def rebuild(self, newer_than: float) -> Snapshot:
        """A snapshot built after ``newer_than`` (unix seconds): built from the database
        now, unless a shared directory already holds one that new."""
        url, directory = self.source.database_url, self.source.directory
        if url is None:
            assert directory is not None
            return snapshot_files.load(directory)
        if directory is None:
            return self._build(url)
        with _exclusive(directory):
            built_at = _manifest_built_at(directory)
            if built_at is None or built_at <= newer_than:
                started = time.perf_counter()
                built = self._build(url)
                snapshot_files.save(built, directory)
                log.info(
                    "snapshot built",
                    extra={
                        "seconds": round(time.perf_counter() - started, 3),
                        # chosen by validation on the history (pitchrec.models)
                        "prior_half_life_days": built.collab.prior_half_life_days,
                        "affinity_ratio": built.collab.affinity_ratio,
                    },
                )
            return snapshot_files.load(directory)

    def changed_on_disk(self, current: Snapshot) -> Snapshot | None:
        """The directory's snapshot if it is not the one being served, else None."""
        directory = self.source.directory
        if directory is None:
            return None
        built_at = _manifest_built_at(directory)
        if built_at is None or built_at == current.built_at:
            return None
        return snapshot_files.load(directory)
