"""``make bench``: every benchmarks/bench_*.py in turn, one line per figure, non-zero on a miss.

Each benchmark makes its own plates in a temp dir, measures its floor in the same run and
prints its figures as ``name: value (target)``; a missed target adds ``MISSED`` and makes
the benchmark exit non-zero. Lines in another shape are shown indented under the
benchmark's name (a ``: MISSES`` in them counts as a miss too). This driver runs them one after another (each in its own
process: memory figures need a clean peak), prints their figure lines as they come, the
placeholders of figures whose benchmark does not exist yet, and a last line with the count
of misses. Exit status: 0 when every target held and every benchmark ran, else 1.

Usage: python benchmarks/run.py [--quick] [--only NAME ...]
  --quick: small sizes for a smoke run (the figures then say nothing about the targets).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE = re.compile(r"^[a-z0-9_]+: .+ \(.*target.*\)( +MISSED)?$|^[a-z0-9_]+: n/a \(.+\)$")

QUICK_ARGS = {
    "bench_throughput": ["--frames", "4", "--rounds", "1", "--width", "1280", "--height", "720"],
    "bench_memory": ["--short", "5", "--long", "20", "--skip-8k"],
    "bench_jobs": ["--frames", "12", "--width", "960", "--height", "540"],
    "bench_chunks": ["--frames", "12", "--rounds", "1", "--width", "320", "--height", "180"],
}

# figures another benchmark will measure once what it needs exists
PLACEHOLDERS = {
    "bench_review": "review_step_4k: n/a (needs the review app) (target <= 50 ms per cached 4K frame)",
    "bench_preview": "preview_frame_hd: n/a (needs the bridge) (target <= 2 s per warm HD frame)",
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", help="benchmark names (bench_throughput, ...)")
    args = ap.parse_args()
    env = dict(os.environ)
    repo = str(HERE.parent)
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
    failed: list[str] = []
    missed = 0
    for script in scripts:
        t0 = time.perf_counter()
        extra = QUICK_ARGS.get(script.stem, []) if args.quick else []
        proc = subprocess.Popen([sys.executable, str(script), *extra], cwd=repo, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate()
        lines = [ln for ln in out.splitlines() if ln.strip()]
        for ln in lines:  # figure lines as they are; a benchmark's other lines indented under its name
            print(ln.strip() if FIGURE.match(ln.strip()) else f"  | {script.stem}: {ln.strip()}", flush=True)
            missed += ln.rstrip().endswith("MISSED") or ": MISSES" in ln
        if proc.returncode != 0 and not any(ln.rstrip().endswith("MISSED") for ln in lines):
            tail = " ".join((err or out).strip().splitlines()[-1:]) or f"exit code {proc.returncode}"
            print(f"{script.stem}: failed ({tail})", flush=True)
            failed.append(script.stem)
        print(f"  [{script.stem}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    for name, text in PLACEHOLDERS.items():
        if not (HERE / f"{name}.py").is_file() and not args.only:
            print(text)
    print(f"bench: {missed} target(s) missed, {len(failed)} benchmark(s) failed" + (" (quick sizes: not the targets' sizes)" if args.quick else ""))
    return 0 if not missed and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
