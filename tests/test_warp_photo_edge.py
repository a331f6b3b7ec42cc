"""The warp bank's alpha (warp_bank.photo_alpha / photo_weight): a tight actor photo
(insightface's Tom_Hanks_54745.png sample, 112 px: dlib places the face's outline past its
edge) is padded by reflection in its aligned bank crop; the padding (mirrored bits of the
face) may never reach the swap's matte. Real faces, real dlib landmarks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.models.base import ActorModel
from recast.models.swappers.warp import WarpActorBuilder, WarpOptions, WarpSwapper
from recast.models.swappers.warp_bank import (
    FaceBank,
    photo_weight,
    read_png_rgba,
    write_png16,
)
from recast.models.swappers.warp_landmarks import Landmarker
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.faces import AnalyserOptions, create_analyser

from tests._engine_fixtures import insightface_image
from tests._faces_fixtures import load_rgb, t1


@pytest.fixture(scope="module")
def hanks() -> np.ndarray:
    return load_rgb(insightface_image("Tom_Hanks_54745.png"))


def _build(root: Path, photo: np.ndarray, options: dict[str, object]) -> dict:
    return WarpActorBuilder(landmarker=Landmarker()).build(root, [(Path("a.png"), photo)], options)


def test_a_tight_photo_s_padding_is_outside_the_bank_alpha(hanks: np.ndarray, tmp_path: Path) -> None:
    _build(tmp_path, hanks, {"crop_size": 256})
    bank = FaceBank.load(tmp_path)
    entry = bank.entries[0]
    rgb, alpha = read_png_rgba(tmp_path / entry.file)
    assert alpha is not None and rgb.shape[:2] == alpha.shape
    # the photo covers the middle of the 256 px crop only: the border is padding
    assert alpha[:4].max() == 0.0 and alpha[-4:].max() == 0.0 and alpha[:, :4].max() == 0.0
    assert 0.1 < float((alpha > 0.5).mean()) < 0.6
    # the face's middle is the photo's; part of the outline dlib fitted is not
    lm = entry.landmarks
    for i in (30, 33, 51, 57):
        x, y = np.round(lm[i]).astype(int)
        assert alpha[y, x] > 0.99, i
    outline = np.round(lm[0:17]).astype(int)
    inside = (outline >= 0).all(axis=1) & (outline < 256).all(axis=1)
    assert (alpha[outline[inside, 1], outline[inside, 0]] < 0.5).any()
    # the padding holds the face again, mirrored: it is not blank, which is why it must go
    pad = alpha < 0.01
    assert float(rgb[pad].std()) > 0.05
    # the loaded source: a feathered weight, 0 at the photo's edge, mirrored with the view
    src = bank.source(entry)
    assert src.shape == (256, 256, 4) and np.array_equal(bank.image(entry), src[..., :3])
    mirrored = next(e for e in bank.entries if e.mirrored)
    assert np.array_equal(bank.source(mirrored)[..., 3], src[:, ::-1, 3])
    # a photo that fills the crop (the same face with a wide studio-grey margin) stores no
    # alpha: the bank as it always was
    wide = cv2.copyMakeBorder(hanks, 200, 200, 200, 200, cv2.BORDER_CONSTANT, value=(0.5, 0.5, 0.5))
    _build(tmp_path / "big", wide, {"crop_size": 128})
    big_bank = FaceBank.load(tmp_path / "big")
    assert read_png_rgba(tmp_path / "big" / big_bank.entries[0].file)[1] is None
    assert big_bank.source(big_bank.entries[0]).shape[2] == 3


def test_the_swap_never_mattes_what_lies_beyond_the_actor_photo(hanks: np.ndarray, tmp_path: Path) -> None:
    """Plate faces of t1.jpg: their outlines map onto the bank crop beyond the tight photo's
    edge (dlib places the actor's jaw outside the 112 px photo). The matte never grows over
    an older, alpha-less bank's, is cut where the warped source is padding (on every face),
    keeps the face's middle, and the record counts the pixels left to the plate."""
    _build(tmp_path / "new", hanks, {})
    actor = _actor_at(tmp_path / "new")
    old = _actor_at(_strip_alpha(tmp_path / "new", tmp_path / "old"))
    assert FaceBank.load(old.root).source(FaceBank.load(old.root).entries[0]).shape[2] == 3
    img = t1()
    an = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
    nofill = WarpOptions(clean_plate_features=False, keep_temple_hair=False, plate_outline=False)
    for face in sorted(an.analyse(img, embed=False), key=lambda f: float(f.box[0]))[:3]:
        box = crop_box_for(face, img.shape[:2], 2.0)
        ys, xs = box.slices()
        crop, f2 = img[ys, xs].copy(), shift_face(face, -box.x0, -box.y0)
        # (the feature fill grows the matte over the plate's brows and eyes wherever it is low,
        # a cut included, and the temple-hair cut reads the matte: both off here, so the
        # comparison sees the bound alone; the plate-outline bound, which cuts much of the same
        # edge, too)
        res = WarpSwapper(nofill).swap(crop, f2, actor)
        before = WarpSwapper(nofill).swap(crop, f2, old)
        assert before.info["actor_photo_edge_px"] == 0  # an older bank: as before
        assert (res.matte <= before.matte + 1e-6).all()
        cut = (before.matte - res.matte) > 0.25
        assert res.info["actor_photo_edge_px"] > 0
        mid = np.round(f2.landmarks[[30, 33, 51]]).astype(int)  # nose tip, under the nose, upper lip
        assert (res.matte[mid[:, 1], mid[:, 0]] > 0.9).all()
        assert cut.sum() > 0.005 * (before.matte > 0.5).sum()


def _actor_at(root: Path) -> ActorModel:
    return ActorModel(name="t", root=root, manifest={"backend": "warp"})


def _strip_alpha(root: Path, dst: Path) -> Path:
    """A copy of the bank written as before the alpha existed (RGB PNGs)."""
    import shutil

    shutil.copytree(root, dst)
    for png in (dst / "bank").glob("*.png"):
        rgb, _ = read_png_rgba(png)
        write_png16(png, rgb)
    return dst


def test_photo_weight_pulls_in_from_the_edge_and_feathers() -> None:
    assert photo_weight(None, 256) is None
    assert photo_weight(np.ones((64, 64), np.float32), 64) is None
    alpha = np.zeros((256, 256), np.float32)
    alpha[64:192, 64:192] = 1.0
    w = photo_weight(alpha, 256)
    assert w is not None
    assert w[:, :64].max() == 0.0 and w[64, 64:192].max() < 0.25  # 0 beyond the edge, low on it
    assert w[128, 128] == pytest.approx(1.0)
    row = w[128, 60:100]
    assert (np.diff(row) >= -1e-6).all() and row.max() == pytest.approx(1.0)  # a ramp, no step
    assert cv2.countNonZero((w > 0.5).astype(np.uint8)) < cv2.countNonZero((alpha > 0.5).astype(np.uint8))
