"""Colour match the swapped face to the plate's face, inside the mask.

- ``rct``: Reinhard colour transfer — per-channel mean/std matched in CIE Lab. An actor
  without colour of its own (a and b flat) also takes the plate skin's chroma along its
  shading (``dst_chroma_slope``).
- ``lct``: linear colour transfer — the full RGB covariance matched with a
  symmetric matrix square root (mean + 3x3 transform).
- ``none``: untouched.

``strength`` mixes the matched result with the unmatched one. Statistics are
measured inside the matte (pixels with weight >= 0.5; above ``STATS_MAX_PIXELS`` of them, on
an even grid of every n-th row and column: means and deviations need no more) and returned so the frame
record says what was used. Over a sequence they can be smoothed per track
(``ColourStats.mixed``, a running average) so the grade does not flicker, or
``locked`` to a reference frame's statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

_EPS = 1e-4
STATS_MAX_PIXELS = 32768  # selected pixels measured at most: a larger selection is sampled on a regular grid
_LAB_STD_FLOOR = np.array([1.0, 1.5, 1.5])  # L, a, b units: below this a source channel counts as flat
# rct with a detail scale: an actor lit harder than the plate has its lightness spread cut to
# the plate's (the scale below 1); only the broad shading takes all of the cut, the fine
# detail (eyes, lids, lashes, lips, skin texture) keeps at least this share of its contrast
DETAIL_KEEP = 0.6
# rct: the most the actor's a and b deviations are scaled by (see apply_stats)
CHROMA_GAIN_MAX = 1.0
# rct, an actor without colour (both a and b under the floor: a black-and-white photograph):
# the plate skin's chroma follows its shading (shade warmer and deeper than the lit side), so
# the actor's a/b are given the plate's, as a line in L fitted over the plate's skin (slopes
# clamped to this many a/b units per L unit; a flat plate gives none)
CHROMA_SLOPE_MAX = 1.0
_CHROMA_FIT_MIN_L_STD = 1.0  # L units: a plate skin flatter than this has no slope to fit
_CHROMA_REACH = 1.5  # the line is followed this many of the plate skin's L deviations either side of its mean
Matrix = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class ColourStats:
    method: str
    strength: float
    src_mean: tuple[float, ...]
    src_std: tuple[float, ...]
    dst_mean: tuple[float, ...]
    dst_std: tuple[float, ...]
    src_cov: Matrix | None = None  # lct only
    dst_cov: Matrix | None = None
    dst_chroma_slope: tuple[float, float] | None = None  # rct: the plate skin's a, b per unit of L

    @property
    def src_chroma_flat(self) -> bool:
        """rct: the source has no colour of its own (a and b both under the floor)."""
        return self.method == "rct" and all(self.src_std[i] < _LAB_STD_FLOOR[i] for i in (1, 2))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "strength": round(self.strength, 4),
            "src_mean": [round(v, 6) for v in self.src_mean],
            "src_std": [round(v, 6) for v in self.src_std],
            "dst_mean": [round(v, 6) for v in self.dst_mean],
            "dst_std": [round(v, 6) for v in self.dst_std],
        }
        if self.src_cov is not None and self.dst_cov is not None:
            out["src_cov"] = [[round(v, 8) for v in row] for row in self.src_cov]
            out["dst_cov"] = [[round(v, 8) for v in row] for row in self.dst_cov]
        if self.dst_chroma_slope is not None:
            out["dst_chroma_slope"] = [round(v, 6) for v in self.dst_chroma_slope]
        return out

    def mixed(self, previous: ColourStats, keep: float) -> ColourStats:
        """Running average: ``keep`` of ``previous`` + ``1 - keep`` of these statistics."""
        if previous.method != self.method or not 0.0 < keep < 1.0:
            return self

        def mix(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
            return tuple(keep * x + (1.0 - keep) * y for x, y in zip(a, b, strict=True))

        def mix_m(a: Matrix | None, b: Matrix | None) -> Matrix | None:
            if a is None or b is None:
                return b
            return tuple(mix(ra, rb) for ra, rb in zip(a, b, strict=True))

        slope = self.dst_chroma_slope
        if slope is not None and previous.dst_chroma_slope is not None:
            ka, kb = mix(previous.dst_chroma_slope, slope)
            slope = (ka, kb)
        return ColourStats(
            self.method, self.strength,
            mix(previous.src_mean, self.src_mean), mix(previous.src_std, self.src_std),
            mix(previous.dst_mean, self.dst_mean), mix(previous.dst_std, self.dst_std),
            mix_m(previous.src_cov, self.src_cov), mix_m(previous.dst_cov, self.dst_cov),
            slope,
        )

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ColourStats:
        def vec(key: str) -> tuple[float, ...]:
            v = [float(x) for x in d[key]]
            if len(v) != 3:
                raise ValueError(f"color_match.{key}: expected 3 values")
            return tuple(v)

        def mat(key: str) -> tuple[tuple[float, ...], ...] | None:
            if d.get(key) is None:
                return None
            return tuple(tuple(float(x) for x in row) for row in d[key])

        return cls(
            method=str(d["method"]),
            strength=float(d["strength"]),
            src_mean=vec("src_mean"),
            src_std=vec("src_std"),
            dst_mean=vec("dst_mean"),
            dst_std=vec("dst_std"),
            src_cov=mat("src_cov"),
            dst_cov=mat("dst_cov"),
            dst_chroma_slope=_slope_json(d.get("dst_chroma_slope")),
        )


def colour_match(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    method: str = "rct",
    strength: float = 1.0,
    locked: ColourStats | None = None,
    smooth: Callable[[ColourStats], ColourStats] | None = None,
    detail_sigma: float | None = None,
) -> tuple[np.ndarray, ColourStats | None]:
    """Match ``src`` (swapped crop, RGB [0,1]) to ``dst`` (plate crop) where ``weight`` >= 0.5.

    ``locked`` statistics replace the measured ones; otherwise ``smooth`` (e.g. a
    per-track running average) may adjust them before they are applied. Returns
    the matched crop (float32, clipped to [0, 1]) and the statistics used (None
    for ``none`` or when the mask is too small). ``detail_sigma`` (px; rct): see
    :func:`apply_stats`.
    """
    stats = colour_stats(src, dst, weight, method, strength, locked, smooth)
    if stats is None:
        return src.astype(np.float32, copy=False), None
    out = np.asarray(apply_stats(src, stats, detail_sigma), dtype=np.float32)
    if strength < 1.0:
        out -= src
        out *= np.float32(strength)
        out += src
    return np.clip(out, 0.0, 1.0, out=out), stats


def colour_stats(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    method: str = "rct",
    strength: float = 1.0,
    locked: ColourStats | None = None,
    smooth: Callable[[ColourStats], ColourStats] | None = None,
) -> ColourStats | None:
    """The statistics :func:`colour_match` applies (``smooth`` called as it calls it), without
    applying them: a replayed frame advances the colour smoothing this way."""
    if method not in ("rct", "lct", "none"):
        raise ValueError(f"unknown colour match method {method!r}")
    if method == "none" or strength <= 0.0:
        return None
    usable = locked is not None and locked.method == method and (method == "rct" or locked.src_cov is not None)
    if usable:
        return locked
    stats = measure_stats(src, dst, weight, method, strength)
    if stats is not None and smooth is not None:
        stats = smooth(stats)
    return stats


def measure_stats(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    method: str,
    strength: float,
    max_pixels: int | None = STATS_MAX_PIXELS,
) -> ColourStats | None:
    """Statistics of ``src`` and ``dst`` inside the mask (None when under 16 pixels).

    More than ``max_pixels`` selected (None: no limit): every n-th row and column of the
    selection is measured, n the smallest that brings it to about ``max_pixels``
    (decimation, not an area average, so deviations are not smoothed away).
    """
    sel = weight >= 0.5
    n = int(sel.sum())
    if n < 16:
        return None
    if max_pixels is not None and n > max_pixels:
        step = int(np.ceil(np.sqrt(n / max(max_pixels, 16))))
        sub = sel[::step, ::step]
        if int(sub.sum()) >= 16:
            sel, src, dst = sub, src[::step, ::step], dst[::step, ::step]
    if method == "rct":
        # only the selected pixels are converted (a pointwise transform: the same numbers, a fraction of the memory)
        s_lab, d_lab = _to_lab(src[sel][None])[0], _to_lab(dst[sel][None])[0]
        return ColourStats(
            "rct", strength, _t(s_lab.mean(0)), _t(s_lab.std(0)), _t(d_lab.mean(0)), _t(d_lab.std(0)),
            dst_chroma_slope=chroma_slope(d_lab),
        )
    s_pix, d_pix = src[sel].astype(np.float64), dst[sel].astype(np.float64)
    scov = np.cov(s_pix, rowvar=False) + np.eye(3) * 1e-6
    dcov = np.cov(d_pix, rowvar=False) + np.eye(3) * 1e-6
    return ColourStats(
        "lct", strength, _t(s_pix.mean(0)), _t(np.sqrt(np.diag(scov))), _t(d_pix.mean(0)), _t(np.sqrt(np.diag(dcov))),
        tuple(_t(r) for r in scov), tuple(_t(r) for r in dcov),
    )


def apply_stats(src: np.ndarray, stats: ColourStats, detail_sigma: float | None = None) -> np.ndarray:
    """The full-strength transfer described by ``stats`` applied to ``src`` (unclipped).

    ``detail_sigma`` (rct, px): where the lightness is scaled down (the actor's skin spread
    wider than the plate's: harder light), the lightness is split at this Gaussian scale and
    only its broad part takes the whole scale; the detail keeps ``DETAIL_KEEP`` of its
    contrast at least (the features stay as legible as the actor's). None: one scale."""
    sm, dm = np.array(stats.src_mean), np.array(stats.dst_mean)
    if stats.method == "rct":
        ss, ds = np.array(stats.src_std), np.array(stats.dst_std)
        # a flat source channel (a greyscale actor's a/b) must not amplify noise into colour
        scale = ds / np.maximum(ss, _LAB_STD_FLOOR)
        # the actor's own chroma variation (lips, cheeks, shading) is never amplified: a plate
        # skin measured more varied in a and b (a JPEG's chroma, a warm light's shading) scaled
        # a colour actor's by 3-4x, green skin with magenta lips and cheeks (t1.jpg's faces
        # with skimage's astronaut as the actor); a flatter plate still tones it down
        scale[1:] = np.minimum(scale[1:], CHROMA_GAIN_MAX)
        lab = _to_lab(src)  # float32 in place: no float64 crop-sized temporaries
        detail = None
        if detail_sigma is not None and detail_sigma > 0.0 and scale[0] < DETAIL_KEEP:
            lightness = lab[..., 0]
            detail = lightness - cv2.GaussianBlur(lightness, (0, 0), float(detail_sigma))
        lab -= sm.astype(np.float32)
        lab *= scale.astype(np.float32)
        lab += dm.astype(np.float32)
        if detail is not None:  # the detail's share above the broad scale, added back
            detail *= np.float32(DETAIL_KEEP - scale[0])
            lab[..., 0] += detail
        if stats.src_chroma_flat and stats.dst_chroma_slope is not None:
            # no colour of its own: the plate skin's chroma at each pixel's matched lightness
            # within the plate skin's own range of lightness: darker features (brows, lashes,
            # the mouth) are not given an extrapolated colour
            reach = np.float32(_CHROMA_REACH * max(float(ds[0]), _CHROMA_FIT_MIN_L_STD))
            shade = np.clip(lab[..., 0] - np.float32(dm[0]), -reach, reach)
            for i, k in ((1, stats.dst_chroma_slope[0]), (2, stats.dst_chroma_slope[1])):
                lab[..., i] += np.float32(k) * shade
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    if stats.src_cov is None or stats.dst_cov is None:
        raise ValueError("lct statistics need covariances")
    scov, dcov = np.array(stats.src_cov), np.array(stats.dst_cov)
    # T maps the src covariance onto the dst covariance: T scov T^T = dcov
    s_half = _sqrtm(scov)
    s_inv_half = _sqrtm(scov, inverse=True)
    transform = s_inv_half @ _sqrtm(s_half @ dcov @ s_half) @ s_inv_half
    # float32: the transform is 3x3, the crop is large (no float64 crop-sized temporaries)
    out = np.asarray(src, dtype=np.float32).reshape(-1, 3) - sm.astype(np.float32)
    out = out @ transform.T.astype(np.float32)
    out += dm.astype(np.float32)
    return out.reshape(src.shape)


def chroma_slope(lab: np.ndarray) -> tuple[float, float] | None:
    """Least-squares slopes of a and b on L over ``lab`` pixels (N x 3), each clamped to
    +-``CHROMA_SLOPE_MAX``; None when L barely varies (nothing to fit)."""
    pix = np.asarray(lab, np.float64).reshape(-1, 3)
    if len(pix) < 16:
        return None
    centred = pix - pix.mean(0)
    var_l = float(np.mean(centred[:, 0] ** 2))
    if var_l < _CHROMA_FIT_MIN_L_STD**2:
        return None
    k = np.clip(centred[:, 1:].T @ centred[:, 0] / (len(pix) * var_l), -CHROMA_SLOPE_MAX, CHROMA_SLOPE_MAX)
    return float(k[0]), float(k[1])


def _slope_json(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    v = [float(x) for x in value]
    if len(v) != 2:
        raise ValueError("color_match.dst_chroma_slope: expected 2 values")
    return v[0], v[1]


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(rgb, 0.0, 1.0).astype(np.float32, copy=False), cv2.COLOR_RGB2Lab)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, _EPS * _EPS)
    p = -0.5 if inverse else 0.5
    return (vecs * vals**p) @ vecs.T


def _t(v: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(v).ravel())
