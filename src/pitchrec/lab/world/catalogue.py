"""Resumes and challenges: eligible rows plus every kind of ineligible one (spec 1.2.1,
1.2.2), with a latent quality per item.

One namespace over :mod:`.catalogue_resumes` (:class:`Resumes`, :func:`build_resumes`)
and :mod:`.catalogue_challenges` (:class:`Challenges`, :func:`build_challenges`); each
draws from its own random stream.
"""

from __future__ import annotations

from pitchrec.lab.world.catalogue_challenges import CHALLENGE_MIX, Challenges, build_challenges
from pitchrec.lab.world.catalogue_resumes import MAX_SKILLS, RESUME_MIX, Resumes, build_resumes

__all__ = [
    "CHALLENGE_MIX",
    "MAX_SKILLS",
    "RESUME_MIX",
    "Challenges",
    "Resumes",
    "build_challenges",
    "build_resumes",
]
