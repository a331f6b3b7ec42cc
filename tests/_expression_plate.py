"""A real face that talks and blinks: an HD plate sequence with a known expression schedule.

We have no real talking/blinking clip, so one is made from a real photograph: skimage's
astronaut (or any photo with one frontal face), scaled so the face is about 200 px in a
1920x1080 frame, animated by geometric warps driven by its own dlib 68 landmarks:

- mouth: the jaw drops. The lower lip, chin and jaw move down along the face's own down axis
  (full at the chin, fading up the jaw line and into the neck), the upper lip lifts a little,
  by a thin-plate spline through all 68 points plus fixed points round the face, evaluated as
  a backward map; the gap between the inner lips is painted as a mouth interior (a dark
  throat, the upper teeth under the upper lip, the tongue low down), lit like the skin
  beside it;
- eyes: the upper lid comes down over the eye: the lash strip at the lid's edge moves down
  ``blink`` of the way to the lower lid (just past it when shut), and the eye it passes is
  covered by lid skin (a row of the skin above the lid, smoothed along the eye, shaded round);
  the eye below the new edge is left as it was, not squeezed;
- the head moves a little (a slow similarity drift: a few px, about a degree), with a fixed
  light grain, as a hand-held or breathing shot would.

The schedule (``mouth`` 0 shut .. 1 wide open, about a third of the interocular distance;
``blink`` 0 open .. 1 shut) is syllables and blinks drawn from a seeded generator: the same
every run. None of the swap's code is used to make it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FRAME = (1080, 1920)  # plate size (h, w)
MOUTH_MAX = 0.33  # inner-lip gap at mouth 1.0, of the outer-eye-corner distance
# how much each point follows the chin as the jaw drops (the rest stay)
_JAW_FOLLOW = {4: 0.25, 5: 0.5, 6: 0.75, 7: 0.92, 8: 1.0, 9: 0.92, 10: 0.75, 11: 0.5, 12: 0.25}
# the lower lip drops round (a U): corners a little, the middle fully
_LOWER_INNER, _LOWER_OUTER = [60, 67, 66, 65, 64], [48, 59, 58, 57, 56, 55, 54]
_UPPER_LIFT = {50: -0.06, 51: -0.08, 52: -0.06, 61: -0.08, 62: -0.1, 63: -0.08}


@dataclass(frozen=True)
class ExpressionClip:
    frames: list[np.ndarray]  # float32 sRGB [0, 1], FRAME-sized
    mouth: np.ndarray  # per frame, 0 shut .. 1 wide open
    blink: np.ndarray  # per frame, 0 open .. 1 shut
    face_px: float  # the face's box size in the plate (px)


def schedule(n: int, seed: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Talking syllables and blinks over ``n`` frames: (mouth 0..1, blink 0..1)."""
    rng = np.random.default_rng(seed)
    mouth = np.zeros(n)
    t = int(rng.integers(1, 3))
    while t < n:
        length = int(rng.integers(4, 9))
        amp = float(rng.choice([0.15, 0.3, 0.45, 0.6, 0.8, 1.0]))
        bump = amp * np.sin(np.linspace(0, np.pi, length + 2)[1:-1]) ** 1.5
        mouth[t : t + length] = np.maximum(mouth[t : t + length], bump[: max(0, min(length, n - t))])
        t += length + int(rng.integers(0, 4))
    blink = np.zeros(n)
    shape = np.array([0.3, 0.75, 1.0, 0.8, 0.4, 0.1])
    t = int(rng.integers(4, 9))
    k = 0
    while t < n:
        if k % 3 == 2:  # a slow half-close (a downcast, sleepy look)
            slow = np.concatenate([np.linspace(0.15, 0.55, 3), np.full(4, 0.55), np.linspace(0.45, 0.1, 3)])
            blink[t : t + len(slow)] = slow[: max(0, min(len(slow), n - t))]
            t += len(slow)
        else:
            blink[t : t + len(shape)] = shape[: max(0, min(len(shape), n - t))]
            t += len(shape)
        t += int(rng.integers(6, 14))
        k += 1
    return mouth.astype(np.float32), blink.astype(np.float32)


def _tps_backward(dst: np.ndarray, src: np.ndarray, shape: tuple[int, int], step: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Maps (x, y) for cv2.remap: a thin-plate spline taking ``dst`` points to ``src`` points,
    evaluated every ``step`` px and interpolated."""
    n = len(dst)

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.where(r2 > 1e-12, 0.5 * r2 * np.log(np.maximum(r2, 1e-12)), 0.0)

    p = np.hstack([np.ones((n, 1)), dst])
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = kernel(dst, dst) + 1e-6 * np.eye(n)
    a[:n, n:] = p
    a[n:, :n] = p.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    coef = np.linalg.solve(a, rhs)
    h, w = shape
    gy, gx = np.mgrid[0 : h + step : step, 0 : w + step : step].astype(np.float64)
    g = np.stack([gx.ravel(), gy.ravel()], axis=1)
    val = kernel(g, dst) @ coef[:n] + np.hstack([np.ones((len(g), 1)), g]) @ coef[n:]
    mx = cv2.resize(val[:, 0].reshape(gx.shape).astype(np.float32), None, fx=step, fy=step, interpolation=cv2.INTER_LINEAR)
    my = cv2.resize(val[:, 1].reshape(gx.shape).astype(np.float32), None, fx=step, fy=step, interpolation=cv2.INTER_LINEAR)
    return mx[:h, :w], my[:h, :w]


def _down_axis(lm: np.ndarray) -> np.ndarray:
    eye = lm[45] - lm[36]
    d = np.array([-eye[1], eye[0]]) / np.hypot(*eye)
    return d if d[1] > 0 else -d


def _dense(pts: np.ndarray, values: np.ndarray | None = None, count: int = 0) -> np.ndarray:
    """Points along the polyline ``pts`` (17 evenly spaced by arc length); with ``values`` (moved
    copies of those 17), the moved positions of ``pts`` themselves (``count`` of them)."""
    seg = np.hypot(*np.diff(pts, axis=0).T)
    at = np.concatenate([[0.0], np.cumsum(seg)]) / max(float(seg.sum()), 1e-6)
    tt = np.linspace(0.0, 1.0, 17)
    if values is None:
        return np.stack([np.interp(tt, at, pts[:, c]) for c in (0, 1)], axis=1)
    return np.stack([np.interp(at[:count], tt, values[:, c]) for c in (0, 1)], axis=1)


def _u_profile(pts: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """How far each lower-lip point drops (of the full drop): 0.3 at the corners, 1 mid-lip."""
    c0, c1 = lm[48], lm[54]
    axis = c1 - c0
    x = ((pts - (c0 + c1) / 2) @ axis) / (0.5 * float(axis @ axis))
    return 0.3 + 0.7 * np.sqrt(np.clip(1.0 - np.abs(x) ** 3, 0.0, 1.0))


def open_mouth(img: np.ndarray, lm: np.ndarray, amount: float) -> tuple[np.ndarray, np.ndarray]:
    """``img`` with the jaw dropped by ``amount`` (0..1); returns (image, the moved landmarks)."""
    if amount <= 1e-3:
        return img, lm
    iod = float(np.hypot(*(lm[45] - lm[36])))
    down = _down_axis(lm)
    drop = amount * MOUTH_MAX * iod
    moved = lm.astype(np.float64).copy()
    for idx, k in {**_JAW_FOLLOW, **_UPPER_LIFT}.items():
        moved[idx] += k * drop * down
    lips_src, lips_dst = [], []
    for idx in (_LOWER_INNER, _LOWER_OUTER):
        dense = _dense(lm[idx])
        dense_moved = dense + np.outer(drop * _u_profile(dense, lm), down)
        moved[idx] = _dense(lm[idx], dense_moved, len(idx))
        lips_src.append(dense[1:-1])
        lips_dst.append(dense_moved[1:-1])
    # the neck below the chin stretches a little; far points stay
    length = float(np.hypot(*(lm[8] - lm[27])))
    neck_src = lm[[6, 8, 10]] + 0.35 * length * down
    neck_dst = neck_src + 0.35 * drop * down
    centre = lm.mean(axis=0)
    ring = np.array([centre + 1.6 * length * np.array([np.cos(a), np.sin(a)]) for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)])
    keep = [i for i in range(68) if i not in _LOWER_INNER[1:-1] + _LOWER_OUTER[1:-1]]
    src = np.vstack([lm[keep], *lips_src, neck_src, ring])
    dst = np.vstack([moved[keep], *lips_dst, neck_dst, ring])
    # work in the face's box only
    h, w = img.shape[:2]
    x0, y0 = (max(0, int(v)) for v in centre - 1.3 * length)
    x1, y1 = min(w, int(centre[0] + 1.3 * length)), min(h, int(centre[1] + 1.6 * length))
    off = np.array([x0, y0], np.float64)
    mx, my = _tps_backward(dst - off, src - off, (y1 - y0, x1 - x0))
    out = img.copy()
    out[y0:y1, x0:x1] = cv2.remap(img, mx + x0, my + y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    _paint_interior(out, moved, lm, iod)
    return out, moved


def _paint_interior(img: np.ndarray, lm: np.ndarray, rest: np.ndarray, iod: float) -> None:
    """The inner-lip gap of ``lm`` painted as a mouth: throat, upper teeth, tongue."""
    inner = lm[60:68]
    gap = float(np.mean([(lm[b] - lm[a]) @ _down_axis(lm) for a, b in ((61, 67), (62, 66), (63, 65))]))
    if gap < 1.0:
        return
    ss = 4  # supersampled masks for clean edges
    x0, y0 = (int(v) - 6 for v in inner.min(axis=0))
    x1, y1 = (int(v) + 7 for v in inner.max(axis=0))
    size = (y1 - y0, x1 - x0)
    off = np.array([x0, y0])

    def mask(poly: np.ndarray) -> np.ndarray:
        m = np.zeros((size[0] * ss, size[1] * ss), np.uint8)
        cv2.fillPoly(m, [np.round((poly - off) * ss).astype(np.int32)], 255, cv2.LINE_AA)
        return cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    # the lip lines as smooth curves through their points (a mouth opens round, not as a V)
    upper_c = _dense(lm[[60, 61, 62, 63, 64]])
    rest_lower = _dense(rest[_LOWER_INNER])
    drop = float(((lm[66] - rest[66]) @ _down_axis(rest)) / max(_u_profile(rest[[66]], rest)[0], 1e-6))
    lower_c = rest_lower + np.outer(drop * _u_profile(rest_lower, rest), _down_axis(rest))
    hole = mask(np.vstack([upper_c, lower_c[::-1]]))
    # skin level beside the mouth (the cheeks, below the nose): the interior is lit like it
    patch = np.vstack([img[int(p[1]) - 2 : int(p[1]) + 3, int(p[0]) - 2 : int(p[0]) + 3].reshape(-1, 3)
                       for p in (rest[31] + 0.3 * (rest[48] - rest[31]), rest[35] + 0.3 * (rest[54] - rest[35]))])
    skin = np.median(patch, axis=0)
    level = float(skin.mean()) / 0.55
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    # depth below the upper inner lip (0 at the upper lip .. 1 at the lower lip), per pixel
    upper_v = np.interp(gx, upper_c[:, 0], upper_c[:, 1])
    lower_v = np.interp(gx, lower_c[:, 0], lower_c[:, 1])
    depth = np.clip((gy - upper_v) / np.maximum(lower_v - upper_v, 1.0), 0.0, 1.0)
    across = np.clip(1.0 - np.abs(gx - lm[62, 0]) / max(0.5 * float(np.hypot(*(lm[64] - lm[60]))), 1.0), 0.0, 1.0)
    throat = np.array([0.10, 0.035, 0.035])
    tongue = np.array([0.42, 0.16, 0.16])
    teeth = np.array([0.80, 0.76, 0.68])
    colour = throat[None, None, :] * (0.6 + 0.4 * (1 - across[..., None]))
    t_k = np.clip((depth - 0.6) / 0.4, 0, 1) * np.clip(gap / (0.15 * iod), 0, 1) * np.clip(across * 1.5, 0, 1)
    colour = colour * (1 - t_k[..., None]) + tongue * t_k[..., None]
    teeth_h = min(0.3, 0.06 * iod / gap)
    k_teeth = np.clip((teeth_h - depth) / max(teeth_h * 0.25, 1e-3), 0, 1) * np.clip(across * 2.5 - 0.3, 0, 1)
    colour = colour * (1 - k_teeth[..., None]) + teeth * k_teeth[..., None] * 0.85
    colour *= level
    region = img[y0:y1, x0:x1]
    k = hole[..., None]
    region[...] = (k * colour + (1 - k) * region).astype(np.float32)


def close_lids(img: np.ndarray, lm: np.ndarray, amount: float) -> np.ndarray:
    """``img`` with both upper lids come ``amount`` (0..1) of the way down to the lower lids."""
    if amount <= 1e-3:
        return img
    out = img.copy()
    h, w = img.shape[:2]
    for upper, lower in (([36, 37, 38, 39], [36, 41, 40, 39]), ([42, 43, 44, 45], [42, 47, 46, 45])):
        up, lo = lm[upper].astype(np.float64), lm[lower].astype(np.float64)
        axis = up[3] - up[0]
        width = float(np.hypot(*axis))
        d = axis / width
        n = np.array([-d[1], d[0]])
        if n[1] < 0:
            n = -n
        o = up[0]
        uu, vu = (up - o) @ d, (up - o) @ n
        ul, vl = (lo - o) @ d, (lo - o) @ n
        band = 0.45 * width
        pts = np.vstack([up, lo])
        x0, y0 = (max(0, int(v)) for v in pts.min(axis=0) - band - 3)
        x1, y1 = (int(v) for v in pts.max(axis=0) + 4)
        x1, y1 = min(w, x1), min(h, y1)
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        u = (gx - o[0]) * d[0] + (gy - o[1]) * d[1]
        v = (gx - o[0]) * n[0] + (gy - o[1]) * n[1]
        v_up = np.interp(u, uu, vu)
        v_lo = np.interp(u, ul, vl)
        # the lid edge comes down to just past the lower lid's line when shut
        v_new = v_up + amount * (np.maximum(v_lo - v_up, 0.0) + 0.04 * width)
        ends = np.clip(np.minimum(u - uu[0], uu[-1] - u) / (0.2 * width), 0.0, 1.0)
        v_new = v_up + (v_new - v_up) * ends
        # what the eye loses is covered by lid skin: the lash strip at the lid's edge moves
        # down to the new edge, and the skin just above it (a row of lid skin, smoothed
        # along the eye) fills in between; nothing above the lid's edge moves
        lash = 0.1 * width
        covered = (v > v_up - lash) & (v <= v_new) & (v_new - v_up > 1e-3)
        in_lash = covered & (v > v_new - lash)
        v_src = np.where(in_lash, v - (v_new - v_up), v)
        mx = (gx + (v_src - v) * n[0]).astype(np.float32)
        my = (gy + (v_src - v) * n[1]).astype(np.float32)
        moved = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # the lid skin: sampled along the lid at 0.1-0.25 of the eye width above its edge
        rows = []
        for k in (0.12, 0.17, 0.22):
            sv = v_up - k * width
            rows.append(cv2.remap(img, (o[0] + u * d[0] + sv * n[0]).astype(np.float32),
                                  (o[1] + u * d[1] + sv * n[1]).astype(np.float32), cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT))
        skin = np.median(np.stack(rows), axis=0)
        skin = cv2.GaussianBlur(skin, (0, 0), max(1.0, 0.12 * width))
        # a lid is round: a little lighter half way down, darker into the fold
        t = np.clip((v - (v_up - lash)) / np.maximum(v_new - lash - (v_up - lash), 1e-3), 0, 1)
        shade = (0.93 + 0.1 * np.sin(np.pi * np.clip(t, 0, 1)))[..., None]
        k = (covered & ~in_lash).astype(np.float32)
        k = cv2.GaussianBlur(k, (0, 0), 0.6)[..., None] * (~in_lash)[..., None]
        moved = k * skin * shade + (1 - k) * moved
        out[y0:y1, x0:x1] = np.clip(moved, 0, 1).astype(np.float32)
    return out


def _stage(photo: np.ndarray, face_px: float, box: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """The photo scaled so its face box is ``face_px``, centred in a FRAME-sized plate whose
    sides are the photo's own edges, blurred and darkened. Returns (plate, scale, offset)."""
    h, w = FRAME
    s = face_px / float(box[2] - box[0])
    big = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    c = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) * s
    off = np.array([w * 0.5 - c[0], h * 0.45 - c[1]])
    m = np.float32([[1, 0, off[0]], [0, 1, off[1]]])
    plate = cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    inside = cv2.warpAffine(np.ones(big.shape[:2], np.float32), m, (w, h), flags=cv2.INTER_NEAREST)
    soft = cv2.GaussianBlur(inside, (0, 0), 25)[..., None]
    blurred = cv2.GaussianBlur(plate, (0, 0), 12) * 0.7
    return np.clip(soft * plate + (1 - soft) * blurred, 0, 1).astype(np.float32), s, off


def _microphone(img: np.ndarray, lm: np.ndarray, i: int) -> None:
    """A hand-held microphone in front of the chin (in place): a dark wire-mesh ball with a
    highlight and its handle down out of the frame, swaying on its own (the hand is not the head)."""
    length = float(np.linalg.norm(lm[8] - lm[27:31].mean(axis=0))) * 1.6
    h, w = img.shape[:2]
    r = 0.2 * length
    cx = lm[8][0] + 0.12 * length + 0.04 * length * np.sin(2 * np.pi * i / 29.0)
    cy = lm[8][1] - 0.05 * length + 0.03 * length * np.sin(2 * np.pi * i / 17.0 + 0.7)
    x0, x1 = int(max(cx - 2 * r, 0)), int(min(cx + 2 * r, w))
    y0, y1 = int(max(cy - 1.2 * r, 0)), h
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    ball = np.clip(r + 0.5 - np.sqrt(d2), 0.0, 1.0)  # anti-aliased edge
    handle = np.clip(0.3 * r + 0.5 - np.abs(xx - (cx + 0.25 * (yy - cy))), 0.0, 1.0) * (yy > cy)
    grille = 0.06 + 0.05 * ((np.sin(xx * 1.3) * np.sin(yy * 1.3)) > 0)
    spec = 0.55 * np.exp(-((xx - cx + 0.45 * r) ** 2 + (yy - cy + 0.45 * r) ** 2) / (2 * (0.13 * r) ** 2))
    part = img[y0:y1, x0:x1]
    body = np.where(ball[..., None] > 0, (grille + spec)[..., None] * np.float32([1.0, 1.0, 1.05]),
                    np.float32([0.05, 0.05, 0.055]))
    k = np.maximum(ball, handle)[..., None]
    img[y0:y1, x0:x1] = (k * body + (1 - k) * part).astype(np.float32)


def expression_clip(
    photo: np.ndarray, n: int = 60, face_px: float = 210.0, seed: int = 14, move: float = 1.0,
    mic: bool = False, narrow: float = 0.0, jpeg: int = 0,
) -> ExpressionClip:
    """A talking, blinking plate of ``n`` frames from ``photo`` (its largest face, dlib 68).
    ``move`` scales the head's drift (1: a few px, under 1.2 px a frame; 6: a hand-held shot,
    about 7 px a frame at its fastest). A hard clip: ``mic`` puts a hand-held microphone in
    front of the chin; ``narrow`` (0..1) gives the person narrow eyes (the lids at rest that
    far down; blinks close them from there); ``jpeg`` (a quality, 0: none) stores each frame
    as compressed footage would (8-bit JPEG, 4:2:0)."""
    from recast.pipeline.faces import AnalyserOptions, create_analyser

    an = create_analyser("dlib", AnalyserOptions(landmarks="68", min_face=0, upsample=1, landmark_fits=1), notify=lambda _t: None)
    faces = an.analyse(photo, embed=False)
    if not faces:
        raise ValueError("no face in the photo")
    face = max(faces, key=lambda f: f.size)
    plate, s, off = _stage(photo, face_px, np.asarray(face.box, np.float64))
    lm = face.landmarks.astype(np.float64) * s + off
    mouth, blink = schedule(n, seed)
    rng = np.random.default_rng(seed + 1)
    grain = rng.normal(0.0, 0.008, (FRAME[0], FRAME[1], 1)).astype(np.float32)
    centre = lm[27:36].mean(axis=0)
    frames = []
    for i in range(n):
        img, moved = open_mouth(plate, lm, float(mouth[i]))
        img = close_lids(img, moved, float(narrow + (1.0 - narrow) * blink[i]))
        ang = 1.2 * np.sin(2 * np.pi * i / 41.0)
        sc = 1.0 + 0.015 * np.sin(2 * np.pi * i / 53.0 + 0.5)
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), ang, sc)
        m[:, 2] += [6.0 * move * np.sin(2 * np.pi * i / 37.0), 4.0 * move * np.sin(2 * np.pi * i / 23.0 + 1.0)]
        img = cv2.warpAffine(img, m, (FRAME[1], FRAME[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if mic:
            _microphone(img, moved @ m[:, :2].T + m[:, 2], i)
        img = np.clip(img + np.roll(grain, 7 * i, axis=1), 0, 1).astype(np.float32)
        if jpeg:
            bgr = cv2.cvtColor((img * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
            _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg)])
            img = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        frames.append(img)
    return ExpressionClip(frames, mouth, blink, face_px)
