"""`recast actor build/list/show/verify` through the CLI, on a real face (astronaut).

The dfm backend with a STAND-IN .dfm keeps the build cheap; the manifest,
consent and hash rules tested here are the same for every backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _onnx_standins import astronaut_png, consent_json, dfm_standin, write_png

REPO = Path(__file__).resolve().parents[1]


def recast(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *map(str, args)], cwd=REPO, capture_output=True, text=True, env=os.environ.copy())


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return {
        "img": astronaut_png(tmp_path / "imgs" / "astronaut.png"),
        "consent": consent_json(tmp_path / "consent.json", who="Eileen Collins (test)", scope="unit tests"),
        "model": dfm_standin(tmp_path / "actor.dfm"),
    }


def build(inp: dict[str, Path], name: str = "astro", *extra: str) -> subprocess.CompletedProcess[str]:
    return recast("actor", "build", name, "--images", inp["img"].parent, "--consent", inp["consent"], "--backend", "dfm", "--model", inp["model"], "--json", *extra)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_build_writes_a_complete_manifest(inputs: dict[str, Path]) -> None:
    proc = build(inputs, "astro", "--licence", "CC-BY-4.0 (test)")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    root = Path(os.environ["RECAST_MODELS"]) / "astro"
    assert summary["root"] == str(root)
    m = json.loads((root / "manifest.json").read_text())
    assert m["name"] == "astro" and m["backend"] == "dfm" and m["created"]
    assert m["source_files"] == [{"name": "astronaut.png", "path": str(inputs["img"].resolve()), "sha256": sha(inputs["img"]), "size": inputs["img"].stat().st_size}]
    assert m["model_files"][0]["path"] == "model.dfm" and m["model_files"][0]["sha256"] == sha(inputs["model"])
    assert m["model_files"][0]["licence"] == "CC-BY-4.0 (test)"
    c = m["consent"]
    assert c["who"] == "Eileen Collins (test)" and c["scope"] == "unit tests" and c["when"] == "2026-01-01"
    assert c["sha256"] == sha(inputs["consent"]) == sha(root / c["file"])
    assert c["id"] == f"consent-{sha(inputs['consent'])[:16]}" == summary["consent_id"]
    # every file in the folder but the manifest is hashed
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert [e["path"] for e in m["files"]] == on_disk
    assert all(e["sha256"] == sha(root / e["path"]) for e in m["files"])
    assert {lic["model"] for lic in m["licences"]} >= {"dfm"}
    assert m["dfm"] == {"resolution": 64, "face_type": "whole_face", "amp": False, "morph": 0.75}


def test_list_show_verify(inputs: dict[str, Path]) -> None:
    assert build(inputs, "a1").returncode == 0
    assert build(inputs, "a2").returncode == 0
    listed = json.loads(recast("actor", "list", "--json").stdout)
    assert [a["name"] for a in listed["actors"]] == ["a1", "a2"]
    assert all(a["backend"] == "dfm" and a["consent_id"].startswith("consent-") for a in listed["actors"])
    # the same consent file gives the same stable id
    assert listed["actors"][0]["consent_id"] == listed["actors"][1]["consent_id"]
    shown = json.loads(recast("actor", "show", "a1", "--json").stdout)
    assert shown["manifest"]["name"] == "a1" and shown["model_sha256"] == sha(inputs["model"])
    text = recast("actor", "show", "a1").stdout
    assert "consent_who: Eileen Collins (test)" in text
    ok = recast("actor", "verify", "a1", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout) == {"name": "a1", "ok": True, "problems": []}


def test_existing_actor_needs_force(inputs: dict[str, Path], tmp_path: Path) -> None:
    assert build(inputs).returncode == 0
    root = Path(os.environ["RECAST_MODELS"]) / "astro"
    before = json.loads((root / "manifest.json").read_text())
    again = build(inputs)
    assert again.returncode == 2 and "already exists" in error_line(again) and "--force" in error_line(again)
    assert json.loads((root / "manifest.json").read_text()) == before
    other = dfm_standin(tmp_path / "other.dfm", resolution=96)
    forced = recast("actor", "build", "astro", "--images", inputs["img"], "--consent", inputs["consent"], "--backend", "dfm", "--model", other, "--force")
    assert forced.returncode == 0, forced.stderr
    after = json.loads((root / "manifest.json").read_text())
    assert after["dfm"]["resolution"] == 96 and after["model_files"][0]["sha256"] == sha(other)
    assert sorted(p.name for p in root.parent.iterdir()) == ["astro"]  # old copy and temp folders gone


def test_image_without_a_face_is_named_and_nothing_is_left(inputs: dict[str, Path], tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    blank = write_png(inputs["img"].parent / "wall.png", (128 + rng.normal(0, 4, (240, 320, 3))).clip(0, 255).astype(np.uint8))
    proc = build(inputs)
    assert proc.returncode == 2
    assert str(blank) in error_line(proc) and "no face" in error_line(proc)
    models = Path(os.environ["RECAST_MODELS"])
    assert not models.exists() or list(models.iterdir()) == []


def test_bad_inputs_are_one_line_errors(inputs: dict[str, Path], tmp_path: Path) -> None:
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = [
        (("actor", "build", "x", "--images", not_image, "--consent", inputs["consent"], "--backend", "dfm", "--model", inputs["model"]), "notes.png: cannot read image"),
        (("actor", "build", "x", "--images", empty_dir, "--consent", inputs["consent"], "--backend", "dfm", "--model", inputs["model"]), "empty: directory holds no images"),
        (("actor", "build", "bad/name", "--images", inputs["img"], "--consent", inputs["consent"]), "actor name 'bad/name' is invalid"),
        (("actor", "build", "x", "--images", tmp_path / "nope.png", "--consent", inputs["consent"], "--backend", "dfm", "--model", inputs["model"]), "nope.png: actor image not found"),
        (("actor", "build", "x", "--images", inputs["img"], "--consent", inputs["consent"], "--backend", "nosuch"), "unknown actor builder backend 'nosuch'"),
        (("actor", "build", "x", "--images", inputs["img"], "--consent", inputs["consent"], "--backend", "dfm"), "pass --model FILE"),
        (("actor", "build", "x", "--images", inputs["img"], "--consent", inputs["consent"], "--backend", "dfm", "--model", inputs["model"], "--face-type", "torso"), "not a DeepFaceLab face type"),
        (("actor", "build", "x", "--images", inputs["img"], "--consent", inputs["consent"], "--backend", "dfm", "--model", inputs["model"], "--analyser", "nosuch"), "unknown face analyser backend 'nosuch'"),
        (("actor", "show", "ghost"), "no actor 'ghost'"),
        (("actor", "verify", "ghost"), "actor manifest not found"),
    ]
    for args, needle in cases:
        proc = recast(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert needle in error_line(proc), (needle, proc.stderr)
