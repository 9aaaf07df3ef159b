"""How a serving process gets its first snapshot while the database may be down.

:class:`StartupRetries` holds the start-up half of a
:class:`~pitchrec.api.runtime.Runtime`'s lifecycle. A database that is down at start-up
neither stops the process nor leaves it unready for good: the first build, and the
embedded archiver's start (it migrates, so it needs the database too), are retried in the
background with a capped exponential back-off (one log line per attempt; a traceback only
for the first) until they succeed. Meanwhile a worker adopts the snapshot a sibling worker
writes to the shared directory, and a feed that reaches it just before the adoption waits
for it (:meth:`StartupRetries.wait_ready`) rather than answering 503.

It is a mixin of ``Runtime``, whose state it shares. The tunables below are read here at
each use: tests that shorten the back-off patch them on this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import anyio

from pitchrec.index.lifecycle import EmptyCatalogueError, SnapshotManager
from pitchrec.index.snapshot import Snapshot
from pitchrec.recommender import Recommender
from pitchrec.service import Service

#: The runtime's logger, as before start-up left runtime.py: its name is in every JSON
#: log line ("logger") and in operators' log filters.
log = logging.getLogger("pitchrec.api.runtime")

#: Back-off between attempts of a start-up step that needs the database (the first
#: snapshot build, the embedded archiver's migration): doubles from the minimum up to the
#: maximum, each wait drawn within +-25 % so that replicas do not retry in step.
RETRY_MIN_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
#: How often a worker waiting to retry its first build looks for a sibling's snapshot in the
#: shared directory: a manifest read while there is none, a 10 ms mapping when there is
#: (bench/RESULTS.md). A worker that built the first snapshot after failed attempts waits
#: SIBLING_GRACE_POLLS of these before it says ready, so its siblings have adopted it.
SIBLING_POLL_SECONDS = 0.05
SIBLING_GRACE_POLLS = 4
#: Seconds a feed reaching a worker that has not adopted its sibling's snapshot yet waits
#: for it rather than answering 503 (:meth:`StartupRetries.wait_ready`). The grace above is
#: a guess at a sibling's speed: on a loaded machine (the chaos suite beside other work) 33
#: of 2,869 feeds were still refused up to 0.2 s after the first /readyz 200.
ADOPTION_WAIT_SECONDS = 2.0
#: What /readyz says while the first snapshot has failed to load and is being retried.
LOAD_RETRYING = "the snapshot could not be loaded yet; retrying (the server log says why)"

T = TypeVar("T")


def brief_exception(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters), for a log line."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


class StartupRetries:
    """The retried start-up steps, the first snapshot (built or a sibling's) and the wait
    for an adoption, of a :class:`~pitchrec.api.runtime.Runtime` (a mixin: the attributes
    below are the runtime's, set in its ``__init__`` and ``start``)."""

    manager: SnapshotManager
    service: Service
    #: Why the first snapshot is not served yet, in words safe to show a client.
    load_error: str | None
    #: Failed attempts at the first snapshot so far.
    load_attempts_failed: int
    _served: asyncio.Event

    if TYPE_CHECKING:

        @property
        def recommender(self) -> Recommender | None: ...

        @property
        def ready(self) -> bool: ...

        def _max_age(self) -> float: ...

    async def wait_ready(self) -> bool:
        """Whether feeds can be served, waiting up to :data:`ADOPTION_WAIT_SECONDS` when
        they cannot yet but the shared directory holds a snapshot this worker is about to
        adopt (a sibling built it while this one waited to retry its own build; /readyz,
        answered by either worker, may already say 200). Without such a snapshot (the
        database down, nothing built) the answer is at once."""
        if self.ready:
            return True
        if not await anyio.to_thread.run_sync(self.manager.on_disk, self._max_age()):
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._served.wait(), ADOPTION_WAIT_SECONDS)
        return self.ready

    async def _with_retries(
        self,
        what: str,
        call: Callable[[], T],
        on_failure: Callable[[BaseException], None] | None = None,
        until: asyncio.Event | None = None,
    ) -> T | None:
        """``call()`` in a worker thread until it succeeds, waiting a capped exponential
        back-off between attempts; None if ``until`` is set first. One log line per failed
        attempt, with the traceback only for the first."""
        delay = RETRY_MIN_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                # Abandoned on cancel: a connect to a silent host must not delay shutdown.
                result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            except Exception as exc:
                if on_failure is not None:
                    on_failure(exc)
                wait = min(delay, RETRY_MAX_SECONDS) * random.uniform(0.75, 1.25)
                if attempt == 1:
                    log.error("%s failed; retrying in %.1f s", what, wait, exc_info=exc)
                else:
                    log.warning(
                        "%s failed again (attempt %d: %s); retrying in %.1f s",
                        what,
                        attempt,
                        brief_exception(exc),
                        wait,
                    )
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                if until is None:
                    await asyncio.sleep(wait)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), wait)
                if until.is_set():
                    return None
                continue
            if attempt > 1:
                log.info("%s succeeded at attempt %d", what, attempt)
            return result

    def _load_failed(self, exc: BaseException) -> None:
        self.load_attempts_failed += 1
        # An empty catalogue is said as it is (fixed text of ours); anything else may
        # carry a driver's message, which stays in the log.
        self.load_error = str(exc) if isinstance(exc, EmptyCatalogueError) else LOAD_RETRYING

    async def _first_snapshot(self) -> Snapshot:
        """The first snapshot: built (or loaded) until it works, unless a reload or a
        sibling worker's build serves one first."""
        sibling = asyncio.create_task(self._adopt_sibling_snapshot())
        try:
            snapshot = await self._with_retries(
                "initial snapshot load",
                lambda: self.manager.initial(self._max_age()),
                on_failure=self._load_failed,
                until=self._served,
            )
        finally:
            sibling.cancel()
        if snapshot is None:  # a reload or a sibling got there first
            assert self.recommender is not None
            return self.recommender.snapshot
        if self.load_error is not None:  # built after failures: let the siblings adopt it
            await asyncio.sleep(SIBLING_GRACE_POLLS * SIBLING_POLL_SECONDS)
        return snapshot

    async def _adopt_sibling_snapshot(self) -> None:
        """While this worker waits to retry its build (database down at start), serve the
        snapshot a sibling worker writes to the shared directory as soon as it appears:
        without it a worker stayed unready up to its own back-off (30 s) after its
        sibling, and /readyz (answered by either) said 200 while it refused feeds."""
        if self.manager.source.directory is None:
            return
        while not self._served.is_set():
            await asyncio.sleep(SIBLING_POLL_SECONDS)
            try:
                found = await anyio.to_thread.run_sync(
                    lambda: self.manager.existing(self._max_age())
                )
            except Exception:  # a half-written directory: the next poll sees it whole
                log.debug("sibling snapshot not readable yet", exc_info=True)
                continue
            if found is not None and not self._served.is_set():
                self.service.serve_snapshot(found)
                self._served.set()
                log.info("serving the snapshot a sibling worker built")
                return
