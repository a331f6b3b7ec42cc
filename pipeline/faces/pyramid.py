"""Small faces at any plate size: a detection pyramid of overlapping tiles.

A detector finds faces in a size range of its own input pixels
(``DetectorRange``: dlib's HOG from about 64 px up, BlazeFace about 24-140 px in
a 192 px tile). ``min_face`` (plate pixels) fixes the finest level's scale so
the smallest wanted face lands at the detector's minimum; coarser levels follow
by the range's ratio down to the whole-frame downscale (``detect_size``). Each
level is cut into tiles that overlap by the largest face the level is meant to
find, so no face of the level's range is cut in every tile. Tiles at the frame
edge reach past it (edge pixels repeated), so a face cut by the frame edge is
still seen whole enough to be found.

Only the tiles are resampled and converted to display (never a whole upscaled
frame), so peak memory stays at one tile; a tile is converted at the smaller of
its own and the plate's resolution (a level finer than the plate is converted
first and upscaled as uint8).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recast.pipeline.faces.imageprep import ToDisplay, resize, to_uint8


@dataclass(frozen=True)
class DetectorRange:
    """Face sizes (detector input px) a backend finds, and the tile it wants."""

    min_px: float  # smallest face box it finds reliably
    tile: int  # tile side in detector px (a fixed-input model: its input size)
    level_ratio: float  # face-size range one level covers (coarser level = scale / ratio)
    fixed_input: bool = False  # True: every image is letterboxed to ``tile`` (level 0 too)
    # pyramid detections below this score are dropped (small faces draw more false hits)
    tile_min_score: float = float("-inf")
    # pyramid hits from this score up to the floor get a second look in a window around them
    # (at ``region_face_size``); one that clears the floor there is kept (inf: no second looks)
    second_look_score: float = float("inf")
    max_levels: int = 8


@dataclass(frozen=True)
class Tile:
    """One tile: the plate box it covers (may reach past the frame) and its scale."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in plate pixels
    scale: float  # detector px per plate px
    level: int
    max_face: float = float("inf")  # plate px: larger faces are the coarser level's to find


def whole_scale(shape: tuple[int, int], detect_size: int, rng: DetectorRange) -> float:
    """Level 0's scale: the whole-frame downscale (a fixed-input detector's own size)."""
    side = rng.tile if rng.fixed_input else detect_size
    return min(1.0, float(side) / float(max(shape)))


def level_scales(shape: tuple[int, int], detect_size: int, min_face: int, rng: DetectorRange) -> list[float]:
    """Scales (detector px per plate px), coarsest first; the first is level 0 (whole frame)."""
    s0 = whole_scale(shape, detect_size, rng)
    if min_face <= 0:
        return [s0]
    finest = rng.min_px / float(min_face)
    fine: list[float] = []
    s = finest
    while s > s0 * 1.0001 and len(fine) < rng.max_levels:
        fine.append(s)
        s /= rng.level_ratio
    return [s0, *sorted(fine)]


def pyramid_tiles(shape: tuple[int, int], detect_size: int, min_face: int, rng: DetectorRange) -> list[Tile]:
    """Every tile of levels 1.. (level 0, the whole frame, is the caller's downscale)."""
    scales = level_scales(shape, detect_size, min_face, rng)
    out: list[Tile] = []
    for level in range(1, len(scales)):
        out.extend(tiles_for(shape, scales[level], scales[level - 1], rng, level))
    return out


def tiles_for(shape: tuple[int, int], scale: float, coarser: float, rng: DetectorRange, level: int) -> list[Tile]:
    """Overlapping tiles covering the frame at ``scale``. Neighbours overlap by the largest
    face the next coarser level cannot find, so every face of this level's range lies whole
    in some tile; edge tiles reach half a minimum face past the frame (faces cut by the edge)."""
    h, w = shape
    side = rng.tile / scale  # tile side in plate px
    overlap = min(0.75 * side, 1.2 * rng.min_px * (scale / coarser) / scale)
    pad = 0.5 * rng.min_px / scale
    x_lo, y_lo, x_hi, y_hi = -pad, -pad, w + pad, h + pad

    def starts(lo: float, hi: float) -> tuple[list[float], float]:
        span = hi - lo
        if span <= side:  # one tile across: no wider than the frame (+ pad) on that axis
            return [lo], span
        if rng.fixed_input:  # tiles of exactly the model's input, spread evenly
            stride = max(side - overlap, 1.0)
            n = int(np.ceil((span - side) / stride)) + 1
            step = (span - side) / (n - 1)
            return [lo + i * step for i in range(n)], side
        # the fewest tiles of at most ``side`` that overlap by ``overlap``, shrunk to fit
        # exactly (no wider overlap than needed: every extra pixel is detector time)
        n = int(np.ceil((span - overlap) / max(side - overlap, 1.0) - 1e-9))
        size = (span + (n - 1) * overlap) / n
        return [lo + i * (size - overlap) for i in range(n)], size

    xs, tw = starts(x_lo, x_hi)
    ys, th = starts(y_lo, y_hi)
    reach = 1.3 * rng.min_px / coarser
    return [Tile((x, y, x + tw, y + th), scale, level, reach) for y in ys for x in xs]


def render_tile(rgb: np.ndarray, tile: Tile, to_display: ToDisplay | None) -> np.ndarray:
    """The tile's pixels as uint8 RGB at the tile's scale; past the frame, edge pixels repeat."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = tile.box
    ow, oh = max(2, round((x1 - x0) * tile.scale)), max(2, round((y1 - y0) * tile.scale))
    sx, sy = ow / (x1 - x0), oh / (y1 - y0)
    cx0, cy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    cx1, cy1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return np.zeros((oh, ow, 3), np.uint8)
    part = rgb[cy0:cy1, cx0:cx1]
    fx = fy = 1.0
    if sx < 1.0:  # shrink first with area averaging (no aliasing), then place
        pw, ph = max(2, round((cx1 - cx0) * sx)), max(2, round((cy1 - cy0) * sy))
        part = resize(part, (pw, ph), cv2.INTER_AREA)
        fx, fy = pw / float(cx1 - cx0), ph / float(cy1 - cy0)
    # the display map and quantising run on the source pixels (shrunk when the level
    # shrinks), never on an upscaled tile: a finer level than the plate costs its plate px
    src = to_uint8(part, to_display)
    # tile px t -> part px: (t / s + x0 - cx0) * f
    m = np.array([[fx / sx, 0.0, (x0 - cx0) * fx], [0.0, fy / sy, (y0 - cy0) * fy]], np.float64)
    return cv2.warpAffine(src, m, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


__all__ = ["DetectorRange", "Tile", "level_scales", "pyramid_tiles", "render_tile", "tiles_for", "whole_scale"]
