"""dlib analyser on real faces: detection, landmarks, identity, licences, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from _faces_fixtures import astronaut, lfw_faces, t1, tom_hanks
from recast.pipeline.errors import FaceModelError, PlateError, SpecError
from recast.pipeline.faces import ANALYSERS, AnalyserOptions, create_analyser
from recast.pipeline.faces.dlib_backend import PREDICTOR_5, PREDICTOR_68, RESNET, default_models_dir
from recast.pipeline.faces.identity import face_distance
from recast.pipeline.registry import UnknownBackend


@pytest.fixture(scope="module")
def dlib68():
    return create_analyser("dlib")


@pytest.fixture(scope="module")
def dlib5():
    return create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False))


def _inside(pts: np.ndarray, box: np.ndarray, slack: float = 0.15) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return bool(
        (pts[:, 0] >= box[0] - slack * w).all()
        and (pts[:, 0] <= box[2] + slack * w).all()
        and (pts[:, 1] >= box[1] - slack * h).all()
        and (pts[:, 1] <= box[3] + slack * h).all()
    )


def test_registry_names_and_unknown_backend() -> None:
    assert {"dlib", "insightface"} <= set(ANALYSERS.names())
    with pytest.raises(UnknownBackend, match="unknown face analyser backend 'nope'"):
        create_analyser("nope")


def test_astronaut_one_face_with_68_landmarks(dlib68) -> None:
    faces = dlib68.analyse(astronaut())
    assert len(faces) == 1
    f = faces[0]
    # the face is in the upper middle of the 512x512 image
    cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
    assert 150 < cx < 300 and 60 < cy < 200
    assert f.landmarks is not None and f.landmarks.shape == (68, 2) and f.landmark_kind == "dlib68"
    assert _inside(f.landmarks, f.box, 0.3)
    le, re, nose, lm, rm = f.kps5
    assert le[0] < nose[0] < re[0] and lm[0] < rm[0]  # image left/right order
    assert le[1] < nose[1] < (lm[1] + rm[1]) / 2  # eyes above nose above mouth
    assert f.embedding is not None and f.embedding.shape == (128,) and f.embedding_kind == "dlib128"
    assert abs(float(np.linalg.norm(f.embedding)) - 1.0) < 1e-4
    yaw, _pitch, roll = f.pose
    assert abs(yaw) < 25 and abs(roll) < 15
    assert f.source == "detected" and f.score > 0


def test_five_point_only_when_noncommercial_disallowed(dlib5, dlib68) -> None:
    img = astronaut()
    f5 = dlib5.analyse(img)[0]
    f68 = dlib68.analyse(img)[0]
    assert f5.landmarks is None and f5.landmark_kind is None
    # the measured eye centres agree between the two models within a few pixels
    assert np.abs(f5.kps5[:2] - f68.kps5[:2]).max() < 4.0
    # placed nose/mouth stay within the face (estimated, not measured)
    assert np.abs(f5.kps5[2:] - f68.kps5[2:]).max() < 0.25 * f68.size
    lic5 = {d["model"]: d for d in dlib5.licences()}
    lic68 = {d["model"]: d for d in dlib68.licences()}
    assert PREDICTOR_68 not in lic5 and all(d["commercial_use"] for d in lic5.values())
    assert lic68[PREDICTOR_68]["commercial_use"] is False
    assert {PREDICTOR_5, RESNET} <= set(lic5)


def test_68_point_refused_when_noncommercial_disallowed() -> None:
    with pytest.raises(FaceModelError, match="allow_noncommercial_models"):
        create_analyser("dlib", AnalyserOptions(landmarks="68", allow_noncommercial_models=False))


def test_t1_six_faces(dlib68) -> None:
    faces = dlib68.analyse(t1(), embed=False)
    assert len(faces) == 6
    xs = [f.box[0] for f in faces]
    assert xs == sorted(xs)
    for f in faces:
        assert f.embedding is None
        assert _inside(f.kps5, f.box, 0.2)


def test_large_plate_detects_on_downscale_and_fits_at_full_res(dlib68) -> None:
    """Astronaut upscaled 4x (2048^2, HDR-ish values): same face, coordinates scale by 4."""
    import cv2

    img = astronaut()
    big = cv2.resize(img, (2048, 2048), interpolation=cv2.INTER_CUBIC) * 4.0  # scene values above 1
    small_face = dlib68.analyse(img, embed=False)[0]
    big_faces = dlib68.analyse(big, to_display=lambda x: np.clip(x / 4.0, 0, 1), embed=False)
    best = max(big_faces, key=lambda f: f.score)  # HOG may add weak false positives at 1024
    assert best.score > 0.5
    assert np.abs(best.kps5 / 4.0 - small_face.kps5).max() < 3.0


def test_same_person_closer_than_different_people(dlib68) -> None:
    """Two crops of the same astronaut photo (shifted, rescaled) vs. other people in t1."""
    import cv2

    img = astronaut()
    a = dlib68.analyse(img)[0]
    moved = cv2.resize(img[20:, 30:], (600, 575), interpolation=cv2.INTER_LINEAR)
    b = dlib68.analyse(moved)[0]
    others = dlib68.analyse(t1())
    same = face_distance(a.embedding, b.embedding)
    diff = [face_distance(a.embedding, o.embedding) for o in others]
    assert same < dlib68.same_person_threshold
    assert same < min(diff)
    assert min(diff) > dlib68.same_person_threshold
    # t1's six people are pairwise different
    pairs = [face_distance(x.embedding, y.embedding) for i, x in enumerate(others) for y in others[i + 1 :]]
    assert min(pairs) > dlib68.same_person_threshold


def test_embed_matches_analyse(dlib68) -> None:
    img = astronaut()
    f = dlib68.analyse(img)[0]
    e = dlib68.embed(img, f)
    assert face_distance(e, f.embedding) < 0.02


def test_fit_landmarks_on_given_box(dlib68) -> None:
    img = astronaut()
    f = dlib68.analyse(img)[0]
    g = dlib68.fit_landmarks(img, f.box + 3.0)
    assert g.score == 0.0 and g.embedding is None
    assert np.abs(g.kps5 - f.kps5).max() < 5.0


def test_lfw_recall(dlib68) -> None:
    faces = lfw_faces()
    hits = sum(1 for img in faces if len(dlib68.analyse(img, embed=False)) >= 1)
    recall = hits / len(faces)
    print(f"lfw_subset recall (dlib HOG, 25px faces upscaled to 160): {recall:.2f}")
    assert recall >= 0.6


def test_tiny_tom_hanks_needs_upsampling() -> None:
    """A 112x112 aligned face crop: too small for HOG at 1x; upsampling finds it."""
    img = tom_hanks()
    plain = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False))
    up = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False, upsample=1))
    assert len(up.analyse(img, embed=False)) == 1
    assert len(plain.analyse(img, embed=False)) <= len(up.analyse(img, embed=False))


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((240, 320, 3), np.float32),  # black frame
        lambda: np.full((240, 320, 3), np.nan, np.float32),  # all NaN
        lambda: np.full((240, 320), np.inf, np.float32),  # single channel Inf
        lambda: np.zeros((1, 1, 3), np.float32),  # one pixel
    ],
)
def test_no_face_frames_give_empty_lists(dlib5, make) -> None:
    assert dlib5.analyse(make()) == []


def test_nan_inf_and_grey_plates_still_find_the_face(dlib5) -> None:
    img = astronaut()
    dirty = img.copy()
    dirty[0:40, :, :] = np.nan
    dirty[450:, :, 1] = np.inf
    dirty[:, 480:, :] = -np.inf
    before = dirty.copy()
    faces = dlib5.analyse(dirty)
    assert len(faces) == 1 and np.isfinite(faces[0].embedding).all()
    assert np.array_equal(np.isnan(dirty), np.isnan(before))  # plate untouched
    ref = faces[0]
    grey = img.mean(axis=2)
    rgba = np.dstack([img, np.ones(img.shape[:2], np.float32)])
    for variant in (grey, grey[:, :, None], rgba):
        found = dlib5.analyse(variant, embed=False)
        best = max(found, key=lambda f: f.score)  # grey may add weak HOG false positives
        assert np.abs(best.kps5[:2] - ref.kps5[:2]).max() < 6.0


def test_face_cut_by_frame_edge(dlib5) -> None:
    img = astronaut()
    f = dlib5.analyse(img)[0]
    cut = np.ascontiguousarray(img[:, int(f.box[0] + 0.3 * f.width) :])
    for face in dlib5.analyse(cut):  # may or may not be detected; never crashes, stays in image
        assert np.isfinite(face.kps5).all()


def test_bad_shape_is_a_plate_error(dlib5) -> None:
    with pytest.raises(PlateError, match="expected an"):
        dlib5.analyse(np.zeros((2, 3, 4, 5), np.float32))


def test_missing_and_corrupt_model_files_name_the_file(tmp_path: Path) -> None:
    src = default_models_dir()
    shutil.copy(src / PREDICTOR_5, tmp_path / PREDICTOR_5)
    opts = AnalyserOptions(allow_noncommercial_models=False, models_dir=tmp_path)
    ana = create_analyser("dlib", opts)  # the ResNet loads lazily
    with pytest.raises(FaceModelError, match=f"{RESNET}: dlib model file not found"):
        ana.analyse(astronaut())
    (tmp_path / PREDICTOR_5).write_bytes(b"not a model")
    with pytest.raises(FaceModelError, match=f"{PREDICTOR_5}: cannot load dlib model"):
        create_analyser("dlib", opts)


def test_options_from_dict_names_the_field() -> None:
    opts = AnalyserOptions.from_dict({"detect_size": 2048, "models_dir": "/x"})
    assert opts.detect_size == 2048 and str(opts.models_dir) == "/x"
    assert AnalyserOptions.from_dict(opts.to_dict()) == opts
    with pytest.raises(SpecError, match=r"analyser.upsample: 9 must be an int in 0..3"):
        AnalyserOptions.from_dict({"upsample": 9})
    with pytest.raises(SpecError, match=r"analyser.colour: unknown analyser option"):
        AnalyserOptions.from_dict({"colour": 1})


def test_68_points_averaged_over_moved_boxes_move_less_with_the_box() -> None:
    """``landmark_fits``: the 68 points are the mean of fits in boxes moved and scaled round the
    face's box. One fit's points move with its box; the mean moves less. On t1.jpg's six real
    faces, a box moved by 3 % of the face moves the mouth's and lids' points (48-67, 36-47)
    less with 7 fits than with one, and a still box reads the same points every time."""
    from recast.pipeline.faces.dlib_backend import fit_boxes

    img = t1()
    one = create_analyser("dlib", AnalyserOptions(landmarks="68", landmark_fits=1), notify=lambda _t: None)
    seven = create_analyser("dlib", AnalyserOptions(landmarks="68", landmark_fits=7), notify=lambda _t: None)
    faces = one.analyse(img, embed=False)
    assert len(faces) >= 5
    boxes = fit_boxes(np.array([10.0, 20.0, 110.0, 120.0]), 11)
    assert len(boxes) == 11 and np.allclose(boxes[0], [10, 20, 110, 120])
    assert len({tuple(np.round(b, 3)) for b in boxes}) == 11
    feature = list(range(36, 68))
    moved_one, moved_seven = [], []
    for face in faces:
        box = np.asarray(face.box, np.float64)
        size = float(box[2] - box[0])
        shifted = box + np.array([1, 1, 1, 1]) * 0.03 * size
        a1, b1 = (one.fit_landmarks(img, b).landmarks[feature] for b in (box, shifted))
        a7, b7 = (seven.fit_landmarks(img, b).landmarks[feature] for b in (box, shifted))
        np.testing.assert_array_equal(a7, seven.fit_landmarks(img, box).landmarks[feature])
        # the points' own move, the box's shift taken out (a face in a moved box is the same face)
        moved_one.append(float(np.linalg.norm((b1 - b1.mean(0)) - (a1 - a1.mean(0)), axis=1).mean()) / size)
        moved_seven.append(float(np.linalg.norm((b7 - b7.mean(0)) - (a7 - a7.mean(0)), axis=1).mean()) / size)
    assert np.mean(moved_seven) < 0.8 * np.mean(moved_one), (moved_one, moved_seven)
