"""The ``mediapipe`` analyser: BlazeFace + the 468-point mesh (Apache-2.0) + dlib's CC0 embedding.

The model files are the ones set-up extracted from the pinned mediapipe wheel
(`make test` runs the fetch); nothing downloads here. Outside CI a machine
without them skips with the reason; in CI their absence fails.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recast.pipeline.errors import FaceModelError
from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces import mediapipe_models as mm
from recast.pipeline.faces.identity import face_distance
from recast.pipeline.faces.mesh import EAR_LEFT, EAR_RIGHT, FACE_OVAL, LIPS_INNER, mesh_to_68
from recast.pipeline.faces.mesh_eyes import EYE_CONTOUR_LEFT, EYE_CONTOUR_RIGHT
from tests._faces_fixtures import astronaut, lfw_faces, t1

_GONE = mm.missing()
if _GONE and os.environ.get("CI") != "true":
    pytest.skip(f"MediaPipe model files not set up ({', '.join(_GONE)}): {mm.SETUP_HINT}", allow_module_level=True)


@pytest.fixture(scope="module")
def mp():
    return create_analyser("mediapipe", AnalyserOptions(), notify=lambda _t: None)


def test_models_are_the_pinned_files() -> None:
    assert mm.missing() == []
    for key in mm.MODELS:
        assert mm.sha256_of(mm.model_path(key)) == mm.MODELS[key].sha256


def test_altered_or_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FaceModelError, match="MediaPipe model file not found.*set-up"):
        mm.model_path("face_landmark", tmp_path)
    (tmp_path / "face_landmark.tflite").write_bytes(b"not a model")
    with pytest.raises(FaceModelError, match="sha256 does not match"):
        mm.model_path("face_landmark", tmp_path)
    with pytest.raises(FaceModelError, match="MediaPipe model file not found"):
        create_analyser("mediapipe", AnalyserOptions(models_dir=tmp_path / "none"))


def test_extract_checks_the_wheel_and_each_member(tmp_path: Path) -> None:
    fake = tmp_path / mm.WHEEL_FILE
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr(mm.MODELS["face_landmark"].member, b"x")
    with pytest.raises(FaceModelError, match="sha256 does not match the pinned"):
        mm.extract(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_astronaut_mesh_and_licences(mp) -> None:
    faces = mp.analyse(astronaut())
    assert len(faces) == 1
    f = faces[0]
    assert f.landmark_kind == "mesh468" and f.landmarks.shape == (468, 2)
    # the mesh sits on the face: eyes above the nose tip above the mouth, inside the box
    lm68 = mesh_to_68(f.landmarks)
    assert lm68[36:48, 1].mean() < lm68[30, 1] < lm68[48:68, 1].mean()
    x0, y0, x1, y1 = f.box
    assert x0 - 10 < lm68[:, 0].min() and lm68[:, 0].max() < x1 + 10
    # the same face as dlib sees it (the astronaut's dlib box is about 179,83 - 267,171)
    assert abs((x0 + x1) / 2 - 223) < 15 and abs(lm68[30, 1] - 140) < 20
    assert f.embedding is not None and f.embedding_kind == "dlib128"
    lic = mp.licences()
    assert {d["model"] for d in lic} >= {"face_detection_full_range", "face_landmark"}
    assert all(d["commercial_use"] for d in lic)
    assert all(d["licence"].startswith("Apache-2.0") for d in lic if d["model"].startswith("face_"))


def test_t1_all_six_faces_and_identities(mp) -> None:
    faces = mp.analyse(t1())
    assert len(faces) == 6
    embs = [f.embedding for f in faces]
    d = [face_distance(embs[i], embs[j]) for i in range(6) for j in range(i + 1, 6)]
    assert min(d) > mp.same_person_threshold * 0.8  # six different people


def test_mesh_layout_on_a_real_face() -> None:
    """Eye aspect ratios, inner lips and the face oval where a face has them."""
    mp = create_analyser("mediapipe", AnalyserOptions(), notify=lambda _t: None)
    img = astronaut()
    base = mp.analyse(img, embed=False)[0]

    def ear(lm: np.ndarray, idx: np.ndarray) -> float:
        p = lm[idx]
        return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3])))

    assert 0.1 < ear(base.landmarks, EAR_RIGHT) < 0.6 and 0.1 < ear(base.landmarks, EAR_LEFT) < 0.6
    inner = base.landmarks[LIPS_INNER]
    assert np.ptp(inner[:, 1]) < 0.2 * (base.box[3] - base.box[1])  # the astronaut's mouth is nearly closed
    oval = base.landmarks[FACE_OVAL]
    assert np.ptp(oval[:, 1]) > 0.8 * (base.box[3] - base.box[1])


def test_lfw_faces_found(mp) -> None:
    found = sum(bool(mp.analyse(f, embed=False)) for f in lfw_faces()[:20])
    assert found >= 18, f"{found}/20 lfw faces"


def test_small_faces_with_the_pyramid(mp) -> None:
    from tests.test_faces_small import paste

    img = t1()
    dlib5 = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False, min_face=0), notify=lambda _t: None)
    box = max(dlib5.analyse(img, embed=False), key=lambda f: f.size).box
    for shape, px in (((1080, 1920), 72), ((2160, 3840), 108), ((1080, 1920), 48)):
        plate = paste(img, box, px, shape, (shape[1] // 2, shape[0] // 3))
        faces = mp.analyse(plate, embed=False)
        assert any(0.6 * px < f.size < 2.0 * px for f in faces), f"{px} px in {shape}: {[f.size for f in faces]}"


class _Unrefined:
    """The mesh's own eye points (the refiner's place taken by a no-op), for comparison."""

    def refine(self, image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        return np.array(mesh, dtype=np.float64, copy=True)


def test_the_iris_model_refines_the_lids_so_blinks_read() -> None:
    """A real face blinking (the astronaut's lids closed by a warp, 24 frames): the eye aspect
    ratio of the refined lids follows the blink closer than the mesh's own, and spans more of
    the way from open to shut; on open eyes the refined outline stays on the mesh's."""
    from tests._expression_plate import expression_clip

    mp = create_analyser("mediapipe", AnalyserOptions(), notify=lambda _t: None)
    assert "iris_landmark" in {d["model"] for d in mp.licences()}
    clip = expression_clip(astronaut(), 24)

    def ear(lm: np.ndarray) -> float:
        def one(idx: np.ndarray) -> float:
            p = lm[idx]
            return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3])))

        return 0.5 * (one(EAR_RIGHT) + one(EAR_LEFT))

    def readings() -> tuple[list[float], list[np.ndarray]]:
        faces = [max(mp.analyse(f, embed=False), key=lambda q: q.size) for f in clip.frames]
        return [ear(f.landmarks) for f in faces], [f.landmarks for f in faces]

    refined, lm_refined = readings()
    refiner, mp._eyes = mp._eyes, _Unrefined()
    try:
        raw, lm_raw = readings()
    finally:
        mp._eyes = refiner
    shut = -clip.blink
    c_refined, c_raw = np.corrcoef(shut, refined)[0, 1], np.corrcoef(shut, raw)[0, 1]
    assert c_refined > 0.85 and c_refined > c_raw + 0.03, (c_refined, c_raw)
    assert min(refined) / max(refined) < min(raw) / max(raw) - 0.03
    # open eyes: the refined lids within a tenth of the eye's width of the mesh's
    i = int(np.argmin(clip.blink))
    for idx in (EYE_CONTOUR_RIGHT, EYE_CONTOUR_LEFT):
        width = np.linalg.norm(lm_raw[i][idx[8]] - lm_raw[i][idx[0]])
        assert np.linalg.norm(lm_refined[i][idx] - lm_raw[i][idx], axis=1).mean() < 0.1 * width


def test_a_refined_eye_that_does_not_agree_with_the_mesh_is_refused() -> None:
    """The refiner's check (``_agrees``): corners far from the mesh's, or an outline of another
    width, keep the mesh's points."""
    from recast.pipeline.faces.mesh_eyes import _agrees

    t = np.linspace(0.0, np.pi, 9)
    lower = np.stack([50 + 20 * np.cos(np.pi - t), 40 + 6 * np.sin(t)], axis=1)
    upper = np.stack([50 + 20 * np.cos(np.pi - t[1:-1]), 40 - 8 * np.sin(t[1:-1])], axis=1)
    eye = np.concatenate([lower, upper])
    assert _agrees(eye + 1.0, eye)
    assert not _agrees(eye + np.array([15.0, 0.0]), eye)  # moved by most of the eye's width
    wide = eye.copy()
    wide[:, 0] = 50 + (eye[:, 0] - 50) * 1.8
    assert not _agrees(wide, eye)


def test_the_mesh_averaged_over_moved_crops_moves_less_with_the_box() -> None:
    """``landmark_fits`` for the mesh: the final fit averaged with fits in crops moved and scaled
    round its own. On t1.jpg's faces, a box moved by 3 % of the face moves the mouth's and
    lids' points (the 68-point layout's 36-67) less with 7 fits than with one."""
    from recast.pipeline.faces.mesh import mesh_to_68

    img = t1()
    one = create_analyser("mediapipe", AnalyserOptions(landmark_fits=1), notify=lambda _t: None)
    seven = create_analyser("mediapipe", AnalyserOptions(landmark_fits=7), notify=lambda _t: None)
    faces = one.analyse(img, embed=False)
    assert len(faces) >= 5
    moved: dict[int, list[float]] = {1: [], 7: []}
    for face in faces:
        box = np.asarray(face.box, np.float64)
        size = float(box[2] - box[0])
        for k, an in ((1, one), (7, seven)):
            a, b = (mesh_to_68(an.fit_landmarks(img, bx).landmarks)[36:68] for bx in (box, box + 0.03 * size))
            moved[k].append(float(np.linalg.norm((b - b.mean(0)) - (a - a.mean(0)), axis=1).mean()) / size)
    assert np.mean(moved[7]) < 0.8 * np.mean(moved[1]), moved
