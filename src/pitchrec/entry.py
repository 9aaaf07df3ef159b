"""The ``pitchrec`` console script: pins BLAS threads, then runs the command line.

One BLAS thread per process unless the environment says otherwise, set before numpy
loads (OpenBLAS reads it once, at load): the engine multiplies small matrices (n x 18 by
18 x 18), where threads only contend. Measured on the 2-vCPU machine beside a
2-process simulation: LinUCB scoring took 4.9 ms per call with the default threads and
0.43 ms with one (bench/quality/ANALYSIS.md). Worker processes (``serve --workers``, the
simulator's pool) inherit the setting. A library user keeps their own.
"""

from __future__ import annotations

import os

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas_threads() -> None:
    """One BLAS thread unless the environment already chose (call before numpy loads)."""
    for variable in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


def main() -> None:
    pin_blas_threads()
    from pitchrec.cli import app

    app()
