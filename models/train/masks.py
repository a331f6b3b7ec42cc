"""Masks on the aligned square: the face hull (training target of the mask heads) and
the eyes + mouth weight map (extra loss weight).

dlib 68-point faces get a hull of the jaw line and the brows lifted towards the hair
line (whole-face crops include the forehead); faces with five points only get an
ellipse through the eyes and mouth corners.
"""

from __future__ import annotations

import cv2
import numpy as np

from recast.pipeline.faces.geometry import apply_affine
from recast.pipeline.types import Face

FOREHEAD_LIFT = 0.35  # brow points moved up by this fraction of brow-to-chin height


def aligned_points(face: Face, m: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(68 landmarks or None, kps5) moved into the aligned square by ``m``."""
    lm = None
    if face.landmarks is not None and face.landmark_kind == "dlib68" and np.isfinite(face.landmarks).all():
        lm = apply_affine(m, np.asarray(face.landmarks, np.float64))
    return lm, apply_affine(m, np.asarray(face.kps5, np.float64))


def hull_mask(lm: np.ndarray | None, kps5: np.ndarray, size: int) -> np.ndarray:
    """uint8 0/255 face mask on the aligned ``size`` square."""
    mask = np.zeros((size, size), np.uint8)
    if lm is not None:
        up = lm[8] - lm[27]  # chin minus nose bridge: "down" of this face
        brows = lm[17:27] - up * FOREHEAD_LIFT
        pts = np.concatenate([lm[0:17], brows])
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 255)
        return mask
    eyes = (kps5[0] + kps5[1]) / 2
    mouth = (kps5[3] + kps5[4]) / 2
    centre = (eyes + mouth) / 2
    height = float(np.linalg.norm(mouth - eyes)) * 2.6
    width = float(np.linalg.norm(kps5[1] - kps5[0])) * 2.2
    angle = float(np.degrees(np.arctan2(mouth[1] - eyes[1], mouth[0] - eyes[0]))) - 90.0
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1] - height * 0.08))), (int(width / 2), int(height / 2)), angle, 0, 360, 255, -1)
    return mask


def parts_mask(lm: np.ndarray | None, kps5: np.ndarray, size: int) -> np.ndarray:
    """uint8 0/255 map of the eyes and mouth (dilated), for extra loss weight."""
    mask = np.zeros((size, size), np.uint8)
    grow = max(1, size // 24)
    if lm is not None:
        for idx in (slice(36, 42), slice(42, 48), slice(48, 68)):
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm[idx]).astype(np.int32)), 255)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        return cv2.dilate(mask, kernel)
    eye_r = max(2, int(round(np.linalg.norm(kps5[1] - kps5[0]) * 0.25)))
    for p in kps5[:2]:
        cv2.circle(mask, (int(round(p[0])), int(round(p[1]))), eye_r, 255, -1)
    cv2.line(mask, tuple(np.round(kps5[3]).astype(int)), tuple(np.round(kps5[4]).astype(int)), 255, thickness=2 * eye_r)
    return mask
