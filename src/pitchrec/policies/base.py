"""The policy port: the one small interface every bandit policy implements.

Vocabulary: a *candidate* is one row of a scoring call: a *context* vector (d,) and the id
of the *arm* it would pull (an arbitrary int64). Candidates come in per call; a policy never
owns the candidate set. A *reward* is a float in [0, 1].

Config (a frozen dataclass per policy) is separate from state (mutable arrays). All
randomness comes from the ``np.random.Generator`` passed to ``score``: the same generator
state gives the same scores.

Learning across replicas (``pitchrec.policies.deltas``)::

    update() ──► pending_delta()  (what this replica learned since the last call; resets)
                     │ published as commutative increments, summed by the store
                     ▼
    apply_delta(delta)  (from peers, or the store's totals onto a fresh policy)

A delta applied with ``apply_delta`` is never echoed back by ``pending_delta``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from pitchrec.policies.deltas import N_UPDATES, DeltaValue, StatsDelta

Float64Array = NDArray[np.float64]
Int64Array = NDArray[np.int64]


@dataclass(frozen=True)
class PolicyState:
    """A full snapshot of a policy's state (not its config), for ``import_state``.

    ``arrays`` holds the learned state by name (float64 or int64 arrays, 0-d for scalars):
    what the prior plus the sum of all deltas rebuilds. ``local`` holds replica-local
    bookkeeping that deltas do not carry (e.g. a window of recent rewards). ``pending`` is
    the not yet published delta, so a round trip loses nothing.
    """

    policy: str
    version: int
    n_updates: int
    arrays: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    local: Mapping[str, NDArray[Any]] = field(default_factory=dict)
    pending: Mapping[str, DeltaValue] = field(default_factory=dict)


@runtime_checkable
class Policy(Protocol):
    """What the ranking layer and the tracking layer may rely on, for every policy."""

    name: str
    """The registry name (``"linucb"``...), also recorded in ``PolicyState.policy``."""
    learns: bool
    """False when ``update`` cannot change scores (a baseline such as uniform)."""

    @property
    def dimension(self) -> int | None:
        """The context width d the policy requires, or None when it ignores contexts."""
        ...

    @property
    def version(self) -> int:
        """Bumped on every state change (update, apply_delta); logged with served scores."""
        ...

    @property
    def n_updates(self) -> int:
        """Feedback rows incorporated: local updates plus the counts of applied deltas."""
        ...

    def score(
        self, contexts: Float64Array, arm_ids: Int64Array, rng: np.random.Generator
    ) -> Float64Array:
        """Scores (n,) of candidates ``contexts`` (n, d) / ``arm_ids`` (n,); higher is better."""
        ...

    def update(self, contexts: Float64Array, arm_ids: Int64Array, rewards: Float64Array) -> None:
        """Learn from m feedback rows: ``contexts`` (m, d), ``arm_ids`` (m,), ``rewards`` (m,)."""
        ...

    def pending_delta(self) -> StatsDelta:
        """What was learned locally since the last call, as an additive delta; resets it."""
        ...

    def apply_delta(self, delta: Mapping[str, DeltaValue]) -> None:
        """Add a delta (from a peer, or summed totals) to the state."""
        ...

    def export_state(self) -> PolicyState:
        """A copy of the full state."""
        ...

    def import_state(self, state: PolicyState) -> None:
        """Replace the state by ``state`` (same policy kind and shapes)."""
        ...

    def describe(self) -> dict[str, object]:
        """Current weights / means for operators, as JSON-ready Python values."""
        ...


def check_candidates(
    contexts: Float64Array, arm_ids: Int64Array, dimension: int | None, *, finite: bool = True
) -> tuple[Float64Array, Int64Array]:
    """Validate a scoring call; returns float64 (n, d) and int64 (n,) arrays (the
    contexts in the caller's memory order: a column-major request matrix is not copied).

    ``finite=False`` skips the finiteness scan (a full pass over n x d values, 0.3 ms at
    n = 40,000): scoring is the hot path, and a non-finite context only yields a
    non-finite score; updates always check."""
    x = np.asarray(contexts, dtype=np.float64)
    ids = np.asarray(arm_ids)
    if x.ndim != 2:
        raise ValueError(f"contexts must be 2-D (n, d), got shape {x.shape}")
    if ids.ndim != 1 or ids.shape[0] != x.shape[0]:
        raise ValueError(f"arm_ids must have shape ({x.shape[0]},), got {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"arm_ids must be integers, got dtype {ids.dtype}")
    if dimension is not None and x.shape[1] != dimension:
        raise ValueError(f"contexts must have {dimension} columns, got {x.shape[1]}")
    if finite and not np.isfinite(x).all():
        raise ValueError("contexts must be finite")
    return x, ids.astype(np.int64, copy=False)


def check_feedback(
    contexts: Float64Array, arm_ids: Int64Array, rewards: Float64Array, dimension: int | None
) -> tuple[Float64Array, Int64Array, Float64Array]:
    """Validate an update batch; rewards must be finite and within [0, 1]."""
    x, ids = check_candidates(contexts, arm_ids, dimension)
    r = np.asarray(rewards, dtype=np.float64)
    if r.shape != ids.shape:
        raise ValueError(f"rewards must have shape {ids.shape}, got {r.shape}")
    if not (np.isfinite(r).all() and (r >= 0.0).all() and (r <= 1.0).all()):
        raise ValueError("rewards must be finite and within [0, 1]")
    return x, ids, r


class PolicyBase(ABC):
    """Shared bookkeeping (validation, version, n_updates, delta count); subclasses hold state.

    Subclasses implement the ``_``-methods; the public methods are the ``Policy`` port.
    """

    name: str = "base"
    learns: bool = True

    def __init__(self) -> None:
        self._version = 0
        self._n_updates = 0
        self._pending_n = 0

    @property
    def dimension(self) -> int | None:
        return None

    @property
    def version(self) -> int:
        return self._version

    @property
    def n_updates(self) -> int:
        return self._n_updates

    def score(
        self, contexts: Float64Array, arm_ids: Int64Array, rng: np.random.Generator
    ) -> Float64Array:
        x, ids = check_candidates(contexts, arm_ids, self.dimension, finite=False)
        return self._score(x, ids, rng)

    def update(self, contexts: Float64Array, arm_ids: Int64Array, rewards: Float64Array) -> None:
        x, ids, r = check_feedback(contexts, arm_ids, rewards, self.dimension)
        if r.size == 0:
            return
        self._update(x, ids, r)
        self._n_updates += int(r.size)
        self._pending_n += int(r.size)
        self._version += 1

    def pending_delta(self) -> StatsDelta:
        delta = self._pending(reset=True)
        delta[N_UPDATES] = float(self._pending_n)
        self._pending_n = 0
        return delta

    def apply_delta(self, delta: Mapping[str, DeltaValue]) -> None:
        count = float(np.asarray(delta.get(N_UPDATES, 0.0)))
        if count < 0 or count != round(count):
            raise ValueError(f"delta {N_UPDATES} must be a non-negative integer, got {count}")
        self._apply({key: value for key, value in delta.items() if key != N_UPDATES})
        self._n_updates += round(count)
        self._version += 1

    def export_state(self) -> PolicyState:
        pending = self._pending(reset=False)
        pending[N_UPDATES] = float(self._pending_n)
        return PolicyState(
            policy=self.name,
            version=self._version,
            n_updates=self._n_updates,
            arrays=self._export_arrays(),
            local=self._export_local(),
            pending=pending,
        )

    def import_state(self, state: PolicyState) -> None:
        if state.policy != self.name:
            raise ValueError(f"state of policy {state.policy!r} given to {self.name!r}")
        pending = dict(state.pending)
        pending_n = float(np.asarray(pending.pop(N_UPDATES, 0.0)))
        self._import_arrays(state.arrays)
        self._import_local(state.local)
        self._set_pending(pending)
        self._version = int(state.version)
        self._n_updates = int(state.n_updates)
        self._pending_n = round(pending_n)

    def _describe_common(self) -> dict[str, object]:
        return {"policy": self.name, "version": self._version, "n_updates": self._n_updates}

    @abstractmethod
    def describe(self) -> dict[str, object]: ...

    @abstractmethod
    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """Scores (n,) for validated contexts x (n, d) and arm ids (n,)."""

    @abstractmethod
    def _update(self, x: Float64Array, ids: Int64Array, rewards: Float64Array) -> None:
        """Fold m >= 1 validated rows into the state and into the pending delta."""

    @abstractmethod
    def _pending(self, *, reset: bool) -> StatsDelta:
        """The pending delta without ``n_updates`` (a copy); cleared when ``reset``."""

    @abstractmethod
    def _set_pending(self, delta: Mapping[str, DeltaValue]) -> None:
        """Replace the pending delta (``n_updates`` already removed)."""

    @abstractmethod
    def _apply(self, delta: Mapping[str, DeltaValue]) -> None:
        """Add a delta (``n_updates`` already removed) to the state, not to the pending one."""

    @abstractmethod
    def _export_arrays(self) -> dict[str, NDArray[Any]]:
        """Copies of the state arrays."""

    @abstractmethod
    def _import_arrays(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        """Replace the state arrays (validate shapes; copy)."""

    def _export_local(self) -> dict[str, NDArray[Any]]:
        """Copies of replica-local arrays that deltas do not carry; none by default."""
        return {}

    def _import_local(self, local: Mapping[str, NDArray[Any]]) -> None:
        """Replace the replica-local arrays; none by default."""
        if local:
            raise ValueError(f"unexpected local state arrays {sorted(local)}")
