"""Auto-flags on a real clip's output: planted glitches are flagged, clean frames are not.

The job output is built from 30 real frames of the Megamind clip by
``qc.sample_job`` (plates, a graded-face "comp", elements, records in the
engine's layout); three frames get a planted glitch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from recast.pipeline.jobs.store import Store, default_db_path
from recast.qc.sample_job import SampleJobSpec, build_sample_job, decode_frames
from recast.qc.scoring import QCOptions, read_scores, score_job

GLITCHES = {1008: "shift", 1015: "colour", 1022: "missing"}


@pytest.fixture(scope="module")
def glitched_job(test_media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qc_glitch") / "job"
    frames = decode_frames(test_media / "Megamind.avi", 120, 30)
    build_sample_job(frames, SampleJobSpec(out, glitches=dict(GLITCHES)))  # type: ignore[arg-type]
    return out


def test_exactly_the_planted_glitches_are_flagged(glitched_job: Path) -> None:
    store = Store(default_db_path())
    store.create_job("j1", {"out": str(glitched_job), "shot": "shot"}, list(range(1001, 1031)))
    store.add_flag("j1", 1003, "reviewer", "eyeline looks off", author="sup")
    doc = score_job(glitched_job, QCOptions(), job_id="j1", store=store)

    assert doc["summary"]["frames"] == 30
    assert doc["summary"]["flagged"] == sorted(GLITCHES)
    by_frame = {f["frame"]: f for f in doc["frames"]}
    # each glitch is caught by the metric made for it
    assert by_frame[1008]["metrics"]["ssim_face"]["status"] == "fail"
    assert by_frame[1015]["metrics"]["flicker"]["status"] == "fail"
    assert by_frame[1022]["metrics"]["missing_faces"]["status"] == "fail"
    for f in doc["frames"]:
        if f["frame"] not in GLITCHES:
            assert f["metrics"]["ssim_outside"]["value"] == pytest.approx(1.0, abs=1e-6)
            assert f["metrics"]["ssim_face"]["value"] > 0.8
    # LPIPS without the trunk is unavailable with its reason, never a number
    lp = by_frame[1001]["metrics"]["lpips"]
    assert lp["value"] is None and "trunk not found" in lp["reason"]

    # the files are the truth; the store indexes them
    on_disk = read_scores(glitched_job)
    assert [f["status"] for f in on_disk["frames"]] == [f["status"] for f in doc["frames"]]
    assert store.scores("j1", 1)[(1008, 1)]["ssim_face"] == pytest.approx(by_frame[1008]["metrics"]["ssim_face"]["value"])
    flags = store.flags("j1")
    assert sorted(f["frame"] for f in flags if f["source"] == "auto") == sorted(GLITCHES)
    assert [(f["frame"], f["source"]) for f in flags if f["source"] == "reviewer"] == [(1003, "reviewer")]

    # per-frame scores are cached: a changed comp is the only frame scored again
    comp = Path(by_frame[1020]["comp"])
    os.utime(comp, ns=(comp.stat().st_atime_ns, comp.stat().st_mtime_ns + 10**9))
    again = score_job(glitched_job, QCOptions())
    assert again["frames_scored"] == 1 and again["summary"]["flagged"] == sorted(GLITCHES)

    # re-scoring replaces auto flags and keeps reviewer flags
    score_job(glitched_job, QCOptions(identity=False), job_id="j1", store=store)
    flags = store.flags("j1")
    assert sorted(f["frame"] for f in flags if f["source"] == "auto") == sorted(GLITCHES)
    assert sum(1 for f in flags if f["source"] == "reviewer") == 1


def test_failed_and_missing_records_fail_with_a_reason(glitched_job: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "job"
    shutil.copytree(glitched_job, out, symlinks=True)
    (out / "records" / "1005.json").unlink()
    rec = json.loads((out / "records" / "1010.json").read_text())
    rec.update(status="failed", error="swap backend crashed")
    (out / "records" / "1010.json").write_text(json.dumps(rec))
    rec = json.loads((out / "records" / "1012.json").read_text())
    data = Path(rec["comp"]).read_bytes()
    truncated = out / "comp" / "truncated.1012.exr"
    truncated.write_bytes(data[: len(data) // 2])  # a comp cut short by a full disk
    rec["comp"] = str(truncated)
    (out / "records" / "1012.json").write_text(json.dumps(rec))
    doc = score_job(out, QCOptions(identity=False, metrics=("ssim_face", "ssim_outside")))
    by_frame = {f["frame"]: f for f in doc["frames"]}
    assert by_frame[1005]["status"] == "fail" and "no record" in by_frame[1005]["reasons"][0]
    assert by_frame[1010]["status"] == "fail" and "swap backend crashed" in by_frame[1010]["reasons"][0]
    assert by_frame[1012]["status"] == "fail"
    assert by_frame[1012]["reasons"][0].startswith(f"{truncated}: cannot read pixels (")
    assert set(doc["summary"]["flagged"]) == {1005, 1010, 1012, *GLITCHES}


def test_scores_hold_at_twice_the_resolution(test_media: Path, tmp_path: Path) -> None:
    """Faces are scored at a canonical size, so a 2x plate gives the same scores and flags."""
    import cv2

    frames = decode_frames(test_media / "Megamind.avi", 130, 10)
    big = [cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2), interpolation=cv2.INTER_CUBIC) for f in frames]
    docs = []
    for name, clip in (("x1", frames), ("x2", big)):
        build_sample_job(clip, SampleJobSpec(tmp_path / name, glitches={1006: "colour"}))
        docs.append(score_job(tmp_path / name, QCOptions(identity=False, face_px=160)))
    small, large = docs
    assert small["summary"]["flagged"] == large["summary"]["flagged"] == [1006]
    for a, b in zip(small["frames"], large["frames"], strict=True):
        assert a["metrics"]["ssim_face"]["value"] == pytest.approx(b["metrics"]["ssim_face"]["value"], abs=0.03)
        assert b["metrics"]["ssim_outside"]["value"] == pytest.approx(1.0, abs=1e-6)
