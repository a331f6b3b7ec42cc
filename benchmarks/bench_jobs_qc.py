"""QC during a job: frames scored on the write-behind thread as they are written vs all
frames scored at the end of the take.

The same engine job both ways (the demo's actor and 1920x1080 EXR plate, warp backend,
QC with identity), same machine, one run, best of the rounds; prints the job's wall time
each way, the take-end QC time each way, and their ratios.
Usage: .venv/bin/python benchmarks/bench_jobs_qc.py [frames] [rounds]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["RECAST_MODELS"] = str(root / "models")
        from recast.pipeline.demo import DemoOptions, make_actor, make_plate, reference_for
        from recast.pipeline.jobs.runner import Runner, RunOptions, submit
        from recast.pipeline.jobs.spec import JobSpec
        from recast.pipeline.jobs.store import Store

        actor = make_actor(root / "src")
        plate = make_plate(root / "src", DemoOptions(frames=n))
        settings = {"selection": "reference", "reference": reference_for(plate), "mask_source": "auto"}
        store = Store(root / "db" / "recast.db")
        best = {"per_frame": (float("inf"), 0.0), "at_end": (float("inf"), 0.0)}
        for rnd in range(rounds):  # alternate and keep each mode's best: a shared machine is noisy
            for label, per_frame in (("at_end", False), ("per_frame", True)):
                js = JobSpec.from_dict({"plate": plate.pattern, "actor": actor.name, "out": str(root / f"{label}{rnd}"), "settings": settings})
                job = submit(store, js)
                t0 = time.perf_counter()
                Runner(store, RunOptions(score_frames=per_frame)).run(job)
                wall = time.perf_counter() - t0
                entry = next(a for a in reversed(store.audit_log(job)) if a["action"] == "qc")
                qc_end = _seconds_between(store, job, entry)
                if wall < best[label][0]:
                    best[label] = (wall, qc_end)
    (w_end, q_end), (w_pf, q_pf) = best["at_end"], best["per_frame"]
    print(f"frames={n} 1920x1080 best of {rounds}: job wall time: scores at the end {w_end:.1f}s, "
          f"scored per frame {w_pf:.1f}s, ratio {w_end / w_pf:.2f}x")
    print(f"  take-end QC (last frame written -> scored): at the end {q_end:.1f}s, per frame {q_pf:.1f}s, "
          f"ratio {q_end / max(q_pf, 1e-3):.1f}x")


def _seconds_between(store, job: str, qc_entry: dict) -> float:
    """Seconds from the last frame's finish to the take's QC entry in the audit log."""
    from datetime import datetime

    frames = store.frames(job, 1)
    last = max(datetime.fromisoformat(r["updated"]) for r in frames)
    return (datetime.fromisoformat(qc_entry["at"]) - last).total_seconds()


if __name__ == "__main__":
    main()
