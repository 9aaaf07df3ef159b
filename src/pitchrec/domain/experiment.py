"""An online experiment: named variants, their weights, and who gets which.

The experiment is declared once (``PITCHREC_EXPERIMENT``, JSON) and parsed here into an
:class:`ExperimentSpec`; what a variant changes (ranking options, the policies' reward
scale) stays opaque text at this layer and is resolved by :mod:`pitchrec.ranking.variants`.

Assignment (:func:`assign`) is a stable hash of the experiment name and the *unit*: the
user id for a known user, the session id for an anonymous one (no id, or the legacy
cold-start user 0); an anonymous request without a session is not randomised and is served
the control (:attr:`Assignment.assigned` is None: such feeds count in no variant's
metrics, so the population behind control's rates is as randomised as any variant's).
The hash is BLAKE2b, not Python's ``hash`` (salted per process), so every replica and
every restart assigns a unit to the same variant; salting it with the experiment's name
reshuffles units between experiments.

A stopped variant's units are served the control (:attr:`Assignment.variant`) but keep
their assignment (:attr:`Assignment.assigned`): they are *not* counted as control, so a
stop never mixes the stopped variant's users (and what they learned to expect) into the
control's rates.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

#: Names of experiments and variants: they appear in Redis keys and fields and in
#: Prometheus labels, so short, and no ``:`` (the key separator).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
#: Variants an experiment may declare (Prometheus label cardinality stays bounded).
MAX_VARIANTS = 8
DEFAULT_CONTROL = "control"
DEFAULT_CONFIDENCE = 0.95
#: Impressions each of the variant and the control must have before the guardrail may
#: stop the variant: the interval is asymptotic (:mod:`pitchrec.learning.sequential`),
#: and the empirical coverage test holds from a few hundred Bernoulli draws on.
DEFAULT_MIN_IMPRESSIONS = 1_000
#: The like-rate difference the interval is tightest for (the standard deviation of the
#: normal mixture): about a tenth of the service's like rate (a few percent, README).
DEFAULT_EFFECT_SIZE = 0.01
#: Upper edges of the position buckets of the per-variant metrics (1-based positions).
POSITION_EDGES = (3, 6, 12, 24)

_TOP_KEYS = {"name", "variants", "control", "confidence", "min_impressions", "guardrail"}
_TOP_KEYS |= {"effect_size"}
_VARIANT_KEYS = {"weight", "ranking", "reward_scale"}


@dataclass(frozen=True)
class VariantSpec:
    """One variant: its ``weight`` (relative, > 0), its ranking overrides
    (``<option>=<value>`` of :class:`~pitchrec.ranking.options.RankingOptions`, a leading
    ``@`` allowed) and its policies' reward scale (None: the deployment's)."""

    name: str
    weight: float
    ranking: tuple[str, ...] = ()
    reward_scale: float | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment (:func:`parse_experiment`)."""

    name: str
    variants: tuple[VariantSpec, ...]
    control: str = DEFAULT_CONTROL
    confidence: float = DEFAULT_CONFIDENCE
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS
    guardrail: bool = True
    effect_size: float = DEFAULT_EFFECT_SIZE

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    def variant(self, name: str) -> VariantSpec:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Assignment:
    """Which variant served a feed (``variant``) and which the unit is assigned to
    (``assigned``; None when the request was not randomised)."""

    experiment: str
    variant: str
    assigned: str | None

    @property
    def counted(self) -> bool:
        """The feed counts in its variant's metrics: randomised and served as assigned."""
        return self.assigned is not None and self.assigned == self.variant

    def tags(self) -> dict[str, str | None]:
        """What tracked JSON (impressions, ``activity_log.properties``) carries."""
        return {"experiment": self.experiment, "variant": self.variant, "assigned": self.assigned}


def unit_of(user_id: int | None, session_id: str | None) -> str | None:
    """The randomisation unit: the user, else the session, else None (not randomised).
    User 0 is the legacy cold-start user, i.e. anonymous."""
    if user_id is not None and user_id != 0:
        return f"u:{user_id}"
    if session_id:
        return f"s:{session_id}"
    return None


def unit_hash(experiment: str, unit: str) -> float:
    """A uniform number in [0, 1) fixed by (experiment, unit), the same in every process."""
    digest = hashlib.blake2b(f"{experiment}\x00{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def assign(
    spec: ExperimentSpec,
    user_id: int | None,
    session_id: str | None,
    stopped: Collection[str] = (),
) -> Assignment:
    """The variant ``spec`` serves this request: the unit's hash picks a variant with
    probability proportional to its weight; a ``stopped`` variant's units get the control."""
    unit = unit_of(user_id, session_id)
    if unit is None:
        return Assignment(spec.name, spec.control, None)
    point = unit_hash(spec.name, unit) * sum(v.weight for v in spec.variants)
    chosen = spec.variants[-1].name  # float rounding at the very top
    edge = 0.0
    for variant in spec.variants:
        edge += variant.weight
        if point < edge:
            chosen = variant.name
            break
    served = spec.control if chosen in stopped else chosen
    return Assignment(spec.name, served, chosen)


def position_bucket(position: int) -> str:
    """The metric label of a 1-based position: ``1-3``, ``4-6``, ``7-12``, ``13-24``,
    ``25+`` (bounded whatever the feed size)."""
    low = 1
    for edge in POSITION_EDGES:
        if position <= edge:
            return f"{low}-{edge}"
        low = edge + 1
    return f"{low}+"


class ExperimentConfigError(ValueError):
    """The experiment declaration is unusable; the message says where and why."""


def parse_experiment(data: Any) -> ExperimentSpec:
    """Validate a declaration (the JSON object of ``PITCHREC_EXPERIMENT``); raises
    :class:`ExperimentConfigError` naming the field."""
    if not isinstance(data, Mapping):
        raise ExperimentConfigError("the experiment must be a JSON object")
    _no_unknown(data, _TOP_KEYS, "the experiment")
    name = _name(data.get("name"), "name")
    raw_variants = data.get("variants")
    if not isinstance(raw_variants, Mapping) or not raw_variants:
        raise ExperimentConfigError("variants: an object of variant name -> settings is required")
    if len(raw_variants) > MAX_VARIANTS:
        raise ExperimentConfigError(f"variants: at most {MAX_VARIANTS} are allowed")
    variants = tuple(_variant(key, value) for key, value in raw_variants.items())
    control = _name(data.get("control", DEFAULT_CONTROL), "control")
    if control not in {v.name for v in variants}:
        raise ExperimentConfigError(f"variants: a {control!r} variant (the control) is required")
    if len(variants) < 2:
        raise ExperimentConfigError("variants: the control and at least one other variant")
    own = next(v for v in variants if v.name == control)
    if own.ranking or own.reward_scale is not None:
        raise ExperimentConfigError(
            f"variants.{control}: the control serves the deployment's settings; it takes "
            "a weight only (change the settings to change the control)"
        )
    return ExperimentSpec(name, variants, control, *_monitoring(data))


def _monitoring(data: Mapping[str, Any]) -> tuple[float, int, bool, float]:
    """(confidence, min_impressions, guardrail, effect_size) of a declaration."""
    confidence = _number(data.get("confidence", DEFAULT_CONFIDENCE), "confidence")
    if not 0.5 <= confidence < 1.0:
        raise ExperimentConfigError("confidence: must be in [0.5, 1)")
    minimum = data.get("min_impressions", DEFAULT_MIN_IMPRESSIONS)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
        raise ExperimentConfigError("min_impressions: must be a whole number >= 1")
    guardrail = data.get("guardrail", True)
    if not isinstance(guardrail, bool):
        raise ExperimentConfigError("guardrail: must be true or false")
    effect = _number(data.get("effect_size", DEFAULT_EFFECT_SIZE), "effect_size")
    if not 0.0 < effect <= 1.0:
        raise ExperimentConfigError("effect_size: must be in (0, 1]")
    return confidence, minimum, guardrail, effect


def _variant(key: object, value: object) -> VariantSpec:
    name = _name(key, "variants")
    where = f"variants.{name}"
    if not isinstance(value, Mapping):
        raise ExperimentConfigError(f"{where}: must be an object with a weight")
    _no_unknown(value, _VARIANT_KEYS, where)
    weight = _number(value.get("weight"), f"{where}.weight")
    if not weight > 0.0:
        raise ExperimentConfigError(f"{where}.weight: must be > 0")
    ranking = value.get("ranking", [])
    if not isinstance(ranking, list) or not all(isinstance(r, str) for r in ranking):
        raise ExperimentConfigError(f"{where}.ranking: must be a list of '<option>=<value>'")
    scale = value.get("reward_scale")
    if scale is not None:
        scale = _number(scale, f"{where}.reward_scale")
        if scale < 0.0:
            raise ExperimentConfigError(f"{where}.reward_scale: must be >= 0")
    overrides = tuple(r.strip().removeprefix("@") for r in ranking)
    return VariantSpec(name, weight, overrides, scale)


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ExperimentConfigError(
            f"{where}: {value!r} is not a name of 1-40 letters, digits, '.', '_' or '-'"
        )
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExperimentConfigError(f"{where}: a number is required")
    if not math.isfinite(value):
        raise ExperimentConfigError(f"{where}: must be finite")
    return float(value)


def _no_unknown(data: Mapping[Any, Any], known: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise ExperimentConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
