"""Shared set-up for the benchmarks: plates made in a temp dir, the demo actor, timing helpers.

Every benchmark prints its figures as ``name: value (target)`` lines (see ``benchmarks/run.py``)
and measures its floor in the same run, interleaved with what it compares (A B A B, medians),
because the machines these run on are shared and noisy.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def line(name: str, value: str, target: str, ok: bool | None) -> str:
    """One figure: ``name: value (target)``, with MISSED when the target is not met."""
    mark = "" if ok is None or ok else "  MISSED"
    return f"{name}: {value} ({target}){mark}"


def emit(name: str, value: str, target: str, ok: bool | None) -> bool:
    print(line(name, value, target, ok), flush=True)
    return ok is not False


def use_home(root: Path) -> None:
    """Keep actors and the job store of the benchmark inside its temp dir."""
    os.environ["RECAST_MODELS"] = str(root / "models")
    os.environ["RECAST_HOME"] = str(root / "home")


def demo_actor(root: Path) -> Any:
    from recast.pipeline.demo import make_actor

    return make_actor(root / "actor_src")


def make_plate(
    root: Path,
    frames: int,
    width: int,
    height: int,
    *,
    channels: tuple[str, ...] = ("R", "G", "B", "A"),
    compression: str = "piz",
    unique: int = 8,
    name: str = "plate",
) -> str:
    """A half-float plate ``<root>/<name>/<name>.####.exr`` with one face of ~0.2 x height.

    The demo's moving-camera plate (t1.jpg face, grain, a specular glint), re-encoded
    with ``channels`` and ``compression``. Only ``unique`` frames are rendered; longer
    plates repeat them (the file sizes and the work per frame stay the same).
    """
    from recast.pipeline.demo import DemoOptions
    from recast.pipeline.demo import make_plate as demo_plate
    from recast.pipeline.plateio import new_spec, read_plate, write_image

    src = root / f"{name}_src"
    made = demo_plate(src, DemoOptions(frames=min(unique, frames), width=width, height=height))
    pattern_dir = root / name
    pattern_dir.mkdir(parents=True, exist_ok=True)
    spec = new_spec(width, height, list(channels), "half", compression, attrs={"recast/colorspace": "ACEScg"})
    first = 1001
    srcs = sorted((src / "plate").glob("*.exr"))
    colour = read_plate(srcs[0]).spec.getattribute("recast/colorspace")
    if colour:
        spec.attribute("recast/colorspace", str(colour))
    for i, path in enumerate(srcs):
        rgb = read_plate(path).pixels[..., :3]
        px = np.empty((height, width, len(channels)), np.float32)
        px[..., :3] = rgb
        if len(channels) > 3:
            px[..., 3:] = 1.0
        write_image(pattern_dir / f"{name}.{first + i:04d}.exr", px, spec)
        path.unlink()
    for i in range(len(srcs), frames):
        os.link(pattern_dir / f"{name}.{first + i % len(srcs):04d}.exr", pattern_dir / f"{name}.{first + i:04d}.exr")
    del made
    return str(pattern_dir / f"{name}.####.exr")


def interleaved(fns: dict[str, Callable[[], float | None]], rounds: int) -> dict[str, float]:
    """Run each function ``rounds`` times, A B A B; the median of each one's seconds.

    A function may return its own seconds (to leave set-up out), else it is timed whole.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            got = fn()
            times[name].append(float(got) if got is not None else time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def io_floor(pattern: str, out_dir: Path) -> float:
    """The I/O floor: OIIO read + write of every frame (same compression, same threads), seconds."""
    from recast.pipeline.plateio import read_plate, write_plate
    from recast.pipeline.sequence import PlateSequence

    seq = PlateSequence.open(pattern)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for f in seq.frames:
        plate = read_plate(seq.path(f))
        write_plate(out_dir / seq.path(f).name, plate)
    return time.perf_counter() - t0


_HWM_TAG = "RECAST_BENCH_VMHWM_KB="
# The child reports its own peak (VmHWM of its address space) as it exits. Not wait4's
# ru_maxrss: Linux folds the parent's RSS at fork into the child's maximum across exec,
# so a benchmark that made an 8K plate first would be charged for it.
_HWM_WRAPPER = (
    "import atexit, sys\n"
    "def _hwm():\n"
    "    for ln in open('/proc/self/status'):\n"
    "        if ln.startswith('VmHWM:'):\n"
    f"            print('{_HWM_TAG}' + ln.split()[1], file=sys.stderr, flush=True)\n"
    "atexit.register(_hwm)\n"
    "from recast.pipeline.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def child_peak_rss(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, float, str]:
    """Run ``argv`` (from :func:`recast_argv`); its exit status, its own peak RSS in bytes and its output tail."""
    import subprocess

    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    text = proc.stdout.decode(errors="replace")
    peaks = [int(ln.split("=", 1)[1]) for ln in text.splitlines() if ln.startswith(_HWM_TAG)]
    peak = peaks[-1] * 1024.0 if peaks else float("nan")
    return proc.returncode, peak, text[-2000:]


def recast_argv(*args: str) -> list[str]:
    """``recast ARGS`` in a fresh interpreter that reports its peak RSS for :func:`child_peak_rss`."""
    return [sys.executable, "-c", _HWM_WRAPPER, *args]


def child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["RECAST_MODELS"] = str(root / "models")
    env["RECAST_HOME"] = str(root / "home")
    return env
