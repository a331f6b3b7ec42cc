"""Enhancer stage with STAND-IN ONNX files (GFPGAN/CodeFormer export signatures).

The stand-in paints green (or passes through) on the FFHQ-aligned 512 square;
the tests check it lands on a real face (t1.jpg), the blend weight, the
hash/licence rules of installed enhancers and the signature check.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _onnx_standins import enhancer_standin, insightface_image, wrong_standin

from recast.models.base import ENHANCERS
from recast.pipeline.errors import ActorError, IntegrityError, SpecError
from recast.pipeline.faces import create_analyser
from recast.pipeline.types import Face

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def face_crop() -> tuple[np.ndarray, Face]:
    plate = insightface_image("t1.jpg")
    face = max(create_analyser("dlib").analyse(plate, embed=False), key=lambda f: f.size)
    x0, y0, x1, y1 = face.box
    side = (x1 - x0) * 3
    bx0, by0 = int(max(0, (x0 + x1) / 2 - side / 2)), int(max(0, (y0 + y1) / 2 - side / 2))
    bx1, by1 = int(min(plate.shape[1], bx0 + side)), int(min(plate.shape[0], by0 + side))
    off = np.array([bx0, by0], float)
    moved = dataclasses.replace(face, box=face.box - np.r_[off, off], kps5=face.kps5 - off, landmarks=face.landmarks - off)
    return plate[by0:by1, bx0:bx1].copy(), moved


def recast(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *map(str, args)], cwd=REPO, capture_output=True, text=True, env=os.environ.copy())


def install(tmp_path: Path, kind: str = "gfpgan", **kw: object) -> Path:
    model = enhancer_standin(tmp_path / f"{kind}.onnx", **kw)  # type: ignore[arg-type]
    proc = recast("actor", "enhancer", kind, "--model", model, "--licence", "Apache-2.0 (stand-in)", "--json")
    assert proc.returncode == 0, proc.stderr
    return Path(json.loads(proc.stdout)["root"])


def test_not_installed_says_how(tmp_path: Path) -> None:
    with pytest.raises(ActorError, match="no 'gfpgan' enhancer installed.*recast actor enhancer gfpgan --model FILE --licence TEXT"):
        ENHANCERS.create("gfpgan")


def test_paints_the_face_and_blends(tmp_path: Path, face_crop: tuple[np.ndarray, Face]) -> None:
    crop, face = face_crop
    root = install(tmp_path)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["licence"] == "Apache-2.0 (stand-in)" and len(manifest["sha256"]) == 64
    full = ENHANCERS.create("gfpgan", blend=1.0).enhance(crop, face)
    assert full.shape == crop.shape and full.dtype == np.float32
    # the eyes, nose and mouth turn green; the crop corners are untouched
    for x, y in face.kps5.round().astype(int):
        np.testing.assert_allclose(full[y, x], [0.0, 1.0, 0.0], atol=0.02)
    np.testing.assert_array_equal(full[:2, :2], crop[:2, :2])
    np.testing.assert_array_equal(full[-2:, -2:], crop[-2:, -2:])
    half = ENHANCERS.create("gfpgan", blend=0.5).enhance(crop, face)
    x, y = face.kps5[2].round().astype(int)
    np.testing.assert_allclose(half[y, x], 0.5 * crop[y, x] + 0.5 * np.array([0.0, 1.0, 0.0]), atol=0.02)
    off = ENHANCERS.create("gfpgan", blend=0.0).enhance(crop, face)
    np.testing.assert_array_equal(off, crop)


def test_passthrough_round_trip(tmp_path: Path, face_crop: tuple[np.ndarray, Face]) -> None:
    crop, face = face_crop
    install(tmp_path, colour=None)
    out = ENHANCERS.create("gfpgan").enhance(crop, face)
    x0, y0, x1, y1 = face.box.round().astype(int)
    assert np.abs(out[y0:y1, x0:x1] - crop[y0:y1, x0:x1]).mean() < 0.02


def test_other_square_sizes_use_the_scaled_template(tmp_path: Path, face_crop: tuple[np.ndarray, Face]) -> None:
    """A GPEN-BFR-256-like export: the FFHQ template is scaled to 256 and still lands on the face."""
    crop, face = face_crop
    install(tmp_path, size=256)
    enh = ENHANCERS.create("gfpgan")
    assert enh.layout.size == 256
    out = enh.enhance(crop, face)
    for x, y in face.kps5.round().astype(int):
        np.testing.assert_allclose(out[y, x], [0.0, 1.0, 0.0], atol=0.02)
    np.testing.assert_array_equal(out[:2, :2], crop[:2, :2])


def test_codeformer_fidelity_input(tmp_path: Path, face_crop: tuple[np.ndarray, Face]) -> None:
    crop, face = face_crop
    install(tmp_path, "codeformer", codeformer=True)
    enh = ENHANCERS.create("codeformer", fidelity=0.7)
    assert list(enh.layout.scalars) == ["weight"]
    x, y = face.kps5[0].round().astype(int)
    np.testing.assert_allclose(enh.enhance(crop, face)[y, x], [0.0, 1.0, 0.0], atol=0.02)


def test_tampered_enhancer_is_refused(tmp_path: Path) -> None:
    root = install(tmp_path)
    model = root / "model.onnx"
    data = bytearray(model.read_bytes())
    data[-5] ^= 0x10
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.onnx: sha256 does not match"):
        ENHANCERS.create("gfpgan")


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    wrong = wrong_standin(tmp_path / "wrong.onnx")
    proc = recast("actor", "enhancer", "gfpgan", "--model", wrong, "--licence", "x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "wrong.onnx: wrong ONNX signature" in proc.stderr and "[1,3,S,S]" in proc.stderr and "found inputs x[1,4]" in proc.stderr
    tiny = enhancer_standin(tmp_path / "tiny.onnx", size=64)
    proc = recast("actor", "enhancer", "gfpgan", "--model", tiny, "--licence", "x")
    assert proc.returncode == 2 and "found inputs input[1,3,64,64]" in proc.stderr
    install(tmp_path)
    again = recast("actor", "enhancer", "gfpgan", "--model", tmp_path / "gfpgan.onnx", "--licence", "x")
    assert again.returncode == 2 and "already installed" in again.stderr and "--force" in again.stderr
    with pytest.raises(SpecError, match="enhancer_blend 1.5"):
        ENHANCERS.create("gfpgan", blend=1.5)
    with pytest.raises(ActorError, match="choose one of gfpgan, codeformer"):
        from recast.models.swappers.enhancer import install_enhancer

        install_enhancer("esrgan", tmp_path / "gfpgan.onnx", "x")
