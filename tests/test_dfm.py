"""dfm backend plumbing with STAND-IN .dfm files (exact DeepFaceLab export tensor names).

The stand-ins paint a known colour inside a centred disc mask, so the tests
check where the output lands on real faces (insightface's t1.jpg), the BGR
channel order, the face-type crop geometry and the AMP morph input.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _onnx_standins import (
    astronaut_png,
    consent_json,
    dfm_standin,
    insightface_image,
    wrong_standin,
)

from recast.models.actor import build_actor, load_actor
from recast.models.base import SWAPPERS, ActorModel
from recast.pipeline.faces import create_analyser
from recast.pipeline.types import Face

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plate_faces() -> tuple[np.ndarray, list[Face]]:
    plate = insightface_image("t1.jpg")
    faces = create_analyser("dlib").analyse(plate, embed=False)
    assert len(faces) >= 4
    return plate, faces


def loose_crop(plate: np.ndarray, face: Face, grow: float = 1.0) -> tuple[np.ndarray, Face, tuple[int, int]]:
    """The engine's contract: a loose axis-aligned crop, the face moved into crop coordinates."""
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * grow)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx0, by0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    bx1, by1 = min(plate.shape[1], int(cx + side / 2)), min(plate.shape[0], int(cy + side / 2))
    off = np.array([bx0, by0], float)
    moved = dataclasses.replace(
        face,
        box=face.box - np.r_[off, off],
        kps5=face.kps5 - off,
        landmarks=None if face.landmarks is None else face.landmarks - off,
    )
    return plate[by0:by1, bx0:bx1].copy(), moved, (bx0, by0)


def make_actor(tmp_path: Path, name: str, **kw: object) -> ActorModel:
    opts = dict(kw.pop("options", {}) or {})  # type: ignore[call-overload]
    model = dfm_standin(tmp_path / f"{name}.dfm", **kw)  # type: ignore[arg-type]
    build_actor(name, [astronaut_png(tmp_path / "astronaut.png")], consent_json(tmp_path / "consent.json"), backend="dfm", model_file=model, options=opts)
    return load_actor(name)


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_colour_lands_on_the_face_in_rgb_order(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    plate, faces = plate_faces
    actor = make_actor(tmp_path, "red", colour_bgr=(0.0, 0.0, 1.0))  # BGR red
    swapper = SWAPPERS.create("dfm")
    for face in faces[:3]:
        crop, f, _ = loose_crop(plate, face)
        res = swapper.swap(crop, f, actor)
        assert res.rgb.shape == crop.shape and res.matte is not None and res.matte.shape == crop.shape[:2]
        inside = res.matte > 0.95
        assert inside.sum() > 0.3 * f.width * f.height
        # the model's BGR (0, 0, 1) arrives as RGB red
        np.testing.assert_allclose(res.rgb[inside].mean(0), [1.0, 0.0, 0.0], atol=0.02)
        # the matte sits on the face: its centre near the landmarks' centre, within a fifth of the face
        assert np.linalg.norm(centroid(inside) - f.landmarks.mean(0)) < 0.2 * f.size
        # far from the face nothing changes
        assert res.matte[:3, :3].max() == 0.0 and res.matte[-3:, -3:].max() == 0.0
        np.testing.assert_array_equal(res.rgb[:3, :3], crop[:3, :3])
        # the red never leaves the matte's neighbourhood: the blended crop is unchanged where matte == 0
        a = res.matte[..., None]
        blended = crop * (1 - a) + res.rgb * a
        np.testing.assert_array_equal(blended[res.matte == 0], crop[res.matte == 0])
    assert res.info["aligned_from"] == "dlib68" and res.info["face_type"] == "whole_face"
    assert res.info["model_sha256"] == actor.model_sha256


def test_passthrough_model_round_trips_the_face(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    plate, faces = plate_faces
    actor = make_actor(tmp_path, "same", colour_bgr=None, resolution=128)
    crop, f, _ = loose_crop(plate, faces[0])
    res = SWAPPERS.create("dfm").swap(crop, f, actor)
    inside = res.matte > 0.95
    err = np.abs(res.rgb[inside] - crop[inside]).mean()
    assert err < 0.03, f"identity model changed the face by {err:.3f} on average: alignment or channel order is off"


def test_face_type_sets_the_crop_size(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    """DeepFaceLab's padding: 'full' = 0.2109375, 'whole_face' = 0.40 -> square sides in ratio (0.2109*sqrt2+.5)/(0.4*sqrt2+.5)."""
    plate, faces = plate_faces
    crop, f, _ = loose_crop(plate, faces[1], grow=1.5)
    areas = {}
    for ft in ("full", "whole_face"):
        actor = make_actor(tmp_path / ft, f"a-{ft.replace('_', '-')}", options={"face_type": ft})
        res = SWAPPERS.create("dfm").swap(crop, f, actor)
        areas[ft] = float(res.matte.sum())
    ratio = areas["full"] / areas["whole_face"]
    expected = ((0.2109375 * np.sqrt(2) + 0.5) / (0.4 * np.sqrt(2) + 0.5)) ** 2
    assert ratio == pytest.approx(expected, rel=0.06)


def test_amp_model_gets_the_morph_value(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    plate, faces = plate_faces
    actor = make_actor(tmp_path, "amp", colour_bgr=(0.0, 0.0, 0.0), amp=True, morph_delta_bgr=(0.0, 1.0, 0.0), options={"morph": 0.3})
    assert actor.manifest["dfm"]["amp"] is True
    crop, f, _ = loose_crop(plate, faces[0])
    res = SWAPPERS.create("dfm").swap(crop, f, actor)
    inside = res.matte > 0.95
    np.testing.assert_allclose(res.rgb[inside].mean(0), [0.0, 0.3, 0.0], atol=0.02)
    res2 = SWAPPERS.create("dfm", options={"morph": 0.8}).swap(crop, f, actor)
    np.testing.assert_allclose(res2.rgb[res2.matte > 0.95].mean(0), [0.0, 0.8, 0.0], atol=0.02)
    assert res2.info["morph"] == 0.8


def test_five_point_faces_align_close_to_the_68_point_crop(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    plate, faces = plate_faces
    actor = make_actor(tmp_path, "k5")
    crop, f, _ = loose_crop(plate, faces[2])
    swapper = SWAPPERS.create("dfm")
    full = swapper.swap(crop, f, actor).matte > 0.5
    res5 = swapper.swap(crop, dataclasses.replace(f, landmarks=None, landmark_kind=None), actor)
    five = res5.matte > 0.5
    assert res5.info["aligned_from"] == "kps5"
    iou = (full & five).sum() / (full | five).sum()
    assert iou > 0.75


def test_wrong_signature_names_expected_and_found(tmp_path: Path) -> None:
    bad = wrong_standin(tmp_path / "bad.dfm")
    img = astronaut_png(tmp_path / "a.png")
    proc = subprocess.run(
        [sys.executable, "-m", "recast", "actor", "build", "x", "--images", str(img), "--consent", str(consent_json(tmp_path / "c.json")), "--backend", "dfm", "--model", str(bad)],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("recast: error:")]
    assert len(errors) == 1
    err = errors[0]
    assert "bad.dfm" in err and "in_face:0" in err and "out_celeb_face_mask" in err and "x[1,4]" in err and "y[1,4]" in err


def test_actor_of_another_backend_is_refused(tmp_path: Path, plate_faces: tuple[np.ndarray, list[Face]]) -> None:
    from recast.pipeline.errors import SwapError

    plate, faces = plate_faces
    actor = make_actor(tmp_path, "d")
    other = ActorModel(actor.name, actor.root, {**actor.manifest, "backend": "inswapper"})
    crop, f, _ = loose_crop(plate, faces[0])
    with pytest.raises(SwapError, match="built for the 'inswapper' backend"):
        SWAPPERS.create("dfm").swap(crop, f, other)


def test_recast_swap_end_to_end_paints_every_face(tmp_path: Path) -> None:
    """`recast swap` on a real 6-face image with a stand-in dfm actor: the colour lands on each
    swapped face (nose tips red) and the comp equals the plate far from the faces."""
    import json

    import OpenImageIO as oiio
    from _onnx_standins import write_png

    plate = insightface_image("t1.jpg")
    plate_file = write_png(tmp_path / "plate" / "shot.1001.png", (plate * 255).round().astype(np.uint8))
    make_actor(tmp_path, "astro", colour_bgr=(0.0, 0.0, 1.0), resolution=128)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "recast", "swap", str(plate_file), "--actor", "astro", "--out", str(out), "--color", "none", "--no-grain", "--json"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads((out / "records" / "1001.json").read_text())
    assert record["backend"] == "dfm" and record["model_sha256"] == load_actor("astro").model_sha256
    assert record["consent_id"] == load_actor("astro").consent_id
    comp_path = sorted((out / "comp").iterdir())[0]
    comp = oiio.ImageBuf(str(comp_path)).get_pixels(oiio.FLOAT)[..., :3]
    swapped = [f for f in record["faces"] if f["swapped"]]
    assert len(swapped) >= 4
    for f in swapped:
        x, y = np.round(f["kps5"][2]).astype(int)
        np.testing.assert_allclose(comp[y, x], [1.0, 0.0, 0.0], atol=0.02)
        assert f["swap_info"]["aligned_from"] == "dlib68"
    source = oiio.ImageBuf(str(plate_file)).get_pixels(oiio.FLOAT)[..., :3]
    np.testing.assert_allclose(comp[-20:, -20:], source[-20:, -20:], atol=1e-3)
