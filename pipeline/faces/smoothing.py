"""One-Euro filtering of landmark sets along a track (strong when still, light when fast).

Speeds are measured in face sizes per second so the same settings behave the
same on a 2K and an 8K plate: ``cutoff = min_cutoff + beta * speed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroState:
    x: np.ndarray  # last filtered points (N, 2)
    dx: np.ndarray  # last filtered derivative (N, 2), px per second


class OneEuroFilter:
    """Filters an (N, 2) point set; one instance per track (its state is the track's)."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.state: OneEuroState | None = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, points: np.ndarray, dt: float, scale: float) -> np.ndarray:
        """Filtered copy of ``points``; ``dt`` seconds since the last call, ``scale`` = face size px."""
        x = np.asarray(points, np.float64)
        st = self.state
        if st is None or st.x.shape != x.shape or dt <= 0 or not np.isfinite(x).all():
            self.state = OneEuroState(x.copy(), np.zeros_like(x))
            return x.copy()
        dx = (x - st.x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * st.dx
        speed = np.linalg.norm(dx_hat, axis=1, keepdims=True) / max(float(scale), 1.0)
        cutoff = self.min_cutoff + self.beta * speed
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1.0 - a) * st.x
        self.state = OneEuroState(x_hat, dx_hat)
        return x_hat.copy()
