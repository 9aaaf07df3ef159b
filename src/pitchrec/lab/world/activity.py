"""Interaction and aggregate tables: team_feedbacks, likes, matches, resumes_exhibited,
views and activity_log.

User-attributed rows of the first three tables and the ``#video #view`` rows of
activity_log all come from the behaviour model (:mod:`.affinity`), so every user's history
follows the ground truth. ``views`` and ``resumes_exhibited`` (aggregates only) and a few
anonymous rows are drawn from a popularity that grows with the latent quality.

In the collaborative world (``latent`` given, :mod:`.collaborative`) the behaviour model is
:func:`.collaborative.pick_collaborative`, every user-attributed row is timed on its
resume's attention curve inside the user's activity period, the kinds and ratings follow
each pick's utility rank, and the aggregates use the long-tailed latent popularity.

:func:`build_activity` draws the events (:mod:`.activity_events`) and turns them into the
interaction tables (:mod:`.activity_interactions`), the aggregates
(:mod:`.activity_aggregates`) and the log (:mod:`.activity_log`), all from one random
stream, in that order.
"""

from __future__ import annotations

import numpy as np

from pitchrec.lab.world import collaborative as collab
from pitchrec.lab.world.activity_aggregates import (
    ActivitySources,
    exhibited_table,
    views_table,
)
from pitchrec.lab.world.activity_events import (
    anonymous_events,
    challenge_events,
    collaborative_resume_events,
    resume_events,
)
from pitchrec.lab.world.activity_interactions import (
    likes_table,
    matches_table,
    team_feedbacks_table,
)
from pitchrec.lab.world.activity_log import activity_log_table
from pitchrec.lab.world.affinity import pick_resumes
from pitchrec.lab.world.catalogue import Challenges, Resumes
from pitchrec.lab.world.common import Columns, Volumes, stream
from pitchrec.lab.world.people import Connections, Users


def build_activity(
    seed: int,
    vol: Volumes,
    users: Users,
    resumes: Resumes,
    challenges: Challenges,
    ties: Connections,
    now: np.datetime64,
    latent: collab.Latent | None = None,
) -> dict[str, Columns]:
    """The interaction and aggregate tables; ``latent`` selects the collaborative world."""
    rng = stream(seed, "activity")
    if latent is None:
        picks = pick_resumes(stream(seed, "affinity"), users, resumes, ties, vol.events)
        events = resume_events(rng, picks, resumes)
    else:
        n_events = vol.events * collab.EVENTS_FACTOR
        picks = collab.pick_collaborative(
            stream(seed, "affinity"), users, resumes, ties, latent, n_events
        )
        events = collaborative_resume_events(rng, picks, resumes, latent)
    ch = challenge_events(rng, vol, users, challenges)
    if latent is None:
        pop = np.exp(2.2 * resumes.quality + 0.7 * rng.standard_normal(resumes.n))
    else:
        pop = latent.weights
    pop = pop * resumes.visible
    anon = anonymous_events(rng, resumes, pop, max(3, round(0.02 * events.n)), latent)
    tf = team_feedbacks_table(rng, events, ch, anon)
    likes = likes_table(events, ch, anon)
    matches = matches_table(events, ch, anon)
    sources = ActivitySources(users, resumes, challenges, pop, latent is not None)
    log = activity_log_table(rng, now, sources, events, ch)
    views = views_table(rng, vol, sources)
    exhibited = exhibited_table(rng, vol, sources)
    for table in (tf, likes, matches):
        table["user_id"] = np.asarray(table["user_id"], dtype=object)
    return {
        "team_feedbacks": tf,
        "likes": likes,
        "matches": matches,
        "resumes_exhibited": exhibited,
        "views": views,
        "activity_log": log,
    }
