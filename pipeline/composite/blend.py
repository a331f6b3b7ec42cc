"""Blend the swapped face (foreground) into the plate crop (background).

Every method returns a *foreground* ``F`` for the over operation; the engine
then composites ``alpha * F + (1 - alpha) * plate`` so the face element over the
plate equals the comp and pixels with alpha 0 never change.

- ``alpha``: F is the swap itself (feathered matte does the work).
- ``laplacian``: F is a Laplacian-pyramid blend of swap and plate, so low
  frequencies mix over a wide band and fine detail over a narrow one.
- ``poisson``: seamless cloning as a membrane: F = swap + a smooth correction
  that equals (plate - swap) on the matte's border and is harmonic inside
  (the solution of the Poisson equation with the swap's gradients). Solved on a
  reduced grid — the correction is smooth — so it stays fast at 4K. Border
  values are clamped to their inner percentiles so hair or a dark edge on the
  border does not tint the whole face.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

_MEMBRANE_GRID = 96
BORDER_PERCENTILES = (15.0, 85.0)


def blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, method: str = "alpha") -> np.ndarray:
    if method == "alpha":
        return fg.astype(np.float32, copy=False)
    if method == "laplacian":
        return laplacian_blend(fg, bg, alpha)
    if method == "poisson":
        return poisson_blend(fg, bg, alpha)
    raise ValueError(f"unknown blend method {method!r}")


def _levels(h: int, w: int) -> int:
    n = 0
    while min(h, w) >> (n + 1) >= 8 and n < 6:
        n += 1
    return n


def laplacian_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    h, w = alpha.shape
    n = _levels(h, w)
    a = alpha.astype(np.float32)
    gf, gb, ga = [fg.astype(np.float32)], [bg.astype(np.float32)], [a]
    for _ in range(n):
        gf.append(cv2.pyrDown(gf[-1]))
        gb.append(cv2.pyrDown(gb[-1]))
        ga.append(cv2.pyrDown(ga[-1]))
    out = gf[n] * ga[n][..., None] + gb[n] * (1.0 - ga[n][..., None])
    for i in range(n - 1, -1, -1):
        size = (gf[i].shape[1], gf[i].shape[0])
        lf = gf[i] - cv2.pyrUp(gf[i + 1], dstsize=size)
        lb = gb[i] - cv2.pyrUp(gb[i + 1], dstsize=size)
        lap = lf * ga[i][..., None] + lb * (1.0 - ga[i][..., None])
        out = cv2.pyrUp(out, dstsize=size) + lap
    return out.astype(np.float32)


def poisson_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    h, w = alpha.shape
    inside = alpha > 0.5
    if not inside.any():
        return fg.astype(np.float32, copy=False)
    scale = min(1.0, _MEMBRANE_GRID / max(h, w))
    sh, sw = max(int(round(h * scale)), 3), max(int(round(w * scale)), 3)
    diff = cv2.resize((bg - fg).astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    if diff.ndim == 2:
        diff = diff[..., None]
    mask = cv2.resize(inside.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST).astype(bool)
    mask[0, :] = mask[-1, :] = False
    mask[:, 0] = mask[:, -1] = False
    corr = diff.copy()
    if mask.any():
        corr = _harmonic_fill(_robust_border(diff, mask), mask)
    full = cv2.resize(corr, (w, h), interpolation=cv2.INTER_LINEAR)
    if full.ndim == 2:
        full = full[..., None]
    return (fg + full).astype(np.float32)


def _robust_border(diff: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Clamp the border values to their 15th-85th percentiles per channel, so a strand of
    hair or a dark edge crossing the border does not bleed a tint across the face."""
    ring = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~inside
    if ring.sum() < 8:
        return diff
    lo, hi = np.percentile(diff[ring], BORDER_PERCENTILES, axis=0)
    return np.clip(diff, lo, hi).astype(np.float32)


def _harmonic_fill(values: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Solve Laplace(x) = 0 on ``unknown`` pixels with the others as boundary values."""
    h, w = unknown.shape
    idx = -np.ones((h, w), dtype=np.int64)
    ys, xs = np.nonzero(unknown)
    n = ys.size
    idx[ys, xs] = np.arange(n)
    rows, cols, data = [np.arange(n)], [np.arange(n)], [np.full(n, 4.0)]
    rhs = np.zeros((n, values.shape[2]), dtype=np.float64)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        nb = idx[ny, nx]
        is_unknown = nb >= 0
        rows.append(np.arange(n)[is_unknown])
        cols.append(nb[is_unknown])
        data.append(np.full(int(is_unknown.sum()), -1.0))
        known = ~is_unknown
        rhs[known] += values[ny[known], nx[known]]
    a = sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    sol = spla.spsolve(a.tocsc(), rhs)
    out = values.astype(np.float64).copy()
    out[ys, xs] = sol.reshape(n, -1)
    return out.astype(np.float32)
