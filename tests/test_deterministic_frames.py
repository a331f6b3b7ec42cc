"""A frame's pixels depend only on the spec and the plate, not on where a run started.

The same engine job is rendered (1) uninterrupted, (2) killed with SIGKILL at several
points (a real ``recast job run`` process, seeds pick how many frames it finishes
first) and resumed with ``recast job resume``, (3) as a farm would: ``recast run-chunk``
over 3 chunks that do not line up with the history blocks, in reverse order. Every comp
must be bit-identical to the uninterrupted run's. The settings shrink the history block
to 4 frames (2 replayed before each) so that the 10-frame shot crosses block edges.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor
from recast.pipeline.plateio import new_spec, read_plate, write_image
from tests.test_job_support import REPO, recast, write_spec

FRAMES = range(1001, 1011)
SETTINGS = {"history_block": 4, "history_frames": 2, "color_smoothing": 0.8}


def _plate(root: Path) -> str:
    """A face moving across the frame (astronaut, linear, shifted 6 px per frame), 384x320 crops."""
    root.mkdir()
    spec = new_spec(384, 320, ["R", "G", "B"], "half", "zip")
    for i, f in enumerate(FRAMES):
        rgb = astronaut_linear(6 * i)[40:360, 40:424]
        write_image(root / f"sh.{f:04d}.exr", rgb, spec)
    return str(root / "sh.####.exr")


def _comps(out: Path) -> dict[int, np.ndarray]:
    return {f: read_plate(out / "comp" / f"sh.{f:04d}.exr").pixels for f in FRAMES}


def _submit(tmp: Path, home: Path, pattern: str, name: str) -> tuple[str, Path]:
    out = tmp / name
    spec = write_spec(tmp / f"{name}.json", plate=pattern, actor="hanks", out=str(out), chunk=2, qc=False,
                      settings=SETTINGS)
    job = recast("submit", str(spec), home=home, check=True).stdout.strip()
    return job, out


def _kill_after(home: Path, job: str, out: Path, done: int) -> None:
    env = {**os.environ, "RECAST_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "recast", "job", "run", job], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    records = out / "records"
    while proc.poll() is None and time.monotonic() < deadline:
        if records.is_dir() and sum(1 for p in records.iterdir() if p.suffix == ".json" and not p.name.startswith(".")) >= done:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture()
def shot(tmp_path: Path) -> dict[str, object]:
    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    pattern = _plate(tmp_path / "plate")
    home = tmp_path / "home"
    job, out = _submit(tmp_path, home, pattern, "straight")
    run = recast("job", "run", job, home=home, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    ref = _comps(out)
    swapped = [f for f in FRAMES if not np.array_equal(ref[f], read_plate(Path(pattern.replace("####", str(f)))).pixels)]
    assert len(swapped) >= 8, f"the face was swapped in only {swapped}"
    return {"pattern": pattern, "home": home, "ref": ref}


def _assert_same(ref: dict[int, np.ndarray], got: dict[int, np.ndarray], how: str) -> None:
    bad = [f for f in FRAMES if not np.array_equal(ref[f], got[f], equal_nan=True)]
    worst = {f: float(np.nanmax(np.abs(ref[f] - got[f]))) for f in bad}
    assert not bad, f"{how}: comps differ from the uninterrupted run at {worst}"


@pytest.mark.parametrize("seed", [3, 8])
def test_killed_and_resumed_renders_the_same_pixels(shot: dict[str, object], tmp_path: Path, seed: int) -> None:
    done = random.Random(seed).randrange(2, 8)
    job, out = _submit(tmp_path, shot["home"], shot["pattern"], f"killed{seed}")  # type: ignore[arg-type]
    _kill_after(shot["home"], job, out, done)  # type: ignore[arg-type]
    res = recast("job", "resume", job, home=shot["home"], timeout=600)  # type: ignore[arg-type]
    assert res.returncode == 0, res.stdout + res.stderr
    _assert_same(shot["ref"], _comps(out), f"killed after {done} frames, resumed")  # type: ignore[arg-type]


def test_farm_chunks_render_the_same_pixels(shot: dict[str, object], tmp_path: Path) -> None:
    job, out = _submit(tmp_path, shot["home"], shot["pattern"], "farm")  # type: ignore[arg-type]
    for chunk in ("1008-1010", "1004-1007", "1001-1003"):  # any order, as a farm schedules them
        res = recast("run-chunk", job, "--frames", chunk, "--no-qc", home=shot["home"], timeout=600)  # type: ignore[arg-type]
        assert res.returncode == 0, res.stdout + res.stderr
    _assert_same(shot["ref"], _comps(out), "3 farm chunks")  # type: ignore[arg-type]


def _history_of(out: Path, frame: int) -> dict[str, object] | None:
    return json.loads((out / "records" / f"{frame}.json").read_text()).get("history")


def test_chunks_in_order_restore_the_stored_state(shot: dict[str, object], tmp_path: Path) -> None:
    """Chunks run one after another (a farm node working through a job, a resume): each starts
    from the temporal state the one before stored after its last frame, replays nothing,
    and renders the same pixels. A plate frame replaced since is noticed: its window replays."""
    job, out = _submit(tmp_path, shot["home"], shot["pattern"], "inorder")  # type: ignore[arg-type]
    # the farm export's default tasks are whole history blocks (4 here): each replays only history_frames
    exp = json.loads(recast("farm", "export", job, "--format", "openjd", "--json", home=shot["home"], check=True).stdout)  # type: ignore[arg-type]
    tasks = json.loads(Path(exp["path"]).read_text())["steps"][0]["parameterSpace"]["taskParameterDefinitions"][0]["range"]
    assert exp["chunk"] == 4 and tasks == ["1001-1004", "1005-1008", "1009-1010"]
    for chunk in ("1001-1003", "1004-1006", "1007-1010"):  # 1004 and 1007 start inside blocks 1001-1004, 1005-1008
        res = recast("run-chunk", job, "--frames", chunk, "--no-qc", home=shot["home"], timeout=600)  # type: ignore[arg-type]
        assert res.returncode == 0, res.stdout + res.stderr
    _assert_same(shot["ref"], _comps(out), "3 farm chunks in order")  # type: ignore[arg-type]
    assert _history_of(out, 1004) == {"window": 1001, "seeded": 1003, "replayed": 0}
    assert _history_of(out, 1007) == {"window": 1003, "seeded": 1006, "replayed": 0}
    assert any((out / "embeddings" / "state").rglob("1006.pkl"))

    # the same plate frame rewritten (new mtime): the stored state after it no longer matches
    src = Path(str(shot["pattern"]).replace("####", "1005"))
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 1_000_000_000))
    job2, out2 = _submit(tmp_path, shot["home"], shot["pattern"], "inorder2")  # type: ignore[arg-type]
    shutil.copytree(out / "embeddings" / "state", out2 / "embeddings" / "state")  # the same spec: the same state key
    res = recast("run-chunk", job2, "--frames", "1007-1010", "--no-qc", home=shot["home"], timeout=600)  # type: ignore[arg-type]
    assert res.returncode == 0, res.stdout + res.stderr
    assert _history_of(out2, 1007) == {"window": 1003, "seeded": 1004, "replayed": 2}
