"""SSIM on crops with OpenCV box filters (the scikit-image definition, faster).

Same definition as ``skimage.metrics.structural_similarity`` defaults: 7×7
uniform window, sample covariance, K1=0.01, K2=0.03, borders of half a window
excluded, mean over channels. Computed in float64 so it agrees with
scikit-image to ~1e-12 (tests hold it to 1e-4).
"""

from __future__ import annotations

import cv2
import numpy as np

from recast.qc.metrics import Direction, MetricContext, Unavailable

WIN = 7
K1, K2 = 0.01, 0.03


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, win: int = WIN) -> np.ndarray:
    """Per-pixel SSIM (h, w) averaged over channels; borders are not cropped here."""
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if a.shape[0] < win or a.shape[1] < win:
        raise ValueError(f"ssim: crop {a.shape[:2]} smaller than the {win}x{win} window")
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    k = (win, win)
    np_ = win * win
    cov = np_ / (np_ - 1.0)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    acc = np.zeros(x.shape[:2], np.float64)
    for c in range(x.shape[2]):
        xc, yc = np.ascontiguousarray(x[..., c]), np.ascontiguousarray(y[..., c])
        ux = cv2.boxFilter(xc, cv2.CV_64F, k, borderType=cv2.BORDER_REFLECT)
        uy = cv2.boxFilter(yc, cv2.CV_64F, k, borderType=cv2.BORDER_REFLECT)
        uxx = cv2.boxFilter(xc * xc, cv2.CV_64F, k, borderType=cv2.BORDER_REFLECT)
        uyy = cv2.boxFilter(yc * yc, cv2.CV_64F, k, borderType=cv2.BORDER_REFLECT)
        uxy = cv2.boxFilter(xc * yc, cv2.CV_64F, k, borderType=cv2.BORDER_REFLECT)
        # num = (2 ux uy + c1)(2 vxy + c2), den = (ux² + uy² + c1)(vx + vy + c2) with v = cov (E[..] - ux uy):
        # the same operations in the same order (bit-identical), in place on the filtered arrays
        ux2, uy2 = ux * ux, uy * uy
        uxx -= ux2
        uxx *= cov  # vx
        uyy -= uy2
        uyy *= cov  # vy
        uxy -= ux * uy
        uxy *= cov  # vxy
        num = 2 * ux
        num *= uy
        num += c1
        uxy *= 2
        uxy += c2
        num *= uxy
        ux2 += uy2
        ux2 += c1
        uxx += uyy
        uxx += c2
        ux2 *= uxx  # den
        num /= ux2
        acc += num
    return acc / x.shape[2]


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, win: int = WIN) -> float:
    """Mean SSIM over the crop, borders of half a window excluded (as scikit-image)."""
    pad = (win - 1) // 2
    m = ssim_map(a, b, data_range, win)
    return float(m[pad : m.shape[0] - pad, pad : m.shape[1] - pad].mean())


def ssim_outside(a: np.ndarray, b: np.ndarray, matte: np.ndarray, win: int = WIN) -> float | None:
    """Mean SSIM over windows that touch no matte pixel; None if no such window.

    A window whose pixels are the same in ``a`` and ``b`` has SSIM exactly 1 (numerator and
    denominator are then the same products), so when no kept window holds a pixel that differs
    (an untouched plate outside the matte, the normal case) the mean is 1.0 without computing
    the map; otherwise the whole map is computed as always.
    """
    pad = (win - 1) // 2
    kernel = np.ones((win, win), np.uint8)
    touched = cv2.dilate((matte > 0).astype(np.uint8), kernel) > 0
    keep = ~touched
    keep[:pad], keep[-pad:], keep[:, :pad], keep[:, -pad:] = False, False, False, False
    if not keep.any():
        return None
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    differs = a != b  # NaN differs from itself: such windows are computed (and give NaN) as before
    if differs.ndim == 3:
        differs = np.logical_or.reduce([differs[..., c] for c in range(differs.shape[2])])  # (any(axis=-1) is ~10x slower)
    changed = cv2.dilate(differs.astype(np.uint8), kernel) > 0  # windows holding a differing pixel
    if not (changed & keep).any():
        return 1.0
    return float(ssim_map(a, b, 1.0, win)[keep].mean())


class SSIMFace:
    """Structure kept inside the face box (plate vs comp)."""

    name: str = "ssim_face"
    direction: Direction = "higher"
    label: str = "SSIM in face box (plate vs comp)"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        a, b = ctx.face_slice(plate_crop), ctx.face_slice(out_crop)
        if min(a.shape[:2]) < WIN:
            raise Unavailable(f"face box {a.shape[1]}x{a.shape[0]} smaller than the SSIM window")
        return ssim(a, b)


class SSIMOutside:
    """Pixels outside the matte must be untouched: SSIM there is 1.0."""

    name: str = "ssim_outside"
    direction: Direction = "higher"
    label: str = "SSIM outside the matte (must be 1.0)"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        v = ssim_outside(plate_crop, out_crop, ctx.matte)
        if v is None:
            raise Unavailable("matte covers the whole crop")
        return v


