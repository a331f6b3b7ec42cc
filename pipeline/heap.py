"""Keep the C heap from holding freed frame-sized buffers.

glibc serves allocations above its mmap threshold with their own mappings, returned to the
system when freed; but each such free raises the threshold to the freed size (up to 32 MB on
64-bit). After the first face crop is freed, the next crop-sized buffers (10-40 MB at 4K-8K)
come from the heap instead, where a freed block below a live one is kept: an 8K frame's peak
RSS was ~0.15 GB higher for it. Fixing the threshold (which also stops its raising) keeps
buffers of ``DEFAULT_THRESHOLD`` and up in mappings of their own.

Below it, what is freed stays for reuse: glibc gives the top of a heap back (and faults it in
again on the next use) once more than the trim threshold is free there, 128 KB by default once
the mmap threshold is fixed. OCIO allocates two scanline buffers per conversion call (2 MB
each for our 128K-pixel chunks) on the colour threads; trimmed and faulted in again every call,
that was a quarter of a 4K swap's 2.1 M page faults. ``TRIM_THRESHOLD`` keeps 32 MB of a
heap's free top: a 4K swap's page faults 2.14 M -> 0.88 M, system time 7.4 -> 4.8 s for 8 frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
DEFAULT_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 32 << 20
# glibc's own variables: when set, they are the user's choice
ENV_OVERRIDE = "MALLOC_MMAP_THRESHOLD_"
ENV_TRIM = "MALLOC_TRIM_THRESHOLD_"


def bound_heap(threshold: int = DEFAULT_THRESHOLD, trim: int = TRIM_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes and its trim threshold at ``trim``;
    True when the mmap threshold was set.

    Does nothing (False) off Linux/glibc or when the user set ``MALLOC_MMAP_THRESHOLD_``; the
    trim threshold is left alone when ``MALLOC_TRIM_THRESHOLD_`` is set."""
    if not sys.platform.startswith("linux") or os.environ.get(ENV_OVERRIDE):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not os.environ.get(ENV_TRIM):
        mallopt(M_TRIM_THRESHOLD, int(trim))
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))
