"""A second opinion on detector candidates: the face mesh's own face-presence flag.

A detector's weak hits include texture that looks like a face to it (a mission patch on
a space suit, a motorcycle headlight): the pasted face on a costume is a failure a
supervisor rejects. MediaPipe's face mesh (``face_landmark.tflite``, Apache-2.0) has a
second output besides its 468 points, a logit that there is a face in its crop at all.
Real faces read 0.95-1.0 there (small, edge-cut, grey, cartoon faces alike; the lowest
seen, 0.71, a blurred grey lfw face); texture that fooled HOG reads under 0.31.

The check runs once per candidate that does not come from a live track (a track is
confirmed by this check when it starts and by its own motion afterwards), on the
detector's box, eyes level: one 192x192 mesh pass, ~1.5 ms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.pipeline.errors import FaceModelError

MESH_SIZE = 192  # the mesh model's input side
ROI_SCALE = 1.5  # its crop: 1.5 x the face box (MediaPipe's detection-to-ROI scale)
MIN_PRESENCE = 0.6  # below: no face where the detector saw one (measured: texture <= 0.56,
# real faces >= 0.7: lfw, t1, astronaut and t1 pasted at 48-108 px, edge-cut faces)
ROLL_MIN_DEG = 25.0  # a candidate's fitted eyes tilted more than this: its crop is levelled on them


class MeshPresence:
    """The face mesh's face-presence probability for a box in an image."""

    def __init__(self, interpreter: Any) -> None:
        self._it = interpreter
        self._in = interpreter.get_input_details()[0]["index"]
        flags = [d["index"] for d in interpreter.get_output_details() if int(np.prod(d["shape"])) == 1]
        if not flags:
            raise FaceModelError("face mesh model: no face-presence output")
        self._flag = flags[0]

    @classmethod
    def load(cls, folder: Path | None = None, threads: int = 1) -> MeshPresence:
        """From the pinned ``face_landmark.tflite`` (FaceModelError when absent or altered)."""
        from recast.pipeline.faces.mediapipe_models import model_path

        path = model_path("face_landmark", folder)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise FaceModelError("face verification: ai-edge-litert is not installed (pip install ai-edge-litert==2.3.0)") from None
        try:
            it = Interpreter(model_path=str(path), num_threads=max(1, int(threads)))
            it.allocate_tensors()
        except Exception as exc:  # the runtime raises many kinds; reported as one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FaceModelError(f"{path}: cannot load MediaPipe model ({first})") from None
        return cls(it)

    def __call__(self, pixels: np.ndarray, box: np.ndarray, kps5: np.ndarray | None = None) -> float:
        """Presence (0..1) of a face in ``box`` of uint8 RGB ``pixels`` (same coordinates);
        ``kps5`` (the candidate's fitted keypoints) levels a strongly tilted head."""
        x0, y0, x1, y1 = (float(v) for v in box)
        centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
        side = max(ROI_SCALE * max(x1 - x0, y1 - y0), 4.0)
        angle = _roll(kps5)
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, s], [-s, c]]) * (MESH_SIZE / side)
        m = np.hstack([rot, (np.array([MESH_SIZE / 2.0] * 2) - rot @ centre)[:, None]])
        roi = cv2.warpAffine(pixels, m, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._it.set_tensor(self._in, (roi.astype(np.float32) / 255.0)[None])
        self._it.invoke()
        flag = float(self._it.get_tensor(self._flag).reshape(-1)[0])
        return float(1.0 / (1.0 + np.exp(-np.clip(flag, -100.0, 100.0))))


def _roll(kps5: np.ndarray | None) -> float:
    """The eyes' tilt (radians) when over ROLL_MIN_DEG, else 0 (the box as the detector gave it)."""
    if kps5 is None or len(kps5) < 2:
        return 0.0
    p = np.asarray(kps5, np.float64)
    angle = float(np.arctan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0]))
    return angle if np.isfinite(angle) and abs(np.degrees(angle)) > ROLL_MIN_DEG else 0.0


__all__ = ["MIN_PRESENCE", "MeshPresence"]
