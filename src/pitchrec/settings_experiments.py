"""Parsing and checking of the settings that describe other ranking configurations: the
online experiment (``PITCHREC_EXPERIMENT``) and the shadow candidate (``PITCHREC_SHADOW``).

:class:`pitchrec.settings.Settings` calls these from its validators. A bad value stops
start-up with a :class:`ConfigurationError` that names the variable and says what is
wrong (not a pydantic error, whose text would echo every input).
"""

from __future__ import annotations

from typing import Any

import orjson

from pitchrec.domain.experiment import ExperimentConfigError, ExperimentSpec, parse_experiment
from pitchrec.errors import ConfigurationError
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.shadow import ShadowCandidate, candidate_options, parse_candidate
from pitchrec.ranking.variants import variant_setups


def parse_shadow_setting(value: Any) -> ShadowCandidate | None:
    """Parse PITCHREC_SHADOW (a text of ranking overrides, or a parsed candidate); blank:
    no shadow mode."""
    if value is None or isinstance(value, ShadowCandidate):
        return value
    text = value.decode() if isinstance(value, bytes) else value
    if not isinstance(text, str):
        raise ConfigurationError("PITCHREC_SHADOW: a text of ranking overrides is required")
    if not text.strip():
        return None
    try:
        return parse_candidate(text)
    except ValueError as exc:
        raise ConfigurationError(f"PITCHREC_SHADOW: {exc}") from None


def check_shadow_setting(
    shadow: ShadowCandidate, base: RankingOptions, reward_scale: float
) -> None:
    """The candidate's overrides name real options with acceptable values on top of
    ``base``; a learned blend needs a positive reward scale (the candidate's, else
    ``reward_scale``)."""
    scale = shadow.reward_scale
    try:
        options = candidate_options(base, shadow)
    except ValueError as exc:
        raise ConfigurationError(f"PITCHREC_SHADOW: {exc}") from None
    if options.learned_blend and (reward_scale if scale is None else scale) <= 0:
        raise ConfigurationError("PITCHREC_SHADOW: a learned blend needs reward_scale > 0")


def parse_experiment_setting(value: Any) -> ExperimentSpec | None:
    """Parse PITCHREC_EXPERIMENT (JSON text, or an object); blank: no experiment."""
    if value is None or isinstance(value, ExperimentSpec):
        return value
    if isinstance(value, str | bytes):
        if not value.strip():
            return None
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"PITCHREC_EXPERIMENT is not JSON: {exc}") from None
    try:
        return parse_experiment(value)
    except ExperimentConfigError as exc:
        raise ConfigurationError(f"PITCHREC_EXPERIMENT: {exc}") from None


def check_experiment_variants(
    experiment: ExperimentSpec, base: RankingOptions, reward_scale: float
) -> None:
    """Every variant's ranking overrides name real options with acceptable values on top
    of ``base`` (what :func:`pitchrec.service.build_service` will build)."""
    try:
        variant_setups(experiment, base, reward_scale)
    except ValueError as exc:
        raise ConfigurationError(f"PITCHREC_EXPERIMENT: {exc}") from None
