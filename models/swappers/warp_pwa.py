"""Piecewise-affine image warp over a Delaunay triangulation of the target points.

The target triangulation never overlaps, so every output pixel belongs to at
most one triangle; each triangle carries the affine map back into the source
image and one ``cv2.remap`` does the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

_SHIFT = 4  # sub-pixel bits for rasterising triangles


@dataclass
class WarpResult:
    image: np.ndarray  # (H, W, C) float32, zero outside the triangulation
    coverage: np.ndarray  # (H, W) bool: pixels inside the triangulation
    triangles: np.ndarray  # (K, 3) vertex indices


def _areas(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle."""
    p = points[tri]
    return (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1])


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (K, 3), dropping degenerate (zero-area) ones."""
    tri = Delaunay(points).simplices
    return tri[np.abs(_areas(points, tri)) > 1e-6]


def shared_triangles(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """One triangulation valid for both point sets: Delaunay of their mean shape.

    ``src`` is first brought into ``dst``'s frame by a similarity fit. Triangulating
    only the target would connect points differently where a region collapses
    (e.g. an open mouth closing), pulling texture from the wrong place.
    """
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var = float((s**2).sum())
    if var < 1e-12:
        return triangulate(dst)
    a = float((s * d).sum()) / var
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / var
    placed = s @ np.array([[a, b], [-b, a]]) + mu_d
    return triangulate(0.5 * (placed + dst))


def _affines(src: np.ndarray, dst: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(K, 2, 3) affine maps taking each dst triangle onto its src triangle."""
    d = dst[tri]  # (K, 3, 2)
    s = src[tri]
    ones = np.ones((len(tri), 3, 1))
    a = np.concatenate([d, ones], axis=2)  # (K, 3, 3): rows [x, y, 1]
    # Solve a @ m.T = s for m (2x3) per triangle.
    mt = np.linalg.solve(a, s)  # (K, 3, 2)
    return np.transpose(mt, (0, 2, 1))


def piecewise_affine(
    source: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    out_shape: tuple[int, int],
    triangles: np.ndarray | None = None,
) -> WarpResult:
    """Warp ``source`` so that ``src_pts`` land on ``dst_pts`` in an ``out_shape`` image."""
    h, w = out_shape
    tri = triangulate(dst_pts) if triangles is None else triangles
    # Triangles collapsed to (almost) nothing in the target cover no pixel: drop them.
    tri = tri[np.abs(_areas(dst_pts.astype(np.float64), tri)) > 1e-3]
    src = src_pts.astype(np.float64)
    img = source
    # Pre-shrink a much larger source so remap's bilinear sampling doesn't alias.
    scale = _mean_scale(src, dst_pts.astype(np.float64), tri)
    if scale > 1.5:
        f = 1.0 / scale
        new_size = (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f)))
        fx, fy = new_size[0] / img.shape[1], new_size[1] / img.shape[0]
        img = cv2.resize(img, new_size, interpolation=cv2.INTER_AREA)
        src = (src + 0.5) * np.array([fx, fy]) - 0.5
    aff = _affines(src, dst_pts.astype(np.float64), tri)

    x0, y0 = np.floor(dst_pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(dst_pts.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    channels = source.shape[2] if source.ndim == 3 else 1
    out = np.zeros((h, w, channels), np.float32)
    cover = np.zeros((h, w), bool)
    if x1 <= x0 or y1 <= y0:
        return WarpResult(out if source.ndim == 3 else out[..., 0], cover, tri)

    label = np.zeros((y1 - y0, x1 - x0), np.int32)
    fixed = np.round((dst_pts - np.array([x0, y0])) * (1 << _SHIFT)).astype(np.int32)
    for k, t in enumerate(tri):
        cv2.fillConvexPoly(label, fixed[t], k + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    inside = label > 0
    ys, xs = np.nonzero(inside)
    m = aff[label[inside] - 1]  # (N, 2, 3)
    px = xs.astype(np.float64) + x0
    py = ys.astype(np.float64) + y0
    map_x = np.full(label.shape, -1e4, np.float32)
    map_y = np.full(label.shape, -1e4, np.float32)
    map_x[inside] = m[:, 0, 0] * px + m[:, 0, 1] * py + m[:, 0, 2]
    map_y[inside] = m[:, 1, 0] * px + m[:, 1, 1] * py + m[:, 1, 2]
    warped = cv2.remap(
        np.ascontiguousarray(img, dtype=np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    if warped.ndim == 2:
        warped = warped[..., None]
    warped[~inside] = 0.0
    out[y0:y1, x0:x1] = warped
    cover[y0:y1, x0:x1] = inside
    return WarpResult(out if source.ndim == 3 else out[..., 0], cover, tri)


def _mean_scale(src: np.ndarray, dst: np.ndarray, tri: np.ndarray) -> float:
    """sqrt(total source area / total target area) over the triangles."""

    a_dst = float(np.abs(_areas(dst, tri)).sum())
    return float(np.sqrt(np.abs(_areas(src, tri)).sum() / a_dst)) if a_dst > 1e-9 else 1.0
