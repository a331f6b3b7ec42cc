"""Review app: next-frame step at 4K once cached (target <= 50 ms), measured in one run.

A 3840x2160 half-float EXR plate (skimage's astronaut, linearised, shifted per
frame) runs as a passthrough job (the comp is written like any job's; the
viewer's work does not depend on what the engine did to it). The review window
opens offscreen at 1600x1000 in side-by-side mode, steps through every frame
once to fill the caches (display proxies on disk, display images in memory;
neighbours are prefetched on worker threads), then steps back and forth. A step
is timed from the key action to the end of a synchronous repaint. Printed: the
median and worst step against the target, their ratio to the floor measured
in the same run (a repaint of the frame already on screen), and the step cost
when only the on-disk proxies are warm (a fresh window). Proxies at the
default 2048 px long side and at full 4K (4096).
Usage: ``.venv/bin/python benchmarks/bench_review.py [--frames N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TARGET_MS = 50.0


def _plate(folder: Path, frames: int, width: int, height: int) -> str:
    from skimage import data as skdata

    from recast.pipeline.plateio import new_spec, write_image

    srgb = cv2.resize(skdata.astronaut().astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_LINEAR)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
    spec = new_spec(width, height, ["R", "G", "B"], "half", "zip")
    for i in range(frames):
        write_image(folder / f"bench.{1001 + i:04d}.exr", np.roll(lin, 24 * i, axis=1), spec)
    return str(folder / "bench.####.exr")


def _wait(app, cond, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("bench_review: the window did not settle in time")
        app.processEvents()
        time.sleep(0.002)


def _window(app, client, job: str, max_side: int):
    from recast.review_ui.window import ReviewWindow

    win = ReviewWindow(client, job, max_side=max_side)
    win.resize(1600, 1000)
    win.show()
    _wait(app, win.settled)
    return win


def _measure(app, client, job: str, max_side: int, rounds: int) -> dict[str, float]:
    win = _window(app, client, job, max_side)
    n = len(win.frames)
    t0 = time.perf_counter()
    for i in range(n):  # warm-up pass: proxies onto disk, display images into memory
        win.goto_index(i)
        _wait(app, win.settled)
    warm_s = time.perf_counter() - t0
    floor = []
    for _ in range(10):
        t = time.perf_counter()
        win.viewer.repaint()
        floor.append(time.perf_counter() - t)
    steps = []
    for r in range(rounds):
        direction = 1 if r % 2 == 0 else -1
        for _ in range(n - 1):
            _wait(app, lambda: win.loader.idle())
            t = time.perf_counter()
            win.step(direction)
            win.viewer.repaint()
            steps.append(time.perf_counter() - t)
            if not win.settled():
                raise SystemExit("bench_review: a step missed the cache (frame not shown at once)")
    win.close()
    # only the disk cache warm: a fresh window, each step waits for its frame
    win = _window(app, client, job, max_side)
    cold = []
    for i in range(1, n):
        t = time.perf_counter()
        win.goto_index(i)
        _wait(app, win.settled)
        cold.append(time.perf_counter() - t)
    win.close()
    return {
        "median": statistics.median(steps) * 1e3,
        "worst": max(steps) * 1e3,
        "floor": statistics.median(floor) * 1e3,
        "disk": statistics.median(cold) * 1e3,
        "warm_s": warm_s,
        "steps": len(steps),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["RECAST_HOME"] = str(base / "home")
        from recast.pipeline.jobs.runner import Runner, RunOptions, submit
        from recast.pipeline.jobs.spec import JobSpec
        from recast.pipeline.jobs.store import Store
        from recast.review_ui.app import qt_app
        from recast.review_ui.client import LocalClient

        (base / "plate").mkdir()
        pattern = _plate(base / "plate", args.frames, 3840, 2160)
        store = Store.open_default()
        job = submit(store, JobSpec.from_dict({"plate": pattern, "out": str(base / "out"), "actor": "bench", "shot": "bench4k",
                                               "processor": "passthrough", "qc": False}))
        Runner(store, RunOptions(qc=False)).run(job)
        app = qt_app(offscreen=True)
        client = LocalClient(reviewer="bench")
        print(f"bench_review: {args.frames} frames 3840x2160 half EXR, window 1600x1000 side-by-side, offscreen")
        missed = False
        for max_side in (2048, 4096):
            m = _measure(app, client, job, max_side, args.rounds)
            miss = m["median"] > TARGET_MS
            missed |= miss
            print(f"review_step_4k_proxy{max_side}: {m['median']:.1f} ms median, worst {m['worst']:.1f} ms over {m['steps']} "
                  f"cached steps; floor (repaint, same run) {m['floor']:.1f} ms, x{m['median'] / max(m['floor'], 1e-6):.2f} "
                  f"(target <= {TARGET_MS:.0f} ms)" + ("  MISSED" if miss else ""))
            print(f"  proxies {max_side} px: step with only the disk cache warm {m['disk']:.0f} ms; "
                  f"first pass (proxies made) {m['warm_s']:.1f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
