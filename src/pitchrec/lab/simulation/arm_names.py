"""The arm names of the experiment and what each asks for (:class:`ArmSpec`).

:func:`parse_arm` reads the names :mod:`pitchrec.lab.simulation.variants` describes (the
bases, the ``-s``/``-t``/``-x`` suffixes, the ``+``/``-`` switches and the
``@<option>=<value>`` overrides); that module builds the arms and re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pitchrec.ranking.options import DEFAULT_TEMPERATURE, RankingOptions
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE

BYPASS_ARMS = ("oracle", "random")
CEILING_ARMS = ("oracle-engine", "shared-engine", "linear-engine", "taste-engine")
ENGINE_ARMS = ("legacy", "linucb", "thompson", "uniform", "epsilon", *CEILING_ARMS)
LEARNING_BASES = ("legacy", "linucb", "thompson", "uniform", "epsilon")
SCALED_BASES = ("linucb", "thompson", "epsilon")
_FLAGS = ("profile", "declared", "learn")
#: Separates a learning arm from its ranking-option overrides (as in the offline lab).
OVERRIDE_SEPARATOR = "@"


@dataclass(frozen=True)
class ArmSpec:
    """What an engine arm name asks for: the policy ``base``, LinUCB's ``reward_scale``,
    the ``-x`` score multiplier (1: none), whether online profiles and declared skills
    are used and whether the policies learn."""

    base: str
    reward_scale: float = DEFAULT_REWARD_SCALE
    weight: float = 1.0
    profiles: bool = True
    declared: bool = True
    learning: bool = True
    temperature: float | None = None
    #: ``<option>=<value>`` overrides of the arm's ranking options.
    overrides: tuple[str, ...] = ()
    #: ``-w<seconds>``: the learners serve only the last this many seconds of statistics
    #: (:mod:`pitchrec.learning.stats_window`); 0: all of them.
    window_seconds: float = 0.0

    def ranking(self) -> RankingOptions:
        """The arm's ranking options: the legacy's for ``legacy`` and the ceiling arms
        (their scorer alone ranks the pools), the service's for the other bases, with the
        temperature, declared skills and overrides applied."""
        plain = self.base in ("legacy", "ceiling")
        base = RankingOptions.legacy() if plain else RankingOptions.service()
        options = replace(base, temperature=self.temperature, declared_skills=self.declared)
        return options.overridden(list(self.overrides))


def parse_arm(name: str) -> ArmSpec | None:
    """The spec of a learning arm name (the ceiling and bypass arms give None); raises
    ``ValueError`` for an unknown name."""
    if name in BYPASS_ARMS or name in CEILING_ARMS:
        return None
    name, *overrides = name.split(OVERRIDE_SEPARATOR)
    if overrides:
        spec = parse_arm(name)
        if spec is None:
            raise _unknown(name)
        spec = replace(spec, overrides=tuple(overrides))
        spec.ranking()  # raises ValueError for an unknown option
        return spec
    parts = _tokenize(name)
    if parts is None:
        raise _unknown(name)
    base, tokens = parts
    if len(tokens) == 1 and tokens[0].startswith("-x") and base in SCALED_BASES:
        weight = _number(tokens[0][2:])
        if weight is None:
            raise _unknown(name)
        return ArmSpec(base, 1.0, weight, profiles=False, declared=False)
    suffixes = _suffixes(tokens)
    if suffixes is None:
        raise _unknown(name)
    return _variant_spec(base, suffixes)


@dataclass(frozen=True)
class _Suffixes:
    """The suffixes of a variant name: ``-s<scale>``, ``-t<temp>``, ``-w<seconds>`` and
    the switches."""

    scale: float | None
    temperature: float | None
    switches: dict[str, bool]
    window: float = 0.0


def _tokenize(name: str) -> tuple[str, list[str]] | None:
    """(base, suffix tokens) of ``name``: each token starts with ``+`` or ``-``
    (``"linucb-s1+profile"`` -> ``("linucb", ["-s1", "+profile"])``); None without a
    known base."""
    for base in LEARNING_BASES:
        rest = name.removeprefix(base)
        if rest != name and (not rest or rest[0] in "+-"):
            tokens: list[str] = []
            for char in rest:
                if char in "+-":
                    tokens.append(char)
                else:
                    tokens[-1] += char
            return base, tokens
    return None


def _number(text: str) -> float | None:
    """``text`` as a float when it is digits with an optional decimal part, else None."""
    whole, dot, fraction = text.partition(".")
    if not _digits(whole) or (dot and not _digits(fraction)):
        return None
    return float(text)


def _digits(text: str) -> bool:
    return bool(text) and all(c in "0123456789" for c in text)


def _suffixes(tokens: list[str]) -> _Suffixes | None:
    """The suffixes in their fixed order (``-s``, then ``-t``, then ``-w``, then any
    switches; a later switch of the same name wins); None for anything else."""
    scale = temperature = window = None
    at = 0
    if at < len(tokens) and tokens[at].startswith("-s"):
        scale = _number(tokens[at][2:])
        if scale is None:
            return None
        at += 1
    if at < len(tokens) and tokens[at].startswith("-t"):
        temperature = _number(tokens[at][2:])
        if temperature is None:
            return None
        at += 1
    if at < len(tokens) and tokens[at].startswith("-w"):
        window = _number(tokens[at][2:])
        if window is None or window <= 0.0:
            return None
        at += 1
    switches: dict[str, bool] = {}
    for token in tokens[at:]:
        if token[1:] not in _FLAGS:
            return None
        switches[token[1:]] = token[0] == "+"
    return _Suffixes(scale, temperature, switches, window or 0.0)


def _variant_spec(base: str, suffixes: _Suffixes) -> ArmSpec:
    legacy = base == "legacy"
    reward_scale = suffixes.scale
    if reward_scale is None:
        reward_scale = 1.0 if legacy else DEFAULT_REWARD_SCALE
    profiles = suffixes.switches.get("profile", not legacy)
    declared = suffixes.switches.get("declared", not legacy)
    temperature = suffixes.temperature
    if temperature is None:
        temperature = None if legacy else DEFAULT_TEMPERATURE
    if temperature == 0.0:
        temperature = None  # -t0: the legacy draws
    learning = suffixes.switches.get("learn", not legacy)
    spec = ArmSpec(base, reward_scale, 1.0, profiles, declared, learning, temperature)
    return replace(spec, window_seconds=suffixes.window)


def _unknown(name: str) -> ValueError:
    known = ", ".join(
        (
            *ENGINE_ARMS,
            "<base>[-s<scale>][-t<temp>][-w<seconds>][+|-profile][+|-declared][+|-learn]"
            "[@<option>=<v>]",
            "<linucb|thompson|epsilon>-x<weight>",
            *BYPASS_ARMS,
        )
    )
    return ValueError(f"unknown policy {name!r}; known: {known}")


def arm_names_valid(names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` for an unknown arm name."""
    for name in names:
        parse_arm(name)
