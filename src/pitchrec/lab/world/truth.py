"""The hidden ground truth file (numpy ``.npz``; load it with ``allow_pickle=False``).

Every array is numeric, boolean or fixed-width unicode. Keys of the skills world
(format_version 1; the collaborative and popular worlds, format_version 2, have them all
and the keys of the second table):

=========================  ==========  ========================================================
key                        dtype       meaning
=========================  ==========  ========================================================
format_version             int64 ()    1
seed                       int64 ()    the generator seed
scale                      float64 ()  the generator scale
now                        <U19 ()     the generation instant, naive UTC ISO-8601
skill_vocabulary           <U (S,)     skill names; the ``indices`` arrays point into it
city_vocabulary            <U (P,)     canonical city names (legacy-normalised form)
affinity_names             <U (5,)     taste, city, social, quality, recency
affinity_coefficients      float64     the utility coefficients of the behaviour model, in the
                                       order of ``affinity_names`` (see ``affinity.py``)
user_id                    int64 (U,)  users.id
user_taste_indptr          int64 (U+1) CSR row pointers of the users' latent skill taste
user_taste_indices         int32       skill indices (into ``skill_vocabulary``)
user_taste_weights         float64     taste weights; each user's weights sum to 1
user_city                  <U (U,)     preferred city (canonical name): content from there
                                       gets a utility bonus
user_home_city             <U (U,)     the city the user lives in (raw spellings in
                                       ``users.city`` may be blank or unmapped)
user_social_weight         float64     weight in [0, 1] of content from followed users
user_activity              float64     relative interaction rate (0 for deleted users)
user_is_org                bool        organisation account (owns challenges)
resume_id                  int64 (R,)  resumes.id, every row (eligible or not)
resume_user_id             int64       owner
resume_quality             float64     latent quality in [0, 1]
resume_city                <U          canonical city of the owner
resume_skill_indptr        int64 (R+1) CSR of each resume's true skills (the stored JSON may be
resume_skill_indices       int32       malformed, empty or NULL; these never are)
resume_eligible            bool        passes every catalogue filter of spec 1.2.1 (with the
                                       blacklist applied and the word-level test rule of
                                       pitchrec.sources.content_filters)
challenge_id               int64 (C,)  challenges.id, every row
challenge_quality          float64     latent quality in [0, 1]
challenge_eligible         bool        passes spec 1.2.2 filters, URL de-duplication and the
                                       word-level test rule
blacklist                  <U (B,)     the media URLs to put in a blacklist file
=========================  ==========  ========================================================

The collaborative world (``generate_world(..., kind="collaborative")``, see
:mod:`pitchrec.lab.world.collaborative`) and the popular world (``kind="popular"``, the
same model with the coefficients of :mod:`pitchrec.lab.world.popular`) write
format_version 2: ``affinity_names`` then reads taste, city, social, quality, recency,
collab, popularity and ``affinity_coefficients`` holds the coefficients the world's picks
used (so the simulator's user model reads back its own world's), and these keys are added:

=========================  ==========  ========================================================
key                        dtype       meaning
=========================  ==========  ========================================================
world_kind                 <U ()       ``collaborative`` or ``popular``
user_factors               float64     (U, K) latent taste factors of every user (K = 8)
resume_factors             float64     (R, K) latent factors of every resume; the utility
                                       gains ``collab * <user_factors[u], resume_factors[r]>``
resume_popularity          float64     (R,) standard-normal latent popularity; the utility
                                       gains ``popularity * resume_popularity[r]``
user_active_from_age       int64 (U,)  the user's activity period: seconds before ``now``
user_active_until_age      int64 (U,)  at which it begins / ends (60: still active)
attention_days             float64 ()  e-folding time of a resume's attention after its
                                       creation (interactions follow it)
=========================  ==========  ========================================================
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
COLLABORATIVE_FORMAT_VERSION = 2

KEYS: tuple[str, ...] = (
    "format_version",
    "seed",
    "scale",
    "now",
    "skill_vocabulary",
    "city_vocabulary",
    "affinity_names",
    "affinity_coefficients",
    "user_id",
    "user_taste_indptr",
    "user_taste_indices",
    "user_taste_weights",
    "user_city",
    "user_home_city",
    "user_social_weight",
    "user_activity",
    "user_is_org",
    "resume_id",
    "resume_user_id",
    "resume_quality",
    "resume_city",
    "resume_skill_indptr",
    "resume_skill_indices",
    "resume_eligible",
    "challenge_id",
    "challenge_quality",
    "challenge_eligible",
    "blacklist",
)
#: The keys format_version 2 (the collaborative and popular worlds) adds to :data:`KEYS`.
COLLABORATIVE_KEYS: tuple[str, ...] = (
    "world_kind",
    "user_factors",
    "resume_factors",
    "resume_popularity",
    "user_active_from_age",
    "user_active_until_age",
    "attention_days",
)


def unicode_array(values: Any) -> np.ndarray:
    """A fixed-width unicode array (never object dtype), also when empty."""
    arr = np.asarray(list(values), dtype=str)
    return arr if arr.size else np.zeros(0, dtype="<U1")


def write_truth(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` atomically; refuses object arrays so no pickle is ever needed."""
    required = set(KEYS)
    if int(arrays.get("format_version", FORMAT_VERSION)) == COLLABORATIVE_FORMAT_VERSION:
        required |= set(COLLABORATIVE_KEYS)
    missing = required - set(arrays)
    if missing:
        raise ValueError(f"ground truth lacks keys {sorted(missing)}")
    for key, arr in arrays.items():
        if arr.dtype == object:
            raise ValueError(f"ground truth array {key!r} has object dtype")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".truth-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the file holds nothing secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
