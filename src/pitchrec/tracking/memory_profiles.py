"""The in-process store's taste profiles (:class:`TasteProfiles`): the HINCRBYFLOAT
hashes of what each user rewarded or skipped, with a TTL, kept apart from the other keys
(an impression burst must not evict what users liked) and bounded on their own, in count
(:data:`PROFILE_CAP`) and in estimated bytes (:data:`PROFILE_MAX_BYTES`): past either,
the least recently written profiles go first.

A mixin of :class:`~pitchrec.tracking.memory_store.MemoryStore`, which provides the lock
and the clock: every change to the profiles is made under that lock, as before the split.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pitchrec.tracking.sizes import KEY_OVERHEAD, SLOT_OVERHEAD, STR_OVERHEAD

#: Taste profiles kept at most, apart from the store's other keys (an impression burst
#: must not evict what users liked) ...
PROFILE_CAP = 50_000
#: ... and their estimated bytes at most: the least recently written go first. A profile
#: holds a field per resume the user rewarded or skipped (about 140 bytes each:
#: :data:`PROFILE_FIELD_BYTES`), so a user who skipped through 40 feeds holds about 60 kB;
#: 32 MiB keep the profiles of several thousand such users, and tens of thousands of
#: lighter ones.
PROFILE_MAX_BYTES = 32 * 1024 * 1024
#: Estimated bytes of one profile field: its name (a str), its float and its slot in the
#: hash, with the dict's load-factor slack (tests/unit/test_memory_store_bytes.py).
PROFILE_FIELD_BYTES = STR_OVERHEAD + 24 + 2 * SLOT_OVERHEAD


class TasteProfiles:
    """The taste profiles a :class:`~pitchrec.tracking.memory_store.MemoryStore` holds:
    each profile's fields, its deadline (ordered by last write) and estimated size, their
    sum, and the byte cap ``profile_max_bytes``."""

    _lock: threading.Lock  # the store's; it guards the profiles too
    _clock: Callable[[], float]  # the store's

    def _init_profiles(self) -> None:
        """Start with no profiles and the module's byte cap."""
        self._profiles: dict[str, dict[str, float]] = {}  # HINCRBYFLOAT hashes
        self._profile_expiry: dict[str, float] = {}  # ordered by last write
        self._profile_sizes: dict[str, int] = {}  # estimated bytes of each profile
        self._profile_held = 0  # their sum
        self.profile_max_bytes = PROFILE_MAX_BYTES

    def _read_profile(self, profile_key: str | None) -> dict[str, str]:
        """The live profile at ``profile_key`` as Redis answers HGETALL (field -> the
        float's repr); empty when absent or expired. Called with the lock held."""
        profile: dict[str, str] = {}
        deadline = self._profile_expiry.get(profile_key or "")
        if profile_key is not None and deadline is not None and deadline > self._clock():
            profile = {k: repr(v) for k, v in self._profiles.get(profile_key, {}).items()}
        return profile

    def add_profiles(self, increments: dict[str, dict[str, float]], ttl: int) -> None:
        with self._lock:
            now = self._clock()
            for key, fields in increments.items():
                deadline = self._profile_expiry.pop(key, None)
                if deadline is not None and deadline <= now:
                    self._drop_profile(key)  # expired: start afresh, as Redis would
                target = self._profiles.setdefault(key, {})
                grown = 0 if key in self._profile_sizes else KEY_OVERHEAD + len(key)
                for name, amount in fields.items():
                    if name not in target:
                        grown += len(name) + PROFILE_FIELD_BYTES
                    target[name] = target.get(name, 0.0) + float(amount)
                self._profile_sizes[key] = self._profile_sizes.get(key, 0) + grown
                self._profile_held += grown
                self._profile_expiry[key] = now + ttl
            while len(self._profile_expiry) > 1 and (
                len(self._profile_expiry) > PROFILE_CAP
                or self._profile_held > self.profile_max_bytes
            ):
                oldest = next(iter(self._profile_expiry))
                del self._profile_expiry[oldest]
                self._drop_profile(oldest)

    def _drop_profile(self, key: str) -> None:
        self._profiles.pop(key, None)
        self._profile_held -= self._profile_sizes.pop(key, 0)

    def profile_bytes_held(self) -> int:
        """Estimated bytes the taste profiles hold (at most :attr:`profile_max_bytes`,
        the newest profile aside)."""
        with self._lock:
            return self._profile_held
