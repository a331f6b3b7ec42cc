"""Sequence patterns, frame lists and gap detection on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from recast.pipeline.errors import SequenceError
from recast.pipeline.sequence import PlateSequence, format_frames, frame_path, parse_frames
from tests._fixtures_plates import make_sequence


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
        ("1001-1010x3", [1001, 1004, 1007, 1010]),
        ("1001,1005,1010-1012", [1001, 1005, 1010, 1011, 1012]),
        ("7", [7]),
        ("5, 3, 3-4", [3, 4, 5]),
    ],
)
def test_parse_frames(text: str, frames: list[int]) -> None:
    assert parse_frames(text) == frames


@pytest.mark.parametrize(
    "text",
    ["", "  ", "1001-", "a-b", "10-1", "1-10x0", "1-10x", "1..5", "1001-1100,,", "1-10y3", "1-10:3", "1-10#", "1.5"],
)
def test_parse_frames_rejects(text: str) -> None:
    with pytest.raises(SequenceError, match="frames"):
        parse_frames(text)


def test_parse_frames_refuses_absurd_lists() -> None:
    with pytest.raises(SequenceError, match="more than"):
        parse_frames("1-999999999")


def test_format_frames_is_inverse_of_parse() -> None:
    frames = [1001, 1002, 1003, 1007, 1010, 1011]
    assert format_frames(frames) == "1001-1003,1007,1010-1011"
    assert parse_frames(format_frames(frames)) == frames


@pytest.fixture()
def gappy(tmp_path: Path) -> Path:
    d = tmp_path / "plates"
    make_sequence(d, "shot_v001", [1001, 1002, 1004, 1005, 1008], width=8, height=6)
    (d / ".shot_v001.1003.exr.tmp-12-ab12cd34.exr").write_bytes(b"half written")  # a killed write
    (d / "notes.txt").write_text("not a frame")
    return d


@pytest.mark.parametrize("form", ["shot_v001.####.exr", "shot_v001.%04d.exr", "shot_v001.@@@@.exr", ""])
def test_open_forms_find_frames_and_gaps(gappy: Path, form: str) -> None:
    d = gappy
    if form == "":
        (d / "notes.txt").unlink()  # a directory must hold ONE sequence
    seq = PlateSequence.open(d / form if form else d)
    assert seq.frames == [1001, 1002, 1004, 1005, 1008]
    assert seq.missing == [1003, 1006, 1007]
    assert seq.name == "shot_v001" and seq.ext == "exr" and seq.padding == 4
    assert seq.pattern == str(d / "shot_v001.####.exr")
    assert seq.path(1004) == d / "shot_v001.1004.exr" and seq.path(1004).is_file()
    assert seq.path(1006) == d / "shot_v001.1006.exr"  # gaps and outputs get a path too


def test_directory_with_two_sequences_is_refused(gappy: Path) -> None:
    make_sequence(gappy, "other", [1], width=4, height=4)
    with pytest.raises(SequenceError, match="more than one sequence"):
        PlateSequence.open(gappy)


def test_padding_is_strict_but_wide_frames_fit(tmp_path: Path) -> None:
    for name in ("s.0998.exr", "s.0999.exr", "s.10000.exr", "s.00999.exr", "s.999.exr"):
        (tmp_path / name).write_bytes(b"x")
    seq = PlateSequence.open(tmp_path / "s.####.exr")
    assert seq.frames == [998, 999, 10000]  # "00999" and "999" are not 4-padded
    unpadded = PlateSequence.open(tmp_path / "s.%d.exr")
    assert unpadded.frames == [999, 10000]


def test_stray_far_frame_is_refused_not_listed(tmp_path: Path) -> None:
    for name in ("s.0001.exr", "s.0002.exr", "s.99999999.exr"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(SequenceError, match=r"frames 1-99999999 span more than"):
        PlateSequence.open(tmp_path / "s.####.exr")


def test_single_files(tmp_path: Path) -> None:
    make_sequence(tmp_path, "hero", [1042], width=4, height=4)
    one = PlateSequence.open(tmp_path / "hero.1042.exr")
    assert one.frames == [1042] and one.missing == [] and one.name == "hero" and one.padding == 4
    assert one.path(1042) == tmp_path / "hero.1042.exr"
    still = tmp_path / "still.png"
    still.write_bytes(b"x")
    s = PlateSequence.open(still)
    assert s.frames == [1] and s.name == "still" and s.ext == "png" and s.path(1) == still


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("nowhere/shot.####.exr", "directory .* not found"),
        ("shot.####.exr", "no frames found"),
        ("missing.exr", "file not found"),
        ("a.##.v###.exr", "more than one frame token"),
    ],
)
def test_open_errors_name_the_pattern(tmp_path: Path, pattern: str, message: str) -> None:
    with pytest.raises(SequenceError, match=message) as err:
        PlateSequence.open(tmp_path / pattern)
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_select_and_output_paths(gappy: Path) -> None:
    seq = PlateSequence.open(gappy / "shot_v001.####.exr")
    assert seq.select("1001-1002") == [1001, 1002]
    assert seq.select(None) == seq.frames
    with pytest.raises(SequenceError, match="not on disk: 1003,1006-1007"):
        seq.select("1001-1008")
    assert frame_path(gappy / "out" / "comp.%05d.exr", 12) == gappy / "out" / "comp.00012.exr"
    with pytest.raises(SequenceError, match="needs a frame token"):
        frame_path(gappy / "comp.exr", 1)
