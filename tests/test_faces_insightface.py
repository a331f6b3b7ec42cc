"""insightface backend: loading and plumbing with STAND-IN models.

The ONNX files built here are not insightface's weights: they are tiny graphs with
the exact signatures insightface 2.1 routes on (SCRFD: one [1,3,H,W] input and 6, 9, 10
or 15 outputs; ArcFace [B,3,112,112] -> [B,512]; 2d106 [B,3,192,192] -> [B,212]; ir_version 8).
The stand-in detector fires on a bright square, so the test can check that boxes,
keypoints and landmarks come back in full-resolution plate coordinates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _faces_fixtures import standin_2d106, standin_arcface, standin_pack, standin_scrfd
from recast.pipeline.errors import FaceModelError
from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.identity import face_distance

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SQUARE_CENTRE = np.array([1056.0, 480.0])


def _plate(value: float = 1.0) -> np.ndarray:
    """A 1920x1080 plate, black with a 96px bright square (scene-linear values allowed)."""
    img = np.zeros((1080, 1920, 3), np.float32)
    img[432:528, 1008:1104] = value
    return img


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return standin_pack(tmp_path_factory.mktemp("buffalo_standin") / "pack")


@pytest.fixture(scope="module")
def analyser(pack: Path):
    return create_analyser("insightface", AnalyserOptions(models_dir=pack))


def test_pack_loads_with_explicit_cpu_providers(analyser, pack: Path) -> None:
    assert set(analyser.models) == {"detection", "recognition", "landmark_2d_106"}
    assert analyser.providers[-1] == "CPUExecutionProvider"
    assert analyser.files["detection"] == pack / "det_10g.onnx"
    lic = analyser.licences()
    assert {d["model"] for d in lic} == {"detection", "recognition", "landmark_2d_106"}
    assert all(d["commercial_use"] is False for d in lic)


def test_detection_maps_back_to_full_resolution(analyser) -> None:
    faces = analyser.analyse(_plate())
    assert len(faces) == 1
    f = faces[0]
    centre = (f.box[:2] + f.box[2:]) / 2
    assert np.abs(centre - SQUARE_CENTRE).max() < 4.0  # downscale 1920->1024->640 undone
    assert f.score > 0.9
    assert f.kps5.shape == (5, 2) and (f.kps5 >= f.box[:2]).all() and (f.kps5 <= f.box[2:]).all()
    assert f.landmarks is not None and f.landmarks.shape == (106, 2) and f.landmark_kind == "insight106"
    assert f.embedding is not None and f.embedding.shape == (512,) and f.embedding_kind == "arcface512"
    assert abs(float(np.linalg.norm(f.embedding)) - 1.0) < 1e-5
    # the stand-in 2d106 output is a ring around the box centre: check the mapping back
    ring_centre = f.landmarks.mean(axis=0)
    assert np.abs(ring_centre - centre).max() < 0.05 * f.size


def test_display_transform_and_nan_inf(analyser) -> None:
    scene = _plate(8.0)
    scene[:50] = np.nan
    scene[-50:] = np.inf
    faces = analyser.analyse(scene, to_display=lambda x: np.clip(x / 8.0, 0, 1))
    assert len(faces) == 1 and np.isfinite(faces[0].embedding).all()
    assert analyser.analyse(np.zeros((1080, 1920), np.float32)) == []


def test_embedding_is_deterministic_and_content_dependent(analyser) -> None:
    a = analyser.analyse(_plate())[0]
    b = analyser.embed(_plate(), a)
    assert face_distance(a.embedding, b) < 1e-5
    other = _plate()
    other[440:470, 1010:1040] = 0.3  # different pixels inside the face
    c = analyser.embed(other, a)
    assert face_distance(a.embedding, c) > 1e-3


def test_fit_landmarks_on_a_given_box(analyser) -> None:
    f = analyser.fit_landmarks(_plate(), np.array([900.0, 320.0, 1212.0, 640.0]))
    assert f.score == 0.0 and f.landmarks is not None and f.embedding is None
    centre = f.landmarks.mean(axis=0)
    assert np.abs(centre - np.array([1056.0, 480.0])).max() < 8.0


def test_six_output_detector_without_keypoints(tmp_path: Path) -> None:
    """SCRFD variant with 6 outputs (no keypoints): kps5 come from the 106 landmarks."""
    standin_scrfd(tmp_path / "det.onnx", with_kps=False)
    standin_arcface(tmp_path / "rec.onnx")
    standin_2d106(tmp_path / "lmk.onnx")
    ana = create_analyser("insightface", AnalyserOptions(models_dir=tmp_path))
    f = ana.analyse(_plate())[0]
    assert f.kps5.shape == (5, 2) and np.isfinite(f.kps5).all()
    assert np.abs(f.kps5.mean(axis=0) - SQUARE_CENTRE).max() < 0.3 * f.size


def test_pack_without_landmarks_still_works(tmp_path: Path) -> None:
    ana = create_analyser("insightface", AnalyserOptions(models_dir=standin_pack(tmp_path / "p", landmarks=False)))
    f = ana.analyse(_plate())[0]
    assert f.landmarks is None and f.landmark_kind is None and f.embedding is not None


def test_missing_or_incomplete_packs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(FaceModelError, match=r"analyser\.models_dir: the insightface backend needs"):
        create_analyser("insightface")
    missing = tmp_path / "buffalo_l"
    with pytest.raises(FaceModelError, match=f"{missing}: insightface model pack not found .*det_10g.onnx"):
        create_analyser("insightface", AnalyserOptions(models_dir=missing))
    missing.mkdir()
    with pytest.raises(FaceModelError, match=r"no \.onnx files"):
        create_analyser("insightface", AnalyserOptions(models_dir=missing))
    standin_arcface(missing / "w600k_r50.onnx")
    with pytest.raises(FaceModelError, match=r"has no detection model \(needs"):
        create_analyser("insightface", AnalyserOptions(models_dir=missing))
    (missing / "det_10g.onnx").write_bytes(b"\x00not onnx")
    with pytest.raises(FaceModelError, match=r"det_10g.onnx: cannot load insightface model") as info:
        create_analyser("insightface", AnalyserOptions(models_dir=missing))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("with_kps", "five_strides", "n_outputs"), [(False, False, 6), (True, False, 9), (False, True, 10), (True, True, 15)])
def test_every_scrfd_output_layout_detects_in_plate_coordinates(tmp_path: Path, with_kps: bool, five_strides: bool, n_outputs: int) -> None:
    """insightface routes SCRFD by its output count (3 or 5 strides, with or without keypoints):
    each stand-in layout finds the square where it is in the full-resolution plate."""
    import onnx

    det = standin_scrfd(tmp_path / "det.onnx", with_kps=with_kps, five_strides=five_strides)
    assert len(onnx.load(str(det)).graph.output) == n_outputs
    standin_arcface(tmp_path / "rec.onnx")
    standin_2d106(tmp_path / "lmk.onnx")
    ana = create_analyser("insightface", AnalyserOptions(models_dir=tmp_path))
    faces = ana.analyse(_plate())
    assert len(faces) == 1
    f = faces[0]
    assert np.abs((f.box[:2] + f.box[2:]) / 2 - SQUARE_CENTRE).max() < 4.0 and f.score > 0.9
    assert f.kps5.shape == (5, 2) and np.abs(f.kps5.mean(axis=0) - SQUARE_CENTRE).max() < 0.3 * f.size
