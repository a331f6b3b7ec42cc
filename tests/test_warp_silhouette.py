"""The warp's matte ends at the plate face's silhouette (Megamind clip, dim warm restaurant).

The comp is made in scene-linear light, where a few per cent of a lit face over a near-black
background is a visible glow. Below the nose, beyond the plate's own jaw points, the matte's
feathered edge used to reach over the dark background of a turned or lit face (the actor's
outline placed by a similarity is wider there). Now, without a face mesh, the matte is bounded
by the plate's 68-point outline, and below the mouth corners' line what lies beyond the jaw
and is clearly not skin stays the plate's (``keep_beyond_jaw``, ``warp_temple``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from _faces_fixtures import megamind_frames
from recast.models.base import SwapperContext
from recast.models.swappers.warp import WarpOptions, WarpSwapper
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser


@pytest.fixture(scope="module")
def dlib68() -> Any:
    return create_analyser("dlib", AnalyserOptions(landmarks="68", min_face=0, upsample=1), notify=lambda _t: None)


def _spill(test_media: Path, frame: int, actor: Any, dlib68: Any, options: WarpOptions) -> float:
    """The comp's alpha summed over the dark background below the nose, beyond the plate's jaw."""
    img = megamind_frames(test_media, 1, scale=1.0, start=frame)[0]
    face = max(dlib68.analyse(img, embed=False), key=lambda f: f.size)
    box = crop_box_for(face, img.shape[:2], 2.0)
    ys, xs = box.slices()
    crop, fc = img[ys, xs].copy(), shift_face(face, -box.x0, -box.y0)
    fc.track_id = None
    lm = np.asarray(fc.landmarks)
    lab = cv2.cvtColor(np.clip(crop, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    nose_l = float(lab[int(lm[29][1]), int(lm[29][0]), 0])
    jaw = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(jaw, [np.round(lm[:17]).astype(np.int32)], 1)
    below_nose = np.arange(crop.shape[0])[:, None] > lm[33][1]
    dark = (lab[..., 0] < 0.4 * nose_l) & (jaw == 0) & below_nose
    assert dark.sum() > 10_000  # the background is there to spill over
    sw = WarpSwapper(options, context=SwapperContext(allow_noncommercial_models=True))
    conv = SpaceConverter(lambda a: a, lambda a: a)
    opts = ComposeOptions.from_settings(SwapSettings(grain=False))
    comp = compose_face(crop, fc, lambda c, f: sw.swap(c, f, actor), conv, opts)
    return float(comp.alpha[dark].sum())


# the woman turned to her left (60), the boy in glasses, front-lit over a black background (200)
@pytest.mark.parametrize("frame", [60, 200])
def test_the_matte_does_not_spill_over_the_background_beyond_the_jaw(
    test_media: Path, actor: Any, dlib68: Any, frame: int
) -> None:
    before = _spill(test_media, frame, actor, dlib68, WarpOptions(plate_outline=False, keep_beyond_jaw=False))
    now = _spill(test_media, frame, actor, dlib68, WarpOptions())
    assert before > 50.0  # (the bounds off: the feathered edge over the background)
    assert now < 15.0 and now < 0.15 * before
