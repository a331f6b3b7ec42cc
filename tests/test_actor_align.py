"""Alignment geometry of the ONNX backends, checked against the published templates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _onnx_standins import insightface_image

from recast.models.swappers._align import (
    ARCFACE_112,
    DFL_LANDMARK_IDX,
    DFL_TEMPLATE_33,
    FFHQ_512,
    Feather,
    arcface_matrix,
    dfl_matrix,
    ffhq_matrix,
    paste,
    square_mask,
    warp_in,
)
from recast.pipeline.faces.geometry import apply_affine
from recast.pipeline.types import Face


def rotation(deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), shift[0]], [scale * np.sin(a), scale * np.cos(a), shift[1]]])


def test_arcface_template_sizes() -> None:
    """insightface: 112 multiples scale the template; 128 keeps it and shifts x by 8."""
    t = rotation(17, 2.7, (300, 150))
    kps = apply_affine(t, ARCFACE_112)
    np.testing.assert_allclose(apply_affine(arcface_matrix(kps, 112), kps), ARCFACE_112, atol=1e-6)
    np.testing.assert_allclose(apply_affine(arcface_matrix(kps, 224), kps), ARCFACE_112 * 2, atol=1e-6)
    np.testing.assert_allclose(apply_affine(arcface_matrix(kps, 128), kps), ARCFACE_112 + [8.0, 0.0], atol=1e-6)


def test_ffhq_template() -> None:
    t = rotation(-8, 0.6, (40, 90))
    kps = apply_affine(t, FFHQ_512)
    np.testing.assert_allclose(apply_affine(ffhq_matrix(kps, 512), kps), FFHQ_512, atol=1e-6)


@pytest.mark.parametrize(("face_type", "padding", "shift"), [("half", 0.0, 0.0), ("full", 0.2109375, 0.0), ("whole_face", 0.40, 0.07)])
def test_dfl_face_type_square(face_type: str, padding: float, shift: float) -> None:
    """With landmarks exactly on DeepFaceLab's mean face (unit square -> image by a similarity
    of scale 200), the crop square has side 200 * (1 + 2*sqrt2*padding) around the template
    centre, moved up by ``shift`` of the side for whole_face."""
    t = rotation(0, 200.0, (100, 80))
    lm = np.zeros((68, 2))
    lm[DFL_LANDMARK_IDX] = apply_affine(t, DFL_TEMPLATE_33)
    face = Face(box=np.array([100, 80, 300, 280.0]), score=1.0, kps5=np.zeros((5, 2)), landmarks=lm, landmark_kind="dlib68")
    m, used = dfl_matrix(face, 256, face_type)
    assert used == "dlib68"
    inv = cv2.invertAffineTransform(m)
    corners = apply_affine(inv, np.array([[0, 0], [256, 0], [256, 256], [0, 256]], float))
    side = 200.0 * (1 + 2 * np.sqrt(2) * padding)
    np.testing.assert_allclose(np.linalg.norm(corners[1] - corners[0]), side, rtol=1e-4)
    centre = corners.mean(0)
    np.testing.assert_allclose(centre, [200.0, 180.0 - shift * 200.0], atol=1e-3)


def test_warp_in_matches_a_plain_warp_and_paste_round_trips() -> None:
    crop = insightface_image("Tom_Hanks_54745.png")
    t = rotation(10, 1.6, (20, 30))  # crop -> aligned, enlarging: no low-pass
    m = t[:2]
    size = 128
    plain = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(warp_in(crop, m, size), plain, atol=1e-5)
    rgb, matte = paste(crop, warp_in(crop, m, size), square_mask(size, Feather()), m)
    inner = matte > 0.99
    assert inner.sum() > 0.5 * (size / 1.6) ** 2
    assert np.abs(rgb[inner] - crop[inner]).mean() < 0.02
    assert matte[0, -1] == 0.0 and matte.max() <= 1.0


def test_shrinking_warp_is_low_passed() -> None:
    """A large face squeezed into the model's square: fine stripes must not alias into false detail."""
    yy, xx = np.mgrid[0:1024, 0:1024]
    stripes = np.repeat(((xx // 2) % 2).astype(np.float32)[..., None], 3, axis=2)  # 4 px period
    m = rotation(0, 128 / 1024, (0, 0))[:2]
    out = warp_in(stripes, m, 128)
    assert out.std() < 0.05 and abs(out.mean() - 0.5) < 0.05
