"""The face matte: landmark hull (∪ the model's own mask), eroded and feathered.

Erode and blur are given in pixels for a face ``MATTE_REFERENCE_SIZE`` pixels
across and scale with the face. The feather is kept inside the (eroded) hull so
nothing outside the face region moves; values below ``ALPHA_FLOOR`` are zeroed
so the matte box is tight and everything outside it stays bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recast.pipeline.outputs import Box
from recast.pipeline.types import Face

MATTE_REFERENCE_SIZE = 256.0
ALPHA_FLOOR = 1.0 / 1024.0


MATTE_SOURCES: tuple[str, ...] = ("auto", "union", "intersect", "hull", "model")


@dataclass(frozen=True)
class MatteOptions:
    erode: float = 4.0  # px at reference face size; negative dilates
    blur: float = 12.0  # feather width in px at reference face size
    forehead: float = 0.22  # raise the brow line by this fraction of the face height
    source: str = "union"  # see build_matte


def face_polygon(face: Face, forehead: float = 0.22) -> np.ndarray:
    """Outline points (N, 2) of the face region in the face's own coordinates.

    Dense landmarks of any layout (dlib 68, insightface 106, ...): their points plus
    the points above the eye line raised by ``forehead`` x the face height along the
    face's own up direction (eyes minus mouth), so rolled heads get a forehead too.
    Five points only: an ellipse fitted to them.
    """
    if face.landmarks is None or len(face.landmarks) < 17:
        return _ellipse_from_kps(face)
    pts = np.asarray(face.landmarks, dtype=np.float64)
    k = np.asarray(face.kps5, dtype=np.float64)
    eyes, mouth = (k[0] + k[1]) / 2.0, (k[3] + k[4]) / 2.0
    up = eyes - mouth
    norm = float(np.hypot(*up))
    if norm < 1e-6:
        return pts
    up /= norm
    above = pts[(pts - eyes) @ up > 0.0]
    if not len(above):
        return pts
    return np.concatenate([pts, above + up * forehead * face.height])


def _ellipse_from_kps(face: Face) -> np.ndarray:
    k = np.asarray(face.kps5, dtype=np.float64)
    eyes = (k[0] + k[1]) / 2.0
    mouth = (k[3] + k[4]) / 2.0
    centre = (eyes + mouth) / 2.0 - (mouth - eyes) * 0.15
    eye_dist = float(np.hypot(*(k[1] - k[0]))) or face.width / 2.5
    em = float(np.hypot(*(mouth - eyes))) or face.height / 3.0
    ang = np.arctan2(k[1][1] - k[0][1], k[1][0] - k[0][0])
    t = np.linspace(0.0, 2.0 * np.pi, 48, endpoint=False)
    ax, ay = eye_dist * 1.05, em * 1.75
    x, y = ax * np.cos(t), ay * np.sin(t)
    ca, sa = np.cos(ang), np.sin(ang)
    return np.stack([centre[0] + x * ca - y * sa, centre[1] + x * sa + y * ca], axis=1)


def build_matte(
    hw: tuple[int, int], face: Face, model_matte: np.ndarray | None = None, opts: MatteOptions = MatteOptions()
) -> np.ndarray:
    """Float32 (h, w) matte in [0, 1] for ``face`` (in these coordinates).

    The region comes from ``opts.source``: ``union`` (default, as the issue asks) = landmark hull ∪ the model's
    mask (mask >= 0.5), ``intersect`` = hull ∩ model, ``hull`` / ``model`` alone,
    ``auto`` = the model's own soft matte when the swapper gives one (it knows
    where its pixels are valid: the warp backend insets its outline and keeps the
    plate's open mouth), else the hull. Then erode/dilate and feather, scaled
    with the face.
    """
    h, w = hw
    source = opts.source
    if source not in MATTE_SOURCES:
        raise ValueError(f"unknown matte source {source!r}")
    mm: np.ndarray | None = None
    if model_matte is not None and source != "hull":
        mm = np.asarray(model_matte, dtype=np.float32)
        if mm.shape != (h, w):
            raise ValueError(f"model matte {mm.shape} does not match crop {(h, w)}")
        mm = unit_weights(mm)
    if mm is not None and source in ("auto", "model"):
        region = mm  # the landmark hull is not needed
    else:
        hull = np.zeros((h, w), dtype=np.uint8)
        poly = face_polygon(face, opts.forehead)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(poly).astype(np.int32).reshape(-1, 1, 2)), 255)
        region = hull.astype(np.float32)
        region /= 255.0
        del hull
        if mm is not None and source == "union":
            np.maximum(region, (mm >= 0.5).astype(np.float32), out=region)
        elif mm is not None:  # intersect
            np.minimum(region, mm, out=region)
    scale = max(face.size, 1.0) / MATTE_REFERENCE_SIZE
    erode_px = opts.erode * scale
    feather_px = max(opts.blur * scale, 0.0)
    # keep the feather inside the region: erode by half the feather as well
    soft = _morph(np.ascontiguousarray(region, dtype=np.float32), erode_px + feather_px / 2.0)
    if feather_px >= 0.5:
        sigma = feather_px / 3.0
        soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT)
    if model_matte is not None and np.may_share_memory(soft, model_matte):
        soft = soft.copy()  # written below: never the caller's own matte
    soft[soft < ALPHA_FLOOR] = 0.0
    soft[soft > 1.0 - ALPHA_FLOOR] = 1.0
    return np.clip(soft, 0.0, 1.0, out=soft)


def unit_weights(arr: np.ndarray) -> np.ndarray:
    """float32 weights finite and in [0, 1]: ``arr`` itself when it already is (NaN propagates
    through min/max: no mask is made), else a cleaned copy (NaN -> 0, clipped)."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.size == 0:
        return arr
    lo, hi = float(arr.min()), float(arr.max())
    if np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0:
        return arr
    return np.clip(np.nan_to_num(arr), 0.0, 1.0)


def _morph(mask: np.ndarray, px: float) -> np.ndarray:
    r = int(round(abs(px)))
    if r == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    if px > 0:
        return cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.dilate(mask, kernel)


def matte_box(matte: np.ndarray) -> Box | None:
    """Tight integer box of the matte's non-zero pixels, or None when empty."""
    on = matte > 0
    rows = np.flatnonzero(on.any(axis=1))  # per row and column: no coordinate list of every pixel
    if rows.size == 0:
        return None
    cols = np.flatnonzero(on[rows[0] : rows[-1] + 1].any(axis=0))
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
