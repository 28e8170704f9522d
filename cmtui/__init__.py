"""cmtui: train message classifiers from the terminal."""

import os

# Set before numpy and LightGBM load, unless the user chose otherwise. With busy-waiting
# threads, two cmtui processes on 2 cores (two annotators, or two simulations) stalled
# for 40-80 s per page where each page takes 1-2 s:
# - OpenBLAS's threads only serve the optimiser's vector products here (sparse products
#   and LightGBM do not use it), and spun for the CPU beside LightGBM's threads;
# - LightGBM's OpenMP threads spin at every barrier; passive ones sleep instead.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# polars allocates with jemalloc, which kept the pages of freed frames: after reading the
# texts of 1M messages once, 420 MB stayed with the process for good (and 1.2 GB after
# hashing them). Returning them at once cost nothing measurable (three reads and
# tokenisations of 1M texts: 23.0 s against 22.6 s) and the memory goes back to the system.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def _cap_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each new thread (LightGBM's, DuckDB's) a heap of its own, up to 8 per
    core, and keeps what is freed in each: at 100k long emails the process grew by 200-300
    MB a retrain, to 988 MB after 1,000 reviews, against 596 MB with two heaps. Threads
    started from here on share two (``MALLOC_ARENA_MAX``, when set, is the user's)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc
        pass


_cap_malloc_arenas()

__version__ = "0.1.0"
