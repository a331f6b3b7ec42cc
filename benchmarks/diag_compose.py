"""Diagnostic: the cost of ``compose_face`` alone — seconds per face, peak memory above its start, stage profile.

Runs ``recast swap`` in this process on a one-face plate (--width x --height, --frames) and wraps
the engine's ``compose_face``: every call is timed; with --repeat N the first frame's face is
composed N more times (timings only); a thread samples VmRSS every 2 ms for the peak above the
call's start; --profile prints cProfile's top functions over the repeats; --save/--compare write
or check the first face's result (fg, fg_clean, alpha) as .npz. Prints numbers, no targets.
Usage: python benchmarks/diag_compose.py [--width 3840 --height 2160] [--frames 1] [--repeat 4]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import common


def _rss() -> int:
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
    return 0


class _Sampler:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __enter__(self) -> _Sampler:
        self.peak = _rss()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


def _trace_stages(first: dict[str, Any]) -> None:
    """Wrap compose's stages: traced (numpy) MB live at each stage's start and its peak, first face only."""
    import tracemalloc

    from recast.pipeline.composite import compose as mod
    from recast.models.swappers import warp as warp_mod

    lines: list[str] = []
    first["stages"] = lines

    def traced(name: str, fn: Any) -> Any:
        def inner(*a: Any, **k: Any) -> Any:
            if not tracemalloc.is_tracing() or "shape" in first:
                return fn(*a, **k)
            live = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            out = fn(*a, **k)
            cur, peak = tracemalloc.get_traced_memory()
            lines.append(f"{name:28s} live at start {live / 1e6:7.0f} MB, peak {peak / 1e6:7.0f} MB, after {cur / 1e6:7.0f} MB")
            return out

        return inner

    for name in ("build_matte", "colour_match", "blend", "measure_grain", "synthesize_grain", "out_of_range_energy", "_check_swap", "sanitise"):
        setattr(mod, name, traced(name, getattr(mod, name)))
    cls = warp_mod.WarpSwapper
    cls.swap = traced("WarpSwapper.swap", cls.swap)  # type: ignore[method-assign]
    for name in ("_plate_mouth_into", "warp_local", "_mesh_oval", "_skin_mask"):
        setattr(warp_mod, name, traced("  warp." + name, getattr(warp_mod, name)))
    cls._matte = traced("  warp._matte", cls._matte)  # type: ignore[method-assign]
    real = mod.compose_face

    def compose(*a: Any, **k: Any) -> Any:
        if "shape" in first:
            return real(*a, **k)
        tracemalloc.start()
        try:
            out = real(*a, **k)
            lines.append(f"compose_face result {tracemalloc.get_traced_memory()[0] / 1e6:.0f} MB (traced: numpy buffers)")
            return out
        finally:
            tracemalloc.stop()

    mod.compose_face = compose


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--frames", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sort", default="cumulative", help="cProfile sort key (cumulative, tottime)")
    ap.add_argument("--stages", action="store_true", help="tracemalloc: live and peak MB of each stage of the first face")
    ap.add_argument("--save", type=Path)
    ap.add_argument("--compare", type=Path)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="recast-diag-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        pattern = common.make_plate(root, args.frames, args.width, args.height)
        from recast.pipeline import engine
        from recast.pipeline.cli import main as recast
        from recast.pipeline.demo import DemoPlate, reference_for

        from recast.pipeline.composite import compose as compose_mod

        def real(*a: Any, **k: Any) -> Any:
            return compose_mod.compose_face(*a, **k)
        seconds: list[float] = []
        peaks: list[float] = []
        repeats: list[float] = []
        first: dict[str, Any] = {}

        def wrapped(plate_crop: np.ndarray, *a: Any, **k: Any) -> Any:
            with _Sampler() as s:
                start = _rss()
                t = time.perf_counter()
                comp = real(plate_crop, *a, **k)
                seconds.append(time.perf_counter() - t)
            peaks.append((s.peak - start) / 1e6)
            if "shape" not in first:
                first.update(fg=comp.fg, fg_clean=comp.fg_clean, alpha=comp.alpha.copy(), shape=plate_crop.shape, start_mb=start / 1e6)
                prof = cProfile.Profile() if args.profile else None
                for _ in range(args.repeat):
                    crop = plate_crop.copy()
                    t = time.perf_counter()
                    if prof:
                        prof.enable()
                    real(crop, *a, **k)
                    if prof:
                        prof.disable()
                    repeats.append(time.perf_counter() - t)
                if prof:
                    out = io.StringIO()
                    pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(45)
                    first["profile"] = out.getvalue()
            return comp

        engine.compose_face = wrapped  # type: ignore[assignment]
        if args.stages:
            _trace_stages(first)
        ref = reference_for(DemoPlate(pattern, (args.width * 0.36, args.height * 0.46)))
        with contextlib.redirect_stdout(io.StringIO()):
            recast(["swap", pattern, "--actor", actor.name, "--out", str(root / "out"), "--selection", "reference",
                    "--reference", ref, "--json"])
        if "shape" not in first:
            raise SystemExit("no face was composed")
        if "profile" in first:
            print(first["profile"])
        for line in first.get("stages", []):
            print(line)
        print(f"crop {first['shape']}: compose_face {statistics.median(seconds):.3f} s per face (median of {len(seconds)}), "
              f"repeats median {statistics.median(repeats) if repeats else float('nan'):.3f} s, "
              f"peak RSS above the call's start {max(peaks):.0f} MB (RSS at the first call's start {first['start_mb']:.0f} MB)")
        if args.save:
            np.savez(args.save, fg=first["fg"], fg_clean=first["fg_clean"], alpha=first["alpha"])
        if args.compare:
            old = np.load(args.compare)
            for key in ("alpha", "fg_clean", "fg"):
                a, b = old[key], first[key]
                if a.shape != b.shape:
                    print(f"{key}: shape {a.shape} -> {b.shape}")
                    continue
                m = first["alpha"] > 0
                d = np.abs(a.astype(np.float64) - b)[m]
                print(f"{key}: inside the matte max |diff| {d.max():.2e}, mean {d.mean():.2e}, p99 {np.percentile(d, 99):.2e}")


if __name__ == "__main__":
    main()
