"""The ``warp`` swapper's feature fill: the plate's brows, eyes and lips that the actor's matte
leaves showing (taller cartoon brows, brow tails beyond the actor's narrower face, wider lashes,
a yawed far eye, a wide or open mouth's corner under the matte's soft edge) are painted over,
so they don't ghost beside the actor's own.

Two fills are blended by where a pixel lies between the actor's face and the plate's face edge:

- next to the actor's face, the actor's own skin around it, smoothly extended (a normalised
  convolution over the actor's warped skin, its features left out); it is graded with the
  rest of the actor's face;
- towards the plate's face edge (temples, hairline), the plate's own surroundings of the
  feature, smoothly extended over it (the plate's skin and hair gradient continued, the
  feature left out); these pixels are the plate's colour and are marked ungraded.

So a brow tail at the temple is covered by what the plate has around it there (no flat pale
wedge of the actor's skin pushed into the hair), and the fill meets the actor's face in the
actor's colour. The brows are found by their landmarks and, on the plate, by being darker
than the skin around them (a drawn or CGI brow often sits above its fitted points).
"""

from __future__ import annotations

import cv2
import numpy as np

from recast.models.swappers import warp_shape as ws

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
# the search band for the plate's brow pixels: its width, how far it is moved up from the
# fitted brow points and how far it reaches past each brow's outer end (of the face length /
# of the brow's last segment)
BROW_BAND, BROW_LIFT, BROW_REACH = 0.2, 0.05, 0.6
# a plate pixel in that band is brow when this much darker than the skin around it (a fraction
# of the skin's luminance)
BROW_DARK = 0.16
# how far above the band the dark pixels joined to a brow found in it are brow too (of the
# face length)
BROW_GROW = 0.12
# the fill's shading from the plate (its light over the fill / under the actor's skin), bounded
SHADE = (0.25, 1.0)
# the actor's matte over which the fill turns from the plate's own surroundings (below) to the
# actor's skin (above)
PLATE_SIDE = (0.2, 0.5)
# ... and within this band inside the plate's face edge (of the face length), whatever the matte
PLATE_EDGE = 0.12
# a colour this far from the skin's (Lab, lightness at half weight) is not skin
SKIN_LAB_DIST = 15.0
# how far around the plate's fitted eyes its off-skin pixels are left out of what the fill
# extends (of the face length)
EYE_ZONE = 0.1
# a normalised convolution's blur, in steps of the coarser grid it runs on when wider (_extend)
EXTEND_STEP = 4.0


def clean_plate_features(
    out: np.ndarray,
    crop: np.ndarray,
    plate: np.ndarray,
    plate_ext: np.ndarray,
    target: np.ndarray,
    coverage: np.ndarray,
    matte: np.ndarray,
    oval: np.ndarray | None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, tuple[int, int]] | None, int]:
    """Paint over the plate's brows, eyes and lips where the actor's matte leaves them showing.

    ``out``: the swap so far (painted in place); ``crop``: the plate; ``plate`` / ``target``:
    the plate's and the actor's 68 points; ``plate_ext``: the plate's points with its forehead.
    The part inside the plate's own face outline (and mesh oval) where the matte is below 1 is
    filled (see the module) and the matte grows over it. Returns the new matte, the fill's
    weight in the plate's own colour (crop size, for ``SwapResult.ungraded``), that colour over
    the fill's box and the box's (y, x) origin (``SwapResult.ungraded_rgb`` / ``ungraded_origin``;
    None when nothing was filled) and how many pixels were filled.
    """
    h, w = out.shape[:2]
    _, _, length = ws.face_frame(plate)
    grow = max(1, round(0.05 * length))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    thick = max(2, round(0.07 * length))
    # the plate's lips too: a wide or open mouth whose corner reaches the matte's soft edge
    # showed through it, dark lip and mouth under pale actor skin, as a grey-blue smudge beside
    # the actor's mouth (t1.jpg's faces, turned a little; benchmarks/README.md, tenth round)
    feat_mask = _feature_mask(plate, (h, w), thick, mouth=True)
    face_region = np.zeros((h, w), np.uint8)
    outline = plate_ext[ws.outline_indices()]
    cv2.fillPoly(face_region, [np.round(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    brows, dark = plate_brow_pixels(crop[..., :3], plate, face_region)
    feat_mask[brows] = 255
    # the masks are drawn over the crop but dilated and combined only around the features
    feat, (fy0, fy1, fx0, fx1) = _dilate_near(feat_mask, disk, grow)
    near = (slice(fy0, fy1), slice(fx0, fx1))
    showing = (feat[near] > 0) & (face_region[near] > 0) & (matte[near] < 0.98)
    if oval is not None:
        showing &= oval[near] > 0.5
    if int(showing.sum()) < 4:
        return matte, None, 0
    ys, xs = np.nonzero(showing)
    ys += fy0
    xs += fx0
    pad = int(np.ceil(0.3 * length)) + 4
    x0, y0 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x1, y1 = min(w, int(xs.max()) + pad + 1), min(h, int(ys.max()) + pad + 1)
    box = (slice(y0, y1), slice(x0, x1))
    hole = np.zeros((y1 - y0, x1 - x0), np.uint8)
    hole[ys - y0, xs - x0] = 255
    hole = cv2.dilate(hole, np.ones((3, 3), np.uint8))
    sigma = max(1.0, 0.15 * length)
    # the actor's skin, extended
    src = ws.unit_rgb(out[box][..., :3])
    actor_feat, _ = _dilate_near(_feature_mask(target, (h, w), thick, mouth=True), disk, grow)
    known = coverage[box] & (matte[box] > 0.9) & (actor_feat[box] == 0)
    ref = _skin_lab(out, target)
    if ref is not None:  # the actor's skin only: no shadowed sockets, stubble or hair at the edge
        lab = cv2.cvtColor(src, cv2.COLOR_RGB2Lab)
        known &= np.linalg.norm((lab - ref) * np.array([0.5, 1.0, 1.0], np.float32), axis=2) < SKIN_LAB_DIST
    actor_fill, den = _extend(src, known, sigma)
    hole[den < 0.005] = 0
    # the actor's own brows and eyes where its matte shows them are not painted over: the
    # matte comes up to full there instead, so the actor's own brow covers the plate's under it
    # (at 0.5-0.98 the plate's brow showed through as a dark arc beside the actor's: Megamind)
    own = (hole > 0) & (actor_feat[box] > 0) & (matte[box] > 0.5)
    hole[own] = 0
    # the plate's own light over it: the plate's surroundings of its features, extended over
    # them, against the plate under the actor's skin the fill extends; the fill takes the ratio
    # (darker towards the plate's temples and hair, as the plate is there)
    plate_box = ws.unit_rgb(crop[box][..., :3])  # the plate's pixels where the fill works, finite, in [0, 1]
    plate_lum = plate_box @ _LUMA
    plate_known = (feat[box] == 0) & ~dark[box]  # not the plate's make-up, lash shadow or brow
    eyes = np.zeros(plate_box.shape[:2], np.uint8)  # the plate's fitted eyes, over the box
    for eye in (plate[36:42], plate[42:48]):
        cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(eye - (x0, y0)).astype(np.int32)), 255)
    plate_known &= ~_off_skin_near_eyes(plate_box, crop, plate, eyes > 0, length)
    light, lden = _extend(plate_lum[..., None], plate_known, max(1.0, 0.06 * length))
    wide, _ = _extend(plate_lum[..., None], plate_known, sigma)
    near_known = np.clip(lden / 0.05, 0.0, 1.0)[..., None]  # far from any: the wider reach
    light = (near_known * light + (1.0 - near_known) * wide)[..., 0]
    under, uden = _extend(plate_lum[..., None], known & plate_known, sigma)
    shade = np.clip(light / np.maximum(under[..., 0], 1e-3), SHADE[0], SHADE[1])
    shade[uden < 0.005] = 1.0
    feather = max(0.5, 0.02 * length)
    soft = cv2.GaussianBlur(hole.astype(np.float32) / 255.0, (0, 0), feather)
    inside = (face_region[box] > 127).astype(np.uint8)
    if oval is not None:
        inside &= (oval[box] > 0.5).astype(np.uint8)
    inside_soft = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), feather)
    soft *= inside_soft
    # the matte grows over the fill and over the actor's own features there (one feathered
    # mask: two met in a seam of half matte); only the fill's part is painted
    cover = soft
    if own.any():
        cover = cv2.GaussianBlur(((hole > 0) | own).astype(np.float32), (0, 0), feather) * inside_soft
    m = matte[box]
    grown = m + (1.0 - m) * cover  # (cover >= soft: its mask holds the hole's)
    part = ((1.0 - m) * soft) / np.maximum(grown, 1e-6)
    # the plate's own surroundings of the feature, extended over it: where the actor's matte is
    # low (the plate shows there) and towards the plate's face edge (temples, hairline)
    plate_fill, pden = _extend(plate_box, plate_known, max(1.0, 0.06 * length))
    wide_fill, _ = _extend(plate_box, plate_known, sigma)
    near_known = np.clip(pden / 0.05, 0.0, 1.0)[..., None]
    plate_fill = near_known * plate_fill + (1.0 - near_known) * wide_fill
    t = np.clip((m - PLATE_SIDE[0]) / (PLATE_SIDE[1] - PLATE_SIDE[0]), 0.0, 1.0)
    edge = np.clip(cv2.distanceTransform(inside, cv2.DIST_L2, 3) / max(1.0, PLATE_EDGE * length), 0.0, 1.0)
    plate_side = 1.0 - (t * t * (3.0 - 2.0 * t)) * (edge * edge * (3.0 - 2.0 * edge))
    # the fill's share of each pixel: the plate's part laid over the swap ungraded (its own
    # colour), the actor's part graded with the face: fg = k P + (1 - k) G(rest), k = part e
    kept = (part * plate_side).astype(np.float32)
    actor_part = (part * (1.0 - plate_side))[..., None]
    region = out[box]
    rest = actor_part * np.clip(actor_fill * shade[..., None], 0.0, 1.0) + (1.0 - part[..., None]) * region
    region[:] = rest / np.maximum(1.0 - kept, 1e-6)[..., None]
    np.clip(region, 0.0, 1.0, out=region)
    # the plate-coloured layer over the box only (the swap's own colour elsewhere: see
    # SwapResult.ungraded_origin), not a crop-size copy (43 MB for an 8K face's crop)
    layer = np.clip(plate_fill, 0.0, 1.0).astype(np.float32, copy=False)
    ungraded = np.zeros((h, w), np.float32)
    ungraded[box] = kept
    # only the box changes: the matte elsewhere is already in [0, 1] (no whole-crop copies)
    new_matte = np.array(matte, dtype=np.float32, copy=True)
    new_matte[box] = np.clip(grown, 0.0, 1.0)
    return new_matte, (ungraded, layer, (y0, x0)), int((part > 0.5).sum())


def plate_brow_pixels(rgb: np.ndarray, lm: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the plate's brows are, and where around them it is darker than its skin (both
    bool, crop size). Inside the face ``region`` (uint8, > 127 inside) around the brows, a pixel
    is dark when ``BROW_DARK`` darker than the plate's skin there (its level a smooth extension
    of the lighter pixels, brows and eyes left out); the brows are the dark pixels in a band
    along each brow's fitted points (moved up, reaching past the outer end)."""
    h, w = rgb.shape[:2]
    _, up, length = ws.face_frame(lm)
    band = np.zeros((h, w), np.uint8)
    lift = BROW_LIFT * length * up
    for brow in (lm[17:22], lm[26:21:-1]):  # inner end first, outer end last
        pts = np.vstack([brow, brow[-1] + BROW_REACH * (brow[-1] - brow[-2])]) + lift
        cv2.polylines(band, [np.round(pts * 16).astype(np.int32)], False, 255, max(2, round(BROW_BAND * length)), cv2.LINE_AA, shift=4)
    # above the band: where a drawn or CGI brow that runs higher than its fitted points goes on
    # (Megamind's brows sit up to a fifth of the face above them); grown into from the band only
    above = np.zeros((h, w), np.uint8)
    reach = (BROW_LIFT + 0.5 * BROW_BAND + 0.5 * BROW_GROW) * length * up
    for brow in (lm[17:22], lm[26:21:-1]):
        pts = np.vstack([brow, brow[-1] + BROW_REACH * (brow[-1] - brow[-2])]) + reach
        cv2.polylines(above, [np.round(pts * 16).astype(np.int32)], False, 255, max(2, round(BROW_GROW * length)), cv2.LINE_AA, shift=4)
    band[region <= 127] = 0
    bx, by, bw, bh = cv2.boundingRect(band)
    brows, dark = np.zeros((h, w), bool), np.zeros((h, w), bool)
    if bw == 0 or bh == 0:
        return brows, dark
    pad = int(np.ceil(0.25 * length)) + 2
    x0, y0, x1, y1 = max(0, bx - pad), max(0, by - pad), min(w, bx + bw + pad), min(h, by + bh + pad)
    lum = ws.unit_rgb(rgb[y0:y1, x0:x1]) @ _LUMA
    inb = band[y0:y1, x0:x1] > 127
    face = region[y0:y1, x0:x1] > 127
    eyes = np.zeros(face.shape, np.uint8)
    for eye in (lm[36:42], lm[42:48]):
        cv2.fillConvexPoly(eyes, cv2.convexHull(np.round(eye - (x0, y0)).astype(np.int32)), 255)
    r = max(1, round(0.06 * length))
    eyes = cv2.dilate(eyes, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    # the skin's level: the face less the band and the eyes, then less what reads dark against it
    skin = face & ~inb & (eyes == 0)
    found = np.zeros(face.shape, bool)
    for _ in range(2):
        level, den = _extend(lum[..., None], skin & ~found, max(1.0, 0.12 * length))
        found = face & (den > 0.01) & (lum < (1.0 - BROW_DARK) * level[..., 0])
    seeds = found & inb
    # the dark pixels above the band joined to a brow found in it are that brow too (not a
    # fringe or a rim apart from it; nothing below the band: the eyes' lashes and make-up)
    count, labels = cv2.connectedComponents((found & (inb | (above[y0:y1, x0:x1] > 127))).astype(np.uint8), connectivity=8)
    if count > 1 and seeds.any():
        keep = np.zeros(count, bool)
        keep[np.unique(labels[seeds])] = True
        keep[0] = False
        seeds = keep[labels]
    brows[y0:y1, x0:x1] = seeds
    dark[y0:y1, x0:x1] = found
    return brows, dark


def _off_skin_near_eyes(box_rgb: np.ndarray, crop: np.ndarray, lm: np.ndarray, eyes: np.ndarray, length: float) -> np.ndarray:
    """The plate's pixels near its eyes (within ``EYE_ZONE`` of the face length of ``eyes``,
    the fitted eyes' hulls, box size) whose colour is not its skin's: the part of a wide or
    drawn eye beyond its fitted points (whites, iris, lashes, make-up). Extending the plate's
    surroundings over its features must not carry these (a cartoon eye's white smeared grey-blue
    beside the actor's eye on Megamind). Only near the eyes: at the temples the plate's hair is
    what the fill continues."""
    ref = _skin_lab(crop, lm)
    if ref is None:
        return np.zeros(eyes.shape, bool)
    r = max(1, round(EYE_ZONE * length))
    zone = cv2.dilate(eyes.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    lab = cv2.cvtColor(box_rgb, cv2.COLOR_RGB2Lab)
    off = np.linalg.norm((lab - ref) * np.array([0.5, 1.0, 1.0], np.float32), axis=2) >= SKIN_LAB_DIST
    return zone & off


def _extend(img: np.ndarray, known: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``img`` (H, W, C) where ``known``, smoothly extended over the rest (normalised
    convolution, Gaussian ``sigma``); also the density of known pixels (0 far from any).

    A wide ``sigma`` is computed on a coarser grid, ``sigma / EXTEND_STEP`` pixels a step (area
    averages, the blur ``EXTEND_STEP`` steps wide there, bilinear back up): the result is smooth
    at that scale anyway, and a 60 px Gaussian over a 4K face's box cost ~0.1 s a call."""
    k = known.astype(np.float32)
    num = img * k[..., None]
    step = int(sigma / EXTEND_STEP)
    h, w = k.shape
    if step >= 2 and h >= 2 * step and w >= 2 * step:
        size = (max(1, round(w / step)), max(1, round(h / step)))
        den = cv2.resize(k, size, interpolation=cv2.INTER_AREA)
        num = cv2.resize(num, size, interpolation=cv2.INTER_AREA)
        s = sigma * den.shape[0] / h
        den = cv2.resize(cv2.GaussianBlur(den, (0, 0), s), (w, h), interpolation=cv2.INTER_LINEAR)
        num = cv2.resize(cv2.GaussianBlur(num, (0, 0), s), (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        den = cv2.GaussianBlur(k, (0, 0), sigma)
        num = cv2.GaussianBlur(num, (0, 0), sigma)
    if num.ndim == 2:
        num = num[..., None]
    return num / np.maximum(den, 1e-4)[..., None], den


def _dilate_near(mask: np.ndarray, kernel: np.ndarray, radius: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``cv2.dilate(mask, kernel)`` (``kernel`` at most ``2 radius + 1`` wide), computed only around the mask's
    non-zero pixels (the same values: nothing farther than ``radius`` from them changes); also the
    rows and columns ``(y0, y1, x0, x1)`` outside which the result is zero."""
    h, w = mask.shape[:2]
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return mask, (0, 0, 0, 0)
    x0, y0 = max(0, bx - radius - 1), max(0, by - radius - 1)
    x1, y1 = min(w, bx + bw + radius + 1), min(h, by + bh + radius + 1)
    mask[y0:y1, x0:x1] = cv2.dilate(mask[y0:y1, x0:x1], kernel)
    return mask, (y0, y1, x0, x1)


def _feature_mask(lm: np.ndarray, shape: tuple[int, int], thick: int, mouth: bool = False) -> np.ndarray:
    """Strokes along the brows and hulls of the eyes (and the lips) of a 68-point face."""
    mask = np.zeros(shape, np.uint8)
    for brow in (lm[17:22], lm[22:27]):
        cv2.polylines(mask, [np.round(brow * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
    for part in (lm[36:42], lm[42:48], *((lm[48:60],) if mouth else ())):
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(part).astype(np.int32)), 255)
    return mask


def _skin_lab(img: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
    """Median Lab colour of the skin on the nose bridge and under each eye (68-point layout)."""
    vals = [
        cv2.cvtColor(ws.unit_rgb(p), cv2.COLOR_RGB2Lab).reshape(-1, 3)
        for p in ws.skin_patches(img, lm)
    ]
    if not vals:
        return None
    return np.median(np.concatenate(vals), axis=0).astype(np.float32)
