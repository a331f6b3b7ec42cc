"""``recast plate info`` / ``recast plate check`` through the real CLI (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import recast.pipeline.cli.plate as plate_cli
from recast.pipeline.cli import EXIT_BROKEN_PIPE, main
from recast.pipeline.cli.plate import INFO_KEYS
from tests._fixtures_plates import REPO, make_exr, make_multipart_exr, make_sequence, recast


@pytest.fixture()
def shot(tmp_path: Path) -> Path:
    d = tmp_path / "shot"
    make_sequence(
        d,
        "sh010_plate",
        [1001, 1002, 1003, 1005],
        width=40,
        height=30,
        channels=("R", "G", "B", "A", "Z"),
        compression="piz",
        data_window=(4, 2, 30, 26),
        nonfinite=False,
        attrs={"colorInteropID": "lin_ap1_scene"},
    )
    return d


def test_info_json_has_exact_keys_and_values(shot: Path) -> None:
    proc = recast("plate", "info", str(shot / "sh010_plate.####.exr"), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert tuple(info) == INFO_KEYS
    assert info == {
        "pattern": str(shot / "sh010_plate.####.exr"),
        "frames": [1001, 1002, 1003, 1005],
        "missing": [1004],
        "width": 40,
        "height": 30,
        "data_window": [4, 2, 30, 26],
        "display_window": [0, 0, 40, 30],
        "channels": ["R", "G", "B", "A", "Z"],
        "pixel_type": "half",
        "compression": "piz",
        "colorspace": "ACEScg",  # from the file's colorInteropID
        "parts": 1,
    }


def test_info_text_and_pattern_forms(shot: Path) -> None:
    for form in ("sh010_plate.%04d.exr", "sh010_plate.@@@@.exr", "", "sh010_plate.1002.exr"):
        proc = recast("plate", "info", str(shot / form) if form else str(shot))
        assert proc.returncode == 0, proc.stderr
        assert "resolution     40x30" in proc.stdout
        assert "channels       R, G, B, A, Z" in proc.stdout
    proc = recast("plate", "info", str(shot))
    assert "frames         1001-1003,1005 (4 frames)" in proc.stdout
    assert "missing        1004" in proc.stdout
    assert proc.stderr == ""  # no progress bar or chatter when not a TTY


def test_info_colorspace_override_and_unknown(shot: Path) -> None:
    ok = recast("plate", "info", str(shot), "--colorspace", "ACES2065-1", "--json")
    assert json.loads(ok.stdout)["colorspace"] == "ACES2065-1"
    bad = recast("plate", "info", str(shot), "--colorspace", "nonsense")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "recast: error: colourspace 'nonsense': not in OCIO config ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"
    )


def test_info_multipart_part_by_name(tmp_path: Path) -> None:
    src = tmp_path / "multi.0101.exr"
    make_multipart_exr(src, [("beauty", ("R", "G", "B", "A")), ("depth", ("Z",))])
    info = json.loads(recast("plate", "info", str(src), "--json").stdout)
    assert info["parts"] == 2 and info["channels"] == ["R", "G", "B", "A"]
    depth = json.loads(recast("plate", "info", str(src), "--part", "depth", "--json").stdout)
    assert depth["channels"] == ["Z"]
    text = recast("plate", "info", str(src), "--part", "1").stdout
    assert "parts          2 (showing part 1 'depth')" in text and "channels       Z" in text
    bad = recast("plate", "info", str(src), "--part", "spec")
    assert bad.returncode == 2 and "no part named 'spec' (parts: beauty, depth)" in bad.stderr


def test_check_clean_plate_exits_0(tmp_path: Path) -> None:
    d = tmp_path / "clean"
    make_sequence(d, "a", [1, 2, 3], width=16, height=12, nonfinite=False)
    proc = recast("plate", "check", str(d / "a.####.exr"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean") and "NOT" not in proc.stdout


def test_check_reports_nonfinite_mismatch_and_gaps(tmp_path: Path) -> None:
    d = tmp_path / "messy"
    make_sequence(d, "b", [10, 11], width=16, height=12, nonfinite=False)
    make_sequence(d, "b", [12], width=16, height=12, nonfinite=True)  # 1 NaN, 2 Inf
    make_exr(d / "b.0013.exr", width=18, height=12, nonfinite=False)  # other resolution
    make_exr(d / "b.0015.exr", width=16, height=12, channels=("R", "G", "B"), nonfinite=False)
    proc = recast("plate", "check", str(d), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["frames"] == [10, 11, 12, 13, 15] and report["missing"] == [14]
    assert report["nonfinite"] == [{"frame": 12, "path": str(d / "b.0012.exr"), "nan": 1, "inf": 2}]
    reasons = {m["frame"]: m["reason"] for m in report["mismatched"]}
    assert reasons[13].startswith("resolution 18x12 != 16x12")
    assert reasons[15].startswith("channels R,G,B != R,G,B,A")
    assert report["unreadable"] == [] and report["clean"] is False
    only = recast("plate", "check", str(d), "--frames", "10-11", "--json")
    assert only.returncode == 0, only.stdout  # the gap at 14 lies outside the checked range
    assert json.loads(only.stdout)["missing"] == [] and json.loads(only.stdout)["clean"] is True
    spanning = json.loads(recast("plate", "check", str(d), "--frames", "11,15", "--json").stdout)
    assert spanning["frames"] == [11, 15] and spanning["missing"] == [14]  # inside 11-15: counted
    absent = recast("plate", "check", str(d), "--frames", "10-14")
    assert absent.returncode == 2 and "frames not on disk: 14" in absent.stderr


def test_plate_without_action_prints_usage() -> None:
    proc = recast("plate")
    assert proc.returncode == 2 and "info" in proc.stderr and "check" in proc.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_work_before_or_after_the_sub_command(shot: Path, where: str) -> None:
    pattern = str(shot / "sh010_plate.####.exr")
    args = ["--json", "plate", "info", pattern] if where == "before" else ["plate", "info", pattern, "--json"]
    proc = recast(*args)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] == [1001, 1002, 1003, 1005]
    bad = ["plate", "info", str(shot / "nothing.####.exr")]
    dbg = recast(*(["--debug", *bad] if where == "before" else [*bad, "--debug"]))
    assert dbg.returncode == 2 and "Traceback (most recent call last)" in dbg.stderr
    assert "Traceback" not in recast(*bad).stderr


def test_output_into_a_closed_pipe_exits_quietly(shot: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (think `| head -0`) is gone before we write a byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "recast", "plate", "info", str(shot), "--json"],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == EXIT_BROKEN_PIPE == 141
    assert proc.stderr == ""


def test_broken_pipe_elsewhere_is_still_an_error(
    shot: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def child_died(args: object, ctx: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")  # e.g. a decoder child, while stdout is fine

    monkeypatch.setattr(plate_cli, "cmd_info", child_died)
    assert main(["plate", "info", str(shot)]) == 3
    err = capfd.readouterr().err
    assert err.startswith("recast: error: internal error: BrokenPipeError") and err.count("\n") == 1
