"""Piecewise-affine image warp over a Delaunay triangulation of the target points.

The target triangulation never overlaps, so every output pixel belongs to at
most one triangle; each triangle carries the affine map back into the source
image and one ``cv2.remap`` does the sampling.
"""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class LocalWarp:
    """A warp over the target points' box only: ``image`` (bh, bw, C) and ``inside`` (bh, bw)
    start at (``x0``, ``y0``) of the output; ``image`` is undefined where ``inside`` is False."""

    image: np.ndarray
    inside: np.ndarray
    x0: int
    y0: int
    triangles: np.ndarray

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.inside.shape[0]), slice(self.x0, self.x0 + self.inside.shape[1])


def piecewise_affine(
    source: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    out_shape: tuple[int, int],
    triangles: np.ndarray | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> WarpResult:
    """Warp ``source`` so that ``src_pts`` land on ``dst_pts`` in an ``out_shape`` image."""
    h, w = out_shape
    loc = warp_local(source, src_pts, dst_pts, out_shape, triangles, prepare)
    channels = source.shape[2] if source.ndim == 3 else 1
    out = np.zeros((h, w, channels), np.float32)
    cover = np.zeros((h, w), bool)
    if loc.inside.size:
        sl = loc.slices()
        np.copyto(out[sl], loc.image, where=loc.inside[..., None])
        cover[sl] = loc.inside
    return WarpResult(out if source.ndim == 3 else out[..., 0], cover, loc.triangles)


def warp_local(
    source: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    out_shape: tuple[int, int],
    triangles: np.ndarray | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> LocalWarp:
    """:func:`piecewise_affine` over the target points' box only (no output-sized buffers).

    ``prepare`` (pointwise, e.g. NaN removal and clipping) is applied to the part of
    ``source`` the warp reads — the sampled pixels plus the bilinear neighbour, or all
    of it when a much larger source is pre-shrunk — with the same result as applying it
    to the whole source first.
    """
    h, w = out_shape
    tri = triangulate(dst_pts) if triangles is None else triangles
    # Triangles collapsed to (almost) nothing in the target cover no pixel: drop them.
    tri = tri[np.abs(_areas(dst_pts.astype(np.float64), tri)) > 1e-3]
    src = src_pts.astype(np.float64)
    img = source
    # Pre-shrink a much larger source so remap's bilinear sampling doesn't alias.
    scale = _mean_scale(src, dst_pts.astype(np.float64), tri)
    shrunk = scale > 1.5
    if shrunk:
        if prepare is not None:
            img = prepare(img)
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
    if x1 <= x0 or y1 <= y0:
        return LocalWarp(np.zeros((0, 0, channels), np.float32), np.zeros((0, 0), bool), 0, 0, tri)

    label = np.zeros((y1 - y0, x1 - x0), np.int32)
    fixed = np.round((dst_pts - np.array([x0, y0])) * (1 << _SHIFT)).astype(np.int32)
    for k, t in enumerate(tri):
        cv2.fillConvexPoly(label, fixed[t], k + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    inside = label > 0
    # Each pixel's affine map by its triangle label; label 0 (outside) maps to far away.
    coef = np.concatenate([np.array([[0.0, 0.0, -1e4, 0.0, 0.0, -1e4]]), aff.reshape(-1, 6)])
    px = np.arange(x0, x1, dtype=np.float64)[None, :]
    py = np.arange(y0, y1, dtype=np.float64)[:, None]
    map_x = _affine_map(coef, label, 0, px, py)
    map_y = _affine_map(coef, label, 3, px, py)
    if prepare is not None and not shrunk:
        img, map_x, map_y = _read_part(img, map_x, map_y, inside, prepare)
    warped = cv2.remap(
        np.ascontiguousarray(img, dtype=np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    if warped.ndim == 2:
        warped = warped[..., None]
    return LocalWarp(warped, inside, int(x0), int(y0), tri)


def _affine_map(coef: np.ndarray, label: np.ndarray, row: int, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """float32 source coordinate (x for row 0, y for row 3) of every pixel of the label box."""
    out = np.take(coef[:, row], label) * px
    out += np.take(coef[:, row + 1], label) * py
    out += np.take(coef[:, row + 2], label)
    return out.astype(np.float32)


def _read_part(
    img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, inside: np.ndarray, prepare: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of ``img`` the maps sample inside the triangles (plus the bilinear neighbour),
    prepared, and the maps moved into it. Clipped at the image's own edges, so the reflected
    border is the image's: remap gives the same numbers as on the whole prepared image."""
    if not inside.any():
        return prepare(img[:1, :1]), map_x, map_y
    xs, ys = map_x[inside], map_y[inside]
    h, w = img.shape[:2]
    lo_x, hi_x, lo_y, hi_y = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    if lo_x < 0.0 or lo_y < 0.0 or hi_x > w - 1 or hi_y > h - 1:
        return prepare(img), map_x, map_y  # samples past the edge read the reflected border: the whole image
    sx0, sy0 = max(int(np.floor(lo_x)) - 1, 0), max(int(np.floor(lo_y)) - 1, 0)
    sx1, sy1 = min(int(np.ceil(hi_x)) + 2, w), min(int(np.ceil(hi_y)) + 2, h)
    if (sx0, sy0, sx1, sy1) == (0, 0, w, h):
        return prepare(img), map_x, map_y
    part = prepare(img[sy0:sy1, sx0:sx1])
    map_x -= np.float32(sx0)
    map_y -= np.float32(sy0)
    return part, map_x, map_y


def _mean_scale(src: np.ndarray, dst: np.ndarray, tri: np.ndarray) -> float:
    """sqrt(total source area / total target area) over the triangles."""

    a_dst = float(np.abs(_areas(dst, tri)).sum())
    return float(np.sqrt(np.abs(_areas(src, tri)).sum() / a_dst)) if a_dst > 1e-9 else 1.0
