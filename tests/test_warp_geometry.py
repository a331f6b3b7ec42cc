"""Geometry of the warp swapper: similarity fit, mirroring, expression transfer, PWA warp."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from recast.models.swappers import warp_shape as ws
from recast.models.swappers.warp_bank import BankEntry, choose
from recast.models.swappers.warp_pwa import piecewise_affine, triangulate


def _mean_shape(rng: np.random.Generator | None = None) -> np.ndarray:
    """A plausible 68-point frontal face (about 100 px eye-to-chin) built from parts."""
    lm = np.zeros((68, 2))
    t = np.linspace(np.pi, 0.0, 17)
    lm[0:17] = np.c_[100 + 70 * np.cos(t), 95 + 80 * np.sin(t)]  # jaw: ear to ear via the chin
    lm[17:22] = np.c_[np.linspace(50, 90, 5), [72, 66, 64, 65, 68]]
    lm[22:27] = np.c_[np.linspace(110, 150, 5), [68, 65, 64, 66, 72]]
    lm[27:31] = np.c_[[100] * 4, np.linspace(85, 120, 4)]
    lm[31:36] = np.c_[np.linspace(88, 112, 5), [128, 131, 132, 131, 128]]
    for base, cx in ((36, 72), (42, 128)):
        lm[base : base + 6] = np.c_[cx + np.array([-14, -6, 6, 14, 6, -6]), 88 + np.array([0, -5, -5, 0, 4, 4])]
    lm[48:60] = np.c_[
        100 + np.array([-24, -14, -5, 0, 5, 14, 24, 14, 5, 0, -5, -14]),
        152 + np.array([0, -6, -8, -7, -8, -6, 0, 8, 11, 11, 11, 8]),
    ]
    lm[60:68] = np.c_[100 + np.array([-20, -6, 0, 6, 20, 6, 0, -6]), 152 + np.array([0, -2, -2, -2, 0, 2, 2, 2])]
    if rng is not None:
        lm += rng.normal(0, 0.5, lm.shape)
    return lm


def test_similarity_fit_recovers_a_known_transform() -> None:
    src = _mean_shape()
    ang, scale, shift = np.radians(17.0), 1.7, np.array([33.0, -12.0])
    rot = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = src @ rot.T + shift
    m = ws.similarity_fit(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(ws.apply(m, src), dst, atol=1e-8)


def test_mirror_is_an_involution_and_swaps_sides() -> None:
    assert sorted(ws.MIRROR68.tolist()) == list(range(68))
    assert (ws.MIRROR68[ws.MIRROR68] == np.arange(68)).all()
    lm = _mean_shape(np.random.default_rng(1))
    m = ws.mirror_points(lm, 200)
    np.testing.assert_allclose(ws.mirror_points(m, 200), lm)
    # Image-left eye outer corner (36) of the mirror is the flipped image-right corner (45).
    np.testing.assert_allclose(m[36], [199 - lm[45, 0], lm[45, 1]])


def _projected_head(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """68 points whose pose-relevant ones are a generic head turned by yaw/pitch, seen from 500 mm."""
    y, p = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    pts = ws._MODEL_3D @ (rx @ ry).T
    cam = np.c_[pts[:, 0], -pts[:, 1], 500.0 - pts[:, 2]]
    lm = _mean_shape()
    lm[ws._MODEL_IDX] = 200.0 * cam[:, :2] / cam[:, 2:] + 100.0
    return lm


def test_pose_recovers_yaw_pitch_and_mirror_flips_yaw() -> None:
    for yaw, pitch in ((0.0, 0.0), (25.0, 0.0), (-15.0, 10.0)):
        lm = _projected_head(yaw, pitch)
        est = ws.estimate_pose(lm, (200, 200))
        assert est[0] == pytest.approx(yaw, abs=2.0)
        assert abs(est[1]) == pytest.approx(abs(pitch), abs=2.0)
        mirrored = ws.estimate_pose(ws.mirror_points(lm, 200), (200, 200))
        assert mirrored[0] == pytest.approx(-est[0], abs=2.0)
    # Yaw > 0 means the nose moved towards image right of the eyes.
    lm = _projected_head(25.0, 0.0)
    assert lm[30, 0] > 0.5 * (lm[36, 0] + lm[45, 0])


def test_target_keeps_actor_proportions_and_carries_plate_opening() -> None:
    actor = _mean_shape()
    actor[48:68, 1] += 12.0  # actor: long mid-face (mouth far below the eyes)
    plate = _mean_shape() * 1.3 + np.array([40.0, 25.0])  # plate: other place and scale
    plate[[65, 66, 67], 1] += 14.0  # plate: mouth open
    plate[[55, 56, 57, 58, 59], 1] += 14.0
    a_ext = ws.extend_points(actor, np.full(ws.N_FOREHEAD, 0.5))
    p_ext = ws.extend_points(plate, np.full(ws.N_FOREHEAD, 0.5))
    tgt, m = ws.build_target(a_ext, p_ext, ws.TargetOptions(contour_blend=0.5))

    def eyes_to_mouth(lm: np.ndarray) -> float:
        return float(np.hypot(*(lm[51] - 0.5 * (lm[36] + lm[45])))) / ws.interocular(lm)

    # Identity: the mid-face proportion is the actor's, not the plate's.
    assert abs(eyes_to_mouth(tgt) - eyes_to_mouth(actor)) < 0.02
    assert abs(eyes_to_mouth(tgt) - eyes_to_mouth(plate)) > 0.08
    # Pose/scale: the stable points sit on the plate's.
    assert np.abs(tgt[ws.STABLE] - p_ext[ws.STABLE]).max() < 0.2 * ws.interocular(plate)
    # Expression: the mouth opening is the plate's; the closed-mouth actor opened.
    assert ws.expression(tgt[:68]).mouth_open == pytest.approx(ws.expression(plate).mouth_open, abs=0.01)
    assert ws.expression(actor).mouth_open < 0.05
    # Outline halfway between the placed actor and the plate (contour_blend=0.5).
    placed = ws.apply(m, a_ext)
    assert np.hypot(*(tgt[0] - 0.5 * (placed[0] + p_ext[0]))) < 1e-6


def test_piecewise_affine_identity_and_translation() -> None:
    img = data.astronaut()[100:300, 150:350].astype(np.float32) / 255.0
    pts = np.array([[20, 20], [180, 25], [175, 180], [30, 170], [100, 100], [60, 120], [140, 60]], float)
    same = piecewise_affine(img, pts, pts, img.shape[:2])
    inside = same.coverage
    assert inside.sum() > 0.6 * 160 * 150
    np.testing.assert_allclose(same.image[inside], img[inside], atol=1e-5)
    assert (same.image[~inside] == 0).all()
    shifted = piecewise_affine(img, pts, pts + [7.0, 4.0], img.shape[:2])
    m = shifted.coverage
    ys, xs = np.nonzero(m)
    np.testing.assert_allclose(shifted.image[ys, xs], img[ys - 4, xs - 7], atol=1e-4)


def test_triangulation_covers_points_without_degenerates() -> None:
    ext = ws.extend_points(_mean_shape(), np.full(ws.N_FOREHEAD, 0.5))
    tri = triangulate(ext)
    assert tri.shape[1] == 3 and len(tri) > len(ext)
    assert set(np.unique(tri)) == set(range(len(ext)))


def _entry(i: int, yaw: float, pitch: float, mouth: float = 0.0, mirrored: bool = False) -> BankEntry:
    return BankEntry(
        id=i,
        file=f"bank/{i:03d}.png",
        source="x.png",
        mirrored=mirrored,
        landmarks=_mean_shape(),
        heights=np.full(ws.N_FOREHEAD, 0.5),
        pose=(yaw, pitch, 0.0),
        expression=ws.Expression(mouth, 0.3, 0.6),
    )


def test_choose_prefers_pose_then_expression() -> None:
    entries = [_entry(0, -30, 0), _entry(1, 0, 0), _entry(2, 28, 5), _entry(3, 0, 0, mouth=0.4)]
    c = choose(entries, (25.0, 3.0, 0.0), ws.Expression(0.0, 0.3, 0.6))
    assert c.entry.id == 2 and c.pose_distance == pytest.approx(np.hypot(3, 2))
    c = choose(entries, (1.0, 0.0, 0.0), ws.Expression(0.4, 0.3, 0.6))
    assert c.entry.id == 3 and c.expression_distance == pytest.approx(0.0)
    c = choose(entries, (-2.0, 0.0, 0.0), ws.Expression(0.0, 0.3, 0.6))
    assert c.entry.id == 1
    # A mirrored view only wins when it is clearly nearer.
    mirrored = [_entry(0, 10, 0), _entry(1, 8, 0, mirrored=True), _entry(2, -10, 0, mirrored=True)]
    assert choose(mirrored, (8.0, 0.0, 0.0), ws.Expression(0.0, 0.3, 0.6), mirror_penalty=6.0).entry.id == 0
    assert choose(mirrored, (-30.0, 0.0, 0.0), ws.Expression(0.0, 0.3, 0.6), mirror_penalty=6.0).entry.id == 2


def test_warp_survives_a_region_collapsing_to_a_line() -> None:
    """An open actor mouth onto a closed plate mouth: inner-lip triangles collapse."""
    from recast.models.swappers.warp_pwa import shared_triangles

    img = data.astronaut()[100:300, 150:350].astype(np.float32) / 255.0
    src = np.array([[20, 20], [180, 20], [180, 180], [20, 180], [100, 80], [100, 120]], float)
    dst = src.copy()
    dst[5] = dst[4]  # two points meet: every triangle using both has zero area
    tri = shared_triangles(src, dst)
    res = piecewise_affine(img, src, dst, img.shape[:2], tri)
    assert res.coverage.sum() > 0.9 * 160 * 160
    assert np.isfinite(res.image).all()


def test_choose_keeps_last_frames_view_unless_clearly_worse() -> None:
    entries = [_entry(0, -10, 0), _entry(1, 10, 0)]
    neutral = ws.Expression(0.0, 0.3, 0.6)
    # Pose hovering just past the midpoint: without history the nearer view wins...
    assert choose(entries, (1.0, 0.0, 0.0), neutral).entry.id == 1
    # ...with history the view used last frame is kept (hysteresis) ...
    assert choose(entries, (1.0, 0.0, 0.0), neutral, previous=0, switch_penalty=5.0).entry.id == 0
    # ... until the other view is nearer by more than the penalty.
    assert choose(entries, (4.0, 0.0, 0.0), neutral, previous=0, switch_penalty=5.0).entry.id == 1
