"""No consent record, no actor and no swap: refusals through the CLI and at load time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _onnx_standins import astronaut_png, consent_json, dfm_standin

from recast.models.actor import build_actor, load_actor, verify_actor
from recast.pipeline.errors import ConsentError

REPO = Path(__file__).resolve().parents[1]


def recast(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *map(str, args)], cwd=REPO, capture_output=True, text=True, env=os.environ.copy())


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return {"img": astronaut_png(tmp_path / "astronaut.png"), "model": dfm_standin(tmp_path / "m.dfm")}


def build_args(inp: dict[str, Path], *extra: object) -> list[object]:
    return ["actor", "build", "astro", "--images", inp["img"], "--backend", "dfm", "--model", inp["model"], *extra]


def models_dir() -> Path:
    return Path(os.environ["RECAST_MODELS"])


def test_build_without_consent_is_refused_with_how_to(inputs: dict[str, Path]) -> None:
    proc = recast(*build_args(inputs))
    assert proc.returncode == 2
    line = error_line(proc)
    assert "no consent record" in line and "--consent FILE" in line
    assert not (models_dir() / "astro").exists()


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        ("", ".txt", "consent file is empty"),
        ("I agree.", ".txt", "does not say who consented; pass --consent-who"),
        (json.dumps({"who": "A. Person"}), ".json", "has no scope; pass --consent-scope"),
        ("{not json", ".json", "consent JSON does not parse"),
        (json.dumps(["who", "scope"]), ".json", "must be an object"),
    ],
)
def test_incomplete_consent_is_refused(inputs: dict[str, Path], tmp_path: Path, content: str, suffix: str, needle: str) -> None:
    consent = tmp_path / f"consent{suffix}"
    consent.write_text(content)
    proc = recast(*build_args(inputs, "--consent", consent))
    assert proc.returncode == 2 and needle in error_line(proc) and str(consent) in error_line(proc)
    missing = recast(*build_args(inputs, "--consent", tmp_path / "absent.pdf"))
    assert "absent.pdf: consent file not found" in error_line(missing)
    assert not (models_dir() / "astro").exists()


def test_text_consent_with_who_and_scope_options(inputs: dict[str, Path], tmp_path: Path) -> None:
    consent = tmp_path / "release.txt"
    consent.write_text("Signed release form, scanned.\n")
    proc = recast(*build_args(inputs, "--consent", consent, "--consent-who", "A. Person", "--consent-scope", "Film X, all media"))
    assert proc.returncode == 0, proc.stderr
    m = json.loads((models_dir() / "astro" / "manifest.json").read_text())
    assert m["consent"]["who"] == "A. Person" and m["consent"]["scope"] == "Film X, all media"
    assert (models_dir() / "astro" / m["consent"]["file"]).read_text() == "Signed release form, scanned.\n"


def test_actor_without_consent_is_refused_at_run_time_and_can_be_fixed(inputs: dict[str, Path], tmp_path: Path) -> None:
    build_actor("astro", [inputs["img"]], consent_json(tmp_path / "c.json"), backend="dfm", model_file=inputs["model"])
    root = models_dir() / "astro"
    manifest = json.loads((root / "manifest.json").read_text())
    consent_file = manifest["consent"]["file"]
    # strip the consent record (as an old or hand-made actor would lack it)
    del manifest["consent"]
    manifest["files"] = [e for e in manifest["files"] if e["path"] != consent_file]
    (root / consent_file).unlink()
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConsentError, match="no consent record.*recast actor consent NAME --consent FILE"):
        load_actor("astro")
    assert any("no consent record" in p for p in verify_actor("astro"))
    listed = json.loads(recast("actor", "list", "--json").stdout)["actors"]
    assert listed[0]["name"] == "astro" and "no consent record" in listed[0]["error"]
    fixed = recast("actor", "consent", "astro", "--consent", consent_json(tmp_path / "new.json", who="B. Person"))
    assert fixed.returncode == 0, fixed.stderr
    actor = load_actor("astro")
    assert actor.manifest["consent"]["who"] == "B. Person"
    assert verify_actor("astro") == []


def test_deleted_consent_copy_is_refused(inputs: dict[str, Path], tmp_path: Path) -> None:
    actor = build_actor("astro", [inputs["img"]], consent_json(tmp_path / "c.json"), backend="dfm", model_file=inputs["model"])
    (actor.root / actor.manifest["consent"]["file"]).unlink()
    with pytest.raises(ConsentError, match="consent file of actor 'astro' is missing"):
        load_actor("astro", verify=False)
    proc = recast("actor", "verify", "astro")
    assert proc.returncode == 2 and "consent file is missing" in error_line(proc)
