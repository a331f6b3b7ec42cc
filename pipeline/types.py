"""Shared data types that travel between stages (faces, per-frame context)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

LandmarkSource = Literal["detected", "propagated"]


@dataclass
class Face:
    """One face in one frame, in full-resolution plate pixel coordinates.

    ``kps5`` order (insightface convention, image left/right): left eye centre,
    right eye centre, nose tip, left mouth corner, right mouth corner.
    """

    box: np.ndarray  # (4,) float: x0, y0, x1, y1
    score: float
    kps5: np.ndarray  # (5, 2) float
    landmarks: np.ndarray | None = None  # (68, 2) dlib or (106, 2) insightface
    landmark_kind: str | None = None  # "dlib68" | "insight106" | None
    embedding: np.ndarray | None = None  # L2-normalised
    embedding_kind: str | None = None  # "dlib128" | "arcface512"
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)  # yaw, pitch, roll (degrees)
    source: LandmarkSource = "detected"
    track_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        return max(self.width, self.height)

    def to_json(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "box": [round(float(v), 3) for v in self.box],
            "score": round(float(self.score), 5),
            "kps5": np.round(self.kps5, 3).tolist(),
            "landmarks": None if self.landmarks is None else np.round(self.landmarks, 3).tolist(),
            "landmark_kind": self.landmark_kind,
            "landmarks_source": self.source,
            "pose": [round(float(v), 3) for v in self.pose],
            "embedding_kind": self.embedding_kind,
        }
