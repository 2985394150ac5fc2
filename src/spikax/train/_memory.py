"""Keep freed memory in the process during training (glibc only).

XLA's CPU runtime allocates and frees large buffers in every step of a compiled training
program. glibc serves blocks above its mmap threshold (128 KiB, adapting up to 32 MiB) with
fresh ``mmap`` calls and gives them back on ``free``, so each step pays for page faults on
memory it just returned. Raising the mmap threshold to 1 GiB and the trim threshold to 2 GiB
(``mallopt(M_MMAP_THRESHOLD)``, ``mallopt(M_TRIM_THRESHOLD)``; the same as
``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647`` in the environment)
keeps freed blocks for reuse: on a 2-core AMD EPYC a DynapSim training epoch (Japanese Vowels
shape, 128 neurons) took 1.23-1.32 s with this call at run time and 1.17-1.20 s with the
variables set before the process started, against 1.51-1.53 s without
(``benchmarks/train_epoch.py``, alternating fresh processes); the LIF epoch (~0.1 s) did not
change beyond its noise. The cost: the process keeps its peak memory until it exits.

:func:`spikax.train.fit` calls :func:`retain_freed_memory` unless ``SPIKAX_RETAIN_MEMORY=0``
(or ``false``, ``no``, ``off``) is set; it does nothing off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["retain_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30
_TRIM_THRESHOLD = 2**31 - 1
_done = False


def _enabled() -> bool:
    return os.environ.get("SPIKAX_RETAIN_MEMORY", "1").strip().lower() not in ("0", "false", "no", "off")


def retain_freed_memory() -> bool:
    """Set glibc to keep freed memory for reuse (once per process); ``True`` if it is now set.

    Does nothing (returns ``False``) when ``SPIKAX_RETAIN_MEMORY`` turns it off or the C
    library is not glibc.
    """
    global _done
    if _done:
        return True
    if not _enabled() or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    _done = bool(ok)
    return _done
