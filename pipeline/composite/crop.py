"""Loose, axis-aligned crops around a face and moving faces between coordinate frames."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from recast.pipeline.outputs import Box
from recast.pipeline.types import Face


def crop_box_for(face: Face, image_hw: tuple[int, int], scale: float) -> Box:
    """Square box of side ``face.size * scale`` centred on the face, clipped to the image.

    The size follows the face, so memory is bounded by the face, never the frame.
    """
    h, w = image_hw
    x0, y0, x1, y1 = (float(v) for v in face.box)
    if face.landmarks is not None and len(face.landmarks):
        lm = np.asarray(face.landmarks, dtype=np.float64)
        x0, y0 = min(x0, float(lm[:, 0].min())), min(y0, float(lm[:, 1].min()))
        x1, y1 = max(x1, float(lm[:, 0].max())), max(y1, float(lm[:, 1].max()))
    side = max(x1 - x0, y1 - y0, 8.0) * scale
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    bx0 = int(np.floor(cx - side / 2.0))
    by0 = int(np.floor(cy - side / 2.0))
    bx1 = int(np.ceil(cx + side / 2.0))
    by1 = int(np.ceil(cy + side / 2.0))
    return Box(max(bx0, 0), max(by0, 0), min(bx1, w), min(by1, h))


def shift_face(face: Face, dx: float, dy: float) -> Face:
    """A copy of ``face`` with every coordinate moved by (dx, dy)."""
    off2 = np.array([dx, dy], dtype=np.float64)
    off4 = np.array([dx, dy, dx, dy], dtype=np.float64)
    extra = dict(face.extra)
    for key, off in (("raw_landmarks", off2), ("raw_kps5", off2), ("raw_box", off4)):
        value = extra.get(key)
        if isinstance(value, np.ndarray):  # the tracker's unsmoothed points move with the face
            extra[key] = value.astype(np.float64) + off
    return dataclasses.replace(
        face,
        box=np.asarray(face.box, dtype=np.float64) + off4,
        kps5=np.asarray(face.kps5, dtype=np.float64) + off2,
        landmarks=None if face.landmarks is None else np.asarray(face.landmarks, dtype=np.float64) + off2,
        extra=extra,
    )


def resize_to(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize with a proper filter: area when shrinking, Lanczos when enlarging."""
    h, w = hw
    if image.shape[:2] == (h, w):
        return image
    shrinking = image.shape[0] > h or image.shape[1] > w
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4
    out = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out.astype(np.float32, copy=False)
