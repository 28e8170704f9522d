"""cmtui: train message classifiers from the terminal."""

import os

# Before numpy loads: OpenBLAS's threads only serve the optimiser's vector products
# here, and beside LightGBM's threads or a second cmtui process on 2 cores they spin
# for the CPU. Two simulations side by side took 45 s per page with them, 1 s without.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
