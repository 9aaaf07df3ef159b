"""What candidate retrieval (:mod:`.retrieval`) reads of a snapshot, computed once per
snapshot: orders of the catalogue, inverted lists, and its rows as records.

Built before the snapshot serves when its feeds can retrieve
(:func:`~.retrieval.prepare_retrieval`), else on the first retrieving request
(:func:`catalogue_orders`), and kept while the snapshot lives: a reload's swap drops them
with the old snapshot. Measured at 39,829 resumes: 0.09-0.13 s to build, 15.8 MB of
arrays (about 400 bytes a resume; RSS +31 MB while building); 0.8 MB at 1,991 resumes,
where the service's default budget (3,000) never retrieves and builds nothing.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.index.csr import Csr
from pitchrec.index.packed_strings import PackedStrings
from pitchrec.index.snapshot import ResumeIndex, Snapshot
from pitchrec.ranking.collaborative import popularity_prior

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class RowBlocks:
    """The catalogue's per-row fields as one record per row, so that the index of m rows
    is one gather of m records (:meth:`subset`) rather than one per field: the gathers are
    bound by cache misses, one per field and row (measured at 40,000 resumes, 1,100 rows,
    in a feed: about 1 ms field by field). ``records`` (n,): a structured array with every
    array field of :class:`ResumeIndex` and, per list field, its length (``<field>#``)
    and its row padded with -1 to the longest; ``lists``: the list fields' names."""

    records: NDArray[np.void]
    lists: tuple[str, ...]

    @classmethod
    def of(cls, resumes: ResumeIndex) -> RowBlocks:
        n = len(resumes)
        columns: dict[str, NDArray[Any]] = {}
        lists = []
        for field in fields(resumes):
            value = getattr(resumes, field.name)
            if isinstance(value, Csr):
                lengths = value.lengths()
                padded = np.full((n, int(lengths.max()) if n else 0), -1, value.indices.dtype)
                padded[value.row_ids, _positions(lengths)] = value.indices
                columns[f"{field.name}#"] = lengths
                columns[field.name] = padded
                lists.append(field.name)
            elif isinstance(value, np.ndarray):
                columns[field.name] = value
        dtype = np.dtype(
            [(name, array.dtype, array.shape[1:]) for name, array in columns.items()], align=True
        )
        records = np.empty(n, dtype=dtype)
        for name, array in columns.items():
            records[name] = array
        return cls(records, tuple(lists))

    def subset(self, rows: Ints) -> ResumeIndex:
        """The index of catalogue ``rows`` (m,): every array gathered (strided views of
        the gathered records), every list in its order; no strings (the ranking reads
        none; feed items read the catalogue's)."""
        m = rows.shape[0]
        records = self.records.take(rows)  # 15 times faster than records[rows] (measured)
        values: dict[str, object] = {
            name: records[name] for name in records.dtype.names or () if name[-1] != "#"
        }
        for name in self.lists:
            indptr = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(records[f"{name}#"], out=indptr[1:])
            padded = np.ascontiguousarray(records[name])  # masking a strided view: 3x slower
            values[name] = Csr(indptr, padded[padded >= 0])
        no_strings = PackedStrings(
            np.zeros(0, dtype=np.uint8), np.zeros(m + 1, dtype=np.int64), np.ones(m, np.bool_)
        )
        for field in fields(ResumeIndex):
            values.setdefault(field.name, no_strings)
        return ResumeIndex(**values)  # type: ignore[arg-type]


def _positions(lengths: Ints) -> Ints:
    """(sum(lengths),) each element's position within its row."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts


@dataclass(frozen=True)
class CatalogueOrders:
    """Retrieval's view of a snapshot's n resumes (rows). ``prior`` (n,): the popularity
    prior in [0, 1] (blend column 19, :func:`~.collaborative.popularity_prior`, here
    computed once instead of per request); ``static`` (n,): VMP's static heuristic, 2.2
    engagement + 1.6 popularity + 1.8 quality; ``nu_static`` (n,): NU's, 1.8 attribute
    diversity + 1.4 rarity / 100. Orders (n,), ties by row: ``by_prior`` and
    ``by_static`` descending; ``by_created`` ascending, with ``created`` and ``new_static`` (n,) the
    created_at and ``nu_static`` of its rows (the new resumes are a suffix);
    ``by_exhibited`` ascending with ``exhibited`` (n,) its counts (the fresh resumes are a
    prefix); ``by_counts`` (3, n) by rating count, likes and times exhibited, descending.
    ``skill_rows`` (one list per skill) and ``creator_rows`` (one per id of ``creators``
    (c,), sorted): their rows, best prior first. ``blocks``: the rows for subsets."""

    prior: Floats
    static: Floats
    nu_static: Floats
    by_prior: Ints
    by_static: Ints
    by_created: Ints
    created: Floats
    new_static: Floats
    by_exhibited: Ints
    exhibited: Ints
    by_counts: Ints
    skill_rows: Csr
    creators: Ints
    creator_rows: Csr
    blocks: RowBlocks


def _descending(values: NDArray[np.generic]) -> Ints:
    order: Ints = np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")
    return order.astype(np.int64)


def _grouped(keys: Ints, rank: Ints, n_groups: int) -> Csr:
    """Positions of ``keys`` (k,) grouped by key into ``n_groups`` lists, by ``rank``."""
    order = np.lexsort((rank, keys))
    indptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_groups), out=indptr[1:])
    return Csr(indptr, order.astype(np.int64))


def build_orders(snapshot: Snapshot) -> CatalogueOrders:
    """Everything retrieval reads of ``snapshot``, computed from it."""
    resumes = snapshot.resumes
    n = len(resumes)
    prior = popularity_prior(snapshot) if n else np.zeros(0)
    if prior.shape[0] != n:  # a snapshot without interaction weights
        prior = np.zeros(n)
    by_prior = _descending(prior)
    rank = np.empty(n, dtype=np.int64)
    rank[by_prior] = np.arange(n)
    static = 2.2 * resumes.engagement + 1.6 * resumes.popularity + 1.8 * resumes.quality
    nu_static = 1.8 * resumes.attribute_diversity + 1.4 * resumes.rarity / 100.0
    created = np.asarray(resumes.created_at, dtype=np.float64)
    by_created = np.argsort(created, kind="stable").astype(np.int64)
    exhibited = np.asarray(resumes.exhibited_count, dtype=np.int64)
    by_exhibited = np.argsort(exhibited, kind="stable").astype(np.int64)
    counts = (resumes.rating_count, resumes.like_count, resumes.exhibited_count)
    skills = resumes.skills
    skill_ids = np.asarray(skills.indices, dtype=np.int64)
    postings = _grouped(skill_ids, rank[skills.row_ids], len(snapshot.vocab.skills))
    creators, owner = np.unique(np.asarray(resumes.creator), return_inverse=True)
    return CatalogueOrders(
        prior=prior,
        static=static,
        nu_static=nu_static,
        by_prior=by_prior,
        by_static=_descending(static),
        by_created=by_created,
        created=created[by_created],
        new_static=nu_static[by_created],
        by_exhibited=by_exhibited,
        exhibited=exhibited[by_exhibited],
        by_counts=np.stack([_descending(c) for c in counts]).reshape(3, n),
        skill_rows=Csr(postings.indptr, skills.row_ids[postings.indices]),
        creators=creators.astype(np.int64),
        creator_rows=_grouped(owner.astype(np.int64).reshape(n), rank, creators.shape[0]),
        blocks=RowBlocks.of(resumes),
    )


_CACHE: dict[int, tuple[weakref.ref[Snapshot], CatalogueOrders]] = {}
_CACHE_LOCK = threading.Lock()


def catalogue_orders(snapshot: Snapshot) -> CatalogueOrders:
    """The orders of ``snapshot``, built on first use and kept while it lives."""
    key = id(snapshot)
    entry = _CACHE.get(key)
    if entry is not None and entry[0]() is snapshot:
        return entry[1]
    with _CACHE_LOCK:  # one build per snapshot, even when requests race on a new one
        entry = _CACHE.get(key)
        if entry is not None and entry[0]() is snapshot:
            return entry[1]
        orders = build_orders(snapshot)

        def forget(ref: weakref.ref[Snapshot]) -> None:
            if _CACHE.get(key, (None,))[0] is ref:
                _CACHE.pop(key, None)

        _CACHE[key] = (weakref.ref(snapshot, forget), orders)
        return orders
