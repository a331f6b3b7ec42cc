"""Landmark propagation by pyramidal Lucas-Kanade optical flow (for frames a detector missed).

Works on a window around the face only, so a 4K frame costs about what a 1K frame does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FlowResult:
    points: np.ndarray  # (N, 2) moved points, full-res coordinates
    ok: np.ndarray  # (N,) bool: tracked and forward-backward consistent
    ratio: float  # share of points tracked


def gray_u8(image: np.ndarray) -> np.ndarray:
    """Display-referred grey (float [0, 1] or uint8, any channels) -> contiguous uint8."""
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr[:, :, :3].mean(axis=2) if arr.shape[2] >= 3 else arr[:, :, 0]
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        arr = (arr * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)


def propagate_points(
    prev: np.ndarray,
    cur: np.ndarray,
    points: np.ndarray,
    box: np.ndarray,
    max_size: int = 256,
    fb_max: float = 1.0,
) -> FlowResult:
    """Move ``points`` from uint8 grey ``prev`` to ``cur`` (same size); work inside a window
    of two face sizes around ``box``, resampled so the face is at most ``max_size`` px."""
    pts = np.asarray(points, np.float64)
    h, w = prev.shape[:2]
    bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
    size = max(bw, bh, 1.0)
    x0 = int(max(0, np.floor(box[0] - bw)))
    y0 = int(max(0, np.floor(box[1] - bh)))
    x1 = int(min(w, np.ceil(box[2] + bw)))
    y1 = int(min(h, np.ceil(box[3] + bh)))
    none = FlowResult(pts.copy(), np.zeros(len(pts), bool), 0.0)
    if x1 - x0 < 8 or y1 - y0 < 8 or prev.shape != cur.shape:
        return none
    s = min(1.0, max_size / size)
    a, b = prev[y0:y1, x0:x1], cur[y0:y1, x0:x1]
    if s < 1.0:
        dsize = (max(8, round((x1 - x0) * s)), max(8, round((y1 - y0) * s)))
        a = cv2.resize(a, dsize, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, dsize, interpolation=cv2.INTER_AREA)
        s = dsize[0] / float(x1 - x0)
    origin = np.array([x0, y0], np.float64)
    p0 = ((pts - origin) * s).astype(np.float32).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, winSize=(21, 21), maxLevel=3, criteria=crit)  # type: ignore[call-overload]
    if p1 is None:
        return none
    p0b, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, winSize=(21, 21), maxLevel=3, criteria=crit)  # type: ignore[call-overload]
    fb = np.linalg.norm((p0b - p0).reshape(-1, 2), axis=1) / s
    ok = (st1.reshape(-1) == 1) & (st2.reshape(-1) == 1) & (fb <= fb_max * max(1.0, size / 100.0))
    moved = p1.reshape(-1, 2).astype(np.float64) / s + origin
    return FlowResult(moved, ok, float(ok.mean()) if len(ok) else 0.0)


def similarity_from_flow(src: np.ndarray, dst: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    """Robust 2x3 similarity from the consistently tracked points (None if too few)."""
    if int(ok.sum()) < 3:
        return None
    m, _ = cv2.estimateAffinePartial2D(
        src[ok].astype(np.float32), dst[ok].astype(np.float32), method=cv2.RANSAC, ransacReprojThreshold=3.0
    )
    return None if m is None else m.astype(np.float64)
