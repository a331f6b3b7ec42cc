"""Auto holdout: things in front of the face (a microphone, a cup, a pen) kept out of the matte.

A swap paints the actor's face over everything inside the face's matte. When the plate
has something between the camera and the face (a hand-held microphone below the lips is the
common case), the swap painted skin across it: a pale ghost over the object's top. Holdout
mattes (``--holdout``) are the compositor's exact answer; this is the cheap automatic cue
for the cases nobody rotoscoped.

An occluder here is a region of the plate inside the matte that

- is not skin by its colour, judged against the plate's own skin (median of patches on the
  nose, cheeks and forehead) in log-chromaticity (log r/g, log b/g: shading does not move
  it, and a light's colour moves skin and object alike, so the difference holds in any
  light): greyer than the skin by most of a typical skin's chroma and darker than half the
  skin (black, grey, metal; a highlight is brighter), or off the skin's hue altogether
  (blue, green, purple); very dark pixels (under 0.04 of the skin), whose chroma is noise,
  count as candidates too;
- lies outside the face's own features (eyes, brows, lips, nostrils, with a margin), which
  are not skin by nature;
- enters from outside the face: it touches the matte's outer edge, since an object in front
  of a face comes from beyond it. Marks inside the face (moles, make-up) are never objects;
- carries a real share of the swap (``MIN_AREA``: the matte's weight over it, of the face's
  squared length), is mostly colour-far rather than only dark (``CHROMA_SHARE``: a shadowed
  jaw or a dark background at the face's edge is not an object), and does not run along
  the jaw on both sides of the chin (a beard, the jaw's shade). A black object (a stage
  microphone's grille or foam, too dark to read its colour) passes the colour test when it
  reaches ``DEEP`` inside the face's outline below the nose and hardly above the nose tip's
  line (``ABOVE_NOSE``): deep shade on a face runs up it, past an eye.

An object found then reaches on over the lips' and brows' margins where its pixels go on
(only the eyes and the mouth's opening stay out), its holes filled (a highlight on it). It
stays the plate's: the matte is lowered over it, its edge feathered outwards by about a
pixel (``FEATHER``), and the face record counts its pixels (``auto_holdout.kept_px``). A hand in
front of the face is skin by colour and is not found: that is what holdout mattes are for.

A colour cue errs: hair or deep shade at a face's edge can read as an object (slivers of
the plate's own edge then show), and plates in grey or whose skin sits near grey get no cue.
So it is off by default; the swap setting ``auto_holdout`` (``--auto-holdout``, the Nuke
gizmo's checkbox) turns it on for a shot. ``compose`` runs it on every backend's matte for faces
with 68 points (dlib) or the face mesh; other layouts are skipped, and the record says so.
"""

from __future__ import annotations

import cv2
import numpy as np
from recast.models.swappers import warp_shape as ws

# chromaticity (log r/g, log b/g) against the plate's own skin. A light's colour shifts every
# pixel's chromaticity by the same amount, so the difference from the skin does not depend
# on it: a grey object (black, grey, white, metal) sits one skin-chroma vector (SKIN, typical
# skin in linear sRGB / ACEScg primaries) away from the skin, towards grey, in any light.
SKIN = np.array([0.3, -0.3], np.float32)
TOWARDS_GREY = 0.6  # at least this share of the skin vector towards grey is not skin ...
GREY_DARKER = 0.5  # ... where it is also darker than this share of the skin (a highlight is not)
OFF_HUE = 0.6  # log-chroma distance across the skin vector: another hue (blue, green, purple)
DARK = 0.04  # luminance under this fraction of the skin's: chroma unreliable, counted as not skin
MIN_AREA = 0.004  # of the face's squared eye-to-chin length: the matte's weight over the region
CHROMA_SHARE = 0.3  # at least this share of an occluder's pixels are colour-far (not only dark)
SPECK = 0.012  # not-skin specks smaller than this (of the length) are texture: dropped
FEATHER = 0.012  # Gaussian sigma of the kept object's edge (of the length)
REACH = 0.02  # the matte's extent: where it is above this
JAW_IN = 0.05  # the jaw's points moved this much (of the length) into the face: a beard's line
# a black object: this far (of the length) inside the face's outline below the nose, and at most
# this share of it above the nose tip's line
DEEP, ABOVE_NOSE = 0.08, 0.1


def occluders(image: np.ndarray, lm: np.ndarray, matte: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """How much of each pixel is an object in front of the face (float32, 0..1) over the rows
    and columns ``(y0, y1, x0, x1)`` of the image it covers (zero elsewhere), or None when
    nothing is found (or the face's skin cannot be sampled).

    ``image``: the plate crop (RGB, working space); ``lm``: its 68 points; ``matte``: the swap's
    matte (only where it reaches is read)."""
    _, _, length = ws.face_frame(lm)
    if length < 16.0:
        return None
    reach = matte > REACH
    rows, cols = np.nonzero(reach.any(axis=1))[0], np.nonzero(reach.any(axis=0))[0]
    if rows.size < 8 or cols.size < 8:
        return None
    pad = 2
    y0, x0 = max(0, int(rows[0]) - pad), max(0, int(cols[0]) - pad)
    y1, x1 = min(matte.shape[0], int(rows[-1]) + 1 + pad), min(matte.shape[1], int(cols[-1]) + 1 + pad)
    skin = _skin_model(image, lm)
    if skin is None:
        return None
    centre, level = skin
    size = float(np.hypot(*SKIN))
    axis = SKIN / np.float32(size)
    region = ws.unit_rgb(image[y0:y1, x0:x1, :3])
    region = cv2.blur(region, (3, 3))
    chroma, lum = _chroma(region)
    chroma -= centre
    greyer = -(chroma @ axis)
    across = np.abs(chroma @ np.array([-axis[1], axis[0]], np.float32))
    dark = lum < DARK * level
    far = ((greyer > TOWARDS_GREY * size) & (lum < GREY_DARKER * level)) | (across > OFF_HUE)
    far &= ~dark
    features = _features(lm - np.array([x0, y0]), (y1 - y0, x1 - x0), length)
    sub_reach = reach[y0:y1, x0:x1]
    candidate = ((far | dark) & sub_reach & ~features).astype(np.uint8)
    r = max(1, round(SPECK * length))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_OPEN, kernel)
    # (then closed: an object's texture, a grille's bright wires, does not cut it in pieces)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_CLOSE, kernel)
    if not candidate.any():
        return None
    count, labels = cv2.connectedComponents(candidate, connectivity=8)
    weight = matte[y0:y1, x0:x1]
    jaw = _jaw_line(lm, length) - np.array([x0, y0])
    # the matte's outer edge: reached pixels with an unreached neighbour (or on the crop's edge)
    edge = sub_reach & ~cv2.erode(sub_reach.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=0).astype(bool)
    # per region, in one pass each: touches the edge, the swap's weight over it, its colour-far share
    flat = labels.ravel()
    touches = np.bincount(labels[edge], minlength=count) > 0  # else wholly inside: a mark, not an object
    carried = np.bincount(flat, weights=weight.ravel().astype(np.float64), minlength=count)
    size_px = np.maximum(np.bincount(flat, minlength=count), 1)
    far_share = np.bincount(flat, weights=far.ravel().astype(np.float64), minlength=count) / size_px
    # a black object (a microphone's grille) is mostly too dark to read its colour: it counts
    # when it reaches well into the lower face and hardly above the nose (shade runs up the face)
    black = _lower_face_object(labels, count, lm - np.array([x0, y0]), length)
    keep = (
        touches
        & (carried >= MIN_AREA * length * length)  # else little of the swap lands on it: the face's edge
        # else dark but skin-coloured where it can be read: shade (unless a black object)
        & ((far_share >= CHROMA_SHARE) | black)
    )
    keep[0] = False
    keep &= ~_along_jaw(labels, jaw, count)  # along the jaw on both sides of the chin: a beard, the jaw's shade
    if not keep.any():
        return None
    found = keep[labels]
    # an object found reaches on over the lips' and brows' margins where its pixels go on
    # (only the eyes and the mouth's opening stay out): no strip of swap left across it
    inner = _features(lm - np.array([x0, y0]), (y1 - y0, x1 - x0), length, strict=True)
    more = ((far | dark) & sub_reach & ~inner).astype(np.uint8)
    count, labels = cv2.connectedComponents(more, connectivity=8)
    touched = np.unique(labels[found & (more > 0)])
    grow = np.zeros(count, bool)
    grow[touched[touched > 0]] = True
    found |= grow[labels]
    found = _fill_holes(found).astype(np.float32)  # (a highlight on the object is the object)
    soft = cv2.GaussianBlur(found, (0, 0), max(0.5, FEATHER * length))
    np.maximum(soft, found, out=soft)  # the object itself stays whole; only its edge is feathered outwards
    return soft, (y0, y1, x0, x1)


def _lower_face_object(labels: np.ndarray, count: int, lm: np.ndarray, length: float) -> np.ndarray:
    """Per region of ``labels`` (bool, ``count``): whether it reaches ``DEEP`` of the face length
    inside the face's outline below the nose over ``MIN_AREA`` of the face's squared length, with
    at most ``ABOVE_NOSE`` of its pixels above the nose tip's line. Deep shade on a face runs
    up it (a side-lit face's dark half holds an eye); the face's own dark parts below the nose
    (nostrils, lips, the mouth's opening) are left out of ``labels`` before this."""
    h, w = labels.shape
    _, up, _ = ws.face_frame(lm)
    outline = np.zeros((h, w), np.uint8)
    cv2.fillPoly(outline, [np.round(cv2.convexHull(lm[:27].astype(np.float32))).astype(np.int32)], 1)
    r = max(1, round(DEEP * length))
    inner = cv2.erode(outline, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    height = (xx - lm[33][0]) * up[0] + (yy - lm[33][1]) * up[1]  # along the face's up axis from the nose tip
    flat = labels.ravel()
    size_px = np.maximum(np.bincount(flat, minlength=count), 1)
    deep = np.bincount(flat, weights=(inner & (height < 0)).ravel().astype(np.float64), minlength=count)
    above = np.bincount(flat, weights=(height > 0).ravel().astype(np.float64), minlength=count) / size_px
    return (deep >= MIN_AREA * length * length) & (above <= ABOVE_NOSE)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) with the holes inside it filled: what the outside cannot reach."""
    pad = np.pad(mask, 1).astype(np.uint8)
    outside = pad.copy()
    cv2.floodFill(outside, None, (0, 0), 2)
    return (outside[1:-1, 1:-1] != 2)


def _jaw_line(lm: np.ndarray, length: float) -> np.ndarray:
    """The jaw's points on either side of the chin (68-point 5-7 and 9-11), moved ``JAW_IN``
    of the face length towards the nose tip."""
    pts = lm[[5, 6, 7, 9, 10, 11]].astype(np.float64)
    inward = lm[30] - pts
    inward /= np.maximum(np.linalg.norm(inward, axis=1, keepdims=True), 1e-6)
    return pts + JAW_IN * length * inward


def _along_jaw(labels: np.ndarray, jaw: np.ndarray, count: int) -> np.ndarray:
    """Per region of ``labels`` (bool, ``count``): whether it holds two or more of the jaw
    points on each side of the chin."""
    h, w = labels.shape
    sides = np.zeros((2, count), int)
    for i, (x, y) in enumerate(np.round(jaw).astype(int)):
        if 0 <= y < h and 0 <= x < w:
            sides[i // 3, labels[y, x]] += 1
    return (sides[0] >= 2) & (sides[1] >= 2)


def _chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log r/g, log b/g) per pixel and the luminance (Rec. 709 weights)."""
    eps = np.float32(1e-3)
    g = rgb[..., 1] + eps
    chroma = np.stack([np.log((rgb[..., 0] + eps) / g), np.log((rgb[..., 2] + eps) / g)], axis=2)
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return chroma.astype(np.float32), lum.astype(np.float32)


def _skin_model(image: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The plate's skin: median chromaticity and median luminance, on the nose, the cheeks and
    the forehead over the brows; None with fewer than 4 patches inside the image or skin too
    dark to read."""
    _, up, length = ws.face_frame(lm)
    brow = 0.5 * (lm[19] + lm[24])
    pts = np.array([
        lm[28], lm[29], lm[30],
        0.5 * (lm[41] + lm[31]), 0.5 * (lm[46] + lm[35]),  # upper cheeks
        0.5 * (lm[2] + lm[31]), 0.5 * (lm[14] + lm[35]),  # mid cheeks
        brow + 0.12 * length * up,  # forehead
    ])
    patches = [ws.unit_rgb(p).reshape(-1, 3) for p in ws.skin_patches(image, lm, pts)]
    if len(patches) < 4:
        return None
    pix = np.concatenate(patches)
    chroma, lum = _chroma(pix[None])
    chroma, lum = chroma[0], lum[0]
    level = float(np.median(lum))
    if level <= 1e-4:
        return None
    return np.median(chroma, axis=0).astype(np.float32), level


def _features(lm: np.ndarray, shape: tuple[int, int], length: float, strict: bool = False) -> np.ndarray:
    """The face's own not-skin parts (bool): eyes, brows, lips and mouth, nostrils, grown by
    4 % of the face length (lashes, lip liner, the brows' hairs); ``strict``: only the eyes
    and the mouth's opening, as they are."""
    mask = np.zeros(shape, np.uint8)
    if strict:
        for part in (lm[36:42], lm[42:48], lm[60:68]):
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(part).astype(np.int32)), 255)
        return mask > 0
    grow = max(1, round(0.04 * length))
    for brow in (lm[17:22], lm[22:27]):
        cv2.polylines(mask, [np.round(brow).astype(np.int32)], False, 255, 2 * grow + 1)
    for part in (lm[36:42], lm[42:48], lm[48:60], lm[30:36]):
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(part).astype(np.int32)), 255)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return mask > 0
