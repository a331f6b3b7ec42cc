"""The warp's edges on real faces (insightface's t1.jpg, bright daylight, the face mesh's
68-point layout): the feature fill stays off the temples and hairline (no pale wedge), and a
face turned past the actor's bank is faded out and flagged rather than smeared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from recast.models.swappers import warp_shape as ws
from recast.models.swappers.warp import WarpSwapper
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser
from tests._faces_fixtures import t1

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@pytest.fixture(scope="module")
def t1_faces() -> tuple[np.ndarray, list[Any]]:
    from recast.pipeline.faces.mediapipe_models import missing

    if missing():
        pytest.skip("MediaPipe model files not set up")
    img = t1()
    mp = create_analyser("mediapipe", AnalyserOptions(), notify=lambda _t: None)
    return img, sorted(mp.analyse(img, embed=False), key=lambda f: (f.box[0], f.box[1]))


def _near(faces: list[Any], x: float, y: float) -> Any:
    return min(faces, key=lambda f: abs(f.box[0] - x) + abs(f.box[1] - y))


def _compose(img: np.ndarray, face: Any, actor: Any) -> tuple[np.ndarray, Any, Any, Any]:
    box = crop_box_for(face, img.shape[:2], 2.0)
    ys, xs = box.slices()
    crop, fc = img[ys, xs].copy(), shift_face(face, -box.x0, -box.y0)
    fc.track_id = None
    sw = WarpSwapper()
    conv = SpaceConverter(lambda a: a, lambda a: a)
    opts = ComposeOptions.from_settings(SwapSettings(grain=False))
    comp = compose_face(crop, fc, lambda c, f: sw.swap(c, f, actor), conv, opts)
    return crop, fc, comp, sw.swap(crop, fc, actor)


# the two faces whose outer brow ends lie beyond the actor's face (left woman, middle man)
@pytest.mark.parametrize("at", [(68, 284), (452, 296)])
def test_no_pale_wedge_at_the_temples(actor: Any, t1_faces: tuple[np.ndarray, list[Any]], at: tuple[int, int]) -> None:
    img, faces = t1_faces
    crop, fc, comp, res = _compose(img, _near(faces, *at), actor)
    rgb = comp.alpha[..., None] * comp.fg_clean + (1.0 - comp.alpha[..., None]) * crop
    from recast.pipeline.faces.mesh import FACE_OVAL

    oval = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(oval, [np.round(fc.landmarks[FACE_OVAL]).astype(np.int32)], 255)
    dist = cv2.distanceTransform((oval > 0).astype(np.uint8), cv2.DIST_L2, 3)
    from recast.pipeline.faces.mesh import mesh_to_68

    m68 = mesh_to_68(fc.landmarks)
    _, _, length = ws.face_frame(m68)
    brow_y = float(m68[17:27, 1].max())
    rows = np.arange(crop.shape[0])[:, None] < brow_y
    band = (oval > 0) & (dist < 0.1 * length) & rows
    assert band.sum() > 50
    # the upper part of the face's edge band (above the brows): temples and hairline
    # the actor's graded skin (where the comp shows it) and the plate itself: the edge band is
    # never lit brighter than both
    skin = (res.skin > 0.5) & (comp.alpha > 0.9)
    actor_skin = float(np.median(comp.fg_clean[skin] @ _LUMA))
    y_comp, y_plate = rgb @ _LUMA, crop @ _LUMA
    over = y_comp - np.maximum(y_plate, actor_skin)
    # (a flat wedge of fill there measured 0.15-0.17 above both at the 99th percentile; the
    # plate's own shading and the actor's highlights stay under 0.07)
    p99 = float(np.percentile(over[band], 99))
    assert p99 < 0.09, p99


def test_a_face_turned_past_the_bank_fades_out_with_a_flag(actor: Any, tmp_path: Path) -> None:
    """t1.jpg through the engine (every face, commercial analyser): the man at the top right,
    turned about 45 degrees, is beyond the actor's bank (one portrait near 19 degrees and its
    mirror): no smeared ghost of the actor, the plate's face kept, and the record says why."""
    from recast.pipeline.faces.mediapipe_models import missing

    if missing():
        pytest.skip("MediaPipe model files not set up")
    from _faces_fixtures import write_exr_sequence
    from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
    from recast.pipeline.plateio import read_plate
    from recast.pipeline.sequence import PlateSequence
    from recast.qc.metrics import record_metrics

    seq = PlateSequence.open(write_exr_sequence([t1()], tmp_path / "plate", name="t1"))
    eng = Engine(seq, {actor.name: actor}, SwapSettings(selection="all", allow_noncommercial_models=False),
                 OutputLayout(tmp_path / "out", seq.name, seq.padding))
    (rec,) = eng.run(seq.frames)
    faces = rec["faces"]
    turned = min(faces, key=lambda f: abs(f["box"][0] - 884) + abs(f["box"][1] - 80))
    info = turned["swap_info"]
    assert info["outside_pose_coverage"] and info["yaw_beyond_bank_deg"] > 20.0
    assert info["pose_coverage"] < 0.1
    # the frontal faces of the same plate are swapped in full
    front = [f for f in faces if f is not turned and f["swap_info"].get("pose_coverage") == 1.0]
    assert len(front) >= 4 and all(f["swapped"] for f in front)
    # no smear: the comp under the turned face departs from the plate by at most the kept
    # fraction of the swap (a trace of the faded matte)
    plate = read_plate(seq.path(seq.frames[0])).pixels[..., :3]
    comp = read_plate(rec["comp"]).pixels[..., :3]
    x0, y0, x1, y1 = (int(round(v)) for v in turned["box"])
    assert float(np.abs(comp[y0:y1, x0:x1] - plate[y0:y1, x0:x1]).max()) <= info["pose_coverage"] + 2e-3
    if not turned["swapped"]:
        assert info["skipped"] == "outside the actor's pose coverage"
    # QC reads the flag from the record: pose_uncovered = 1 - kept (fails above 0.5)
    assert record_metrics(rec)["pose_uncovered"].value > 0.9
    assert record_metrics({"faces": front})["pose_uncovered"].value == 0.0
