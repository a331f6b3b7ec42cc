"""Throughput against the I/O floor, measured side by side in one run.

Plate: 3840x2160 half RGBA PIZ (the demo's face, ~475 px, grain and a glint), N frames.

- ``io_ratio_4k``: ``recast swap`` frames/s ÷ the floor's frames/s. The floor is OpenImageIO
  reading and writing the same frames with the same compression and the same thread
  settings (pipeline.plateio.read_plate + write_plate, one frame after another).
- ``job_ratio_4k``: ``recast submit`` + ``job run`` (QC on, identity on) ÷ the same floor.

Both run in this process (one interpreter start for all; imports and model loads of a
command are inside its time), floor and command alternating A B A B; medians.
Usage: python benchmarks/bench_throughput.py [--frames N] [--rounds R] [--width W --height H]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import common


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="recast-bench-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        pattern = common.make_plate(root, args.frames, args.width, args.height)
        from recast.pipeline.cli import main as recast
        from recast.pipeline.demo import DemoPlate, reference_for
        from recast.pipeline.jobs.runner import Runner, RunOptions, submit
        from recast.pipeline.jobs.spec import JobSpec
        from recast.pipeline.jobs.store import Store

        # the face the demo swaps (the plate has others in the background, left untouched)
        reference = reference_for(DemoPlate(pattern, (args.width * 0.36, args.height * 0.46)))
        runs = {"n": 0}

        def out_dir(label: str) -> Path:
            runs["n"] += 1
            return root / f"{label}{runs['n']}"

        def floor() -> float:
            d = out_dir("floor")
            t = common.io_floor(pattern, d)
            shutil.rmtree(d)
            return t

        def swap() -> float:
            d = out_dir("swap")
            t0 = time.perf_counter()
            rc = recast(["swap", pattern, "--actor", actor.name, "--out", str(d), "--selection", "reference",
                         "--reference", reference, "--json"])
            t = time.perf_counter() - t0
            if rc != 0:
                raise SystemExit(f"recast swap failed with exit code {rc}")
            shutil.rmtree(d)
            return t

        store = Store(root / "home" / "recast.db")

        def job() -> float:
            d = out_dir("job")
            spec = JobSpec.from_dict({"plate": pattern, "actor": actor.name, "out": str(d),
                                      "settings": {"selection": "reference", "reference": reference}})
            t0 = time.perf_counter()
            job_id = submit(store, spec)
            summary = Runner(store, RunOptions()).run(job_id)
            t = time.perf_counter() - t0
            if summary.status != "done" or not summary.qc:
                raise SystemExit(f"job {job_id}: {summary.status}, qc {summary.qc_errors or summary.qc}")
            shutil.rmtree(d)
            return t

        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            t = common.interleaved({"floor": floor, "swap": swap, "job": job}, args.rounds)
    n = args.frames
    fps = {k: n / v for k, v in t.items()}
    size = f"{args.width}x{args.height}"
    ok = common.emit(f"io_ratio_{'4k' if args.width == 3840 else size}",
                     f"{fps['swap'] / fps['floor']:.2f} (swap {fps['swap']:.2f} fps, floor {fps['floor']:.2f} fps, {n} frames half RGBA PIZ)",
                     "target >= 0.75", fps["swap"] / fps["floor"] >= 0.75)
    ok &= common.emit(f"job_ratio_{'4k' if args.width == 3840 else size}",
                      f"{fps['job'] / fps['floor']:.2f} (submit + job run with QC {fps['job']:.2f} fps, floor {fps['floor']:.2f} fps)",
                      "target >= 0.6", fps["job"] / fps["floor"] >= 0.6)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
