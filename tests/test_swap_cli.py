"""``recast swap`` through a subprocess: real outputs, --json summary, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, write_aov_plate
from pipeline.plateio import read_plate

REPO = Path(__file__).resolve().parents[1]


def recast(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=REPO, capture_output=True, text=True, env=env or dict(os.environ), timeout=600
    )


@pytest.fixture()
def shot(tmp_path: Path) -> dict[str, Path]:
    models = Path(os.environ["RECAST_MODELS"])
    build_tom_hanks_actor(models, tmp_path)
    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(3):
        write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(4 * i))
    return {"plates": plates, "out": tmp_path / "out"}


def test_swap_writes_comp_element_records(shot: dict[str, Path]) -> None:
    pattern = str(shot["plates"] / "shot.####.exr")
    res = recast("swap", pattern, "--actor", "hanks", "--out", str(shot["out"]), "--frames", "1001-1002",
                 "--color", "lct", "--blend", "laplacian", "--mask-blur", "16", "--clean-element", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["frames"] == 2 and summary["done"] == 2 and summary["failed"] == 0
    out = shot["out"]
    for f in (1001, 1002):
        assert read_plate(out / "comp" / f"shot.{f}.exr").attributes["recast/synthetic"] == 1
        assert read_plate(out / "element" / f"shot_face.{f}.exr").channel_names == ["R", "G", "B", "A"]
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        assert rec["settings"]["color"] == "lct" and rec["settings"]["blend"] == "laplacian"
        assert rec["settings"]["mask_blur"] == 16.0 and rec["settings"]["element_grain"] is False
        assert rec["faces"][0]["color_match"]["method"] == "lct"
    assert not (out / "comp" / "shot.1003.exr").exists()  # --frames respected


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--actor", "nobody"], "no actor 'nobody'"),
        (["--actor", "hanks", "--frames", "2001-2002"], "frames not on disk"),
        (["--actor", "hanks", "--selection", "reference"], "settings.reference"),
        (["--actor", "hanks", "--color-strength", "3"], "settings.color_strength"),
    ],
)
def test_swap_bad_input_is_one_clear_line(shot: dict[str, Path], args: list[str], needle: str) -> None:
    res = recast("swap", str(shot["plates"] / "shot.####.exr"), "--out", str(shot["out"]), *args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_swap_missing_plate(tmp_path: Path) -> None:
    res = recast("swap", str(tmp_path / "nothing.####.exr"), "--actor", "x", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert str(tmp_path / "nothing") in res.stderr
