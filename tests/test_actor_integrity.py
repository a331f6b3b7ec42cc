"""Hash refusals: a tampered, truncated, missing or extra file in an actor folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _onnx_standins import astronaut_png, consent_json, dfm_standin

from recast.models.actor import build_actor, load_actor, verify_actor
from recast.models.base import ActorModel
from recast.pipeline.errors import IntegrityError

REPO = Path(__file__).resolve().parents[1]


def recast(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *map(str, args)], cwd=REPO, capture_output=True, text=True, env=os.environ.copy())


@pytest.fixture
def actor(tmp_path: Path) -> ActorModel:
    a = build_actor("astro", [astronaut_png(tmp_path / "a.png")], consent_json(tmp_path / "c.json"), backend="dfm", model_file=dfm_standin(tmp_path / "m.dfm"))
    assert verify_actor("astro") == []
    return a


def test_flipped_byte_is_named(actor: ActorModel) -> None:
    model = actor.path("model.dfm")
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.dfm: sha256 does not match"):
        load_actor("astro")
    load_actor("astro", verify=False)  # explicit opt-out still reads it
    proc = recast("actor", "verify", "astro", "--json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False and len(report["problems"]) == 1 and "model.dfm" in report["problems"][0]
    assert "model.dfm" in proc.stderr.strip().splitlines()[-1]


def test_truncated_and_missing_files(actor: ActorModel) -> None:
    model = actor.path("model.dfm")
    model.write_bytes(model.read_bytes()[:100])
    with pytest.raises(IntegrityError, match=r"model\.dfm: size 100 != "):
        load_actor("astro")
    model.unlink()
    with pytest.raises(IntegrityError, match=r"model\.dfm: file listed in the manifest is missing"):
        load_actor("astro")


def test_tampered_consent_copy_is_refused(actor: ActorModel) -> None:
    consent = actor.root / actor.manifest["consent"]["file"]
    consent.write_text(consent.read_text().replace("tests only", "everything!!"))
    with pytest.raises(IntegrityError, match="consent"):
        load_actor("astro")


def test_manifest_edit_to_match_a_swapped_model_still_fails_on_the_files_list(actor: ActorModel, tmp_path: Path) -> None:
    """Swapping the model and fixing only model_files is caught by the folder hash list."""
    other = dfm_standin(tmp_path / "other.dfm", colour_bgr=(1.0, 1.0, 1.0))
    actor.path("model.dfm").write_bytes(other.read_bytes())
    m = json.loads((actor.root / "manifest.json").read_text())
    import hashlib

    m["model_files"][0]["sha256"] = hashlib.sha256(other.read_bytes()).hexdigest()
    (actor.root / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IntegrityError, match="model.dfm"):
        load_actor("astro")


def test_unlisted_file_is_reported_but_not_fatal(actor: ActorModel) -> None:
    (actor.root / "notes.txt").write_text("hello")
    problems = verify_actor("astro")
    assert len(problems) == 1 and "notes.txt: file is not listed in the manifest" in problems[0]
    assert load_actor("astro").name == "astro"


def test_broken_manifest_is_one_line(actor: ActorModel) -> None:
    (actor.root / "manifest.json").write_text("{ broken")
    proc = recast("actor", "show", "astro")
    assert proc.returncode == 2 and "manifest does not parse" in proc.stderr and "Traceback" not in proc.stderr
    m_ok = {"schema": 1, "name": "astro"}
    (actor.root / "manifest.json").write_text(json.dumps(m_ok))
    proc = recast("actor", "verify", "astro")
    assert proc.returncode == 2 and "manifest field 'backend' is missing" in proc.stderr


def test_warp_actor_hashes_its_bank_and_the_dlib_models(tmp_path: Path) -> None:
    import hashlib

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    a = build_actor("warpy", [astronaut_png(tmp_path / "a.png")], consent_json(tmp_path / "c.json"), backend="warp")
    index = a.path("bank/bank.json")
    assert a.manifest["model_files"][0]["path"] == "bank/bank.json" and a.model_sha256 == sha(index)
    assert json.loads(index.read_text())["images"] == {"bank/000.png": sha(a.path("bank/000.png"))}  # pins the images
    ext = {e["model"]: e for e in a.manifest["external_files"]}
    dat = ext["shape_predictor_68_face_landmarks.dat"]
    assert sha(Path(dat["path"])) == dat["sha256"] and "shape_predictor_5_face_landmarks.dat" in ext
    assert verify_actor("warpy") == []
    mpath = a.root / "manifest.json"
    good = json.loads(mpath.read_text())

    def verify_with(entry: dict) -> list[str]:
        m = json.loads(json.dumps(good))
        m["external_files"] = [entry]
        mpath.write_text(json.dumps(m))
        return verify_actor("warpy")

    # the predictor the bank was built with changed: named by `recast actor verify`
    verify_with({**dat, "sha256": "0" * 64})
    proc = recast("actor", "verify", "warpy", "--json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (problem,) = json.loads(proc.stdout)["problems"]
    assert "shape_predictor_68_face_landmarks.dat: sha256 differs" in problem
    # the venv moved: the same file found in dlib's models folder is fine; nowhere at all is named
    assert verify_with({**dat, "path": str(tmp_path / "old_venv" / "shape_predictor_68_face_landmarks.dat")}) == []
    (missing,) = verify_with({**dat, "path": str(tmp_path / "gone.dat")})
    assert missing.endswith("gone.dat: model file the actor was built with is missing")
    # an actor from before (no external files, no model files) still loads and verifies
    old = {k: v for k, v in good.items() if k != "external_files"}
    old["model_files"] = []
    mpath.write_text(json.dumps(old))
    assert verify_actor("warpy") == [] and load_actor("warpy").model_sha256 is None
