"""Where `recast swap` spends its time: pyinstrument over one run on a 4K plate (dev tool).

Makes the benchmark's 4K half RGBA PIZ plate (--frames, default 6) in a temp dir, runs
``recast swap`` in this process under pyinstrument (main thread: compute; the reader and
writer threads show as waits) and prints the call tree, then the per-stage seconds the
frame records hold (read and write run on their own threads, overlapping compute).
``--job``: ``recast submit`` + ``job run`` with QC instead (what ``job_ratio_4k`` times).
Usage: python benchmarks/profile_swap.py [--frames N] [--width W --height H] [--job]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
from pathlib import Path

import common


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--width", type=int, default=3840)
    ap.add_argument("--height", type=int, default=2160)
    ap.add_argument("--job", action="store_true", help="profile submit + job run with QC (bench_throughput's job figure)")
    args = ap.parse_args()
    import pyinstrument

    with tempfile.TemporaryDirectory(prefix="recast-prof-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        pattern = common.make_plate(root, args.frames, args.width, args.height)
        from recast.pipeline.cli import main as recast
        from recast.pipeline.demo import DemoPlate, reference_for

        ref = reference_for(DemoPlate(pattern, (args.width * 0.36, args.height * 0.46)))
        prof = pyinstrument.Profiler(interval=0.002)
        with contextlib.redirect_stdout(io.StringIO()):
            if args.job:
                from recast.pipeline.jobs.runner import Runner, RunOptions, submit
                from recast.pipeline.jobs.spec import JobSpec
                from recast.pipeline.jobs.store import Store

                store = Store(root / "home" / "recast.db")
                spec = JobSpec.from_dict({"plate": pattern, "actor": actor.name, "out": str(root / "out"),
                                          "settings": {"selection": "reference", "reference": ref}})
                prof.start()
                Runner(store, RunOptions()).run(submit(store, spec))
                prof.stop()
            else:
                prof.start()
                recast(["swap", pattern, "--actor", actor.name, "--out", str(root / "out"), "--selection", "reference",
                        "--reference", ref, "--json"])
                prof.stop()
        print(prof.output_text(unicode=False, show_all=False))
        recs = [json.loads(p.read_text()) for p in sorted((root / "out" / "records").glob("*.json"))]
        keys = ("read", "detect", "swap", "composite", "write", "total")
        print("median seconds per frame from the records:",
              ", ".join(f"{k} {statistics.median(r['timings'].get(k, 0.0) for r in recs):.3f}" for k in keys))


if __name__ == "__main__":
    main()
