"""warp's ``_dilate_near``: the features' dilation computed around them only equals the whole-mask dilation."""

from __future__ import annotations

import cv2
import numpy as np

from recast.models.swappers.warp_fill import _dilate_near, _feature_mask


def test_dilate_near_equals_whole_dilation_at_edges_and_inside() -> None:
    rng = np.random.default_rng(3)
    for grow in (1, 4, 19):
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        for _ in range(6):
            h, w = (int(v) for v in rng.integers(40, 160, 2))
            lm = rng.uniform([-10, -10], [w + 10, h + 10], (68, 2))  # strokes may leave the crop
            mask = _feature_mask(lm, (h, w), int(rng.integers(2, 6)), mouth=bool(rng.integers(2)))
            whole = cv2.dilate(mask, disk)
            near, (y0, y1, x0, x1) = _dilate_near(mask.copy(), disk, grow)
            assert np.array_equal(near, whole)
            outside = np.ones((h, w), bool)
            outside[y0:y1, x0:x1] = False
            assert not whole[outside].any()


def test_dilate_near_of_an_empty_mask_is_empty() -> None:
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    near, box = _dilate_near(np.zeros((30, 40), np.uint8), disk, 4)
    assert not near.any() and box == (0, 0, 0, 0)
