"""Training samples: random affine + random warp + colour, all from one numpy Generator.

- The affine (rotation, scale, shift, horizontal flip) moves input, target, masks alike.
- The random warp (a coarse grid of random offsets, smoothly interpolated) bends the
  INPUT only: the network has to rebuild the unwarped face, which is what teaches an
  autoencoder to produce a face from another person's features.
- Colour (brightness, contrast, saturation, per-channel gain) changes input and target
  alike, so the decoders follow the input's colour instead of memorising it.

Deterministic for a given Generator state: resuming from a checkpoint restores the
Generator and replays the exact same samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recast.models.train.extract import FaceSet


@dataclass(frozen=True)
class AugmentOptions:
    rotate_deg: float = 10.0
    scale: float = 0.05
    shift: float = 0.05
    flip: bool = True
    warp: bool = True
    warp_cells: int = 5
    warp_amount: float = 0.025  # offset std as a fraction of the side
    brightness: float = 0.08
    contrast: float = 0.12
    saturation: float = 0.15
    gain: float = 0.04


@dataclass
class Batch:
    """float32 NCHW arrays in [0, 1]: warped input, target, mask (N,1), eyes/mouth (N,1)."""

    inputs: np.ndarray
    targets: np.ndarray
    masks: np.ndarray
    parts: np.ndarray


def _affine(rng: np.random.Generator, r: int, opt: AugmentOptions) -> tuple[np.ndarray, bool]:
    angle = rng.uniform(-opt.rotate_deg, opt.rotate_deg)
    scale = 1.0 + rng.uniform(-opt.scale, opt.scale)
    tx, ty = rng.uniform(-opt.shift, opt.shift, size=2) * r
    m = cv2.getRotationMatrix2D((r / 2.0, r / 2.0), angle, scale)
    m[:, 2] += (tx, ty)
    return m, bool(opt.flip and rng.random() < 0.5)


def _warp_maps(rng: np.random.Generator, r: int, opt: AugmentOptions) -> tuple[np.ndarray, np.ndarray]:
    n = opt.warp_cells
    grid = np.linspace(0, r - 1, n, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    dx = rng.normal(0.0, opt.warp_amount * r, size=(n, n)).astype(np.float32)
    dy = rng.normal(0.0, opt.warp_amount * r, size=(n, n)).astype(np.float32)
    for d in (dx, dy):  # the border of the square stays put
        d[[0, -1], :] = 0.0
        d[:, [0, -1]] = 0.0
    mx = cv2.resize(gx + dx, (r, r), interpolation=cv2.INTER_CUBIC)
    my = cv2.resize(gy + dy, (r, r), interpolation=cv2.INTER_CUBIC)
    return mx, my


def _colour(rng: np.random.Generator, opt: AugmentOptions) -> tuple[float, float, float, np.ndarray]:
    return (
        rng.uniform(-opt.brightness, opt.brightness),
        1.0 + rng.uniform(-opt.contrast, opt.contrast),
        1.0 + rng.uniform(-opt.saturation, opt.saturation),
        (1.0 + rng.uniform(-opt.gain, opt.gain, size=3)).astype(np.float32),
    )


def _apply_colour(img: np.ndarray, params: tuple[float, float, float, np.ndarray]) -> np.ndarray:
    bright, contrast, sat, gain = params
    grey = img.mean(axis=2, keepdims=True)
    out = grey + (img - grey) * sat
    out = (out - 0.5) * contrast + 0.5 + bright
    return np.clip(out * gain, 0.0, 1.0)


def sample_batch(faces: FaceSet, rng: np.random.Generator, batch: int, opt: AugmentOptions, train: bool = True) -> Batch:
    """``batch`` random samples of ``faces`` (with augmentation when ``train``)."""
    r = faces.resolution
    idx = rng.integers(0, len(faces), size=batch)
    ins, tgs, mks, pts = [], [], [], []
    for i in idx:
        img = faces.images[i].astype(np.float32) / 255.0
        mask = faces.masks[i].astype(np.float32) / 255.0
        part = faces.parts[i].astype(np.float32) / 255.0
        inp = img
        if train:
            m, flip = _affine(rng, r, opt)
            warp = lambda a, f=cv2.INTER_LINEAR: cv2.warpAffine(a, m, (r, r), flags=f, borderMode=cv2.BORDER_REPLICATE)  # noqa: E731
            img, mask, part = warp(img, cv2.INTER_CUBIC), warp(mask), warp(part)
            if flip:
                img, mask, part = img[:, ::-1], mask[:, ::-1], part[:, ::-1]
            img = _apply_colour(np.clip(img, 0.0, 1.0), _colour(rng, opt))
            inp = img
            if opt.warp:
                mx, my = _warp_maps(rng, r, opt)
                inp = cv2.remap(np.ascontiguousarray(img), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ins.append(np.ascontiguousarray(inp))
        tgs.append(np.ascontiguousarray(img))
        mks.append(np.ascontiguousarray(mask))
        pts.append(np.ascontiguousarray(part))
    chw = lambda xs: np.ascontiguousarray(np.stack(xs).transpose(0, 3, 1, 2), np.float32)  # noqa: E731
    return Batch(chw(ins), chw(tgs), np.stack(mks)[:, None].astype(np.float32), np.stack(pts)[:, None].astype(np.float32))
