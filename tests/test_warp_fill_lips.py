"""The plate's lips under the actor's matte edge (issue 14): on t1.jpg's faces, turned a little,
the plate's open mouth reaches past the actor's narrower jaw, and its corner lay under the
matte's soft edge: dark lip and mouth showed through pale actor skin as a grey-blue smudge
beside the actor's mouth. The feature fill paints the plate's lips over as it does its brows
and eyes (``warp_fill.clean_plate_features``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from recast.models.swappers.warp import WarpSwapper
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser
from tests._expression_plate import expression_clip
from tests._faces_fixtures import t1_face
from tests.test_warp_brows import _crop

_SAME = SpaceConverter(lambda a: a, lambda a: a)


def _comp(crop: np.ndarray, fc: Any, swapper: WarpSwapper, actor: Any) -> tuple[np.ndarray, np.ndarray]:
    opts = ComposeOptions.from_settings(SwapSettings(grain=False))
    comp = compose_face(crop, fc, lambda c, f: swapper.swap(c, f, actor), _SAME, opts)
    a = comp.alpha[..., None]
    return a * comp.fg_clean + (1.0 - a) * crop, comp.alpha


def test_the_plates_lips_beside_the_actors_mouth_are_painted_over(actor: Any) -> None:
    """Where the plate's lips lie under the actor's matte's soft edge (matte 0.2-0.95 without
    the fill), the fill covers them: the plate's weight in the comp there falls under a quarter
    of what it was, and their colour moves to the actor's skin beside them (Lab distance to
    the skin's median under 0.6 of what it was; 3.4 against 7.0 when written)."""
    clip = expression_clip(t1_face(0), 3, face_px=150.0)
    img = clip.frames[2]  # the mouth open (the schedule's third frame)
    assert clip.mouth[2] > 0.3
    an = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
    crop, fc = _crop(img, max(an.analyse(img, embed=False), key=lambda f: f.size))
    lm = np.asarray(fc.landmarks, np.float64)
    lips = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillConvexPoly(lips, cv2.convexHull(np.round(lm[48:60]).astype(np.int32)), 255)

    filled, a_filled = _comp(crop, fc, WarpSwapper(), actor)
    plain, a_plain = _comp(crop, fc, WarpSwapper({"clean_plate_features": False}), actor)
    edge = (lips > 0) & (a_plain > 0.2) & (a_plain < 0.95)
    assert edge.sum() > 20, int(edge.sum())  # the plate's lips do reach the matte's edge here
    shown_before = float((1.0 - a_plain[edge]).mean())
    shown_after = float((1.0 - a_filled[edge]).mean())
    assert shown_after < 0.25 * shown_before, (shown_after, shown_before)

    def lab(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(np.clip(rgb, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)

    # the actor's skin beside them: fully matted, outside the plate's lips, within a few px
    near = cv2.dilate(edge.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    skin = near & (a_filled > 0.98) & (a_plain > 0.98) & (lips == 0)
    assert skin.sum() > 50
    ref = np.median(lab(filled)[skin], axis=0)
    before = float(np.linalg.norm(lab(plain)[edge] - ref, axis=1).mean())
    after = float(np.linalg.norm(lab(filled)[edge] - ref, axis=1).mean())
    assert after < 0.6 * before, (after, before)
