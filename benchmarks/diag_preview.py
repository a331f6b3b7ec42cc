"""Where a warm preview's time goes: CPU and wall seconds per engine stage of the service's
preview (``run_preview`` with a kept ``_Warm``, as ``POST /preview`` runs it, without HTTP),
on bench_preview's HD frame. Two cases: the frame asked again (what the service keeps is
used) and the frame's file touched (detected and read again, models warm). CPU is the whole
process's (OIIO's encode/decode threads included). No target: a diagnostic.
Usage: .venv/bin/python benchmarks/diag_preview.py [rounds] [--profile]   (--profile: pyinstrument, dev extra)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from _engine_fixtures import build_tom_hanks_actor  # noqa: E402
from bench_preview import hd_plate  # noqa: E402

from recast.pipeline.engine import Engine  # noqa: E402
from recast.pipeline.service.bridge_api import PreviewBody, _Warm, run_preview  # noqa: E402

STAGES = {"load_frame": "read", "_faces_for": "detect", "_swap_one": "swap + composite", "write_frame": "write", "process_frame": "frame"}


class StageClock:
    """CPU and wall seconds of the engine methods in ``STAGES``, per preview (wrapped on the class)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._saved: dict[str, Callable[..., Any]] = {}

    def __enter__(self) -> StageClock:
        for name, label in STAGES.items():
            self._saved[name] = getattr(Engine, name)
            setattr(Engine, name, self._timed(self._saved[name], label))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._saved.items():
            setattr(Engine, name, fn)

    def _timed(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            c, t = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label].append((time.process_time() - c, time.perf_counter() - t))

        return timed


def measure(rounds: int, before_each: Callable[[], None], preview: Callable[[], None]) -> dict[str, tuple[float, float]]:
    """Median per preview of each stage's summed (CPU, wall) over ``rounds`` previews."""
    per_call: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _ in range(rounds):
        before_each()
        with StageClock() as clock:
            c, t = time.process_time(), time.perf_counter()
            preview()
            clock.seconds["preview (run_preview)"].append((time.process_time() - c, time.perf_counter() - t))
        for label, values in clock.seconds.items():
            per_call[label].append((sum(v[0] for v in values), sum(v[1] for v in values)))
    return {k: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs)) for k, vs in per_call.items()}


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 5
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        actor = build_tom_hanks_actor(root / "models", root)
        frame = root / "plate" / "hd.1001.exr"
        hd_plate(frame)
        warm = _Warm()
        body = PreviewBody(plate=str(root / "plate" / "hd.####.exr"), frame=1001, actor=actor.name, out=str(root / "preview"))

        def preview() -> None:
            res = run_preview(body, warm, [root.resolve()])
            if res["status"] != "done":
                raise SystemExit(f"diag_preview: {res}")

        preview()  # cold: models, actor, detection, plate
        cases = {"asked again": lambda: None, "file touched (detected again)": lambda: os.utime(frame)}
        for case, before in cases.items():
            result = measure(rounds, before, preview)
            print(f"{case} (median of {rounds}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
            for label, (cpu, wall) in result.items():
                print(f"  {label:24s} CPU {cpu:6.3f} s   wall {wall:6.3f} s")
        if "--profile" in sys.argv:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
            for _ in range(rounds):
                preview()
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
