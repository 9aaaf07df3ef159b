"""pitchrec: a feed recommender for talent networks.

One BLAS thread per process unless the environment says otherwise (before numpy loads):
the engine multiplies small matrices (n x 18 by 18 x 18), where threads only contend.
Measured on the 2-vCPU machine beside a 2-process simulation: LinUCB scoring took 4.9 ms
per call with the default threads and 0.43 ms with one (bench/quality/ANALYSIS.md).
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

__version__ = "0.1.0"
