"""Compositing's cheap paths against the exact ones they stand in for, on a real face
(skimage astronaut, dlib landmarks, enlarged to a 4K-sized face with added grain):

- colour statistics on a regular grid of the selection (``STATS_MAX_PIXELS``) are within
  0.1 L*a*b* units (means; 0.001 in RGB for lct) and 1 % (deviations) of the statistics over
  every selected pixel, and the matched face within 0.001 on average;
- the grain percentile over evenly spaced tiles of blocks (``GRAIN_MAX_BLOCKS``) is within
  5 % of the percentile over every block, per band and channel;
- the warp reads (and cleans) only the source pixels it samples: the same numbers as cleaning
  the whole source first;
- compose_face's foreground outside its work region is the plate, inside it the face.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recast.models.base import SwapResult
from recast.models.swappers.warp_pwa import piecewise_affine, warp_local
from recast.pipeline.color import ColorContext
from recast.pipeline.composite import colormatch, grain
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.matte import MatteOptions, build_matte
from recast.pipeline.faces import create_analyser
from recast.pipeline.types import Face

SCALE = 4  # the astronaut's ~110 px face becomes a ~440 px one, a 4K plate's face


@pytest.fixture(scope="module")
def big_face() -> tuple[np.ndarray, np.ndarray, Face]:
    """(working-space crop, scene-linear crop with grain, face) at SCALE x the photograph."""
    srgb = data.astronaut().astype(np.float32) / 255.0
    face = create_analyser("dlib").analyse(srgb)[0]
    box = crop_box_for(face, srgb.shape[:2], 2.0)
    ys, xs = box.slices()
    crop = srgb[ys, xs]
    big = cv2.resize(crop, (crop.shape[1] * SCALE, crop.shape[0] * SCALE), interpolation=cv2.INTER_CUBIC)
    big = np.clip(big, 0.0, 1.0)
    rng = np.random.default_rng(11)
    colour = ColorContext()
    linear = colour.from_working(big, colour.scene_linear) + rng.normal(0.0, 0.006, big.shape).astype(np.float32)
    f = shift_face(face, -box.x0, -box.y0)
    f.box, f.kps5, f.landmarks = f.box * SCALE, f.kps5 * SCALE, f.landmarks * SCALE
    return big, linear.astype(np.float32), f


@pytest.mark.parametrize("method", ["rct", "lct"])
def test_colour_statistics_on_a_grid_match_every_pixel(method: str, big_face: tuple[np.ndarray, np.ndarray, Face]) -> None:
    work, _, face = big_face
    matte = build_matte(work.shape[:2], face, None, MatteOptions())
    assert int((matte >= 0.5).sum()) > 2 * colormatch.STATS_MAX_PIXELS  # the grid path is taken
    # a "swap": the same face warmer and flatter, so source and plate statistics differ
    src = np.clip(work * np.array([1.1, 0.95, 0.85], np.float32) * 0.8 + 0.1, 0.0, 1.0)
    fast = colormatch.measure_stats(src, work, matte, method, 1.0)
    full = colormatch.measure_stats(src, work, matte, method, 1.0, max_pixels=None)
    assert fast is not None and full is not None
    for a, b in ((fast.src_mean, full.src_mean), (fast.dst_mean, full.dst_mean)):
        tol = 0.1 if method == "rct" else 0.001  # L*a*b* units; RGB in [0, 1]
        assert np.abs(np.subtract(a, b)).max() <= tol
    for a, b in ((fast.src_std, full.src_std), (fast.dst_std, full.dst_std)):
        assert np.abs(np.subtract(a, b) / np.asarray(b)).max() <= 0.01
    # and the matched face: within 0.001 of the exact statistics' result on average
    out_fast = colormatch.apply_stats(src, fast)
    out_full = colormatch.apply_stats(src, full)
    inside = matte > 0.5
    assert np.abs(out_fast - out_full)[inside].mean() <= 0.001


def test_grain_percentile_on_strips_matches_every_block(big_face: tuple[np.ndarray, np.ndarray, Face]) -> None:
    _, linear, face = big_face
    blocks = (linear.shape[0] // 8) * (linear.shape[1] // 8)
    assert blocks > 2 * grain.GRAIN_MAX_BLOCKS  # the strip path is taken
    fast = grain.measure_grain(linear, None).std
    full = grain.measure_grain(linear, None, max_blocks=None).std
    assert full.min() > 0.0
    assert np.abs(fast / full - 1.0).max() <= 0.05
    # inside a face matte as well (the swapped face's own grain is measured this way)
    matte = build_matte(linear.shape[:2], face, None, MatteOptions())
    fast_m = grain.measure_grain(linear, matte, max_blocks=1024).std
    full_m = grain.measure_grain(linear, matte, max_blocks=None).std
    assert np.abs(fast_m / full_m - 1.0).max() <= 0.05
    # a selection under the limit is measured whole: the same numbers
    small = linear[:240, :256]
    assert np.array_equal(grain.measure_grain(small, None).std, grain.measure_grain(small, None, max_blocks=None).std)


def _clean(px: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(px.astype(np.float32)), 0.0, 1.0)


def test_warp_reads_only_what_it_samples() -> None:
    rng = np.random.default_rng(4)
    source = (rng.random((300, 320, 3), dtype=np.float32) * 1.4 - 0.2).astype(np.float32)
    source[::7, ::5, 1] = np.nan  # cleaning matters
    source[3, 4, 0] = np.inf
    ang = np.linspace(0.0, 2.0 * np.pi, 9)[:-1]
    src = np.vstack([np.c_[160 + 40 * np.cos(ang), 150 + 25 * np.sin(ang)], [[160.0, 150.0]]])
    fan = np.array([[i, (i + 1) % 8, 8] for i in range(8)])
    for dst in (src + [30.0, -12.0], (src - 150) * 1.3 + 150, (src - 150) * 0.5 + [40.0, 60.0], src - [150.0, 0.0]):
        whole = piecewise_affine(_clean(source), src, dst, (300, 320), fan)
        part = warp_local(source, src, dst, (300, 320), fan, prepare=_clean)
        sl = part.slices()
        assert np.array_equal(whole.coverage[sl], part.inside) and whole.coverage.sum() == part.inside.sum()
        assert np.array_equal(whole.image[sl][part.inside], part.image[part.inside])


def test_foreground_outside_the_work_region_is_the_plate(big_face: tuple[np.ndarray, np.ndarray, Face]) -> None:
    _, linear, face = big_face
    colour = ColorContext()
    lin = colour.scene_linear
    conv = SpaceConverter(lambda a: colour.to_working(a, lin), lambda a: colour.from_working(a, lin))

    def swap(crop: np.ndarray, f: Face) -> SwapResult:
        return SwapResult(cv2.GaussianBlur(crop, (0, 0), 2.0), None, {})

    comp = compose_face(linear, face, swap, conv, ComposeOptions(), seed=2)
    assert comp.box is not None
    r, b = comp.region, comp.box
    assert r.x0 <= b.x0 and r.y0 <= b.y0 and r.x1 >= b.x1 and r.y1 >= b.y1
    assert r.width * r.height < 0.6 * linear.shape[0] * linear.shape[1]  # the work is the face's, not the crop's
    fg = comp.fg
    outside = np.ones(linear.shape[:2], bool)
    outside[r.slices()] = False
    assert np.array_equal(fg[outside], linear[outside]) and (comp.alpha[outside] == 0).all()
    assert np.array_equal(comp.foreground(b), fg[b.slices()])
    assert np.abs(comp.fg_clean[b.slices()] - linear[b.slices()]).mean() > 1e-3  # the face changed
