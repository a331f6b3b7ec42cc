"""Face analysis speed at 4K and memory over sequence length (dlib backend, CPU).

Prints, from one run: ms per 4K frame per face (detection + landmarks, no embedding),
the embedding cost per face, the 4K / 1K frame-time ratio (detection runs on a fixed
downscale, so 4K costs little more than 1K), the windowed-detection speed-up, and the
peak Python memory after N vs 4N tracked frames.
"""

from __future__ import annotations

import importlib.util
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.stream import FaceStream, StreamOptions


def _t1() -> np.ndarray:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None
    bgr = cv2.imread(str(Path(spec.origin).parent / "data" / "images" / "t1.jpg"))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    base = _t1()  # 1280x886, six faces
    uhd = cv2.resize(base, (3840, 2658), interpolation=cv2.INTER_CUBIC)[249:2409]  # 3840x2160, faces ~330 px
    hd1k = cv2.resize(uhd, (1024, 576), interpolation=cv2.INTER_AREA)
    ana = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=True))
    n4k = len(ana.analyse(uhd, embed=False))
    n1k = len(ana.analyse(hd1k, embed=False))
    t4k = _best_of(lambda: ana.analyse(uhd, embed=False))
    t1k = _best_of(lambda: ana.analyse(hd1k, embed=False))
    t4k_emb = _best_of(lambda: ana.analyse(uhd, embed=True))
    per_face = 1000 * t4k / max(n4k, 1)
    print(f"4K frame (3840x2160), {n4k} faces: {1000 * t4k:.0f} ms/frame, {per_face:.1f} ms per face (no embedding)")
    print(f"embedding: {1000 * (t4k_emb - t4k) / max(n4k, 1):.1f} ms per face")
    print(f"1K frame (1024x576), {n1k} faces: {1000 * t1k:.0f} ms/frame; 4K/1K time ratio {t4k / t1k:.2f}")

    frames = [np.roll(uhd, 4 * i, axis=1) for i in range(8)]

    def run(opts: StreamOptions) -> float:
        """Steady-state seconds per frame: frame 0 (new tracks, embeddings) is not counted."""
        stream = FaceStream(ana, opts)
        stream.process(0, frames[0])
        t0 = time.perf_counter()
        for i, f in enumerate(frames[1:], start=1):
            stream.process(i, f)
        return (time.perf_counter() - t0) / (len(frames) - 1)

    full = run(StreamOptions(full_scan_every=1))
    windowed = run(StreamOptions(full_scan_every=4))
    print(f"tracked 4K sequence, {n4k} faces: full scan every frame {1000 * full:.0f} ms/frame "
          f"({1000 * full / max(n4k, 1):.1f} ms per face), full scan every 4th frame with windows between "
          f"{1000 * windowed:.0f} ms/frame; full/windowed ratio {full / windowed:.2f}")

    small = cv2.resize(base, (640, 443), interpolation=cv2.INTER_AREA)

    def peak(n: int) -> int:
        stream = FaceStream(ana)
        tracemalloc.start()
        for i in range(n):
            stream.process(i, np.roll(small, i % 7, axis=1))
        _, pk = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return pk

    p1, p4 = peak(30), peak(120)
    print(f"peak traced memory: 30 frames {p1 / 1e6:.1f} MB, 120 frames {p4 / 1e6:.1f} MB, ratio {p4 / p1:.2f}")


if __name__ == "__main__":
    main()
