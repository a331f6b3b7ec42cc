"""Keep the C heap from holding freed frame-sized buffers.

glibc serves allocations above its mmap threshold with their own mappings, returned to the
system when freed; but each such free raises the threshold to the freed size (up to 32 MB on
64-bit). After the first face crop is freed, the next crop-sized buffers (10-40 MB at 4K-8K)
come from the heap instead, where a freed block below a live one is kept: an 8K frame's peak
RSS was ~0.15 GB higher for it. Fixing the threshold (which also stops its raising) keeps
buffers of ``DEFAULT_THRESHOLD`` and up in mappings of their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
DEFAULT_THRESHOLD = 4 << 20
ENV_OVERRIDE = "MALLOC_MMAP_THRESHOLD_"  # glibc's own variable: when set, it is the user's choice


def bound_heap(threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; True when it was set.

    Does nothing (False) off Linux/glibc or when the user set ``MALLOC_MMAP_THRESHOLD_``."""
    if not sys.platform.startswith("linux") or os.environ.get(ENV_OVERRIDE):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))
