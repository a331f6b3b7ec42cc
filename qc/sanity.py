"""Sanity metrics: NaN/Inf in the comp, values beyond the plate's range,
detection score and propagated landmarks. (Missing frames and failed records
are checked by :mod:`qc.scoring`, missing faces by :mod:`qc.temporal`.)
"""

from __future__ import annotations

import numpy as np

from recast.qc.metrics import Direction, MetricContext, Unavailable

RANGE_TOLERANCE = 0.05  # relative headroom over the plate crop's range before a value counts as out of range


class NonFinite:
    name: str = "nonfinite"
    direction: Direction = "lower"
    label: str = "NaN/Inf pixels in the comp face crop"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        if ctx.out_raw is None:
            raise Unavailable("raw comp crop not read")
        return float(np.count_nonzero(~np.isfinite(ctx.out_raw)))


class OutOfRange:
    name: str = "out_of_range"
    direction: Direction = "lower"
    label: str = "fraction of matte pixels beyond the plate's range"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        if ctx.out_raw is None:
            raise Unavailable("raw comp crop not read")
        lo, hi = ctx.plate_range
        span = max(hi - lo, 1e-6)
        raw = np.nan_to_num(ctx.out_raw[..., :3], nan=0.0, posinf=np.inf, neginf=-np.inf)
        beyond = (raw > hi + RANGE_TOLERANCE * span) | (raw < lo - RANGE_TOLERANCE * span)
        bad = np.logical_or.reduce([beyond[..., c] for c in range(beyond.shape[-1])])  # any(axis=-1), ~10x faster
        inside = (ctx.matte_raw if ctx.matte_raw is not None else ctx.matte) > 0
        if inside.shape != bad.shape:
            raise Unavailable("matte and comp crop sizes differ")
        n = int(np.count_nonzero(inside))
        if n == 0:
            raise Unavailable("empty matte")
        return float(np.count_nonzero(bad & inside)) / n


class DetectionScore:
    name: str = "det_score"
    direction: Direction = "higher"
    label: str = "face detection score"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        if "score" not in ctx.face:
            raise Unavailable("record has no detection score")
        return float(ctx.face["score"])


class Propagated:
    name: str = "propagated"
    direction: Direction = "lower"
    label: str = "landmarks propagated by the tracker (1) or detected (0)"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        return 1.0 if ctx.face.get("landmarks_source") == "propagated" else 0.0


