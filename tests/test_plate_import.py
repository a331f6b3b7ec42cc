"""``recast plate import``: movies become EXR/PNG plates with fps, timecode and colour kept."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from recast.pipeline.color import ColorContext
from recast.pipeline.errors import ColorError, PlateError
from recast.pipeline.movie import ImportOptions, Timecode, import_movie, movie_space
from recast.pipeline.plateio import read_plate
from recast.pipeline.sequence import PlateSequence
from tests._fixtures_plates import make_movie, recast


def test_timecode_arithmetic() -> None:
    tc = Timecode.parse("01:02:03:04", Fraction(24))
    assert str(tc + 20) == "01:02:04:00"
    assert tc.smpte() == (0x01020304, 0)
    df = Timecode.parse("00:00:59;29", Fraction(30000, 1001))
    assert str(df + 1) == "00:01:00;02"  # frames 00 and 01 are dropped at each minute but every tenth
    assert str(Timecode.parse("00:09:59;29", Fraction(30000, 1001)) + 1) == "00:10:00;00"
    assert (df + 1).smpte()[0] & (1 << 6)  # drop-frame flag
    with pytest.raises(PlateError, match="timecode '1:2:3'"):
        Timecode.parse("1:2:3", Fraction(24))


def test_movie_space_from_transfer() -> None:
    cc = ColorContext()
    assert movie_space(cc, 1, None) == "Camera Rec.709"
    assert movie_space(cc, 13, None) == "sRGB Encoded Rec.709 (sRGB)"
    assert movie_space(cc, 16, "Rec.2100-PQ - Display") == "Rec.2100-PQ - Display"
    with pytest.raises(ColorError, match=r"PQ .* pass --colorspace"):
        movie_space(cc, 16, None)


def test_import_exr_keeps_fps_timecode_and_linearises(tmp_path: Path) -> None:
    movie = tmp_path / "edit.mov"
    src = make_movie(movie, frames=8, fps=Fraction(24000, 1001), timecode="10:00:00:00")
    proc = recast("plate", "import", str(movie), "--out", str(tmp_path / "plates" / "edit.####.exr"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["written"] == list(range(1001, 1009)) and report["bad"] == [] and report["clean"]
    assert report["fps"] == "24000/1001" and report["timecode"] == "10:00:00:00"
    seq = PlateSequence.open(tmp_path / "plates")
    assert seq.frames == list(range(1001, 1009)) and seq.missing == []
    plate = read_plate(seq.path(1004))
    assert plate.pixel_type == "half" and plate.channel_names == ["R", "G", "B"]
    attrs = plate.attributes
    assert attrs["FramesPerSecond"] == [24000, 1001] and attrs["PixelAspectRatio"] == 1.0
    assert attrs["recast/timecode"] == "10:00:00:03"
    assert attrs["smpte:TimeCode"][0] == 0x10000003
    assert attrs["recast/colorspace"] == "Linear Rec.709 (sRGB)"
    assert ColorContext().plate_space(plate) == "Linear Rec.709 (sRGB)"
    # back through OCIO to the movie's encoding, it is the movie picture (codec loss only)
    video = ColorContext().convert(plate.pixels, "Linear Rec.709 (sRGB)", "Camera Rec.709")
    assert float(np.abs(video - src[3] / 255.0).mean()) < 0.03
    assert float(plate.pixels.mean()) < float((src[3] / 255.0).mean())  # linear is darker than encoded


def test_matroska_timecode_tag_is_read(tmp_path: Path) -> None:
    movie = tmp_path / "tc.mkv"
    make_movie(movie, frames=2, timecode="01:00:00:10", fps=Fraction(25))
    report = import_movie(movie, ImportOptions(out_pattern=str(tmp_path / "p" / "m.####.exr")), ColorContext())
    assert report.timecode == "01:00:00:10" and report.fps == "25"
    assert read_plate(tmp_path / "p" / "m.1002.exr").attributes["recast/timecode"] == "01:00:00:11"


def test_import_png_and_frame_range(tmp_path: Path) -> None:
    movie = tmp_path / "clip.mov"
    make_movie(movie, frames=10, pixel_aspect=Fraction(2, 1))  # anamorphic
    out = tmp_path / "png" / "clip.%04d.png"
    proc = recast(
        "plate", "import", str(movie), "--out", str(out), "--start", "1", "--frames", "3-5", "--colorspace", "srgb_tx"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.0003.png", "clip.0004.png", "clip.0005.png"]
    plate = read_plate(out.parent / "clip.0004.png")
    assert plate.pixel_type == "uint16" and plate.attributes["PixelAspectRatio"] == 2.0
    assert plate.attributes["recast/fps"] == "24"
    codes = np.round(plate.pixels * 65535)
    assert np.array_equal(codes % 257, np.zeros_like(codes))  # sRGB movie -> sRGB PNG: 8-bit values exact


def test_damaged_movie_keeps_good_frames_and_lists_bad(tmp_path: Path) -> None:
    movie = tmp_path / "damaged.avi"
    make_movie(movie, frames=24)
    data = bytearray(movie.read_bytes())
    rng = np.random.default_rng(1)
    for off in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        data[off : off + 200] = rng.bytes(200)
    movie.write_bytes(bytes(data))
    out = tmp_path / "dmg" / "d.####.exr"
    proc = recast("plate", "import", str(movie), "--out", str(out), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["clean"] is False and report["bad"]
    assert len(report["written"]) >= 12  # the good frames are kept
    assert all(line.startswith(f"recast: {movie}: ") for line in proc.stderr.strip().splitlines())
    written = sorted(int(p.name.split(".")[1]) for p in out.parent.iterdir())
    assert written == report["written"]
    bad_frames = {b["frame"] for b in report["bad"]}
    assert not bad_frames & set(written)


def test_truncated_movie_reports_lost_tail(tmp_path: Path) -> None:
    movie = tmp_path / "cut.avi"
    make_movie(movie, frames=48)
    data = movie.read_bytes()
    movie.write_bytes(data[: int(len(data) * 0.7)])
    report = import_movie(movie, ImportOptions(out_pattern=str(tmp_path / "cut" / "c.####.exr")), ColorContext())
    assert report.written and not report.clean
    assert max(report.written) < 1047
    assert any(b.kind == "absent" for b in report.bad)


def test_bad_timecode_tag_does_not_cost_the_pictures(tmp_path: Path) -> None:
    movie = tmp_path / "tc.mkv"  # Matroska keeps the tag as text (upper-case TIMECODE)
    make_movie(movie, frames=3, timecode="10:77:00:00")  # minutes out of range
    proc = recast("plate", "import", str(movie), "--out", str(tmp_path / "p" / "tc.####.exr"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["written"] == [1001, 1002, 1003] and report["timecode"] is None
    assert "timecode '10:77:00:00'" in report["warnings"][0]
    assert proc.stderr.startswith("recast: warning: ")


@pytest.mark.parametrize("kind", ["garbage", "missing", "empty", "bad_out"])
def test_bad_movie_inputs_write_nothing(tmp_path: Path, kind: str) -> None:
    movie = tmp_path / "in.mov"
    out = tmp_path / "out" / "x.####.exr"
    if kind == "garbage":
        movie.write_bytes(np.random.default_rng(2).bytes(20000))
    elif kind == "empty":
        movie.write_bytes(b"")
    elif kind == "bad_out":
        make_movie(movie, frames=3)
        out = tmp_path / "out" / "x.####.jpg"
    proc = recast("plate", "import", str(movie), "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recast: error: ")
    assert (str(movie) if kind != "bad_out" else "x.####.jpg") in lines[0]
    assert not out.parent.exists()


def test_import_megamind_clip(test_media: Path, tmp_path: Path) -> None:
    out = tmp_path / "mm" / "megamind.####.exr"
    proc = recast(
        "plate", "import", str(test_media / "Megamind.avi"), "--out", str(out), "--frames", "1001-1006", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["written"] == list(range(1001, 1007))
    assert (report["width"], report["height"]) == (720, 528)
    assert report["fps"] == "2997/125"
    info = json.loads(recast("plate", "info", str(out.parent), "--json").stdout)
    assert info["width"] == 720 and info["height"] == 528 and info["frames"] == list(range(1001, 1007))
    check = recast("plate", "check", str(out), "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["clean"] is True


def test_high_bit_depth_movie_keeps_precision(tmp_path: Path) -> None:
    """A 10-bit lossless movie decodes through the 16-bit path: more than 256 levels survive."""
    movie = tmp_path / "deep.mkv"
    src = make_movie(movie, frames=3, width=32, height=16, codec="ffv1", pix_fmt="yuv444p10le")
    out = tmp_path / "deep" / "deep.####.png"
    proc = recast("plate", "import", str(movie), "--out", str(out), "--colorspace", "srgb_tx", "--json")
    assert proc.returncode == 0, proc.stderr
    plate = read_plate(out.parent / "deep.1002.png")
    codes = np.round(plate.pixels * 65535).astype(np.int64)
    assert np.count_nonzero(codes % 257) > codes.size // 2  # not 8-bit values widened
    assert float(np.abs(plate.pixels - src[1] / 65535.0).max()) < 4 / 1023  # 10-bit YUV 4:4:4 rounding
