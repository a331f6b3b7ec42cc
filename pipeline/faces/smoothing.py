"""One-Euro filtering of landmark sets along a track (strong when still, light when fast).

Speeds are measured in face sizes per second so the same settings behave the
same on a 2K and an 8K plate: ``cutoff = min_cutoff + beta * speed``.

With ``rigid`` the filter first moves its last estimate with the head: the similarity
(shift, turn, scale) that best takes it onto the new points, fitted over all of them. Only
what is left (the fit's jitter, the shape's own changes) is filtered, so a moving head is
followed without lag while a still one stays as steady as before: a move under
``RIGID_STILL[0]`` of the face size per frame is a landmark fit's jitter and is filtered as
before, from ``RIGID_STILL[1]`` it is taken in full (in proportion between). The move is
fitted on the points named by ``anchor`` (the landmarks; a detector's box jumps by whole
steps of its own and would read as a move).
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


RIGID_STILL = (0.004, 0.012)  # face sizes per frame: jitter below the first, a move from the second


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """2x3 matrix of the least-squares similarity taking ``src`` onto ``dst`` (None: degenerate)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    var = float((a**2).sum())
    if var < 1e-9:
        return None
    c = float((a * b).sum()) / var
    d = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / var
    rot = np.array([[c, -d], [d, c]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


class OneEuroFilter:
    """Filters an (N, 2) point set; one instance per track (its state is the track's)."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float, rigid: bool = False) -> None:
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.rigid = bool(rigid)
        self.state: OneEuroState | None = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, points: np.ndarray, dt: float, scale: float, anchor: np.ndarray | None = None) -> np.ndarray:
        """Filtered copy of ``points``; ``dt`` seconds since the last call, ``scale`` = face size px;
        ``anchor``: indices of the points a rigid filter fits the head's move on (None: all)."""
        x = np.asarray(points, np.float64)
        st = self.state
        if st is None or st.x.shape != x.shape or dt <= 0 or not np.isfinite(x).all():
            self.state = OneEuroState(x.copy(), np.zeros_like(x))
            return x.copy()
        last, last_dx = st.x, st.dx
        if self.rigid:
            last, last_dx = _moved_with_head(last, last_dx, x, scale, anchor)
        dx = (x - last) / dt
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * last_dx
        speed = np.linalg.norm(dx_hat, axis=1, keepdims=True) / max(float(scale), 1.0)
        cutoff = self.min_cutoff + self.beta * speed
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1.0 - a) * last
        self.state = OneEuroState(x_hat, dx_hat)
        return x_hat.copy()


def _moved_with_head(
    last: np.ndarray, last_dx: np.ndarray, x: np.ndarray, scale: float, anchor: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The filter's last points and speeds carried by the head's move onto ``x`` (see the module)."""
    sel = slice(None) if anchor is None or len(anchor) < 2 else anchor
    m = _similarity(last[sel], x[sel])
    if m is None or not np.isfinite(m).all():
        return last, last_dx
    moved = last @ m[:, :2].T + m[:, 2]
    step = float(np.linalg.norm(moved[sel] - last[sel], axis=1).mean()) / max(float(scale), 1.0)
    lo, hi = RIGID_STILL
    w = float(np.clip((step - lo) / (hi - lo), 0.0, 1.0))
    if w == 0.0:
        return last, last_dx
    return last + w * (moved - last), last_dx + w * (last_dx @ m[:, :2].T - last_dx)
