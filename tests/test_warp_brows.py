"""The plate's brow tails beside the actor's eyes (issue 14): on the Megamind clip the cartoon
brows run higher and wider than the actor's; where the actor's face leaves them showing they
are painted over, up to the plate's face edge, without a pale wedge (test_warp_edges.py holds
the real faces' temples), and the part of the fill that is the plate's own colour is laid
over the graded swap as it is (``SwapResult.ungraded_rgb``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from _faces_fixtures import megamind_frames
from recast.models.base import SwapResult
from recast.models.swappers import warp_shape as ws
from recast.models.swappers.warp import WarpSwapper
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.mesh import mesh_to_68
from tests._faces_fixtures import t1

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
_SAME = SpaceConverter(lambda a: a, lambda a: a)


def _crop(img: np.ndarray, face: Any) -> tuple[np.ndarray, Any]:
    box = crop_box_for(face, img.shape[:2], 2.0)
    ys, xs = box.slices()
    fc = shift_face(face, -box.x0, -box.y0)
    fc.track_id = None
    return img[ys, xs].copy(), fc


def ross_swap(actor: Any) -> tuple[np.ndarray, Any, WarpSwapper, SwapResult]:
    """t1.jpg's middle man (turned a little, his brow ends beyond the actor's face), cropped,
    and the warp's swap of him (an untracked face)."""
    img = t1()
    an = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
    face = min(an.analyse(img, embed=False), key=lambda f: abs(f.box[0] - 452) + abs(f.box[1] - 296))
    crop, fc = _crop(img, face)
    sw = WarpSwapper()
    return crop, fc, sw, sw.swap(crop, fc, actor)


def megamind_face(test_media: Path, analyser: str, frame: int) -> tuple[np.ndarray, Any]:
    """The Megamind clip's ``frame`` cropped round its largest face (found by ``analyser``;
    mediapipe skips when its model files are not set up), and the face."""
    if analyser == "mediapipe":
        from recast.pipeline.faces.mediapipe_models import missing

        if missing():
            pytest.skip("MediaPipe model files not set up")
    (img,) = megamind_frames(test_media, 1, scale=1.0, start=frame)
    an = create_analyser(analyser, AnalyserOptions(), notify=lambda _t: None)
    return _crop(img, max(an.analyse(img, embed=False), key=lambda f: f.size))


def _comp(crop: np.ndarray, fc: Any, swap: Any) -> np.ndarray:
    opts = ComposeOptions.from_settings(SwapSettings(grain=False))
    comp = compose_face(crop, fc, swap, _SAME, opts)
    a = comp.alpha[..., None]
    return a * comp.fg_clean + (1.0 - a) * crop


@pytest.mark.parametrize(("analyser", "frame"), [("mediapipe", 45), ("mediapipe", 95), ("dlib", 95)])
def test_the_plates_brow_strokes_beside_the_actor_are_painted_over(
    actor: Any, test_media: Path, analyser: str, frame: int
) -> None:
    """The plate's brow strokes (thin and dark against the skin around them, along its brows)
    that the actor's own matte leaves showing lose their stroke in the comp: the darkness
    against the surroundings falls to under a fifth of the plate's. (With the fill faded out
    near the face edge above the eyes, the brow tails there kept 0.05-0.13 of 0.15-0.17.)"""
    crop, fc = megamind_face(test_media, analyser, frame)
    sw = WarpSwapper()
    comp = _comp(crop, fc, lambda c, f: sw.swap(c, f, actor))
    unfilled = WarpSwapper({"clean_plate_features": False}).swap(crop, fc, actor).matte
    assert unfilled is not None
    lm = mesh_to_68(fc.landmarks) if len(fc.landmarks) == 468 else np.asarray(fc.landmarks, np.float64)
    _, up, length = ws.face_frame(lm)
    band = np.zeros(crop.shape[:2], np.uint8)
    for brow in (lm[17:22], lm[22:27]):
        cv2.polylines(band, [np.round(brow + 0.05 * length * up).astype(np.int32)], False, 255, round(0.25 * length))
    y = crop @ _LUMA
    level = float(np.percentile(y[band > 0], 90))
    around = cv2.GaussianBlur(y, (0, 0), 0.06 * length)
    strokes = (band > 0) & (unfilled < 0.5) & (around - y > 0.12 * level) & (around > 0.6 * level)
    assert strokes.sum() > 30
    yc = comp @ _LUMA
    around_c = cv2.GaussianBlur(yc, (0, 0), 0.06 * length)
    plate_contrast = float((around - y)[strokes].mean())
    comp_contrast = float((around_c - yc)[strokes].mean())
    assert comp_contrast < 0.2 * plate_contrast, (comp_contrast, plate_contrast)


def test_the_ungraded_layer_is_laid_over_the_graded_swap(actor: Any) -> None:
    """compose_face: where a swap marks pixels ungraded and gives their colour
    (``ungraded_rgb``), the comp shows that colour as it is (no colour match), the rest of the
    face graded as before; without the layer the ungraded pixels are the swap's own."""
    crop, fc, sw, base = ross_swap(actor)
    assert base.matte is not None
    core = base.matte > 0.999
    ys, xs = np.nonzero(core)
    patch = np.zeros(core.shape, bool)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    patch[cy - 6 : cy + 6, cx - 6 : cx + 6] = True
    patch &= core
    assert patch.sum() > 100
    weight = np.where(patch, 1.0, 0.0).astype(np.float32)
    colour = np.array([0.2, 0.6, 0.3], np.float32)
    layer = np.broadcast_to(colour, crop.shape).copy()

    def with_layer(c: np.ndarray, f: Any) -> SwapResult:
        r = sw.swap(c, f, actor)
        return SwapResult(r.rgb, r.matte, r.info, r.skin, r.matte_bound, weight, layer)

    def without(c: np.ndarray, f: Any) -> SwapResult:
        r = sw.swap(c, f, actor)
        return SwapResult(r.rgb, r.matte, r.info, r.skin, r.matte_bound, weight, None)

    def graded(c: np.ndarray, f: Any) -> SwapResult:
        r = sw.swap(c, f, actor)
        return SwapResult(r.rgb, r.matte, r.info, r.skin, r.matte_bound, None, None)

    laid, own, plain = (_comp(crop, fc, s) for s in (with_layer, without, graded))
    np.testing.assert_allclose(laid[patch], np.broadcast_to(colour, laid[patch].shape), atol=2e-3)
    np.testing.assert_allclose(own[patch], base.rgb[patch], atol=2e-3)  # the swap's own, not graded
    assert float(np.abs(plain[patch] - own[patch]).mean()) > 0.02  # (the grade does move them)
    rest = core & ~cv2.dilate(patch.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    np.testing.assert_allclose(laid[rest], plain[rest], atol=2e-3)
