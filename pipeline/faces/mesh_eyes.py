"""The face mesh's eye contours refined by MediaPipe's iris model (Apache-2.0).

The 468-point mesh (``face_landmark.tflite``, without its attention refinement) follows the
lids loosely: a shut eye still measures most of its open gap. MediaPipe pairs it with
``iris_landmark.tflite``, which reads one eye from a 64x64 crop and gives 71 eye-region points
(the first 16 the lid contour) and 5 iris points. Its lid points replace the mesh's: on the
Megamind clip the eye aspect ratio then follows dlib's 68-point reading with correlation 0.88
instead of 0.82, and its range (shut to open) widens from 0.19-0.40 to 0.19-0.48.

Facts of the model (MediaPipe's iris graph): the crop is the square 2.3 times the distance
between the eye's corners, centred between them and turned with them; pixel values in [0, 1];
the model reads the image-left eye as it is and the image-right one mirrored; the first 16
outputs are, in order, the mesh points ``EYE_CONTOUR_*`` below (lower lid from the outer
corner, then the upper lid).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

IRIS_SIZE = 64
EYE_ROI_SCALE = 2.3
N_OUTPUT = 71
N_CONTOUR = 16
# mesh indices of the model's first 16 outputs, image-left eye (the subject's right) and image-right eye
EYE_CONTOUR_RIGHT = np.array([33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173])
EYE_CONTOUR_LEFT = np.array([263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398])
# (mesh index of the crop's left corner, of its right corner, contour indices, mirrored)
EYES = ((33, 133, EYE_CONTOUR_RIGHT, False), (362, 263, EYE_CONTOUR_LEFT, True))
MIN_EYE_PX = 6.0  # eyes narrower than this (corner to corner, crop px) keep the mesh's points
CORNER_TOLERANCE = 0.3  # of the eye's width: a refined corner farther from the mesh's is refused
WIDTH_RANGE = (0.7, 1.4)  # refined eye width over the mesh's: outside it, refused


class EyeRefiner:
    """Runs the iris model on each eye of a fitted mesh (one interpreter, not thread-safe)."""

    def __init__(self, interpreter: Any) -> None:
        self._it = interpreter
        self._in = interpreter.get_input_details()[0]["index"]
        outs = {int(np.prod(d["shape"])): d["index"] for d in interpreter.get_output_details()}
        self._contour = outs[N_OUTPUT * 3]

    def refine(self, image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """A copy of ``mesh`` (468, 2+) with each eye's 16 lid points from the iris model; uint8
        RGB ``image`` in the mesh's coordinates. An eye too small, or whose refined outline does
        not agree with the mesh's corners and width, keeps the mesh's points."""
        out = np.array(mesh, dtype=np.float64, copy=True)
        for a, b, idx, mirrored in EYES:
            pts = self._eye(image, out[a, :2], out[b, :2], mirrored)
            if pts is not None and _agrees(pts, out[idx, :2]):
                out[idx, :2] = pts
        return out

    def _eye(self, image: np.ndarray, left: np.ndarray, right: np.ndarray, mirrored: bool) -> np.ndarray | None:
        width = float(np.hypot(*(right - left)))
        if not np.isfinite(width) or width < MIN_EYE_PX:
            return None
        angle = np.arctan2(right[1] - left[1], right[0] - left[0])
        k = IRIS_SIZE / (EYE_ROI_SCALE * width)
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, s], [-s, c]]) * k
        centre = (left + right) / 2.0
        m = np.hstack([rot, (np.full(2, IRIS_SIZE / 2.0) - rot @ centre)[:, None]])
        roi = cv2.warpAffine(image, m, (IRIS_SIZE, IRIS_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        tensor = roi.astype(np.float32)
        tensor *= np.float32(1.0 / 255.0)
        if mirrored:
            tensor = tensor[:, ::-1]
        self._it.set_tensor(self._in, np.ascontiguousarray(tensor)[None])
        self._it.invoke()
        p = self._it.get_tensor(self._contour).reshape(N_OUTPUT, 3)[:N_CONTOUR, :2].astype(np.float64)
        if not np.isfinite(p).all():
            return None
        if mirrored:
            p[:, 0] = IRIS_SIZE - p[:, 0]
        inv = cv2.invertAffineTransform(m)
        return p @ inv[:, :2].T + inv[:, 2]


def _agrees(refined: np.ndarray, mesh_eye: np.ndarray) -> bool:
    """The refined outline's corners (its points 0 and 8) near the mesh's, its width alike."""
    width = float(np.hypot(*(mesh_eye[8] - mesh_eye[0])))
    if width <= 0:
        return False
    tol = CORNER_TOLERANCE * width
    if np.hypot(*(refined[0] - mesh_eye[0])) > tol or np.hypot(*(refined[8] - mesh_eye[8])) > tol:
        return False
    ratio = float(np.hypot(*(refined[8] - refined[0]))) / width
    return WIDTH_RANGE[0] <= ratio <= WIDTH_RANGE[1]
