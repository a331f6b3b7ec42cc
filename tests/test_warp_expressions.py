"""The warp's comps follow the plate's expression, as an outside judge reads them.

Real frames of the Megamind clip (a dim, warm restaurant; the character blinks and talks),
swapped with the warp actor built from insightface's Tom Hanks sample and composited as the
engine does; dlib's 68-point predictor reads the eye aspect ratio and the lip gap of plate
and comp. Frame numbers are the clip's own (decode order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _faces_fixtures import megamind_frames
from recast.models.base import SwapperContext
from recast.models.swappers.warp import WarpSwapper
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser

SHUT, OPEN = 31, 39  # lids meet (plate EAR about 0.14) / wide open (about 0.47)
TALK_OPEN, TALK_SHUT = 89, 38  # lips apart / lips together, eyes open in both


@pytest.fixture(scope="module")
def judge() -> Any:
    return create_analyser("dlib", AnalyserOptions(landmarks="68", min_face=0, upsample=1, landmark_fits=1), notify=lambda _t: None)


@pytest.fixture(scope="module")
def clip(test_media: Path) -> dict[int, np.ndarray]:
    frames = megamind_frames(test_media, 60, scale=1.0, start=30)
    return {30 + i: f for i, f in enumerate(frames)}


def _eyes_and_mouth(lm: np.ndarray) -> tuple[float, float]:
    def ear(e: np.ndarray) -> float:
        return float((np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * np.linalg.norm(e[0] - e[3])))

    iod = float(np.linalg.norm(lm[45] - lm[36]))
    mouth = float(np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in ((61, 67), (62, 66), (63, 65))])) / iod
    return 0.5 * (ear(lm[36:42]) + ear(lm[42:48])), mouth


def _swap_sequence(
    clip: dict[int, np.ndarray], order: list[int], actor: Any, judge: Any, commercial: bool = False
) -> dict[int, dict[str, float]]:
    """Swap ``order``'s frames as one face track (the largest face); judge plate and comp.

    ``commercial``: the face mesh finds the faces and the swap runs without non-commercial
    models (the mesh's 68-point layout), as ``--commercial-only`` does."""
    sw = WarpSwapper(context=SwapperContext(allow_noncommercial_models=not commercial))
    finder = create_analyser("mediapipe", AnalyserOptions(), notify=lambda _t: None) if commercial else judge
    conv = SpaceConverter(lambda a: a, lambda a: a)
    opts = ComposeOptions.from_settings(SwapSettings(grain=False))
    out: dict[int, dict[str, float]] = {}
    for n in order:
        img = clip[n]
        face = max(finder.analyse(img, embed=False), key=lambda f: f.size)
        box = crop_box_for(face, img.shape[:2], 2.0)
        ys, xs = box.slices()
        crop, fc = img[ys, xs].copy(), shift_face(face, -box.x0, -box.y0)
        fc.track_id = 1
        comp = compose_face(crop, fc, lambda c, f: sw.swap(c, f, actor), conv, opts)
        a = comp.alpha[..., None]
        pixels = np.clip(a * comp.fg_clean + (1.0 - a) * crop, 0.0, 1.0).astype(np.float32)
        jbox = np.asarray(judge.fit_landmarks(crop, np.asarray(fc.box)).box) if commercial else np.asarray(fc.box)
        p_ear, p_mouth = _eyes_and_mouth(judge.fit_landmarks(crop, jbox).landmarks)
        c_ear, c_mouth = _eyes_and_mouth(judge.fit_landmarks(pixels, jbox).landmarks)
        out[n] = {"plate_ear": p_ear, "comp_ear": c_ear, "plate_mouth": p_mouth, "comp_mouth": c_mouth}
    return out


@pytest.mark.parametrize("commercial", [False, True], ids=["dlib68", "mesh68"])
def test_the_comp_blinks_when_the_plate_blinks(
    clip: dict[int, np.ndarray], actor: Any, judge: Any, commercial: bool
) -> None:
    """Open, shut, open again: the judge reads the comp's eyes shut on the plate's blink."""
    if commercial:
        from recast.pipeline.faces.mediapipe_models import missing

        if missing():
            pytest.skip("MediaPipe model files not set up")
    m = _swap_sequence(clip, [OPEN, SHUT, OPEN + 1], actor, judge, commercial)
    assert m[SHUT]["plate_ear"] < 0.5 * m[OPEN]["plate_ear"], m  # (the plate does blink here)
    shut, opened = m[SHUT]["comp_ear"], min(m[OPEN]["comp_ear"], m[OPEN + 1]["comp_ear"])
    # a real blink in the comp: the judge's opening drops by a fifth or more, and reads shut
    assert shut < 0.8 * opened, m
    assert shut < 0.26, m


def test_the_comp_talks_when_the_plate_talks(clip: dict[int, np.ndarray], actor: Any, judge: Any) -> None:
    m = _swap_sequence(clip, [TALK_SHUT, TALK_OPEN], actor, judge)
    assert m[TALK_OPEN]["plate_mouth"] > m[TALK_SHUT]["plate_mouth"] + 0.06, m  # (the plate talks here)
    assert m[TALK_OPEN]["comp_mouth"] > m[TALK_SHUT]["comp_mouth"] + 0.05, m
    # and the mouth opens about as far as the plate's, relative to the eyes' distance
    assert m[TALK_OPEN]["comp_mouth"] > 0.6 * m[TALK_OPEN]["plate_mouth"], m
