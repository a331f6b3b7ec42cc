"""One rule for non-finite pixels, everywhere (engine analysis, compositing, QC).

:func:`sanitise` returns a finite float32 *copy* (the plate is never modified):
NaN -> 0; +Inf -> the largest finite value in the array, -Inf -> the smallest
(0 when the array has no finite value). So an Inf highlight stays the brightest
thing in the picture — for the face detector, for the colour match's statistics
and for QC's display transform alike — without a made-up constant that would
either black it out or swamp a mean.
"""

from __future__ import annotations

import numpy as np


def sanitise(img: np.ndarray) -> np.ndarray:
    """Finite float32 copy of ``img``: NaN -> 0, ±Inf -> the array's finite max/min (0 if none)."""
    out = np.array(img, dtype=np.float32, copy=True)
    finite = np.isfinite(out)
    if finite.all():
        return out
    if finite.any():
        hi, lo = float(out[finite].max()), float(out[finite].min())
    else:
        hi = lo = 0.0
    out[np.isnan(out)] = 0.0
    out[np.isposinf(out)] = hi
    out[np.isneginf(out)] = lo
    return out
