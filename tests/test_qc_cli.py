"""``recast qc`` / ``recast dailies`` through a subprocess, on a job built from the Megamind clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from recast.pipeline.jobs.store import Store, default_db_path
from recast.qc.sample_job import SampleJobSpec, build_sample_job, decode_frames

REPO = Path(__file__).resolve().parents[1]


def recast(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *args], check=False, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


@pytest.fixture(scope="module")
def job_out(test_media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qc_cli") / "job"
    build_sample_job(decode_frames(test_media / "Megamind.avi", 140, 10),
                     SampleJobSpec(out, fps=24000 / 1001, glitches={1005: "colour"}))
    return out


def _decode(path: Path) -> tuple[int, Fraction, tuple[int, int]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        return n, Fraction(s.average_rate), (s.codec_context.width, s.codec_context.height)


def test_scores_json_one_object_per_frame(job_out: Path) -> None:
    r = recast("qc", "scores", str(job_out), "--json", "--no-identity")
    assert r.returncode == 0, r.stderr
    frames = json.loads(r.stdout)
    assert [f["frame"] for f in frames] == list(range(1001, 1011))
    for f in frames:
        for name, m in f["metrics"].items():
            assert set(m) >= {"value", "reason", "status"}
            assert (m["value"] is None) == (m["reason"] is not None) or m["status"] == "na", name
    assert [f["frame"] for f in frames if f["status"] == "fail"] == [1005]
    assert frames[0]["metrics"]["id_plate"]["value"] is None  # --no-identity
    assert (job_out / "qc" / "scores.json").is_file()


def test_movies_decode_to_the_right_frame_count(job_out: Path, tmp_path: Path) -> None:
    r = recast("qc", "movie", str(job_out), "--out", str(tmp_path / "prev.mp4"), "--json")
    assert r.returncode == 0, r.stderr
    n, rate, size = _decode(tmp_path / "prev.mp4")
    assert n == 10 and rate == Fraction(24000, 1001)  # frame rate from the plates' metadata
    assert size == (1440, 528)  # plate | comp at the plate's 720 px width
    # the red SYNTHETIC label is burnt into the comp half (right), not the plate half (left)
    with av.open(str(tmp_path / "prev.mp4")) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)

    def red_share(x0: int) -> float:
        patch = first[6:30, x0 + 6 : x0 + 110]
        return float(np.mean((patch[..., 0] > 150) & (patch[..., 1] < 110) & (patch[..., 2] < 110)))

    assert red_share(720) > 0.3 and red_share(0) < 0.05, (red_share(720), red_share(0))
    r = recast("qc", "movie", str(job_out), "--out", str(tmp_path / "prev.mov"), "--codec", "prores", "--width", "320", "--fps", "25")
    assert r.returncode == 0, r.stderr
    n, rate, size = _decode(tmp_path / "prev.mov")
    assert n == 10 and rate == 25 and size == (640, 234)
    with av.open(str(tmp_path / "prev.mov")) as c:
        assert c.streams.video[0].codec_context.name == "prores"


def test_report_and_dailies_for_a_stored_job(job_out: Path, tmp_path: Path) -> None:
    store = Store(default_db_path())
    store.create_job("shot010_a", {"out": str(job_out), "shot": "shot010"}, list(range(1001, 1011)))
    r = recast("qc", "report", "shot010_a", "--out", str(tmp_path / "rep"), "--pdf", "--rescore")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rep" / "index.html").is_file() and (tmp_path / "rep" / "report.pdf").is_file()
    assert [f["frame"] for f in store.flags("shot010_a") if f["source"] == "auto"] == [1005]

    r = recast("dailies", "--since", "2000-01-01", "--out", str(tmp_path / "dailies"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [j["job"] for j in doc["jobs"]] == ["shot010_a"]
    index = (tmp_path / "dailies" / "index.html").read_text()
    assert "shot010_a/index.html" in index and "shot010_a/preview.mp4" in index
    assert _decode(tmp_path / "dailies" / "shot010_a" / "preview.mp4")[0] == 10
    r = recast("dailies", "--since", "2999-01-01", "--out", str(tmp_path / "none"))
    assert r.returncode == 0 and "No job updated" in (tmp_path / "none" / "index.html").read_text()


def test_user_errors_are_one_line(job_out: Path, tmp_path: Path) -> None:
    cases = [
        ("qc", "scores", str(tmp_path / "nowhere")),
        ("qc", "scores", str(job_out), "--thresholds", str(tmp_path / "missing.toml")),
        ("qc", "movie", str(job_out), "--out", str(tmp_path / "m.mp4"), "--fps", "0"),
        ("dailies", "--since", "last tuesday", "--out", str(tmp_path / "d")),
    ]
    bad_rec = tmp_path / "badjob"
    (bad_rec / "records").mkdir(parents=True)
    (bad_rec / "records" / "1001.json").write_text("{ not json")
    cases.append(("qc", "scores", str(bad_rec)))
    for args in cases:
        r = recast(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("recast: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
    assert "1001.json: not a frame record" in recast("qc", "scores", str(bad_rec)).stderr
