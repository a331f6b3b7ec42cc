"""A shot's first frames read the eyes ahead (issue 14). A shot has no frames before its first
to replay, so a track's open-eye reference started from a fixed guess of an open eye (0.3 of
the eye's width): narrow or downcast eyes read part shut for the first frames, the actor's
lids half down while the plate's eyes were open. The engine now reads the plate's first
``history_frames`` ahead before its first window and starts the swappers with what they kept of
them (``Engine._look_ahead``, ``WarpSwapper.prime_sequence``): the first frames read the
person's own open eyes, and a shot that opens on a blink still shuts the actor's eyes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from _engine_fixtures import build_tom_hanks_actor
from _faces_fixtures import astronaut, t1_face, write_exr_sequence
from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.sequence import PlateSequence
from tests._expression_plate import expression_clip


def _around_face(frames: list[np.ndarray], size: int = 480) -> list[np.ndarray]:
    """The frames cut to ``size`` px square round the face of the first (the engine's work
    is then a fraction of the HD frame's)."""
    an = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
    face = max(an.analyse(frames[0], embed=False), key=lambda f: f.size)
    cx, cy = (int(v) for v in ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2))
    h, w = frames[0].shape[:2]
    x0, y0 = min(max(0, cx - size // 2), w - size), min(max(0, cy - size // 2), h - size)
    return [np.ascontiguousarray(f[y0 : y0 + size, x0 : x0 + size]) for f in frames]


def _eye_ratios(tmp: Path, name: str, frames: list[np.ndarray], actor: Any, history_frames: int, count: int) -> list[float]:
    pattern = write_exr_sequence(frames, tmp / f"plate_{name}", name=name)
    seq = PlateSequence.open(pattern)
    settings = SwapSettings(selection="largest", history_frames=history_frames)
    eng = Engine(seq, {actor.name: actor}, settings, OutputLayout(tmp / f"out_{name}_{history_frames}", seq.name))
    out = []
    for rec in eng.run(seq.frames[:count]):
        assert rec["status"] == "done", rec.get("error")
        # the first frame's record says how many frames were read ahead before it
        assert (rec.get("history") or {}).get("ahead", 0) == (min(history_frames, len(frames)) if not out else 0), rec.get("history")
        face = next(f for f in rec["faces"] if f["swapped"])
        out.append(float(face["swap_info"]["eye_ratio"]))
    return out


def test_narrow_eyes_read_open_from_a_shots_first_frame(tmp_path: Path) -> None:
    """t1.jpg's first face (downcast eyes, dlib reads them 0.19-0.22 open against the 0.3
    guess): with the frames read ahead the actor's eyes are more open from the first frame
    (0.56, 0.46, 0.48 without, the young track's guess; 0.74, 0.63, 0.66 with, when written)."""
    actor = build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    clip = expression_clip(t1_face(0), 26, face_px=150.0)
    assert float(clip.blink[:3].max()) == 0.0  # the plate's eyes are open on these frames
    frames = _around_face(clip.frames)
    without = _eye_ratios(tmp_path, "narrow", frames, actor, 0, 3)
    ahead = _eye_ratios(tmp_path, "narrow", frames, actor, 24, 3)
    assert min(ahead) > 0.6, (without, ahead)
    assert all(a > w + 0.1 for a, w in zip(ahead, without, strict=True)), (without, ahead)


def test_a_shot_that_opens_on_a_blink_still_shuts_the_actors_eyes(tmp_path: Path) -> None:
    """The astronaut's clip started on its first blink (shut 1.0, then 0.8, 0.4, 0.1, open):
    read ahead, the track's reference is her open eyes, so the first frame is shut and the
    eyes open as hers do."""
    actor = build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    clip = expression_clip(astronaut(), 16)
    assert list(np.round(clip.blink[6:10], 2)) == [1.0, 0.8, 0.4, 0.1]
    frames = _around_face(clip.frames[6:16])
    ratios = _eye_ratios(tmp_path, "blink", frames, actor, 8, 10)
    assert ratios[0] < 0.15, ratios
    assert max(ratios[4:]) > 0.85 and ratios[0] < ratios[2] < ratios[4], ratios
