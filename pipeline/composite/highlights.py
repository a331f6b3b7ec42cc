"""Highlight preservation: face models see [0, 1]; the plate keeps what lies outside.

Scene-linear plates carry values above 1.0 on skin (speculars, practicals) and
sometimes below 0. The swapper only sees the clipped working-space crop, so the
part of the plate it could not see — the *out-of-range energy* — is split off in
plate space and added back to the swapped face:

    residual = plate - from_working(clip(to_working(plate), 0, 1))
    face     = from_working(swapped) + residual

Where the plate is in range the residual is (numerically) zero; where it was
clipped, the highlight comes back at its full linear value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Convert = Callable[[np.ndarray], np.ndarray]


def clip_working(working: np.ndarray) -> np.ndarray:
    return np.clip(working, 0.0, 1.0).astype(np.float32, copy=False)


def out_of_range_energy(plate: np.ndarray, working_clipped: np.ndarray, from_working: Convert) -> np.ndarray:
    """What the clipped working crop lost, in plate space (same shape as ``plate``)."""
    back = np.asarray(from_working(working_clipped), dtype=np.float32)
    return np.subtract(np.asarray(plate, dtype=np.float32), back, out=back if back.flags.writeable else None, dtype=np.float32)


def restore_highlights(face_plate_space: np.ndarray, residual: np.ndarray) -> np.ndarray:
    return np.add(face_plate_space, residual, dtype=np.float32)
