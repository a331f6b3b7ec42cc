"""The plate's own hair at the temples and beside the cheeks, kept out of the warp's matte.

The face outline the matte follows runs from the top of the jaw up to the forehead points
above the outer brows, and its feathered edge reaches past it. Where the plate's hair comes
down beside the face (hair over the temples, a fringe swept to the side, sideburns) the swap
painted the actor's skin over it: a soft skin-coloured smear in the plate's hair. The
forehead's hairline scan (``warp_shape.hairline_heights``) walks up from the brows and never
looks sideways.

Here the side of the face from the forehead down to the mouth corners' line, beyond the
brows' outer ends, as far as the matte reaches, is checked pixel by pixel against the plate's
skin (its median Lab on the nose bridge and upper cheeks; the hairline scan's distance and
threshold): what is clearly not skin there (hair, a hat's brim, glasses' arms) stays the
plate's, the matte lowered over it, feathered. Skin in shadow stays skin (lightness weighs half). The brow tails are left to the
feature fill (``warp_fill``), which paints them over.
"""

from __future__ import annotations

import cv2
import numpy as np
from recast.models.swappers import warp_shape as ws

NOT_SKIN = 18.0  # Lab distance (L weighed half) from the plate's skin: hair, not shaded skin
# the zone ends at the line through the mouth corners: hair hanging beside the cheeks (a bob,
# long hair, sideburns) is the plate's too; below it the jaw's own outline bounds the matte
BESIDE = 0.02  # the zone starts this far beyond the brows' outer ends, sideways
SPECK = 0.01  # not-skin specks smaller than this (of the length) are skin texture: dropped
FEATHER = 0.02  # Gaussian sigma of the kept hair's edge (of the length)


def temple_hair(
    image: np.ndarray, lm: np.ndarray, matte: np.ndarray, below_jaw: bool = True
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """How much of each pixel is the plate's hair at the temples (float32, 0..1) over the rows
    and columns ``(y0, y1, x0, x1)`` of the image it covers (zero elsewhere), or None when
    there is none (or the face's skin cannot be sampled).

    ``image``: the plate crop (RGB, working space); ``lm``: its 68 points; ``matte``: the swap's
    matte (the zone is where it reaches, its feathered edge included); ``below_jaw``: below the
    mouth corners' line the zone is what lies beyond the jaw's points (the face's silhouette)."""
    _, up, length = ws.face_frame(lm)
    if length < 8.0:
        return None
    side = lm[45] - lm[36]
    norm = float(np.hypot(*side))
    if norm < 1e-6:
        return None
    side = side / norm
    reach = matte > 0.02
    if not reach.any():
        return None
    rows, cols = np.nonzero(reach.any(axis=1))[0], np.nonzero(reach.any(axis=0))[0]
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    # the zone: above the line through the mouth corners and beside the brows' outer ends
    # (their tails are the feature fill's, not hair), where the matte reaches
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    centre = 0.5 * (lm[36] + lm[45])
    mouth_line = 0.5 * (lm[48] + lm[54])
    above = (xs - np.float32(mouth_line[0])) * np.float32(up[0]) + (ys - np.float32(mouth_line[1])) * np.float32(up[1]) > 0
    along = (xs - np.float32(centre[0])) * np.float32(side[0]) + (ys - np.float32(centre[1])) * np.float32(side[1])
    left = max(float((centre - lm[17]) @ side), 0.5 * norm) + BESIDE * length
    right = max(float((lm[26] - centre) @ side), 0.5 * norm) + BESIDE * length
    zone = reach[y0:y1, x0:x1] & above & ((along < -left) | (along > right))
    if below_jaw:
        # below that line, beyond the jaw's own points: the face's silhouette against what is
        # behind it (a background, a collar, the neck's shade) where the feathered matte spills
        jaw = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(jaw, [np.round((lm[ws.JAW] - [x0, y0]) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        zone |= reach[y0:y1, x0:x1] & ~above & (jaw == 0)
    if not zone.any():
        return None
    # only the zone's own box is read from here on (the sides of the face: a fraction of the crop)
    # (padded by the feather's reach, so the kept hair's edge fades out inside it)
    pad = int(np.ceil(3.0 * FEATHER * length)) + 1
    zr, zc = np.nonzero(zone.any(axis=1))[0], np.nonzero(zone.any(axis=0))[0]
    zy0, zx0 = max(0, int(zr[0]) - pad), max(0, int(zc[0]) - pad)
    zy1, zx1 = min(zone.shape[0], int(zr[-1]) + 1 + pad), min(zone.shape[1], int(zc[-1]) + 1 + pad)
    zone = zone[zy0:zy1, zx0:zx1]
    x0, y0 = x0 + zx0, y0 + zy0
    x1, y1 = x0 + zone.shape[1], y0 + zone.shape[0]
    region = ws.unit_rgb(image[y0:y1, x0:x1, :3])
    lab = cv2.blur(cv2.cvtColor(region, cv2.COLOR_RGB2Lab), (5, 5))
    skin = _skin_lab(image, lm)
    if skin is None:
        return None
    dist = np.linalg.norm((lab - skin) * np.array([0.5, 1.0, 1.0], np.float32), axis=2)
    hair = ((dist > NOT_SKIN) & zone).astype(np.uint8)
    r = max(1, round(SPECK * length))
    hair = cv2.morphologyEx(hair, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if not hair.any():
        return None
    soft = cv2.GaussianBlur(hair.astype(np.float32), (0, 0), max(0.5, FEATHER * length))
    soft *= np.float32(1.5)  # full weight inside the hair, feathered past it
    return np.clip(soft, 0.0, 1.0, out=soft), (y0, y1, x0, x1)


def _skin_lab(image: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
    """The plate's skin: median Lab (5 px box mean) on the nose bridge, between the eyes and on
    the upper cheeks (the hairline scan's reference points); None with fewer than 3 inside."""
    pts = np.array([lm[28], lm[29], 0.5 * (lm[39] + lm[42]), 0.5 * (lm[41] + lm[31]), 0.5 * (lm[46] + lm[35])])
    vals = []
    for patch in ws.skin_patches(image, lm, pts, 2):
        vals.append(cv2.cvtColor(ws.unit_rgb(patch), cv2.COLOR_RGB2Lab).reshape(-1, 3).mean(axis=0))
    if len(vals) < 3:
        return None
    return np.median(np.array(vals), axis=0)
