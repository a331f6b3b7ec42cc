"""Colour match the swapped face to the plate's face, inside the mask.

- ``rct``: Reinhard colour transfer — per-channel mean/std matched in CIE Lab.
- ``lct``: linear colour transfer — the full RGB covariance matched with a
  symmetric matrix square root (mean + 3x3 transform).
- ``none``: untouched.

``strength`` mixes the matched result with the unmatched one. Statistics are
weighted by the matte (pixels with weight >= 0.5) and returned so the frame
record says what was used; a ``locked`` ``ColourStats`` (from a reference
frame) replaces the measured ones so the grade does not flicker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

_EPS = 1e-4


@dataclass(frozen=True)
class ColourStats:
    method: str
    strength: float
    src_mean: tuple[float, ...]
    src_std: tuple[float, ...]
    dst_mean: tuple[float, ...]
    dst_std: tuple[float, ...]
    src_cov: tuple[tuple[float, ...], ...] | None = None  # lct only
    dst_cov: tuple[tuple[float, ...], ...] | None = None

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
        return out

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
        )


def colour_match(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    method: str = "rct",
    strength: float = 1.0,
    locked: ColourStats | None = None,
) -> tuple[np.ndarray, ColourStats | None]:
    """Match ``src`` (swapped crop, RGB [0,1]) to ``dst`` (plate crop) where ``weight`` >= 0.5.

    Returns the matched crop (same shape, float32, clipped to [0, 1]) and the
    statistics used (None for ``none`` or when the mask is too small).
    """
    if method == "none" or strength <= 0.0:
        return src.astype(np.float32, copy=False), None
    sel = weight >= 0.5
    if int(sel.sum()) < 16:
        return src.astype(np.float32, copy=False), None
    if locked is not None and locked.method != method:
        locked = None
    if method == "rct":
        out, stats = _rct(src, dst, sel, strength, locked)
    elif method == "lct":
        out, stats = _lct(src, dst, sel, strength, locked)
    else:
        raise ValueError(f"unknown colour match method {method!r}")
    if strength < 1.0:
        out = src + (out - src) * strength
    return np.clip(out, 0.0, 1.0).astype(np.float32), stats


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(rgb, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)


def _rct(
    src: np.ndarray, dst: np.ndarray, sel: np.ndarray, strength: float, locked: ColourStats | None
) -> tuple[np.ndarray, ColourStats]:
    s_lab, d_lab = _to_lab(src), _to_lab(dst)
    if locked is None:
        sm, ss = s_lab[sel].mean(axis=0), s_lab[sel].std(axis=0)
        dm, ds = d_lab[sel].mean(axis=0), d_lab[sel].std(axis=0)
        stats = ColourStats("rct", strength, _t(sm), _t(ss), _t(dm), _t(ds))
    else:
        stats = locked
        sm, ss = np.array(locked.src_mean), np.array(locked.src_std)
        dm, ds = np.array(locked.dst_mean), np.array(locked.dst_std)
    out_lab = (s_lab - sm) * (ds / np.maximum(ss, _EPS)) + dm
    out = cv2.cvtColor(out_lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return out, stats


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    vals = np.maximum(vals, _EPS * _EPS)
    p = -0.5 if inverse else 0.5
    return (vecs * vals**p) @ vecs.T


def _lct(
    src: np.ndarray, dst: np.ndarray, sel: np.ndarray, strength: float, locked: ColourStats | None
) -> tuple[np.ndarray, ColourStats]:
    s_pix = src[sel].astype(np.float64)
    d_pix = dst[sel].astype(np.float64)
    if locked is None or locked.src_cov is None or locked.dst_cov is None:
        sm, dm = s_pix.mean(axis=0), d_pix.mean(axis=0)
        scov = np.cov(s_pix, rowvar=False) + np.eye(3) * 1e-6
        dcov = np.cov(d_pix, rowvar=False) + np.eye(3) * 1e-6
        stats = ColourStats(
            "lct", strength, _t(sm), _t(np.sqrt(np.diag(scov))), _t(dm), _t(np.sqrt(np.diag(dcov))),
            tuple(_t(r) for r in scov), tuple(_t(r) for r in dcov),
        )
    else:
        stats = locked
        sm, dm = np.array(locked.src_mean), np.array(locked.dst_mean)
        scov, dcov = np.array(locked.src_cov), np.array(locked.dst_cov)
    # T maps the src covariance onto the dst covariance: T scov T^T = dcov
    s_half = _sqrtm(scov)
    mid = _sqrtm(s_half @ dcov @ s_half)
    s_inv_half = _sqrtm(scov, inverse=True)
    transform = s_inv_half @ mid @ s_inv_half
    flat = src.reshape(-1, 3).astype(np.float64)
    out = (flat - sm) @ transform.T + dm
    return out.reshape(src.shape).astype(np.float32), stats


def _t(v: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(v).ravel())
