"""``recast faces`` through a subprocess, on EXR plates made from package-shipped faces."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from _faces_fixtures import astronaut, srgb_to_linear, standin_pack
from recast.pipeline.plateio import new_spec, write_image

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recast", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def plate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 1001-1004: the astronaut sliding right (scene-linear half EXR, 512x512);
    frame 1005: black."""
    d = tmp_path_factory.mktemp("faces_cli")
    img = astronaut()
    for i in range(4):
        m = np.array([[1.0, 0.0, 4.0 * i], [0.0, 1.0, 0.0]], np.float32)
        frame = cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
        write_image(d / f"shot.{1001 + i:04d}.exr", srgb_to_linear(frame), new_spec(512, 512, ["R", "G", "B"]))
    write_image(d / "shot.1005.exr", np.zeros((512, 512, 3), np.float32), new_spec(512, 512, ["R", "G", "B"]))
    return d


def test_json_lists_faces_per_frame_with_one_track(plate: Path, tmp_path: Path) -> None:
    res = _run("faces", str(plate / "shot.####.exr"), "--json", "--overlay", str(tmp_path / "ov"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [r["frame"] for r in out["frames"]] == [1001, 1002, 1003, 1004, 1005]
    assert out["frames"][-1]["faces"] == []  # black frame: zero faces, no error
    main = [max(r["faces"], key=lambda f: f["score"]) for r in out["frames"][:4]]
    assert {f["track_id"] for f in main} == {1}
    xs = [(f["box"][0] + f["box"][2]) / 2 for f in main]
    assert all(b > a for a, b in itertools.pairwise(xs))  # the face moves right
    assert all(f["source"] == "detected" and len(f["kps5"]) == 5 for f in main)
    assert out["backend"] == "dlib" and out["failed_frames"] == 0
    assert any(lic["commercial_use"] is False for lic in out["licences"])  # the 68-point model is listed
    assert "non-commercial" in res.stderr  # and its use is printed
    pngs = sorted(p.name for p in (tmp_path / "ov").iterdir())
    assert pngs == [f"shot.{f}.png" for f in range(1001, 1006)]
    proxy = cv2.imread(str(tmp_path / "ov" / "shot.1001.png"))
    assert proxy.shape == (512, 512, 3)


def test_text_output_frames_subset_and_commercial_only(plate: Path) -> None:
    res = _run("faces", str(plate / "shot.####.exr"), "--frames", "1002-1003", "--commercial-only")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("1002  track 1 box") and lines[1].startswith("1003  track 1 box")
    assert "2 frame(s)" in lines[-1]
    assert "non-commercial" not in res.stderr


def test_damaged_frame_is_reported_and_the_rest_go_on(plate: Path, tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    for f in (1001, 1002):
        (d / f"shot.{f}.exr").write_bytes((plate / f"shot.{f}.exr").read_bytes())
    (d / "shot.1003.exr").write_bytes(b"not an exr at all")
    res = _run("faces", str(d / "shot.####.exr"), "--json")
    assert res.returncode == 1
    out = json.loads(res.stdout)
    errors = {r["frame"]: r["error"] for r in out["frames"]}
    assert errors[1001] is None and errors[1002] is None
    assert "shot.1003.exr" in errors[1003] and "\n" not in errors[1003]
    assert out["failed_frames"] == 1


def test_a_crash_in_one_frame_is_recorded_and_the_rest_go_on(plate: Path, tmp_path: Path) -> None:
    """Not only RecastErrors: an OSError (the overlay's name is taken by a folder) fails that frame alone."""
    overlay = tmp_path / "ov"
    (overlay / "shot.1002.png").mkdir(parents=True)
    res = _run("faces", str(plate / "shot.####.exr"), "--frames", "1001-1003", "--overlay", str(overlay), "--json")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    out = json.loads(res.stdout)
    errors = {r["frame"]: r["error"] for r in out["frames"]}
    assert errors[1001] is None and errors[1003] is None
    assert errors[1002].startswith("IsADirectoryError: ") and "\n" not in errors[1002]
    assert out["failed_frames"] == 1 and out["frames"][2]["faces"]  # the run went on, tracking too
    assert (overlay / "shot.1003.png").is_file()


def test_single_channel_luminance_plate(tmp_path: Path) -> None:
    grey = srgb_to_linear(astronaut()).mean(axis=2, keepdims=True)
    write_image(tmp_path / "y.1001.exr", grey, new_spec(512, 512, ["Y"]))
    res = _run("faces", str(tmp_path / "y.####.exr"), "--json", "--colorspace", "lin_rec709")
    assert res.returncode == 0, res.stderr
    faces = json.loads(res.stdout)["frames"][0]["faces"]
    best = max(faces, key=lambda f: f["score"])
    assert 150 < (best["box"][0] + best["box"][2]) / 2 < 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["faces", "/nonexistent/shot.####.exr"], "nonexistent"),
        (["faces", "{plate}", "--backend", "mtcnn"], "unknown face analyser backend 'mtcnn'"),
        (["faces", "{plate}", "--backend", "insightface"], "the insightface backend needs a model pack"),
        (
            ["faces", "{plate}", "--backend", "insightface", "--models", "/nope/buffalo_l"],
            "/nope/buffalo_l: insightface model pack not found",
        ),
        (["faces", "{plate}", "--detect-size", "5"], "--detect-size: 5 is not in 64..8192"),
        (["faces", "{plate}", "--colorspace", "nope"], "colourspace 'nope'"),
    ],
)
def test_user_errors_are_one_line(plate: Path, args: list[str], message: str) -> None:
    res = _run(*[a.replace("{plate}", str(plate / "shot.####.exr")) for a in args])
    assert res.returncode == 2, res.stderr
    err = [line for line in res.stderr.splitlines() if line.startswith("recast: error:")]
    assert len(err) == 1 and message in err[0], res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_insightface_backend_with_standin_pack(tmp_path: Path) -> None:
    """Stand-in ONNX models (not insightface's weights) prove the CLI wiring of the backend."""
    pack = standin_pack(tmp_path / "pack")
    img = np.zeros((1080, 1920, 3), np.float32)
    img[432:528, 1008:1104] = 1.0
    write_image(tmp_path / "sq.1001.exr", img, new_spec(1920, 1080, ["R", "G", "B"]))
    res = _run("faces", str(tmp_path / "sq.####.exr"), "--backend", "insightface", "--models", str(pack), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    faces = out["frames"][0]["faces"]
    assert len(faces) == 1 and faces[0]["embedding_kind"] == "arcface512"
    assert out["backend"] == "insightface"


def test_a_depth_first_multipart_plate_is_read_at_its_colour_part_and_depth_only_is_refused(tmp_path: Path) -> None:
    """A multipart EXR that stores its depth part first: faces are found in its colour part
    (the part swap reads); a depth-only plate is refused in one line, not "no faces"."""
    import OpenImageIO as oiio

    rgb = srgb_to_linear(astronaut())
    specs = [new_spec(512, 512, ["Z"], "float"), new_spec(512, 512, ["R", "G", "B"])]
    specs[0].attribute("name", "depth")
    specs[1].attribute("name", "rgba")
    for frame in (1001, 1002):
        path = tmp_path / f"multi.{frame}.exr"
        out = oiio.ImageOutput.create(str(path))
        assert out.open(str(path), specs), out.geterror()
        assert out.write_image(np.ones((512, 512, 1), np.float32))
        assert out.open(str(path), specs[1], "AppendSubimage") and out.write_image(rgb), out.geterror()
        out.close()
        write_image(tmp_path / f"depth.{frame}.exr", np.ones((512, 512, 1), np.float32), new_spec(512, 512, ["Z"], "float"))
    res = _run("faces", str(tmp_path / "multi.####.exr"), "--json")
    assert res.returncode == 0, res.stderr
    assert all(len(r["faces"]) == 1 for r in json.loads(res.stdout)["frames"])
    res = _run("faces", str(tmp_path / "depth.####.exr"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(lines) == 1 and "no colour channels" in lines[0], res.stderr


def test_a_gap_and_an_odd_sized_frame_are_failed_frames_named(plate: Path, tmp_path: Path) -> None:
    """As swap says of them: without --frames the plate runs first to last on disk, a missing
    frame and a frame of another size each fail, named; the others are analysed."""
    for f in (1001, 1003):
        (tmp_path / f"gap.{f}.exr").write_bytes((plate / f"shot.{f}.exr").read_bytes())
    write_image(tmp_path / "gap.1004.exr", np.zeros((64, 64, 3), np.float32), new_spec(64, 64, ["R", "G", "B"]))
    res = _run("faces", str(tmp_path / "gap.####.exr"), "--json")
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    errors = {r["frame"]: r["error"] for r in out["frames"]}
    assert list(errors) == [1001, 1002, 1003, 1004] and out["failed_frames"] == 2
    assert "missing on disk" in errors[1002] and "size 64x64 differs" in errors[1004]
    assert errors[1001] is None and errors[1003] is None
