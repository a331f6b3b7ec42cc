"""The real talking/blinking plate (``_expression_plate``) shows what it was made to show:
dlib's 68-point fit (bench_look's judge) reads its mouth opening and eye aspect ratio
following the schedule, and the face stays where it is (only the lips, jaw and lids move)."""

from __future__ import annotations

import numpy as np

from recast.pipeline.faces import AnalyserOptions, create_analyser
from tests._expression_plate import FRAME, expression_clip, schedule
from tests._faces_fixtures import astronaut


def _readings(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    an = create_analyser("dlib", AnalyserOptions(landmarks="68", min_face=0, upsample=1, landmark_fits=1), notify=lambda _t: None)
    mouth, ear, nose = [], [], []
    for f in frames:
        lm = max(an.analyse(f, embed=False), key=lambda x: x.size).landmarks
        iod = np.linalg.norm(lm[45] - lm[36])
        mouth.append(np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in ((61, 67), (62, 66), (63, 65))]) / iod)

        def one(e: np.ndarray) -> float:
            return float((np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * np.linalg.norm(e[0] - e[3])))

        ear.append(0.5 * (one(lm[36:42]) + one(lm[42:48])))
        nose.append(lm[30])
    return np.array(mouth), np.array(ear), np.array(nose)


def test_schedule_is_fixed_and_has_talking_and_blinks() -> None:
    m1, b1 = schedule(48)
    m2, b2 = schedule(48)
    assert np.array_equal(m1, m2) and np.array_equal(b1, b2)
    assert (m1 > 0.5).sum() >= 4 and (m1 < 0.05).sum() >= 4
    assert (b1 > 0.9).sum() >= 2 and ((b1 > 0.3) & (b1 < 0.7)).sum() >= 2


def test_the_judge_reads_the_schedule_on_the_plate() -> None:
    clip = expression_clip(astronaut(), 24)
    assert clip.frames[0].shape == (*FRAME, 3)
    mouth, ear, nose = _readings(clip.frames)
    assert np.corrcoef(clip.mouth, mouth)[0, 1] > 0.9
    assert np.corrcoef(-clip.blink, ear)[0, 1] > 0.9
    shut, wide = clip.blink > 0.9, clip.mouth > 0.5
    assert ear[shut].max() < 0.6 * ear[clip.blink < 0.05].min()
    assert mouth[wide].min() > 2.0 * mouth[clip.mouth < 0.05].max()
    # the head only drifts (a few px): nothing else in the face jumps
    assert np.ptp(nose, axis=0).max() < 20
