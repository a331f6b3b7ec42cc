"""``recast swap`` through a subprocess: real outputs, --json summary, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, write_aov_plate
from recast.pipeline.plateio import read_plate

REPO = Path(__file__).resolve().parents[1]


def recast(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recast", *args], cwd=REPO, capture_output=True, text=True, env=env or dict(os.environ), timeout=600
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


def test_swap_flags_map_to_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recast.pipeline.cli import build_parser
    from recast.pipeline.cli.swap import settings_overrides
    from recast.pipeline.engine import SwapSettings

    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args([
        "swap", "p.####.exr", "--actor", "a", "--out", "o", "--analyser", "insightface", "--analyser-models", "packs/buffalo",
        "--enhancer", "restore/gfpgan_v1.4.onnx", "--enhancer-licence", "Apache-2.0", "--enhancer-blend", "0.4",
        "--commercial-only", "--selection", "reference", "--reference", "a=refs/her.png,1001:2",
    ])
    s = SwapSettings.from_dict(settings_overrides(args))
    assert (s.analyser, s.analyser_models) == ("insightface", str(tmp_path / "packs" / "buffalo"))
    assert (s.enhancer, s.enhancer_model) == ("gfpgan", str(tmp_path / "restore" / "gfpgan_v1.4.onnx"))
    assert (s.enhancer_licence, s.enhancer_blend, s.allow_noncommercial_models) == ("Apache-2.0", 0.4, False)
    assert s.reference == f"a={tmp_path / 'refs' / 'her.png'},1001:2"  # a relative image made absolute
    kinds = settings_overrides(build_parser().parse_args(["swap", "p", "--actor", "a", "--out", "o", "--enhancer", "codeformer"]))
    assert kinds["enhancer"] == "codeformer" and "enhancer_model" not in kinds and "allow_noncommercial_models" not in kinds
    named = settings_overrides(build_parser().parse_args(["swap", "p", "--actor", "a", "--out", "o", "--enhancer", "codeformer=cf.onnx"]))
    assert (named["enhancer"], named["enhancer_model"]) == ("codeformer", str(tmp_path / "cf.onnx"))


def test_swap_enhancer_file_and_reference_image(shot: dict[str, Path], tmp_path: Path) -> None:
    from _onnx_standins import astronaut_png, enhancer_standin

    # stand-in GFPGAN-class ONNX (exact signature, paints green): proves the flags reach the stage
    model = enhancer_standin(tmp_path / "standin_gfpgan.onnx")
    ref = astronaut_png(tmp_path / "her.png")
    res = recast("swap", str(shot["plates"] / "shot.####.exr"), "--actor", "hanks", "--out", str(shot["out"]),
                 "--frames", "1001", "--enhancer", str(model), "--enhancer-licence", "stand-in (test)",
                 "--enhancer-blend", "0.5", "--selection", "reference", "--reference", str(ref), "--json")
    assert res.returncode == 0, res.stderr
    rec = json.loads((shot["out"] / "records" / "1001.json").read_text())
    assert rec["settings"]["enhancer_model"] == str(model) and rec["settings"]["enhancer_blend"] == 0.5
    face = next(f for f in rec["faces"] if f["swapped"])
    assert face["selection"]["reason"] == "reference"
    assert face["swap_info"]["enhancer"] == {"enhancer": "gfpgan", "sha256": face["swap_info"]["enhancer"]["sha256"],
                                             "licence": "stand-in (test)", "blend": 0.5}


def test_swap_analyser_models_reach_the_analyser(shot: dict[str, Path], tmp_path: Path) -> None:
    from _faces_fixtures import standin_pack

    # stand-in insightface pack (exact signatures, not the real weights): it finds no real face,
    # so the frame passes through, and the record names the pack's models
    pack = standin_pack(tmp_path / "buffalo_standin")
    res = recast("swap", str(shot["plates"] / "shot.####.exr"), "--actor", "hanks", "--out", str(shot["out"]),
                 "--frames", "1001", "--analyser", "insightface", "--analyser-models", str(pack), "--json")
    assert res.returncode == 0, res.stderr
    rec = json.loads((shot["out"] / "records" / "1001.json").read_text())
    assert rec["settings"]["analyser_models"] == str(pack)
    # the analyser's models are the pack's; the warp swapper's own landmark models are listed too
    analyser = [d for d in rec["licences"] if d["used_by"] == "analyser"]
    assert {d["backend"] for d in analyser} == {"insightface"}
    assert {Path(d["file"]).parent for d in analyser} == {pack}
    assert all(d["used_by"] == "swapper:warp" for d in rec["licences"] if d not in analyser)


def test_swap_never_writes_over_the_plate(shot: dict[str, Path], tmp_path: Path) -> None:
    """A plate kept in a folder named ``comp`` and ``--out`` its parent: the comps would be the
    plate's own files. Refused in one line; the plate is untouched."""
    import hashlib

    shotdir = tmp_path / "shot"
    (shotdir / "comp").mkdir(parents=True)
    for f in (1001, 1002):
        (shotdir / "comp" / f"shot.{f}.exr").write_bytes((shot["plates"] / f"shot.{f}.exr").read_bytes())
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (shotdir / "comp").iterdir()}
    res = recast("swap", str(shotdir / "comp" / "shot.####.exr"), "--actor", "hanks", "--out", str(shotdir))
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(lines) == 1 and "would be written over plate frame 1001" in lines[0], res.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (shotdir / "comp").iterdir()} == before
    assert not (shotdir / "records").exists() or not any((shotdir / "records").iterdir())


def test_swap_a_damaged_first_frame_fails_alone_or_is_left_out(shot: dict[str, Path]) -> None:
    """The sequence's first frame is not an image: swapping frames 1002-1003 works; swapping
    them all fails that frame alone, named, and writes the others."""
    (shot["plates"] / "shot.1001.exr").write_text("not an image\n")
    pattern = str(shot["plates"] / "shot.####.exr")
    res = recast("swap", pattern, "--actor", "hanks", "--out", str(shot["out"] / "a"), "--frames", "1002-1003", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["done"] == 2
    res = recast("swap", pattern, "--actor", "hanks", "--out", str(shot["out"] / "b"), "--json")
    assert res.returncode == 1, res.stderr
    summary = json.loads(res.stdout)
    assert summary["done"] == 2 and summary["failed_frames"] == [1001]
    assert "shot.1001.exr" in summary["errors"][0]["error"] and "Traceback" not in res.stderr
    assert not (shot["out"] / "b" / "comp" / "shot.1001.exr").exists()
    assert (shot["out"] / "b" / "comp" / "shot.1003.exr").exists()
