"""inswapper backend plumbing with STAND-IN ONNX files (exact inswapper_128 / ArcFace signatures).

The swapper stand-in paints magenta (or passes the aligned crop through) and
carries a random 512x512 emap as its last initializer, like the real file; the
ArcFace stand-in is a pooled random projection. Faces come from real images
(astronaut as the actor, insightface's t1.jpg as the plate).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from _onnx_standins import (
    arcface_standin,
    astronaut_png,
    consent_json,
    insightface_image,
    inswapper_standin,
    write_png,
    wrong_standin,
)
from onnx import numpy_helper

from recast.models.actor import build_actor, load_actor, models_root
from recast.models.base import SWAPPERS, ActorModel
from recast.pipeline.errors import ActorError
from recast.pipeline.faces import create_analyser
from recast.pipeline.types import Face

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plate_faces() -> tuple[np.ndarray, list[Face]]:
    plate = insightface_image("t1.jpg")
    faces = create_analyser("dlib").analyse(plate, embed=False)
    assert len(faces) >= 4
    return plate, faces


def loose_crop(plate: np.ndarray, face: Face) -> tuple[np.ndarray, Face]:
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0) * 3
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx0, by0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    bx1, by1 = min(plate.shape[1], int(cx + side / 2)), min(plate.shape[0], int(cy + side / 2))
    off = np.array([bx0, by0], float)
    moved = dataclasses.replace(face, box=face.box - np.r_[off, off], kps5=face.kps5 - off, landmarks=None if face.landmarks is None else face.landmarks - off)
    return plate[by0:by1, bx0:bx1].copy(), moved


def make_actor(tmp_path: Path, name: str, colour: tuple[float, float, float] | None = (1.0, 0.0, 1.0)) -> ActorModel:
    model = inswapper_standin(tmp_path / "inswapper_128.onnx", colour=colour)
    arc = arcface_standin(tmp_path / "w600k_r50.onnx")
    imgs = [astronaut_png(tmp_path / "imgs" / "astronaut.png")]
    build_actor(name, imgs, consent_json(tmp_path / "consent.json"), backend="inswapper", model_file=model, options={"arcface": arc})
    return load_actor(name)


def test_build_stores_embedding_and_latent(tmp_path: Path) -> None:
    actor = make_actor(tmp_path, "astro")
    emb = np.load(actor.path("source_embedding.npy"))
    latent = np.load(actor.path("source_latent.npy"))
    assert emb.shape == (512,) and abs(np.linalg.norm(emb) - 1) < 1e-5
    emap = numpy_helper.to_array(onnx.load(str(actor.path("inswapper.onnx"))).graph.initializer[-1])
    want = emb @ emap
    np.testing.assert_allclose(latent, want / np.linalg.norm(want), atol=1e-5)
    files = {e["path"] for e in actor.manifest["files"]}
    assert {"inswapper.onnx", "source_embedding.npy", "source_latent.npy", "consent/consent.json"} <= files
    assert actor.manifest["model_files"][0]["path"] == "inswapper.onnx"
    assert actor.model_sha256 == actor.manifest["model_files"][0]["sha256"]
    assert any(lic["model"] == "arcface" for lic in actor.manifest["licences"])


def test_embedding_follows_the_actor_images(tmp_path: Path) -> None:
    """Different actor faces give different source embeddings (the ArcFace input is the aligned face)."""
    a = make_actor(tmp_path / "a", "one")
    plate = insightface_image("Tom_Hanks_54745.png")
    write_png(tmp_path / "b" / "imgs" / "hanks.png", (plate * 255).round().astype(np.uint8))
    b = build_actor("two", [tmp_path / "b" / "imgs"], consent_json(tmp_path / "b.json"), backend="inswapper",
                    model_file=a.path("inswapper.onnx"), options={"arcface": tmp_path / "a" / "w600k_r50.onnx"})
    ea, eb = np.load(a.path("source_embedding.npy")), np.load(b.path("source_embedding.npy"))
    assert float(ea @ eb) < 0.999


def test_paints_on_the_face_only(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    plate, faces = plate_faces
    actor = make_actor(tmp_path, "magenta")
    swapper = SWAPPERS.create("inswapper")
    for face in faces[:3]:
        crop, f = loose_crop(plate, face)
        res = swapper.swap(crop, f, actor)
        assert res.rgb.shape == crop.shape and res.matte is not None
        inside = res.matte > 0.95
        assert inside.sum() > 0.4 * f.width * f.height
        np.testing.assert_allclose(res.rgb[inside].mean(0), [1.0, 0.0, 1.0], atol=0.02)
        ys, xs = np.nonzero(inside)
        # the aligned square covers the five points and is centred near them
        assert np.linalg.norm(np.array([xs.mean(), ys.mean()]) - f.kps5.mean(0)) < 0.2 * f.size
        for x, y in f.kps5.round().astype(int):
            assert res.matte[y, x] > 0.95
        assert res.matte[:2, :2].max() == 0.0
        np.testing.assert_array_equal(res.rgb[:2, :2], crop[:2, :2])
    assert res.info["model_sha256"] == actor.model_sha256 and res.info["aligned_size"] == 128


def test_passthrough_model_round_trips_the_face(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    plate, faces = plate_faces
    actor = make_actor(tmp_path, "same", colour=None)
    crop, f = loose_crop(plate, faces[0])
    res = SWAPPERS.create("inswapper").swap(crop, f, actor)
    inside = res.matte > 0.95
    assert np.abs(res.rgb[inside] - crop[inside]).mean() < 0.03


def test_models_pack_dir_finds_arcface(tmp_path: Path) -> None:
    pack = tmp_path / "buffalo_l"
    arcface_standin(pack / "w600k_r50.onnx")
    model = inswapper_standin(tmp_path / "inswapper_128.onnx")
    actor = build_actor("p", [astronaut_png(tmp_path / "a.png")], consent_json(tmp_path / "c.json"), backend="inswapper", model_file=model, options={"models_dir": pack})
    assert actor.manifest["inswapper"]["arcface"]["file"] == str((pack / "w600k_r50.onnx").resolve())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ActorError, match="no ArcFace model"):
        build_actor("q", [tmp_path / "a.png"], consent_json(tmp_path / "c.json"), backend="inswapper", model_file=model, options={"models_dir": empty})
    with pytest.raises(ActorError, match="--arcface FILE or --models DIR"):
        build_actor("q", [tmp_path / "a.png"], consent_json(tmp_path / "c.json"), backend="inswapper", model_file=model)
    assert not (models_root() / "q").exists()
    assert [d.name for d in models_root().iterdir()] == ["p"]  # no temp folders left behind


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recast", *args], cwd=REPO, capture_output=True, text=True)


def test_wrong_signatures_are_named(tmp_path: Path) -> None:
    img = astronaut_png(tmp_path / "a.png")
    consent = consent_json(tmp_path / "c.json")
    wrong = wrong_standin(tmp_path / "wrong.onnx")
    good_arc = arcface_standin(tmp_path / "arc.onnx")
    good_swap = inswapper_standin(tmp_path / "swap.onnx")
    p = run_cli("actor", "build", "x", "--images", str(img), "--consent", str(consent), "--backend", "inswapper", "--model", str(wrong), "--arcface", str(good_arc))
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("recast: error:")]
    assert p.returncode == 2 and len(err) == 1 and "Traceback" not in p.stderr
    assert "wrong.onnx" in err[0] and "[1,3,128,128]" in err[0] and "[1,512]" in err[0] and "found inputs x[1,4]" in err[0]
    p = run_cli("actor", "build", "x", "--images", str(img), "--consent", str(consent), "--backend", "inswapper", "--model", str(good_swap), "--arcface", str(wrong))
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("recast: error:")]
    assert p.returncode == 2 and "wrong.onnx" in err[0] and "[1,3,112,112]" in err[0] and "found inputs x[1,4]" in err[0]
    # an inswapper-shaped graph whose last initializer is not the 512x512 emap
    import onnx as _onnx

    m = _onnx.load(str(good_swap))
    last = m.graph.initializer.pop()
    m.graph.initializer.insert(0, last)
    _onnx.save(m, str(tmp_path / "noemap.onnx"))
    p = run_cli("actor", "build", "x", "--images", str(img), "--consent", str(consent), "--backend", "inswapper", "--model", str(tmp_path / "noemap.onnx"), "--arcface", str(good_arc))
    assert p.returncode == 2 and "last initializer of shape" in p.stderr
    assert not models_root().exists() or not any(models_root().iterdir())


def test_tampered_model_is_refused_at_load(tmp_path: Path) -> None:
    from recast.pipeline.errors import IntegrityError

    actor = make_actor(tmp_path, "t")
    model = actor.path("inswapper.onnx")
    load_actor("t")
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="inswapper.onnx"):
        load_actor("t")
