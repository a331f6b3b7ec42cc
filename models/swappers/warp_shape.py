"""Face shape geometry for the ``warp`` swapper (dlib 68-point layout).

Everything here is pure numpy/OpenCV on point arrays:

- ``extend_points``: the 68 landmarks plus forehead points up to the hairline
  (optionally refined by scanning the image for where skin stops) and an outer
  ring so the warp reaches past the matte;
- ``estimate_pose``: yaw/pitch/roll in degrees from a generic 3-D face;
- ``expression``: mouth and eye opening, scale-free;
- ``similarity_fit``: least-squares rotation + uniform scale + shift;
- ``build_target``: the actor's shape placed into the plate face's pose,
  carrying only the plate's mouth/eye opening and a blended outer contour.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

N68 = 68
JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
# Points that hardly move with expression: eye corners and the nose.
STABLE = np.array([36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35])
N_FOREHEAD = len(BROWS)
N_RING = 12
RING_SCALE = 1.3  # how far the outer ring sits beyond the face outline

# Left/right swap of the 68-point layout (for mirrored bank entries).
MIRROR68 = np.array(
    list(range(16, -1, -1))  # jaw
    + list(range(26, 16, -1))  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # right eye <- left eye
    + [39, 38, 37, 36, 41, 40]  # left eye <- right eye
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lip
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lip
)

# A generic head (mm; x to image right, y up, z towards the camera) for pose only.
_MODEL_IDX = np.array([30, 27, 36, 39, 42, 45, 33, 48, 54, 8, 0, 16, 4, 12])
_MODEL_3D = np.array(
    [
        [0.0, 0.0, 0.0],  # nose tip
        [0.0, 40.0, -22.0],  # nose bridge
        [-44.0, 37.0, -36.0],  # eye outer corner (image left)
        [-14.0, 36.0, -28.0],  # eye inner corner
        [14.0, 36.0, -28.0],
        [44.0, 37.0, -36.0],
        [0.0, -12.0, -14.0],  # below the nose
        [-25.0, -36.0, -28.0],  # mouth corners
        [25.0, -36.0, -28.0],
        [0.0, -75.0, -30.0],  # chin
        [-70.0, 30.0, -100.0],  # jaw at ear level
        [70.0, 30.0, -100.0],
        [-60.0, -42.0, -78.0],  # jaw below the cheeks
        [60.0, -42.0, -78.0],
    ],
    dtype=np.float64,
)


def mirror_points(lm: np.ndarray, width: float) -> np.ndarray:
    """68 landmarks of the horizontally flipped image (left/right indices swapped)."""
    out = lm[:N68].copy()
    out[:, 0] = (width - 1.0) - out[:, 0]
    return out[MIRROR68]


def face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre between the eyes, unit 'up' vector, eye-to-chin length)."""
    eyes = 0.5 * (lm[36:42].mean(axis=0) + lm[42:48].mean(axis=0))
    v = eyes - lm[8]
    length = float(np.hypot(*v))
    if length < 1e-6:
        return eyes, np.array([0.0, -1.0]), 1.0
    return eyes, v / length, length


def unit_rgb(rgb: np.ndarray) -> np.ndarray:
    """A float32 copy of ``rgb`` with NaN -> 0, +Inf -> 1, -Inf -> 0, clipped to [0, 1] (the
    values of nan_to_num + clip, by fmax/fmin in place on the one copy): the plate's pixels as
    the warp's colour work reads them, made only for the part read."""
    out = np.array(rgb, dtype=np.float32, copy=True)
    return np.fmin(np.fmax(out, np.float32(0.0), out=out), np.float32(1.0), out=out)


def skin_patches(img: np.ndarray, lm: np.ndarray, points: np.ndarray | None = None, radius: int | None = None) -> list[np.ndarray]:
    """Patches of ``img`` (views, RGB) on the face's plain skin, for its colour or level: by
    default on the nose bridge and under each eye (68-point layout), ``radius`` 3 % of the
    eye-to-chin length; ``points`` (N, 2) / ``radius`` px replace them. Points outside are left out."""
    if points is None:
        points = np.array([lm[28], lm[29], 0.5 * (lm[41] + lm[31]), 0.5 * (lm[46] + lm[35])])
    r = radius if radius is not None else max(1, round(0.03 * face_frame(lm)[2]))
    h, w = img.shape[:2]
    return [
        img[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1, :3]
        for x, y in np.round(points).astype(int)
        if 0 <= x < w and 0 <= y < h
    ]


def interocular(lm: np.ndarray) -> float:
    return float(max(np.hypot(*(lm[45] - lm[36])), 1e-6))


def hairline_heights(image: np.ndarray | None, lm: np.ndarray, default: float, scan: bool) -> np.ndarray:
    """Forehead height above each brow point, as a fraction of eye-to-chin length.

    The default follows the face's rule of thirds, lower towards the temples.
    With ``scan`` and an image, each column walks up from the brow and stops
    where the colour leaves the forehead's skin tone (hair, hat, background),
    clamped to [0.1, 1.25] x the default so a bald head can't run away.
    """
    _, up, length = face_frame(lm)
    brows = lm[BROWS]
    t = np.linspace(-1.0, 1.0, N_FOREHEAD)
    base = default * (1.0 - 0.35 * t**2)
    if not scan or image is None:
        return base
    # Skin reference away from any fringe: nose bridge, between the eyes, upper cheeks.
    ref_pts = np.array([lm[28], lm[29], 0.5 * (lm[39] + lm[42]), 0.5 * (lm[41] + lm[31]), 0.5 * (lm[46] + lm[35])])
    steps = np.linspace(0.05, 1.25, 25)
    scan_pts = [brows[i] + np.outer(steps * base[i], up) * length for i in range(N_FOREHEAD)]
    # Work on the region the samples cover only (crops can be large).
    every = np.concatenate([ref_pts, *scan_pts])
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(every.min(axis=0)).astype(int) - 3, 0, [w, h])
    x1, y1 = np.clip(np.ceil(every.max(axis=0)).astype(int) + 4, 0, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return base
    region = np.nan_to_num(image[y0:y1, x0:x1, :3].astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    lab = cv2.blur(cv2.cvtColor(np.clip(region, 0.0, 1.0), cv2.COLOR_RGB2Lab), (5, 5))
    origin = np.array([x0, y0], np.float64)
    ref = _sample(lab, ref_pts - origin)
    if ref is None:
        return base
    skin = np.median(ref, axis=0)
    out = base.copy()
    for i in range(N_FOREHEAD):
        vals = _sample(lab, scan_pts[i] - origin)
        if vals is None:
            continue
        dist = np.linalg.norm((vals - skin) * np.array([0.5, 1.0, 1.0]), axis=1)
        off = dist > 18.0
        run = off[:-1] & off[1:]
        stop = int(np.argmax(run)) if run.any() else len(steps) - 1
        out[i] = float(np.clip(steps[stop] * base[i], 0.1 * base[i], 1.25 * base[i]))
    # A little smoothing across columns: hairlines are smooth curves.
    padded = np.concatenate([out[:1], out, out[-1:]])
    return 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]


def _sample(img: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    h, w = img.shape[:2]
    xi = np.round(pts[:, 0]).astype(int)
    yi = np.round(pts[:, 1]).astype(int)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    if inside.sum() < max(2, len(pts) // 2):
        return None
    vals = np.full((len(pts), img.shape[2]), np.nan, np.float32)
    vals[inside] = img[yi[inside], xi[inside]]
    # Outside the image counts as "not skin" (far value) so scans stop there.
    vals[~inside] = 1e3
    return vals


def extend_points(lm: np.ndarray, heights: np.ndarray, ring_scale: float = RING_SCALE) -> np.ndarray:
    """68 landmarks + forehead points + an outer ring: (68 + 10 + 12, 2)."""
    _, up, length = face_frame(lm)
    forehead = lm[BROWS] + np.outer(heights, up) * length
    return np.concatenate([lm[:N68], forehead, _ring(lm[JAW], forehead, ring_scale)]).astype(np.float64)


def _ring(jaw: np.ndarray, forehead: np.ndarray, scale: float) -> np.ndarray:
    """The outline (jaw, forehead back) resampled to N_RING points pushed out from its centre."""
    outline = np.concatenate([jaw, forehead[::-1]])
    centre = outline.mean(axis=0)
    idx = np.linspace(0, len(outline), N_RING, endpoint=False).astype(int)
    return centre + (outline[idx] - centre) * scale


def outline_indices() -> np.ndarray:
    """Indices (into extended points) of the face outline: jaw then forehead back."""
    return np.concatenate([JAW, np.arange(N68 + N_FOREHEAD - 1, N68 - 1, -1)])


def estimate_pose(lm: np.ndarray, image_size: tuple[int, int] | None = None) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees; yaw > 0 turns the face towards image right.

    The camera is normalised to the face (focal length a fixed multiple of the
    eye-to-chin length, principal point at the landmarks' centre), so the same
    face gives the same pose whatever crop it sits in. ``image_size`` is unused
    and kept for callers that pass it.
    """
    eye_vec = lm[45] - lm[36]
    roll = float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0])))
    # De-roll in the image plane first so yaw/pitch don't mix with roll.
    c = lm[_MODEL_IDX].mean(axis=0)
    r = np.radians(-roll)
    rot2 = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    pts = (lm[_MODEL_IDX] - c) @ rot2.T
    _, _, length = face_frame(lm)
    f = 6.0 * length
    cam = np.array([[f, 0, 0.0], [0, f, 0.0], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(_MODEL_3D, pts.astype(np.float64), cam, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return 0.0, 0.0, roll
    rot, _ = cv2.Rodrigues(rvec)
    # Model axes: y up / z to camera; image axes: y down / z away. The face's
    # forward direction in camera space is rot @ (0, 0, 1).
    fwd = rot @ np.array([0.0, 0.0, 1.0])
    yaw = float(np.degrees(np.arctan2(fwd[0], -fwd[2])))
    pitch = float(np.degrees(np.arctan2(fwd[1], np.hypot(fwd[0], fwd[2]))))
    return yaw, pitch, roll


@dataclass(frozen=True)
class Expression:
    mouth_open: float  # inner-lip gap / interocular
    eye_open: float  # mean lid gap / eye width
    mouth_width: float  # corner distance / interocular

    def as_array(self) -> np.ndarray:
        return np.array([self.mouth_open, self.eye_open, self.mouth_width])

    def distance(self, other: Expression) -> float:
        w = np.array([1.0, 1.0, 0.5])
        return float(np.linalg.norm((self.as_array() - other.as_array()) * w))


def _gaps(lm: np.ndarray, upper: list[int], lower: list[int], c0: int, c1: int) -> np.ndarray:
    axis = lm[c1] - lm[c0]
    n = np.array([-axis[1], axis[0]]) / max(float(np.hypot(*axis)), 1e-6)
    return (lm[lower] - lm[upper]) @ n


def expression(lm: np.ndarray) -> Expression:
    iod = interocular(lm)
    mouth = _gaps(lm, [61, 62, 63], [67, 66, 65], 48, 54).mean() / iod
    eyes = []
    for upper, lower, c0, c1 in (([37, 38], [41, 40], 36, 39), ([43, 44], [47, 46], 42, 45)):
        width = max(float(np.hypot(*(lm[c1] - lm[c0]))), 1e-6)
        eyes.append(_gaps(lm, upper, lower, c0, c1).mean() / width)
    return Expression(
        mouth_open=float(max(mouth, 0.0)),
        eye_open=float(max(np.mean(eyes), 0.0)),
        mouth_width=float(np.hypot(*(lm[54] - lm[48])) / iod),
    )


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix M minimising |M [src; 1] - dst|^2 over rotation, uniform scale, shift."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var = float((s**2).sum())
    if var < 1e-12:
        return np.array([[1.0, 0.0, mu_d[0] - mu_s[0]], [0.0, 1.0, mu_d[1] - mu_s[1]]])
    a = float((s * d).sum()) / var
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / var
    rot = np.array([[a, -b], [b, a]])
    t = mu_d - rot @ mu_s
    return np.hstack([rot, t[:, None]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


@dataclass(frozen=True)
class TargetOptions:
    contour_blend: float = 0.5  # 0 = actor's jaw/forehead, 1 = plate's
    carry_mouth: bool = True
    carry_eyes: bool = True
    # the plate's eye opening relative to its own open eyes (1 = open, 0 = shut), applied to
    # the actor's own opening; None: carry the plate's opening as a fraction of eye width
    eye_ratio: float | None = None
    mouth_shape: float = 0.0  # 0: carry only the opening; 1: the plate's whole lip shape, scaled to the actor


def build_target(actor_ext: np.ndarray, plate_ext: np.ndarray, opts: TargetOptions) -> tuple[np.ndarray, np.ndarray]:
    """Warp target in plate (crop) coordinates, and the similarity used.

    ``actor_ext`` / ``plate_ext`` are extended point sets (``extend_points``).
    The actor's shape is placed by a similarity fit on the stable points; only
    the plate's mouth and eye *opening* is carried over; the outline (jaw and
    forehead) is blended towards the plate's so the head still fits.
    """
    m = similarity_fit(actor_ext[STABLE], plate_ext[STABLE])
    tgt = apply(m, actor_ext)
    plate = plate_ext[:N68]
    if opts.carry_eyes:
        for upper, lower, c0, c1 in (([37, 38], [41, 40], 36, 39), ([43, 44], [47, 46], 42, 45)):
            if opts.eye_ratio is None:
                _carry_opening(tgt, plate, upper, lower, c0, c1, move_lower=False, norm="eye")
            else:
                _scale_opening(tgt, upper, lower, c0, c1, float(opts.eye_ratio))
    if opts.carry_mouth and opts.mouth_shape > 0.0:
        _carry_lip_shape(tgt, plate, float(np.clip(opts.mouth_shape, 0.0, 1.0)))
    if opts.carry_mouth:
        moved = _carry_opening(tgt, plate, [61, 62, 63], [67, 66, 65], 48, 54, move_lower=True, norm="iod")
        # The lower lip and chin follow the jaw: move them with the opening.
        axis = tgt[54] - tgt[48]
        n = np.array([-axis[1], axis[0]]) / max(float(np.hypot(*axis)), 1e-6)
        tgt[[55, 56, 57, 58, 59]] += np.outer(np.full(5, moved), n)
        chin_w = np.array([0.25, 0.5, 0.8, 1.0, 0.8, 0.5, 0.25])
        tgt[5:12] += np.outer(chin_w * moved, n)
    a = float(np.clip(opts.contour_blend, 0.0, 1.0))
    outline = outline_indices()
    tgt[outline] = (1.0 - a) * tgt[outline] + a * plate_ext[outline]
    # The ring follows the blended outline.
    tgt[N68 + N_FOREHEAD :] = _ring(tgt[JAW], tgt[N68 : N68 + N_FOREHEAD], RING_SCALE)
    return tgt, m


def _scale_opening(tgt: np.ndarray, upper: list[int], lower: list[int], c0: int, c1: int, ratio: float) -> None:
    """Lower the upper lid so the eye's opening is ``ratio`` of the actor's own (a blink closes it)."""
    have = np.maximum(_gaps(tgt, upper, lower, c0, c1), 0.0)
    axis = tgt[c1] - tgt[c0]
    n = np.array([-axis[1], axis[0]]) / max(float(np.hypot(*axis)), 1e-6)
    tgt[upper] += np.outer(have * (1.0 - float(np.clip(ratio, 0.0, 1.25))), n)


def _carry_lip_shape(tgt: np.ndarray, plate: np.ndarray, weight: float) -> None:
    """Blend the lips (48-67) towards the plate's lip shape, moved into the actor's face (mouth
    centre, eye-line angle, interocular scale): a smile, a pucker or an 'o' carries over."""
    def eye_angle(p: np.ndarray) -> float:
        v = p[45] - p[36]
        return float(np.arctan2(v[1], v[0]))

    k = interocular(tgt) / interocular(plate)
    a = eye_angle(tgt) - eye_angle(plate)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * k
    pc, tc = plate[[48, 54]].mean(axis=0), tgt[[48, 54]].mean(axis=0)
    lips = (plate[48:68] - pc) @ rot.T + tc
    old = tgt[48:68].copy()
    tgt[48:68] = (1.0 - weight) * tgt[48:68] + weight * lips
    # the chin follows the lower lip
    drop = (tgt[[56, 57, 58]] - old[[8, 9, 10]]).mean(axis=0)
    chin_w = np.array([0.2, 0.4, 0.7, 0.9, 0.7, 0.4, 0.2])
    tgt[5:12] += np.outer(chin_w, drop)


def _carry_opening(
    tgt: np.ndarray,
    plate: np.ndarray,
    upper: list[int],
    lower: list[int],
    c0: int,
    c1: int,
    move_lower: bool,
    norm: str,
) -> float:
    """Set the gap between ``upper`` and ``lower`` in ``tgt`` to the plate's (scaled).

    Moves either the lower points (mouth: the jaw drops) or the upper ones (eyes:
    the lid lifts). Returns the mean displacement along the opening direction.
    """
    if norm == "eye":
        s_p = max(float(np.hypot(*(plate[c1] - plate[c0]))), 1e-6)
        s_t = float(np.hypot(*(tgt[c1] - tgt[c0])))
    else:
        s_p, s_t = interocular(plate), interocular(tgt)
    want = np.maximum(_gaps(plate, upper, lower, c0, c1) / s_p * s_t, 0.0)
    have = _gaps(tgt, upper, lower, c0, c1)
    delta = want - have
    axis = tgt[c1] - tgt[c0]
    n = np.array([-axis[1], axis[0]]) / max(float(np.hypot(*axis)), 1e-6)
    if move_lower:
        tgt[lower] += np.outer(delta, n)
    else:
        tgt[upper] -= np.outer(delta, n)
    return float(delta.mean())
