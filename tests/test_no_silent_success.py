"""Bad plates never exit 0 silently (real subprocesses, real files).

- a plate without colour channels (Z only) is refused at set-up with one line, and
  ``plate check`` says it is not clean; ``submit`` refuses it too;
- a grey 8-bit PNG plate is analysed as grey (dlib finds the face) and the comp keeps
  its single channel;
- a gap and a frame of another size fail exactly those frames (exit 1, the summary
  names them, no comp written for them); ``--missing skip|black`` and ``--frames`` are
  the explicit ways out;
- no face swapped in any frame: ``swap`` and ``job run`` exit 4 unless
  ``--allow-passthrough``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from _engine_fixtures import build_tom_hanks_actor
from recast.pipeline.errors import EXIT_NO_SWAP, SpecError
from recast.pipeline.jobs.runner import submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.pipeline.plateio import read_plate, write_image
from tests.test_job_support import recast, write_spec


def _exr(path: Path, px: np.ndarray, channels: tuple[str, ...]) -> None:
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], len(channels), oiio.HALF)
    spec.channelnames = channels
    write_image(path, px, spec)


def _noise(w: int, h: int, c: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


@pytest.fixture()
def actor(tmp_path: Path) -> str:
    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    return "hanks"


def test_plate_without_colour_is_refused_everywhere(tmp_path: Path, actor: str) -> None:
    plates = tmp_path / "z"
    plates.mkdir()
    for f in (1, 2):
        _exr(plates / f"depth.{f:04d}.exr", _noise(32, 24, 1, f) * 100, ("Z",))
    pattern = str(plates / "depth.####.exr")
    res = recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "out"))
    assert res.returncode == 2, res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(lines) == 1 and "no colour channels" in lines[0] and "Z" in lines[0], res.stderr
    assert not (tmp_path / "out" / "comp").exists()
    chk = recast("plate", "check", pattern, "--json")
    assert chk.returncode == 1 and json.loads(chk.stdout)["clean"] is False
    assert "no colour channels" in json.loads(chk.stdout)["no_colour"]
    store = Store(tmp_path / "db.db")
    with pytest.raises(SpecError, match="spec.plate: .*no colour channels"):
        submit(store, JobSpec.from_dict({"plate": pattern, "actor": actor, "out": str(tmp_path / "job")}))


def test_grey_png_plate_is_swapped_in_its_one_channel(tmp_path: Path, actor: str) -> None:
    from skimage import data

    plates = tmp_path / "grey"
    plates.mkdir()
    grey = (data.astronaut() @ np.array([0.2126, 0.7152, 0.0722])).astype(np.uint8)
    out = oiio.ImageOutput.create(str(plates / "grey.0001.png"))
    out.open(str(plates / "grey.0001.png"), oiio.ImageSpec(512, 512, 1, oiio.UINT8))
    out.write_image(grey[..., None])
    out.close()
    res = recast("swap", str(plates / "grey.####.png"), "--actor", actor, "--out", str(tmp_path / "out"), "--json")
    assert res.returncode == 0, res.stderr + res.stdout
    assert json.loads(res.stdout)["done"] == 1
    rec = json.loads((tmp_path / "out" / "records" / "0001.json").read_text())
    assert rec["status"] == "done" and rec["faces"] and rec["faces"][0]["swapped"]
    comp = read_plate(rec["comp"])
    assert comp.channel_names == read_plate(plates / "grey.0001.png").channel_names == ["Y"]


def _gappy_plate(root: Path) -> str:
    """Frames 1, 3, 4, 5 of a 40x30 RGB plate with no face; 2 is missing, 4 is 20x15."""
    root.mkdir()
    for f in (1, 3, 5):
        _exr(root / f"gap.{f:04d}.exr", _noise(40, 30, 3, f), ("R", "G", "B"))
    _exr(root / "gap.0004.exr", _noise(20, 15, 3, 4), ("R", "G", "B"))
    return str(root / "gap.####.exr")


def test_gap_and_odd_frame_fail_those_frames(tmp_path: Path, actor: str) -> None:
    pattern = _gappy_plate(tmp_path / "gap")
    out = tmp_path / "out"
    res = recast("swap", pattern, "--actor", actor, "--out", str(out), "--json")
    assert res.returncode == 1, res.stderr
    s = json.loads(res.stdout)
    assert s["failed_frames"] == [2, 4] and s["frames"] == 5
    errs = {e["frame"]: e["error"] for e in s["errors"]}
    assert "missing on disk" in errs[2] and "20x15 differs from the sequence's 40x30" in errs[4]
    assert sorted(p.name for p in (out / "comp").iterdir()) == ["gap.0001.exr", "gap.0003.exr", "gap.0005.exr"]
    text = recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "o2"))
    assert text.returncode == 1 and "failed frames: 2,4" in text.stdout

    # the explicit ways out: skip the gap, black for the gap, --frames around the odd frame
    skip = recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "o3"), "--frames", "1-3",
                  "--missing", "skip", "--allow-passthrough", "--json")
    assert skip.returncode == 0, skip.stderr
    assert json.loads(skip.stdout)["skipped_missing"] == [2] and json.loads(skip.stdout)["frames"] == 2
    black = recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "o4"), "--frames", "1-3",
                   "--missing", "black", "--allow-passthrough", "--json")
    assert black.returncode == 0, black.stderr
    comp2 = read_plate(tmp_path / "o4" / "comp" / "gap.0002.exr")
    assert comp2.pixels.shape == (30, 40, 3) and not comp2.pixels.any()
    assert json.loads(black.stdout)["black"] == [2]


def test_no_face_swapped_anywhere_has_its_own_exit_code(tmp_path: Path, actor: str) -> None:
    plates = tmp_path / "noface"
    plates.mkdir()
    for f in (1, 2):
        _exr(plates / f"nf.{f:04d}.exr", _noise(40, 30, 3, f), ("R", "G", "B"))
    pattern = str(plates / "nf.####.exr")
    res = recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "o1"))
    assert res.returncode == EXIT_NO_SWAP == 4 and "no face was swapped" in res.stdout
    assert recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "o2"), "--allow-passthrough").returncode == 0

    home = tmp_path / "home"
    env_home = {"home": home}
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor=actor, out=str(tmp_path / "job"), qc=False)
    job = recast("submit", str(spec), **env_home).stdout.strip()
    run = recast("job", "run", job, **env_home)
    assert run.returncode == 4 and "no face was swapped" in run.stdout, run.stderr
    again = recast("job", "resume", job, "--allow-passthrough", **env_home)
    assert again.returncode == 0, again.stderr


def test_job_with_a_gap_fails_that_frame(tmp_path: Path) -> None:
    pattern = _gappy_plate(tmp_path / "gap")
    home = tmp_path / "home"
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor="a", out=str(tmp_path / "job"), processor="passthrough", qc=False)
    job = recast("submit", str(spec), home=home).stdout.strip()
    run = recast("job", "run", job, "--retries", "0", home=home)
    assert run.returncode == 1 and "frames 2" in run.stdout, run.stdout + run.stderr
    # the explicit way out for a job: "missing": "skip" leaves the gap out
    spec = write_spec(tmp_path / "skip.json", plate=pattern, actor="a", out=str(tmp_path / "job2"), processor="passthrough",
                      qc=False, missing="skip")
    job = recast("submit", str(spec), home=home).stdout.strip()
    run = recast("job", "run", job, home=home)
    assert run.returncode == 0 and "4 done" in run.stdout, run.stdout + run.stderr


def _rgba_gap_plate(root: Path) -> str:
    """Frames 1, 2, 4 of a 40x30 RGBA plate (alpha 1, no face); 3 is missing."""
    root.mkdir()
    for f in (1, 2, 4):
        px = _noise(40, 30, 4, f)
        px[..., 3] = 1.0
        _exr(root / f"rgba.{f:04d}.exr", px, ("R", "G", "B", "A"))
    return str(root / "rgba.####.exr")


def _assert_black(out: Path, frame: int, others: tuple[int, ...] = (1, 2, 4)) -> None:
    """The comp of ``frame`` is black in the sequence's format (RGBA 40x30, alpha 0), and its record says why."""
    from recast.pipeline.schema.record import read_record

    comp = read_plate(out / "comp" / f"rgba.{frame:04d}.exr")
    assert comp.channel_names == ["R", "G", "B", "A"] and comp.pixels.shape == (30, 40, 4)
    assert not comp.pixels.any()  # alpha 0 too, as Nuke's Read gives
    rec = read_record(json.loads((out / "records" / f"{frame:04d}.json").read_text()))
    assert (rec.status, rec.missing, rec.error) == ("passthrough", "black", None)
    assert Path(rec.comp or "") == (out / "comp" / f"rgba.{frame:04d}.exr").resolve()
    rest = [read_record(json.loads((out / "records" / f"{f:04d}.json").read_text())).missing for f in others]
    assert rest == [None] * len(others)


def test_swap_missing_black_fills_the_gap(tmp_path: Path, actor: str) -> None:
    pattern = _rgba_gap_plate(tmp_path / "gap")
    out = tmp_path / "out"
    res = recast("swap", pattern, "--actor", actor, "--out", str(out), "--missing", "black", "--allow-passthrough", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    s = json.loads(res.stdout)
    assert (s["frames"], s["failed"], s["black"]) == (4, 0, [3])
    _assert_black(out, 3)
    text = recast("swap", pattern, "--actor", actor, "--out", str(tmp_path / "o2"), "--missing", "black", "--allow-passthrough")
    assert text.returncode == 0 and "black (missing on disk): 3" in text.stdout


def test_job_missing_black_fills_the_gap_and_qc_reads_it(tmp_path: Path, actor: str) -> None:
    pattern = _rgba_gap_plate(tmp_path / "gap")
    home = tmp_path / "home"
    out = tmp_path / "job"
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor=actor, out=str(out), missing="black")
    job = recast("submit", str(spec), home=home, check=True).stdout.strip()
    run = recast("job", "run", job, "--allow-passthrough", "--json", home=home)
    assert run.returncode == 0, run.stdout + run.stderr
    d = json.loads(run.stdout)
    assert (d["status"], d["done"], d["failed"], d["qc_errors"]) == ("done", 4, {}, {}), d
    _assert_black(out, 3)
    assert d["qc"]["1"]["frames"] == 4  # QC scored the black frame with the others
    scores = json.loads((out / "qc" / "scores.json").read_text())
    assert 3 in {int(f["frame"]) for f in scores["frames"]}, scores.keys()
    report = recast("qc", "report", job, "--out", str(tmp_path / "report"), home=home)
    assert report.returncode == 0 and (tmp_path / "report" / "index.html").is_file(), report.stdout + report.stderr

    # frames given: one not on disk is written black too (the passthrough processor alike)
    out2 = tmp_path / "job2"
    spec = write_spec(tmp_path / "spec2.json", plate=pattern, actor="a", out=str(out2), processor="passthrough",
                      frames=[2, 3], missing="black", qc=False)
    job = recast("submit", str(spec), home=home, check=True).stdout.strip()
    run = recast("job", "run", job, "--json", home=home)
    assert run.returncode == 0 and json.loads(run.stdout)["done"] == 2, run.stdout + run.stderr
    _assert_black(out2, 3, others=(2,))
