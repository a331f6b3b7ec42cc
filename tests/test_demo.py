"""``recast demo`` end to end (subprocess): real files, a real swap run as a job, highlights kept, QC done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from recast.pipeline.jobs.store import Store
from recast.pipeline.plateio import read_plate



def _as_installed() -> tuple[list[str], dict[str, str]]:
    """The ``recast`` command as a user runs it: the installed console script (beside this
    Python) and an environment without PYTHONPATH, so nothing resolves through the checkout
    being on the path (QC's default thresholds were once found as the bare package ``qc``,
    which only the checkout's root on sys.path provides: ``make demo`` failed)."""
    script = Path(sys.executable).with_name("recast")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return ([str(script)] if script.is_file() else [sys.executable, "-m", "recast"]), env


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd, env = _as_installed()
    res = subprocess.run(
        [*cmd, "demo", "--out", str(out), "--frames", "3", "--json"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert (s["frames"], s["done"], s["failed"]) == (3, 3, 0)
    # the demo consent is written and labelled as such, and the actor records it
    consent = json.loads((out / "inputs" / "DEMO_CONSENT.json").read_text())
    assert consent["demo"] is True and "DEMO" in consent["label"]
    manifest = json.loads((Path(os.environ["RECAST_MODELS"]) / s["actor"] / "manifest.json").read_text())
    assert "DEMO" in manifest["consent"]["scope"]
    for f in (1001, 1002, 1003):
        plate = read_plate(out / "plate" / f"demo_plate.{f}.exr")
        comp = read_plate(out / "comp" / f"demo_plate.{f}.exr")
        element = read_plate(out / "element" / f"demo_plate_face.{f}.exr")
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        assert plate.display_window == (0, 0, 1920, 1080) and plate.pixel_type == "half"
        assert rec["status"] == "done" and sum(x["swapped"] for x in rec["faces"]) == 1
        x0, y0, x1, y1 = rec["faces"][0]["matte_box"]
        ex, ey, ew, eh = element.data_window
        assert (ex, ey, ex + ew, ey + eh) == (x0, y0, x1, y1)
        assert element.display_window == plate.display_window
        # the plate's specular (> 1.0, on the nose) survives in the comp's face
        face_px = comp.pixels[y0:y1, x0:x1, :3]
        assert plate.pixels[y0:y1, x0:x1, :3].max() > 1.5 and face_px.max() > 1.5
        outside = np.ones(plate.pixels.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(comp.pixels[outside], plate.pixels[outside])
    # a real swap: the comp's face is nearer the actor than the person it replaced
    assert s["identity"], s
    for row in s["identity"]:
        assert row["comp_to_actor"] < row["comp_to_plate"], row
    # it ran as a job in the store, and QC scored every frame
    store = Store(Path(os.environ["RECAST_HOME"]) / "recast.db")
    job = store.get_job(s["job"])
    assert job["status"] == "done" and Path(job["out"]) == out.resolve()
    scores = json.loads((out / "qc" / "scores.json").read_text())
    assert [f["frame"] for f in scores["frames"]] == [1001, 1002, 1003] and scores["shot"] == "demo"
    for f in scores["frames"]:
        assert f["status"] in ("pass", "warn", "fail")
        assert f["metrics"]["ssim_outside"]["value"] == 1.0, f  # nothing changed outside the matte
        assert f["metrics"]["id_actor"]["value"] is not None, f
    stored = store.scores(s["job"], take=1)
    assert sorted(frame for frame, _ in stored) == [1001, 1002, 1003]
    # auto-flags are exactly the frames whose rules failed
    failing = {f["frame"] for f in scores["frames"] if f["status"] == "fail"}
    assert {fl["frame"] for fl in store.flags(s["job"]) if fl["source"] == "auto"} == failing
    assert s["qc"]["fail"] == len(failing) and s["qc"]["frames"] == 3
    # the dailies report (HTML + PDF) and the preview movie
    html = Path(s["qc"]["report"]).read_text()
    assert "<img" in html and s["job"] in html
    if all(f["metrics"]["lpips"]["value"] is None for f in scores["frames"]):  # no AlexNet trunk here
        assert "unavailable (LPIPS AlexNet trunk not found" in html  # said in the summary, not hidden
    assert Path(s["qc"]["pdf"]).read_bytes()[:5] == b"%PDF-"
    with av.open(s["qc"]["movie"]) as movie:
        assert sum(1 for _ in movie.decode(video=0)) == 3


def test_demo_reruns_into_its_own_folder_and_refuses_others(tmp_path: Path) -> None:
    from recast.pipeline.demo import MARKER, prepare_folder
    from recast.pipeline.errors import SpecError

    demo = tmp_path / "demo"
    prepare_folder(demo)
    (demo / "records").mkdir()
    (demo / "records" / "1001.json").write_text("{}")
    (demo / "job.json").write_text("{}")
    prepare_folder(demo)  # a rerun clears the previous demo's files
    assert sorted(p.name for p in demo.iterdir()) == [MARKER]
    other = tmp_path / "shots"
    other.mkdir()
    (other / "keep.exr").write_bytes(b"x")
    try:
        prepare_folder(other)
    except SpecError as exc:
        assert "not a demo folder" in str(exc)
    else:
        raise AssertionError("a non-demo folder was accepted")
    assert (other / "keep.exr").read_bytes() == b"x"
