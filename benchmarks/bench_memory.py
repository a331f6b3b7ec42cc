"""Memory: one 8K frame through the full pipeline, and peak RSS against the shot's length.

- ``mem_8k``: peak RSS of ``recast swap`` (a child process, its own peak from wait4) on one
  7680x4320 half RGBA PIZ frame with the demo face (~950 px). Target <= 1.5 GB. The
  float32 frame alone is 0.53 GB.
- ``length_independence``: peak RSS of ``recast swap`` on 1000 frames ÷ on 100 frames of a
  small plate (640x360). Target <= 1.1.

Usage: python benchmarks/bench_memory.py [--short N --long N] [--skip-8k]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import common

GB = 1e9


def swap_peak(root: Path, pattern: str, out: str, actor: str, reference: str) -> float:
    rc, peak, tail = common.child_peak_rss(
        common.recast_argv("swap", pattern, "--actor", actor, "--out", str(root / out), "--selection", "reference",
                           "--reference", reference, "--json"),
        env=common.child_env(root),
    )
    if rc != 0:
        raise SystemExit(f"recast swap ({out}) failed with exit code {rc}: {tail}")
    return peak


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=int, default=100)
    ap.add_argument("--long", type=int, default=1000)
    ap.add_argument("--skip-8k", action="store_true")
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="recast-bench-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        from recast.pipeline.demo import DemoPlate, reference_for

        if not args.skip_8k:
            w, h = 7680, 4320
            pattern = common.make_plate(root, 1, w, h, name="p8k")
            ref = reference_for(DemoPlate(pattern, (w * 0.36, h * 0.46)))
            peak = swap_peak(root, pattern, "out8k", actor.name, ref)
            frame_gb = w * h * 4 * 4 / GB
            ok &= common.emit("mem_8k", f"{peak / GB:.2f} GB peak RSS (float32 RGBA frame {frame_gb:.2f} GB, {peak / GB / frame_gb:.1f}x)",
                              "target <= 1.5 GB", peak <= 1.5 * GB)
        w, h = 640, 360
        pattern = common.make_plate(root, args.long, w, h, name="small")
        ref = reference_for(DemoPlate(pattern, (w * 0.36, h * 0.46)))
        short_pattern = root / "short"
        short_pattern.mkdir()
        from recast.pipeline.sequence import PlateSequence

        seq = PlateSequence.open(pattern)
        for f in seq.frames[: args.short]:
            (short_pattern / seq.path(f).name).hardlink_to(seq.path(f))
        short = swap_peak(root, str(short_pattern / Path(pattern).name), "short", actor.name, ref)
        long = swap_peak(root, pattern, "long", actor.name, ref)
        ok &= common.emit("length_independence", f"{long / short:.3f} (peak RSS {args.long} frames {long / 1e6:.0f} MB, "
                          f"{args.short} frames {short / 1e6:.0f} MB)", "target <= 1.1", long / short <= 1.1)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
