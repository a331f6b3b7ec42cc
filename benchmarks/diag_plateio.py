"""Plate I/O cost per EXR compression, as ratios to uncompressed, measured in one run.

A 1920x1080 RGBA half plate built from a real photograph (skimage astronaut,
linearised) is written and read back with each lossless compression; the script
prints write time, read time and file size relative to ``none``, plus the cost of
a full-frame OCIO to-working conversion relative to one uncompressed read.
Usage: ``.venv/bin/python benchmarks/bench_plateio.py [--reps N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage import data as skdata
from skimage.transform import resize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

from recast.pipeline.color import ColorContext
from recast.pipeline.plateio import new_spec, read_plate, same_pixels, write_image, write_plate

COMPRESSIONS = ("none", "rle", "zips", "zip", "piz")


def _frame(width: int, height: int) -> np.ndarray:
    srgb = resize(skdata.astronaut().astype(np.float32) / 255.0, (height, width), anti_aliasing=False)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4) * 2.0
    alpha = np.ones((height, width, 1), np.float32)
    return np.concatenate([lin, alpha], axis=2).astype(np.float32)


def _best(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()
    pixels = _frame(args.width, args.height)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for comp in COMPRESSIONS:
            src = base / f"src_{comp}.exr"
            write_image(src, pixels, new_spec(args.width, args.height, ["R", "G", "B", "A"], "half", comp))
            plate = read_plate(src)
            out = base / f"out_{comp}.exr"
            w = _best(lambda out=out, plate=plate: write_plate(out, plate), args.reps)
            r = _best(lambda out=out: read_plate(out), args.reps)
            assert same_pixels(read_plate(out).pixels, plate.pixels), comp
            rows.append((comp, w, r, out.stat().st_size))
        plate = read_plate(base / "src_none.exr")
        cc = ColorContext()
        rgb = plate.rgb()
        cc.to_working(rgb, "lin_rec709")  # build + cache the processor first
        conv = _best(lambda: cc.to_working(rgb, "lin_rec709"), args.reps)
    none_w, none_r, none_size = rows[0][1], rows[0][2], rows[0][3]
    print(f"{args.width}x{args.height} RGBA half, best of {args.reps}; ratios to compression=none")
    print(f"{'compression':<12}{'write x':>9}{'read x':>9}{'size x':>9}")
    for comp, w, r, size in rows:
        print(f"{comp:<12}{w / none_w:>9.2f}{r / none_r:>9.2f}{size / none_size:>9.3f}")
    print(f"OCIO lin_rec709 -> working (full frame) / uncompressed read: {conv / none_r:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
