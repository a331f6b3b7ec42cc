"""Grain match: measure the plate's noise around the face and regrain the swap.

The noise is measured per channel in two frequency bands (fine: image minus a
sigma-1 blur; medium: sigma-1 blur minus sigma-2.5 blur) with a robust
estimator (a low percentile of 8x8 block deviations) inside the matte, so skin
texture and edges hardly count. A large selection is measured on evenly spaced tiles of
blocks (``GRAIN_MAX_BLOCKS``): every measured block has exactly its full-image value, only
fewer blocks enter the percentile. The swapped face's own remaining noise is measured the same
way; the missing variance per band is synthesised from white noise shaped into
the same bands (amplitudes solved with non-negative least squares against the
measured response of each band filter) and added to the swapped pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from scipy.optimize import nnls

BAND_SIGMAS: tuple[float, ...] = (0.0, 1.0, 2.5)  # band k = blur(s[k]) - blur(s[k+1])
COARSE_CAP = 0.5
GRAIN_BLOCK = 8  # block side of the statistic (px)
GRAIN_MAX_BLOCKS = 4096  # blocks measured at most per image: above it, evenly spaced tiles of them
_BLOCK = GRAIN_BLOCK
_PERCENTILE = 10.0
_MIN_BLOCKS = 6
_TILE = 8  # blocks per side of a measured tile (64 px: small tiles spread over the face)
_TILE_PAD = 16  # px of context around a tile: the widest band filter (sigma 2.5) reaches 10


@dataclass(frozen=True)
class GrainProfile:
    """Robust noise std per band (rows) and channel (columns)."""

    std: np.ndarray  # (bands, channels)

    def to_json(self) -> dict[str, Any]:
        return {"bands": [list(map(float, np.round(r, 7))) for r in self.std]}


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.0:
        return img
    out = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def band_split(img: np.ndarray) -> list[np.ndarray]:
    img = np.ascontiguousarray(img, dtype=np.float32)
    blurred = [_blur(img, s) for s in BAND_SIGMAS]
    return [blurred[i] - blurred[i + 1] for i in range(len(BAND_SIGMAS) - 1)]


def measure_grain(img: np.ndarray, weight: np.ndarray | None = None, max_blocks: int | None = GRAIN_MAX_BLOCKS) -> GrainProfile:
    """Noise profile of ``img`` (h, w, c) where ``weight`` >= 0.5 (everywhere when None).

    Per band and channel: the standard deviation of 8x8 blocks lying inside the
    selection, taking a low percentile over blocks — the flattest blocks are
    noise, the busy ones (eyes, hair, edges) are texture. The same estimator
    calibrates the synthesis, so its bias cancels. More than ``max_blocks`` blocks
    inside (None: no limit): the percentile is taken over evenly spaced tiles of
    ``_TILE`` x ``_TILE`` blocks, filtered together with ``_TILE_PAD`` px of context
    each, so every block measured has the value the whole image gives it (to float rounding).
    """
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = img[..., None]
    sel = np.ones(img.shape[:2], bool) if weight is None else weight >= 0.5
    # keep away from the selection edge, where the band filters see the outside
    sel = cv2.erode(sel.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    n_bands, channels = len(BAND_SIGMAS) - 1, img.shape[2]
    b = _BLOCK
    hb, wb = img.shape[0] // b, img.shape[1] // b
    if hb * wb == 0:
        return GrainProfile(np.zeros((n_bands, channels), np.float32))
    inside = sel[: hb * b, : wb * b].reshape(hb, b, wb, b).all(axis=(1, 3))
    del sel
    n_inside = int(inside.sum())
    if n_inside < _MIN_BLOCKS:
        return GrainProfile(np.zeros((n_bands, channels), np.float32))
    tiles = _tiles(inside, n_inside, max_blocks)
    if tiles is None:
        if not _all_finite(img):  # read-only below: a finite image is not copied
            img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
        out = np.zeros((n_bands, channels), np.float64)
        for c in range(channels):  # a channel and a band at a time: a few single-channel buffers live
            ch = np.ascontiguousarray(img[..., c])
            finer = _blur(ch, BAND_SIGMAS[0])
            for k in range(n_bands):
                coarser = _blur(ch, BAND_SIGMAS[k + 1])
                band = finer - coarser
                std = block_std(band[: hb * b, : wb * b, None], b)[inside]  # (n_blocks, 1)
                out[k, c] = np.percentile(std[:, 0], _PERCENTILE)
                del band
                finer = coarser
        return GrainProfile(out.astype(np.float32))
    mosaic, chosen = _mosaic(img, inside, tiles)
    if not _all_finite(mosaic):  # only what is read is cleaned (a pointwise rule: the same numbers)
        np.nan_to_num(mosaic, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    finer = _blur(mosaic, BAND_SIGMAS[0])
    out = np.zeros((n_bands, channels), np.float64)
    for k in range(n_bands):
        coarser = _blur(mosaic, BAND_SIGMAS[k + 1])
        std = block_std(finer - coarser, b)[chosen]  # (n_blocks, channels)
        out[k] = np.percentile(std, _PERCENTILE, axis=0)
        finer = coarser
    return GrainProfile(out.astype(np.float32))


def _mosaic(img: np.ndarray, inside: np.ndarray, tiles: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The tiles, each with ``_TILE_PAD`` px of context (reflected at the image's edges, as the
    band filters do), stacked into one column, and which of the column's blocks are selected.
    The context keeps every tile's blocks out of its neighbours' reach, so one filter pass
    over the column gives each block the value the whole image gives it (to float rounding)."""
    b, pad = _BLOCK, _TILE_PAD
    side = _TILE * b + 2 * pad
    h, w, channels = img.shape
    mosaic = np.zeros((len(tiles) * side, side, channels), np.float32)
    chosen = np.zeros((len(tiles) * side // b, side // b), bool)
    for i, (r0, r1, c0, c1) in enumerate(tiles):
        y0, y1 = max(r0 * b - pad, 0), min(r1 * b + pad, h)
        x0, x1 = max(c0 * b - pad, 0), min(c1 * b + pad, w)
        part = img[y0:y1, x0:x1]
        top, bottom = pad - (r0 * b - y0), pad - (y1 - r1 * b)
        left, right = pad - (c0 * b - x0), pad - (x1 - c1 * b)
        if top or bottom or left or right:  # at the image's edge: its reflection, as the filters see it
            part = cv2.copyMakeBorder(np.ascontiguousarray(part), top, bottom, left, right, cv2.BORDER_REFLECT)
            part = part.reshape(part.shape[0], part.shape[1], channels)
        mosaic[i * side : i * side + part.shape[0], : part.shape[1]] = part
        q = (i * side + pad) // b
        chosen[q : q + r1 - r0, pad // b : pad // b + c1 - c0] = inside[r0:r1, c0:c1]
    return mosaic, chosen


def _tiles(inside: np.ndarray, n_inside: int, max_blocks: int | None) -> list[tuple[int, int, int, int]] | None:
    """Block ranges (r0, r1, c0, c1) to measure: None for the whole image, or tiles of ``_TILE`` x
    ``_TILE`` blocks holding selected blocks, evenly spaced in raster order (so they stagger over
    the face), as many as bring the count to about ``max_blocks``."""
    hb, wb = inside.shape
    if max_blocks is None or n_inside <= max_blocks:
        return None
    t = _TILE
    tiles = [
        (r, min(r + t, hb), c, min(c + t, wb))
        for r in range(0, hb, t)
        for c in range(0, wb, t)
        if inside[r : r + t, c : c + t].any()
    ]
    want = max(1, min(len(tiles), -(-len(tiles) * max(max_blocks, 1) // n_inside)))
    picks = np.floor((np.arange(want) + 0.5) * len(tiles) / want).astype(int)
    return [tiles[i] for i in picks]


def _all_finite(img: np.ndarray) -> bool:
    """True when no sample is NaN or ±Inf (NaN propagates through min/max: no mask is made)."""
    return img.size == 0 or bool(np.isfinite(img.min()) and np.isfinite(img.max()))


def block_std(img: np.ndarray, block: int) -> np.ndarray:
    """Population std of each ``block`` x ``block`` tile of ``img`` (h, w, c), h and w multiples of it.

    Vectorised: the tiles' means of x and x^2 by an INTER_AREA resize (an exact box mean
    at an integer factor), in float64 so E[x^2] - E[x]^2 keeps the same digits as a
    per-tile ``np.std`` (within 1e-6). Returns (h / block, w / block, c).
    """
    h, w, c = img.shape
    size = (w // block, h // block)
    means = np.empty((size[1], size[0], c))
    sq_means = np.empty((size[1], size[0], c))
    for k in range(c):  # a channel at a time: the float64 temporaries stay one channel big
        x = img[..., k].astype(np.float64)
        means[..., k] = cv2.resize(x, size, interpolation=cv2.INTER_AREA)
        np.multiply(x, x, out=x)
        sq_means[..., k] = cv2.resize(x, size, interpolation=cv2.INTER_AREA)
    return np.sqrt(np.maximum(sq_means - means * means, 0.0))


@lru_cache(maxsize=1)
def _band_response_cached() -> np.ndarray:
    """The band response is a constant of the filters and the estimator: measured once per process."""
    resp = _band_response(np.random.default_rng(12345))
    resp.setflags(write=False)
    return resp


def _band_response(rng: np.random.Generator) -> np.ndarray:
    """R[b, k]: measured variance in band b of unit-variance noise shaped into band k."""
    n = len(BAND_SIGMAS) - 1
    white = rng.standard_normal((160, 160)).astype(np.float32)
    resp = np.zeros((n, n))
    for k, shaped in enumerate(_shape_bands(white)):
        prof = measure_grain(shaped[..., None])
        resp[:, k] = prof.std[:, 0] ** 2
    return resp


def _shape_bands(white: np.ndarray) -> list[np.ndarray]:
    return [_normalised(band) for band in band_split(white)]


def _normalised(band: np.ndarray) -> np.ndarray:
    s = float(band.std()) or 1.0
    return band / s


def _shape_band(white: np.ndarray, k: int) -> np.ndarray:
    """Band ``k`` of ``white``, unit variance: the same numbers as ``_shape_bands(white)[k]``."""
    img = np.ascontiguousarray(white, dtype=np.float32)
    return _normalised(_blur(img, BAND_SIGMAS[k]) - _blur(img, BAND_SIGMAS[k + 1]))


def synthesize_grain(
    hw: tuple[int, int], target: GrainProfile, present: GrainProfile, seed: int
) -> np.ndarray:
    """Noise (h, w, c) that brings ``present`` up to ``target`` per band and channel."""
    h, w = hw
    rng = np.random.default_rng(seed)
    resp = _band_response_cached()
    tgt = target.std.astype(np.float64).copy()
    # skin texture leaks into the coarser bands far more than into the finest one:
    # a coarser band may not exceed COARSE_CAP x the finest (grain clumps up to ~2 px)
    tgt[1:] = np.minimum(tgt[1:], tgt[:1] * COARSE_CAP)
    missing = np.maximum(tgt**2 - present.std.astype(np.float64) ** 2, 0.0)
    channels = target.std.shape[1]
    grain = np.zeros((h, w, channels), dtype=np.float32)
    for c in range(channels):
        if not missing[:, c].any():
            continue
        amp2, _ = nnls(resp, missing[:, c])
        for k, a2 in enumerate(amp2):
            if a2 > 0:  # an independent white field per band, so bands add in variance
                white = rng.standard_normal((h, w), dtype=np.float32)
                grain[..., c] += np.float32(np.sqrt(a2)) * _shape_band(white, k)
    return grain
