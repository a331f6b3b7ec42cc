"""Warp swapper speed per face at several crop sizes (one run, same machine).

Builds a one-image actor (skimage's astronaut) in a temp folder, swaps it onto
a t1.jpg face (insightface package data) resized to each crop size, and prints
milliseconds per face plus the ratios between sizes and against the landmark
fit a caller without 68 points would add. Landmarks are given (as the engine
does), so the timings are the swapper's own work.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.base import ActorModel
from models.swappers.warp import WarpActorBuilder, WarpSwapper
from models.swappers.warp_landmarks import Landmarker
from pipeline.types import Face

SIZES = (256, 512, 1024)
REPEAT = 10


def _t1_face() -> np.ndarray:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None
    bgr = cv2.imread(str(Path(spec.origin).parent / "data" / "images" / "t1.jpg"))
    if bgr is None:
        raise SystemExit("insightface's t1.jpg is missing")
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return img[150:480, 620:950]  # one face with room around it


def _time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (bank images load on first use)
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> int:
    lmk = Landmarker()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        astro = data.astronaut().astype(np.float32) / 255.0
        t0 = time.perf_counter()
        WarpActorBuilder(landmarker=lmk).build(root, [(Path("astronaut.png"), astro)], {})
        build_s = time.perf_counter() - t0
        actor = ActorModel(name="bench", root=root, manifest={"backend": "warp"})
        swapper = WarpSwapper(landmarker=lmk)
        base = _t1_face()
        rows = []
        for size in SIZES:
            crop = np.ascontiguousarray(cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1))
            box, lm, score = lmk.detect(crop)[0]
            face = Face(box=box, score=score, kps5=np.zeros((5, 2)), landmarks=lm, landmark_kind="dlib68")
            kps_only = Face(box=box, score=score, kps5=np.zeros((5, 2)))
            swap_s = _time(partial(swapper.swap, crop, face, actor), REPEAT)
            fit_s = _time(partial(swapper.swap, crop, kps_only, actor), REPEAT)
            rows.append((size, swap_s, fit_s))
    print(f"bank build (1 image, 2 views): {build_s * 1000:.0f} ms")
    print(f"{'crop px':>8} {'swap ms':>9} {'+fit68 ms':>10}")
    for size, swap_s, fit_s in rows:
        print(f"{size:>8} {swap_s * 1000:>9.1f} {fit_s * 1000:>10.1f}")
    small, large = rows[0], rows[-1]
    print(
        f"ratio {large[0]}px / {small[0]}px swap time: {large[1] / small[1]:.2f}x "
        f"(pixel ratio {(large[0] / small[0]) ** 2:.0f}x)"
    )
    for size, swap_s, fit_s in rows:
        print(f"ratio fitting 68 points inside the swap / given landmarks at {size}px: {fit_s / swap_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
