"""Alignment geometry shared by the ONNX backends (swappers and enhancer).

Matrices are 2x3 affines mapping CROP pixel coordinates to the model's aligned
square. Format facts followed (public, so existing model files line up):

- ArcFace / insightface ``norm_crop``: the 112-px five-point template; for a size
  that is a multiple of 112 it is scaled by size/112, otherwise (128, inswapper)
  by size/128 and shifted right by 8*size/128 px.
- FFHQ 512 (GFPGAN / CodeFormer restoration helpers): a fixed five-point template.
- DeepFaceLab ``get_transform_mat``: a similarity fit of 33 of the 68 landmarks
  (17..48 and 54) onto a mean-face template in [0, 1], then a square around the
  template's centre grown by the face type's padding (plus a vertical shift for
  WHOLE_FACE and HEAD).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recast.pipeline.errors import SwapError
from recast.pipeline.faces.geometry import similarity
from recast.pipeline.types import Face

ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

FFHQ_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935], [201.26117, 371.41043], [313.08905, 371.15118]],
    dtype=np.float64,
)

# DeepFaceLab's mean face, [0, 1] square, for 68-point indices 17..48 then 54.
DFL_TEMPLATE_33 = np.array(
    [
        [0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891],
        [0.393397, 0.0773906], [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482],
        [0.904991, 0.038915], [0.98004, 0.106454], [0.490127, 0.203352], [0.490127, 0.307009],
        [0.490127, 0.409805], [0.490127, 0.515625], [0.36688, 0.587326], [0.426036, 0.609345],
        [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326], [0.121737, 0.216423],
        [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099],
        [0.182743, 0.244077], [0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758],
        [0.858516, 0.216423], [0.79751, 0.244077], [0.719335, 0.245099], [0.254149, 0.780233],
        [0.726104, 0.780233],
    ],
    dtype=np.float64,
)
DFL_LANDMARK_IDX = np.array(list(range(17, 49)) + [54])
# The same template reduced to kps5 (eye centres, nose tip, mouth corners) for
# faces that only carry five points.
DFL_TEMPLATE_5 = np.stack(
    [
        DFL_TEMPLATE_33[19:25].mean(0),  # 36..41 image-left eye
        DFL_TEMPLATE_33[25:31].mean(0),  # 42..47 image-right eye
        DFL_TEMPLATE_33[13],  # 30 nose tip
        DFL_TEMPLATE_33[31],  # 48
        DFL_TEMPLATE_33[32],  # 54
    ]
)

# face type -> (padding, vertical shift as a fraction of the template side)
DFL_FACE_TYPES: dict[str, tuple[float, float]] = {
    "half": (0.0, 0.0),
    "mid_full": (0.0675, 0.0),
    "full": (0.2109375, 0.0),
    "whole_face": (0.40, 0.07),
    "head": (0.70, 0.50),
}
DFL_FACE_TYPE_ALIASES = {"h": "half", "mf": "mid_full", "f": "full", "wf": "whole_face", "head": "head"}


def dfl_face_type(name: str) -> str:
    key = str(name).strip().lower()
    key = DFL_FACE_TYPE_ALIASES.get(key, key)
    if key not in DFL_FACE_TYPES:
        known = ", ".join(sorted(set(DFL_FACE_TYPES) | set(DFL_FACE_TYPE_ALIASES)))
        raise SwapError(f"face type {name!r} is not a DeepFaceLab face type (known: {known})")
    return key


def kps5_of(face: Face) -> np.ndarray:
    k = np.asarray(face.kps5, np.float64)
    if k.shape != (5, 2) or not np.isfinite(k).all():
        raise SwapError(f"face at box {np.round(np.asarray(face.box, float), 1).tolist()} has no valid 5-point landmarks")
    return k


def arcface_matrix(kps5: np.ndarray, size: int) -> np.ndarray:
    """insightface ``estimate_norm``: crop -> aligned ``size`` square."""
    if size % 112 == 0:
        dst = ARCFACE_112 * (size / 112.0)
    else:
        dst = ARCFACE_112 * (size / 128.0)
        dst[:, 0] += 8.0 * size / 128.0
    return similarity(kps5, dst)


def ffhq_matrix(kps5: np.ndarray, size: int = 512) -> np.ndarray:
    return similarity(kps5, FFHQ_512 * (size / 512.0))


def dfl_matrix(face: Face, size: int, face_type: str) -> tuple[np.ndarray, str]:
    """DeepFaceLab's crop -> aligned square; also says which landmarks were used."""
    ftype = dfl_face_type(face_type)
    if face.landmarks is not None and face.landmark_kind == "dlib68" and np.isfinite(face.landmarks).all():
        lm = np.asarray(face.landmarks, np.float64)
        to_unit = similarity(lm[DFL_LANDMARK_IDX], DFL_TEMPLATE_33)
        used = "dlib68"
    else:
        lm = None
        to_unit = similarity(kps5_of(face), DFL_TEMPLATE_5)
        used = "kps5"
    from_unit = cv2.invertAffineTransform(to_unit)
    corners = _apply(from_unit, np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], np.float64))
    centre = corners[4].copy()
    tb = corners[2] - corners[0]
    bt = corners[1] - corners[3]
    tb /= np.linalg.norm(tb)
    bt /= np.linalg.norm(bt)
    padding, down = DFL_FACE_TYPES[ftype]
    half_diag = np.linalg.norm(corners[0] - corners[2]) * (padding * np.sqrt(2.0) + 0.5)
    vvec = corners[0] - corners[3]  # template up -> down is corners[3] - corners[0]; DFL adds (0 - 3)
    centre += vvec * down
    if ftype == "head" and lm is not None:
        hvec = corners[0] - corners[1]
        yaw = _dfl_yaw(_apply(to_unit, lm))
        yaw *= abs(np.tanh(yaw * 2.0))
        centre -= hvec * (yaw / 2.0)
    src = np.array([centre - tb * half_diag, centre + bt * half_diag, centre + tb * half_diag], np.float32)
    dst = np.array([[0, 0], [size, 0], [size, size]], np.float32)
    return cv2.getAffineTransform(src, dst).astype(np.float64), used


def _dfl_yaw(lm_unit: np.ndarray) -> float:
    left = ((lm_unit[27, 0] - lm_unit[0, 0]) + (lm_unit[28, 0] - lm_unit[1, 0]) + (lm_unit[29, 0] - lm_unit[2, 0])) / 3.0
    right = ((lm_unit[16, 0] - lm_unit[27, 0]) + (lm_unit[15, 0] - lm_unit[28, 0]) + (lm_unit[14, 0] - lm_unit[29, 0])) / 3.0
    return float(right - left)


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]


def warp_in(crop: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The aligned ``size`` square of ``crop`` (float32, borders replicated).

    When the alignment shrinks the face (a large face into a 128 px model), the
    crop is low-passed first so the model does not see aliasing.
    """
    h, w = crop.shape[:2]
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    sigma = 0.45 / scale if scale < 0.5 else 0.0
    # work on the part of the crop the square covers (+ the blur's reach) only
    corners = _apply(cv2.invertAffineTransform(m), np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float64))
    pad = 3.0 * sigma + 4.0
    x0 = int(np.clip(np.floor(corners[:, 0].min() - pad), 0, w))
    x1 = int(np.clip(np.ceil(corners[:, 0].max() + pad), 0, w))
    y0 = int(np.clip(np.floor(corners[:, 1].min() - pad), 0, h))
    y1 = int(np.clip(np.ceil(corners[:, 1].max() + pad), 0, h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        x0, y0, x1, y1 = 0, 0, w, h
    src: np.ndarray = np.ascontiguousarray(crop[y0:y1, x0:x1], np.float32)
    local = m.astype(np.float64).copy()
    local[:, 2] += local[:, :2] @ np.array([x0, y0], np.float64)
    if sigma > 0:
        src = cv2.GaussianBlur(src, (0, 0), sigmaX=sigma, sigmaY=sigma)
    flags = cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(src, local, (size, size), flags=flags, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class Feather:
    """Soft edge of a pasted square, as fractions of the aligned size."""

    erode: float = 0.03
    blur: float = 0.06


def square_mask(size: int, feather: Feather) -> np.ndarray:
    """Ones on the aligned square, faded to 0 at its border (before warping back)."""
    mask: np.ndarray = np.zeros((size, size), np.float32)
    e = max(1, int(round(size * feather.erode)))
    mask[e:-e, e:-e] = 1.0
    k = int(round(size * feather.blur)) | 1
    if k > 1:
        mask = cv2.GaussianBlur(mask, (k, k), 0)
        mask[:e, :] = 0.0
        mask[-e:, :] = 0.0
        mask[:, :e] = 0.0
        mask[:, -e:] = 0.0
    return mask


def warp_out(aligned: np.ndarray, m: np.ndarray, crop_hw: tuple[int, int], smooth: bool = False) -> np.ndarray:
    """Aligned square -> crop coordinates (zeros outside), with the inverse of ``m``.

    Images enlarged by the inverse (a 128 px model output onto a 4K face) use
    bicubic; ``smooth`` (mattes) keeps bilinear so they never ring.
    """
    h, w = crop_hw
    inv = cv2.invertAffineTransform(m)
    enlarge = float(np.sqrt(abs(np.linalg.det(inv[:, :2])))) > 1.0
    flags = cv2.INTER_LINEAR if smooth or not enlarge else cv2.INTER_CUBIC
    out = cv2.warpAffine(np.ascontiguousarray(aligned, np.float32), inv, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def paste(crop: np.ndarray, aligned_rgb: np.ndarray, aligned_mask: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warp the model output back into ``crop``; returns (rgb, matte), NOT blended.

    ``rgb`` holds the model's pixels wherever the aligned square lands (the crop
    elsewhere, so no black borders leak); ``matte`` is ``aligned_mask`` warped
    back: the caller blends ``crop * (1 - matte) + rgb * matte``.
    """
    h, w = crop.shape[:2]
    size = aligned_rgb.shape[0]
    back = warp_out(aligned_rgb, m, (h, w))
    support = np.clip(warp_out(np.ones((size, size), np.float32), m, (h, w), smooth=True), 0.0, 1.0)[..., None]
    rgb = crop.astype(np.float32) * (1.0 - support) + back * support
    matte = np.clip(warp_out(aligned_mask, m, (h, w), smooth=True), 0.0, 1.0)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32), matte.astype(np.float32)


def blend(crop: np.ndarray, rgb: np.ndarray, matte: np.ndarray, weight: float = 1.0) -> np.ndarray:
    a = (np.clip(matte, 0.0, 1.0) * float(weight))[..., None]
    return (crop.astype(np.float32) * (1.0 - a) + rgb.astype(np.float32) * a).astype(np.float32)
