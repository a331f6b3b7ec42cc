"""Face geometry and image preparation: pose estimate, keypoint layouts, crops and downscales."""

from __future__ import annotations

import numpy as np
import pytest

from _faces_fixtures import astronaut
from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.geometry import (
    KPS5_TEMPLATE_112,
    apply_affine,
    box_iou,
    estimate_pose,
    kps5_from_dlib5,
    similarity,
)
from recast.pipeline.faces.imageprep import crop_around, downscale, to_uint8

FRONTAL = KPS5_TEMPLATE_112 * 3.0 + 100.0  # a frontal face ~200 px wide


def _rotate(pts: np.ndarray, degrees: float) -> np.ndarray:
    th = np.radians(degrees)
    r = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    c = pts.mean(axis=0)
    return (pts - c) @ r.T + c


def test_pose_of_frontal_rolled_turned_and_tilted_faces() -> None:
    yaw, pitch, roll = estimate_pose(FRONTAL)
    assert abs(yaw) < 2 and abs(pitch) < 8 and abs(roll) < 1
    assert estimate_pose(_rotate(FRONTAL, 20))[2] == pytest.approx(20, abs=1.0)
    assert estimate_pose(_rotate(FRONTAL, -35))[2] == pytest.approx(-35, abs=1.0)
    turned = FRONTAL.copy()
    turned[2, 0] += 30  # nose towards image right
    assert estimate_pose(turned)[0] > 15
    turned[2, 0] -= 60
    assert estimate_pose(turned)[0] < -15
    up = FRONTAL.copy()
    up[2, 1] -= 15  # nose up between eyes and mouth: looking up
    assert estimate_pose(up)[1] > estimate_pose(FRONTAL)[1] + 8
    assert estimate_pose(np.full((5, 2), np.nan)) == (0.0, 0.0, 0.0)


def test_similarity_recovers_a_known_transform() -> None:
    m = np.array([[1.2 * np.cos(0.3), -1.2 * np.sin(0.3), 40.0], [1.2 * np.sin(0.3), 1.2 * np.cos(0.3), -7.0]])
    moved = apply_affine(m, KPS5_TEMPLATE_112)
    assert np.allclose(similarity(KPS5_TEMPLATE_112, moved), m, atol=1e-9)


def test_dlib5_layout_to_kps5_keeps_eyes_and_places_mouth_below_nose() -> None:
    # dlib 5-point order: image-right eye corners (0, 1), image-left eye corners (2, 3), under-nose (4)
    pts = np.array([[170.0, 100.0], [140.0, 100.0], [60.0, 100.0], [90.0, 100.0], [115.0, 150.0]])
    k = kps5_from_dlib5(pts)
    assert np.allclose(k[0], [75, 100]) and np.allclose(k[1], [155, 100])
    assert k[2, 1] < 150  # the tip is above the under-nose point
    assert k[3, 0] < k[4, 0] and k[3, 1] > 150 and k[4, 1] > 150


def test_box_iou() -> None:
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert box_iou(a, a) == 1.0
    assert box_iou(a, a + 20) == 0.0
    assert box_iou(a, np.array([5.0, 0.0, 15.0, 10.0])) == pytest.approx(50 / 150)


def test_downscale_and_crops_map_coordinates_both_ways() -> None:
    img = np.random.default_rng(0).random((2160, 3840, 3), dtype=np.float32) * 4.0
    small = downscale(img, 1024, None)
    assert max(small.pixels.shape[:2]) == 1024 and small.pixels.dtype == np.uint8
    assert small.scale == pytest.approx(1024 / 3840)
    crop = crop_around(img, np.array([1000.0, 500.0, 2000.0, 1500.0]), 0.25, 400, None)
    assert crop is not None
    assert crop.origin == (750, 250) and crop.scale == pytest.approx(0.4, abs=1e-3)
    assert crop.pixels.shape[:2] == (600, 600)  # (1000 * 1.5) * 0.4
    p = np.array([[1234.5, 987.25], [760.0, 260.0]])
    assert np.allclose(crop.to_image(crop.to_crop(p)), p)
    edge = crop_around(img, np.array([-100.0, -50.0, 100.0, 150.0]), 0.5, 800, None)
    assert edge is not None and edge.origin == (0, 0)  # clamped at the frame edge
    assert crop_around(img, np.array([5000.0, 5000.0, 5100.0, 5100.0]), 0.2, 800, None) is None


def test_to_uint8_sanitises_and_applies_the_display_transform() -> None:
    rgb = np.array([[[np.nan, np.inf, -np.inf], [0.5, 2.0, -1.0]]], np.float32)
    plain = to_uint8(rgb, None)
    assert plain.tolist() == [[[0, 255, 0], [128, 255, 0]]]
    halved = to_uint8(rgb, lambda x: x / 2)
    assert halved[0, 1].tolist() == [64, 255, 0]


def test_cnn_detector_finds_the_astronaut() -> None:
    """The optional mmod detector (slow; a 256 px crop keeps the test short)."""
    ana = create_analyser("dlib", AnalyserOptions(detector="cnn", allow_noncommercial_models=False))
    crop = np.ascontiguousarray(astronaut()[20:276, 90:346])
    faces = ana.analyse(crop, embed=False)
    assert len(faces) == 1
    cx, cy = (faces[0].box[:2] + faces[0].box[2:]) / 2
    assert 110 < cx < 160 and 60 < cy < 130
    assert ana.licences()[0]["model"] == "mmod_human_face_detector.dat"
