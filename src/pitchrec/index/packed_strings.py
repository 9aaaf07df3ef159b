"""Packed UTF-8 strings: n strings in one byte buffer and an offset array.

Plain numpy arrays (no pickle), so a snapshot saved as ``.npy`` files can be
mapped read-only by several worker processes and shared through the page cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class PackedStrings:
    """n strings (or None) stored as one UTF-8 byte buffer and (n + 1) offsets.

    ``data``: (total_bytes,) uint8; ``offsets``: (n + 1,) int64, string i is
    ``data[offsets[i]:offsets[i + 1]]``; ``nulls``: (n,) bool, True where string i is NULL.
    """

    data: NDArray[np.uint8]
    offsets: NDArray[np.int64]
    nulls: NDArray[np.bool_]

    @classmethod
    def from_values(cls, values: Sequence[str | None]) -> PackedStrings:
        encoded = [b"" if v is None else v.encode("utf-8") for v in values]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        nulls = np.fromiter((v is None for v in values), dtype=np.bool_, count=len(values))
        return cls(data, offsets, nulls)

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def get(self, i: int) -> str | None:
        if self.nulls[i]:
            return None
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.data[start:end].tobytes().decode("utf-8")

    def text(self, i: int) -> str:
        """String i, with NULL read as ''."""
        return self.get(i) or ""

    def to_list(self) -> list[str | None]:
        return [self.get(i) for i in range(len(self))]
