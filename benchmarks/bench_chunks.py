"""Deterministic frames: what a farm pays for chunks, measured (not calculated).

A frame's pixels must not depend on where a run started, so a chunk that starts inside a
history block brings the temporal state to its first frame: from the state an earlier
chunk or run stored after the frame before (``embeddings/state``), else by replaying the
block's earlier frames (computed, not written). One plate (the demo's, 48 frames 640x360
half RGB zip by default, default history settings: block 96, 24 frames replayed before a
block), one engine spec, QC off; then, interleaved A B C A B C, each in fresh processes
as a farm runs them, timed in CPU seconds (user + system of the processes: what a farm
pays, and steadier than wall time on a shared machine; the wall times are printed too):

- single: ``recast job run`` of the whole job in one process (the floor: the same frames
  run in one chunk);
- chunked: ``recast run-chunk JOB --frames ...`` over 3 consecutive chunks, one process
  each, one after the other (each finds the state the one before stored);
- unsaved: the same chunks with nothing stored before each (the job's ``embeddings/state``
  and ``embeddings/history`` removed before every chunk): what parallel farm tasks pay,
  each replaying from its window's start.

``chunk_replay_cost``: (chunked − single) ÷ single, medians. Target <= 0.25. The line
gives both times and the frames the chunks replayed (counted from their records'
``history`` entries). ``chunk_replay_split`` (no target): the extra CPU per extra
process start ((chunked − single) ÷ (chunks − 1): imports, model loads, set-up) and
what replaying costs when nothing is stored (unsaved − chunked), with
``chunk_replay_cost_unsaved`` = (unsaved − single) ÷ single.

The child processes run with Python's bytecode cache (``PYTHONPYCACHEPREFIX`` in the temp
dir, filled by ``compileall`` before timing), as an installed package has its ``.pyc``
files: a shell that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise charge every
process for compiling Recast's sources (~0.8 s CPU each).

Usage: python benchmarks/bench_chunks.py [--frames N] [--chunks K] [--width W --height H] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common


def _run(argv: list[str], env: dict[str, str], wall: list[float]) -> float:
    """CPU seconds (user + system, all threads) ``recast ARGS`` took in a fresh process; its
    wall seconds are appended to ``wall``. SystemExit with its output on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([*common.recast_argv(*argv)], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    wall.append(time.perf_counter() - t0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 4):  # 4: no face swapped (the demo face is found; kept as a guard)
        raise SystemExit(f"recast {' '.join(argv)} failed ({proc.returncode}): {proc.stdout[-1500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _chunks(first: int, n: int, k: int) -> list[str]:
    size = -(-n // k)
    return [f"{a}-{min(a + size, first + n) - 1}" for a in range(first, first + n, size)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--chunks", type=int, default=3)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="recast-bench-") as tmp:
        root = Path(tmp)
        common.use_home(root)
        actor = common.demo_actor(root)
        pattern = common.make_plate(root, args.frames, args.width, args.height, channels=("R", "G", "B"), compression="zip")
        from recast.pipeline.demo import DemoPlate, reference_for
        from recast.pipeline.jobs.runner import submit
        from recast.pipeline.jobs.spec import JobSpec
        from recast.pipeline.jobs.store import Store

        reference = reference_for(DemoPlate(pattern, (args.width * 0.36, args.height * 0.46)))
        store = Store(root / "home" / "recast.db")
        env = common.child_env(root)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached as an installed package has it
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(common.REPO / d) for d in ("recast", "pipeline", "models", "qc"))],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        first = 1001
        ranges = _chunks(first, args.frames, args.chunks)
        made: list[tuple[str, Path]] = []

        def new_job(tag: str) -> str:
            out = root / f"{tag}{len(made)}"
            spec = JobSpec.from_dict({"plate": pattern, "actor": actor.name, "out": str(out), "qc": False,
                                      "settings": {"selection": "reference", "reference": reference}})
            job = submit(store, spec)
            made.append((job, out))
            return job

        walls: dict[str, list[float]] = {"single": [], "chunked": [], "unsaved": []}
        replays: dict[str, list[int]] = {"chunked": [], "unsaved": []}

        def single() -> float:
            return _run(["job", "run", new_job("single"), "--no-qc", "--allow-passthrough"], env, walls["single"])

        def chunks(tag: str, forget: bool) -> float:
            job = new_job(tag)
            out = made[-1][1]
            spent = []
            for r in ranges:
                if forget:  # a parallel farm task: nothing its sibling chunks computed is there yet
                    for sub in ("state", "history"):
                        shutil.rmtree(out / "embeddings" / sub, ignore_errors=True)
                spent.append(_run(["run-chunk", job, "--frames", r, "--no-qc"], env, walls[tag]))
            walls[tag][-len(ranges):] = [sum(walls[tag][-len(ranges):])]
            replays[tag].append(_replayed(out))
            return sum(spent)

        times = common.interleaved(
            {"single": single, "chunked": lambda: chunks("chunked", False), "unsaved": lambda: chunks("unsaved", True)}, args.rounds
        )
        for job, _out in made:  # every frame of every run was done (a failed frame would make the ratio meaningless)
            counts = store.get_job(job)["frames"]
            if counts.get("done") != args.frames:
                raise SystemExit(f"job {job}: frames {json.dumps(counts)}")
        cost = (times["chunked"] - times["single"]) / times["single"]
        unsaved = (times["unsaved"] - times["single"]) / times["single"]
        ok = common.emit(
            "chunk_replay_cost",
            f"{cost:.3f} (CPU: {args.chunks} run-chunk processes {times['chunked']:.1f} s vs one job run "
            f"{times['single']:.1f} s, medians of {args.rounds}; wall {statistics.median(walls['chunked']):.1f} s vs "
            f"{statistics.median(walls['single']):.1f} s; {args.frames} frames {args.width}x{args.height}, chunks {','.join(ranges)}, "
            f"{max(replays['chunked'])} frames replayed at chunk starts)",
            "target <= 0.25; floor: the same frames run in one chunk",
            cost <= 0.25,
        )
        common.emit(
            "chunk_replay_split",
            f"start {(times['chunked'] - times['single']) / max(1, len(ranges) - 1):.2f} s CPU per extra process; "
            f"replay {times['unsaved'] - times['chunked']:.1f} s CPU for {max(replays['unsaved'])} frames replayed when nothing is "
            f"stored; chunk_replay_cost_unsaved {unsaved:.3f} (CPU {times['unsaved']:.1f} s, wall {statistics.median(walls['unsaved']):.1f} s)",
            "no target; parallel farm tasks pay the unsaved figure",
            None,
        )
    return 0 if ok else 1


def _replayed(out: Path) -> int:
    """Frames the chunks replayed (computed without writing) to bring the temporal state to
    their first frames, from the records' ``history`` entries."""
    total = 0
    for path in (out / "records").glob("*.json"):
        rec: dict[str, Any] = json.loads(path.read_text())
        total += int((rec.get("history") or {}).get("replayed") or 0)
    return total


if __name__ == "__main__":
    raise SystemExit(main())
