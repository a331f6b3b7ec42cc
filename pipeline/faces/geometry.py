"""Face geometry: 5-point keypoints from dense landmarks, head pose, box overlap."""

from __future__ import annotations

import cv2
import numpy as np

# ArcFace's 112x112 alignment template in kps5 order (image-left eye, image-right
# eye, nose tip, image-left mouth corner, image-right mouth corner).
KPS5_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

# A generic adult head in millimetres (x right, y up, z towards the camera),
# same point order as kps5. Only for a pose *estimate*.
_HEAD_3D = np.array(
    [[-32.0, 35.0, -30.0], [32.0, 35.0, -30.0], [0.0, 0.0, 0.0], [-24.0, -30.0, -28.0], [24.0, -30.0, -28.0]],
    dtype=np.float64,
)


def kps5_from_dlib68(pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def kps5_from_insight106(pts: np.ndarray) -> np.ndarray:
    """Eye centres from the eye contours, nose tip and mouth corners of the 2d106 layout."""
    p = np.asarray(pts, np.float64)
    return np.stack([p[33:43].mean(0), p[87:97].mean(0), p[86], p[52], p[61]])


def kps5_from_dlib5(pts: np.ndarray) -> np.ndarray:
    """dlib's 5-point model: points 0-1 image-right eye corners, 2-3 image-left eye corners,
    4 below the nose. Nose tip and mouth corners are not measured: they are placed by a
    similarity transform of the template fitted on the three measured points."""
    p = np.asarray(pts, np.float64)
    left_eye = (p[2] + p[3]) / 2.0
    right_eye = (p[0] + p[1]) / 2.0
    measured = np.stack([left_eye, right_eye, p[4]])
    tmpl = KPS5_TEMPLATE_112[:3].copy()
    tmpl[2, 1] += 6.5  # dlib's point sits under the nose, below the tip
    m = similarity(tmpl, measured)
    placed = apply_affine(m, KPS5_TEMPLATE_112[2:5])
    return np.vstack([left_eye, right_eye, placed])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) src -> dst, as 2x3."""
    s = np.asarray(src, np.float64)
    d = np.asarray(dst, np.float64)
    sm, dm = s.mean(0), d.mean(0)
    sc, dc = s - sm, d - dm
    var = (sc**2).sum()
    if var <= 1e-12:
        return np.array([[1.0, 0.0, dm[0] - sm[0]], [0.0, 1.0, dm[1] - sm[1]]])
    a = (sc[:, 0] * dc[:, 0] + sc[:, 1] * dc[:, 1]).sum() / var
    b = (sc[:, 0] * dc[:, 1] - sc[:, 1] * dc[:, 0]).sum() / var
    rot = np.array([[a, -b], [b, a]])
    t = dm - rot @ sm
    return np.hstack([rot, t[:, None]])


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, np.float64)
    return p @ m[:, :2].T + m[:, 2]


def estimate_pose(kps5: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the five keypoints (a rough estimate).

    Roll is the eye line's angle (> 0: clockwise in the image); yaw and pitch come
    from a PnP fit of a generic head with a focal length proportional to the face
    size (weak perspective). Yaw > 0: the nose points towards image right; pitch
    > 0: the face looks up.
    """
    k = np.asarray(kps5, np.float64)
    if k.shape != (5, 2) or not np.isfinite(k).all():
        return (0.0, 0.0, 0.0)
    eye_vec = k[1] - k[0]
    roll = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
    size = float(np.ptp(k, axis=0).max())
    if size < 1e-3:
        return (0.0, 0.0, roll)
    centre = k.mean(0)
    f = size * 12.0
    cam = np.array([[f, 0.0, centre[0]], [0.0, f, centre[1]], [0.0, 0.0, 1.0]])
    obj = _HEAD_3D * np.array([1.0, -1.0, 1.0])  # image y points down
    z0 = f * 64.0 / max(float(np.linalg.norm(eye_vec)), 1e-3)
    rvec0 = np.zeros((3, 1))
    tvec0 = np.array([[0.0], [0.0], [z0]])
    ok, rvec, _ = cv2.solvePnP(
        obj, k, cam, None, rvec0, tvec0, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:
        return (0.0, 0.0, roll)
    rmat, _ = cv2.Rodrigues(rvec)
    # Rotation of the head in camera space: yaw about y, pitch about x.
    yaw = float(np.degrees(np.arcsin(np.clip(-rmat[2, 0], -1.0, 1.0))))
    pitch = float(np.degrees(np.arctan2(rmat[2, 1], rmat[2, 2])))
    return (_wrap(yaw), _wrap(pitch), roll)


def _wrap(deg: float) -> float:
    return float((deg + 180.0) % 360.0 - 180.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ax0, ay0, ax1, ay1 = (float(v) for v in a)
    bx0, by0, bx1, by1 = (float(v) for v in b)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0
