"""Temporal metrics along each face track, from per-frame features.

- **landmark_jitter**: the comp's landmarks (refit on the comp) minus the plate's,
  divided by face size, is the offset the swap adds. Its high-frequency part
  (the frame's offset minus the median of its neighbours') is the jitter: a
  shifted or wobbling swap spikes there, a steady one stays near 0.
- **flicker**: the face box's mean colour, comp minus plate (display-referred),
  minus the median of its neighbours': a colour jump the plate does not have.
- **missing_faces**: swapped faces the neighbours have but this frame lacks.

Medians (not means) of the neighbours keep a single bad frame from leaking
into the frames around it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np


@dataclass
class FaceFeatures:
    track: str  # track id (or face index when the record has none)
    residual: np.ndarray | None  # (N, 2) comp - plate landmarks / face size
    colour_delta: np.ndarray | None  # (3,) comp - plate mean display colour in the face box


@dataclass
class FrameFeatures:
    frame: int
    swapped: int = 0
    faces: list[FaceFeatures] = field(default_factory=list)


@dataclass(frozen=True)
class TemporalOptions:
    radius: int = 2  # neighbours on each side used for the median


def _neighbours(frames: list[int], i: int, radius: int) -> list[int]:
    lo, hi = max(0, i - radius), min(len(frames), i + radius + 1)
    return [j for j in range(lo, hi) if j != i]


def temporal_scores(
    features: list[FrameFeatures], options: TemporalOptions = TemporalOptions()
) -> dict[int, dict[str, tuple[float | None, str | None]]]:
    """frame -> metric -> (value, reason when None)."""
    feats = sorted(features, key=lambda f: f.frame)
    frames = [f.frame for f in feats]
    tracks: dict[str, dict[int, FaceFeatures]] = defaultdict(dict)
    for k, f in enumerate(feats):
        for face in f.faces:
            tracks[face.track][k] = face
    out: dict[int, dict[str, tuple[float | None, str | None]]] = {}
    for k, f in enumerate(feats):
        nb = _neighbours(frames, k, options.radius)
        res: dict[str, tuple[float | None, str | None]] = {}
        jit: list[float] = []
        fl: list[float] = []
        for face in f.faces:
            track = tracks[face.track]
            others = [track[j] for j in nb if j in track]
            if face.residual is not None:
                ref = [o.residual for o in others if o.residual is not None and o.residual.shape == face.residual.shape]
                if ref:
                    hp = face.residual - np.median(np.stack(ref), axis=0)
                    jit.append(float(np.sqrt(np.mean(np.sum(hp * hp, axis=-1)))))
            if face.colour_delta is not None:
                ref = [o.colour_delta for o in others if o.colour_delta is not None]
                if ref:
                    fl.append(float(np.linalg.norm(face.colour_delta - np.median(np.stack(ref), axis=0))))
        res["landmark_jitter"] = (max(jit), None) if jit else (None, "no comp landmarks on this frame and its neighbours")
        res["flicker"] = (max(fl), None) if fl else (None, "no face on this frame and its neighbours")
        if nb:
            expected = float(np.median([feats[j].swapped for j in nb]))
            # a strict majority of neighbours must have the face: a face leaving the shot is not "missing"
            res["missing_faces"] = (max(0.0, float(np.floor(expected)) - f.swapped), None)
        else:
            res["missing_faces"] = (None, "no neighbouring frames")
        out[f.frame] = res
    return out
