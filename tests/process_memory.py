"""The resident set size of this test process, in bytes: what memory bounds are tested in
(the unit users feel, not a count of entries)."""

from __future__ import annotations

import gc
import os

import pytest

needs_proc = pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="VmRSS needs Linux /proc"
)


def rss_bytes() -> int:
    """VmRSS of this process after a full collection, bytes (Linux /proc)."""
    gc.collect()
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")
