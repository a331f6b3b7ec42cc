"""Jobs: reprocessing a few frames against the full run, and QC from a cold start.

One 200-frame 1920x1080 half RGB zip plate (the demo's), one job run to the end (QC off,
so both sides of the ratio do the same work), then:

- ``reprocess_cost``: ``recast reprocess`` of 5 frames (a new take, engine set-up included)
  ÷ the full run's wall time. Target <= 0.1.
- ``qc_cold_200_hd``: ``recast qc report JOB --out DIR --pdf --rescore`` in a fresh process
  (no per-frame cache, models loaded cold), identity on, HTML + PDF. Target <= 30 s; the
  same run also prints the QC ÷ job-run ratio as the floor it is measured against.

Usage: python benchmarks/bench_jobs.py [--frames N] [--width W --height H]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import common


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="recast-bench-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        pattern = common.make_plate(root, args.frames, args.width, args.height, channels=("R", "G", "B"), compression="zip")
        from recast.pipeline.demo import DemoPlate, reference_for
        from recast.pipeline.jobs.reprocess import reprocess
        from recast.pipeline.jobs.runner import Runner, RunOptions, submit
        from recast.pipeline.jobs.spec import JobSpec
        from recast.pipeline.jobs.store import Store

        reference = reference_for(DemoPlate(pattern, (args.width * 0.36, args.height * 0.46)))
        store = Store(root / "home" / "recast.db")
        spec = JobSpec.from_dict({"plate": pattern, "actor": actor.name, "out": str(root / "job"),
                                  "settings": {"selection": "reference", "reference": reference}})
        runner = Runner(store, RunOptions(qc=False))
        t0 = time.perf_counter()
        job_id = submit(store, spec)
        summary = runner.run(job_id)
        full = time.perf_counter() - t0
        if summary.status != "done":
            raise SystemExit(f"job {job_id}: {summary.status} {summary.failed}")
        first = int(reference.split(":")[0])
        frames = [first + k * (args.frames // 5) for k in range(5)]
        t0 = time.perf_counter()
        re = reprocess(store, runner, job_id, frames, first, {})
        again = time.perf_counter() - t0
        if len(re.done) != 5:
            raise SystemExit(f"reprocess of {frames}: {re.status} {re.failed}")
        # how each reprocessed frame got its temporal state (records: history {window, seeded, replayed})
        hist = [(json.loads((root / "job" / "takes" / f"t{re.take:03d}" / "records" / f"{f}.json").read_text()).get("history") or {})
                for f in frames]
        replayed = sum(int(h.get("replayed") or 0) for h in hist)
        restored = sum(h.get("seeded") is not None for h in hist)
        ok &= common.emit("reprocess_cost", f"{again / full:.3f} (5 of {args.frames} frames {again:.1f} s, full run {full:.1f} s; "
                          f"{restored} restored a stored state, {replayed} frames replayed)",
                          "target <= 0.1", again / full <= 0.1)
        rc, _peak, tail = 0, 0.0, ""
        t0 = time.perf_counter()
        rc, _peak, tail = common.child_peak_rss(
            common.recast_argv("qc", "report", job_id, "--out", str(root / "report"), "--pdf", "--rescore"),
            env=common.child_env(root),
        )
        qc = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"recast qc report failed ({rc}): {tail}")
        ok &= common.emit(f"qc_cold_{args.frames}_{args.height}p",
                          f"{qc:.1f} s (identity on, HTML + PDF; {qc / full:.2f}x the job's own run of {full:.1f} s)",
                          "target <= 30 s", qc <= 30.0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
