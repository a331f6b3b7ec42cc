"""Composite benchmarks, ratios from one run on this machine.

1. Poisson blend: the membrane solved on a reduced grid (what ships) vs the same
   solve at full crop resolution — time ratio and the mean difference it costs.
2. Crop-bounded composite: the whole compose_face (convert, match, matte, blend,
   highlights, grain) on a face crop vs only the colour round trip a whole-frame
   design would pay on a 4K frame.

Run: .venv/bin/python benchmarks/bench_composite.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recast.models.base import SwapResult  # noqa: E402
from recast.pipeline.color import ColorContext  # noqa: E402
from recast.pipeline.composite import blend as blend_mod  # noqa: E402
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face  # noqa: E402
from recast.pipeline.composite.crop import crop_box_for, shift_face  # noqa: E402
from recast.pipeline.composite.matte import MatteOptions, build_matte  # noqa: E402
from recast.pipeline.faces import create_analyser  # noqa: E402


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from skimage import data

    srgb = cv2.resize(data.astronaut().astype(np.float32) / 255.0, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    face = create_analyser("dlib").analyse(srgb)[0]
    box = crop_box_for(face, srgb.shape[:2], 2.0)
    crop = np.ascontiguousarray(srgb[box.slices()])
    fc = shift_face(face, -box.x0, -box.y0)
    alpha = build_matte(crop.shape[:2], fc, None, MatteOptions())
    fg = np.clip(crop * 0.7 + 0.2, 0, 1).astype(np.float32)

    # 1. membrane grid
    full_grid = max(crop.shape[:2])
    shipped = blend_mod._MEMBRANE_GRID
    t_small = best_of(lambda: blend_mod.poisson_blend(fg, crop, alpha))
    small = blend_mod.poisson_blend(fg, crop, alpha)
    blend_mod._MEMBRANE_GRID = full_grid
    t_full = best_of(lambda: blend_mod.poisson_blend(fg, crop, alpha), 1)
    full = blend_mod.poisson_blend(fg, crop, alpha)
    blend_mod._MEMBRANE_GRID = shipped
    inside = alpha > 0
    diff = float(np.abs(small - full)[inside].mean())
    print(f"poisson membrane, crop {crop.shape[1]}x{crop.shape[0]}: full-res solve / {shipped}px grid time ratio "
          f"{t_full / t_small:.1f}x, mean |difference| inside the matte {diff:.4f} (0..1 scale)")

    # 2. crop-bounded cost: same face placed in an HD and a 4K frame
    colour = ColorContext()
    lin = colour.scene_linear
    conv = SpaceConverter(lambda a: colour.to_working(a, lin), lambda a: colour.from_working(a, lin))

    def swap(c: np.ndarray, f) -> SwapResult:
        return SwapResult(cv2.GaussianBlur(c, (0, 0), 2.0))

    frame = np.zeros((2160, 3840, 3), np.float32)
    frame[:1024, :1024] = colour.from_working(srgb, lin)
    fbox = crop_box_for(face, frame.shape[:2], 2.0)
    fcrop = np.ascontiguousarray(frame[fbox.slices()])
    ff = shift_face(face, -fbox.x0, -fbox.y0)
    t_crop = best_of(lambda: compose_face(fcrop, ff, swap, conv, ComposeOptions(), seed=1))
    t_frame = best_of(lambda: conv.from_working(np.clip(conv.to_working(frame), 0, 1)), 1)
    print(f"4K frame: whole compose_face on the face crop vs only the colour round trip of the full frame: "
          f"{t_frame / t_crop:.1f}x cheaper on the crop (crop {fcrop.shape[1]}x{fcrop.shape[0]}, "
          f"{fcrop.nbytes / frame.nbytes:.1%} of the frame's bytes)")


if __name__ == "__main__":
    main()
