"""Turning a plate array into what face models see: sanitised, display-referred uint8.

Models never see NaN/Inf and never see the full-resolution frame for detection:
``downscale`` shrinks first (NaNs stay local), then sanitises the small copy;
``Crop`` cuts a loose full-resolution window around a face and converts only it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from recast.pipeline.errors import PlateError
from recast.pipeline.finite import sanitise

ToDisplay = Callable[[np.ndarray], np.ndarray]


def as_rgb(image: np.ndarray, where: str = "image") -> np.ndarray:
    """View/convert any plate-like array to (H, W, 3) float32 (greyscale replicated, alpha dropped)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise PlateError(f"{where}: expected an (H, W) or (H, W, C) image, got shape {tuple(np.shape(image))}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    c = arr.shape[2]
    if c == 1:
        return np.repeat(arr, 3, axis=2)
    if c == 2:  # luminance + alpha
        return np.repeat(arr[:, :, :1], 3, axis=2)
    return arr[:, :, :3]


def default_to_display(rgb: np.ndarray) -> np.ndarray:
    return np.clip(sanitise(rgb), 0.0, 1.0)


def to_uint8(rgb: np.ndarray, to_display: ToDisplay | None) -> np.ndarray:
    """Sanitise, map to display, clip and quantise to contiguous uint8 RGB.

    ``to_display`` gets a finite float32 array it must not change (when the input is
    all finite, that is the caller's own array, not a copy) and returns a new one, which is
    scaled in place (no second full-size temporary).
    NaN out of it reads 0, +Inf 255, -Inf 0 (``fmax``/``fmin`` do that and the clip in one
    pass each: the same bytes as ``nan_to_num`` then ``clip``, without their copies).
    """
    arr = np.asarray(rgb, dtype=np.float32)
    if not all_finite(arr):
        arr = sanitise(arr)
    disp = to_display(arr) if to_display is not None else arr
    if isinstance(disp, np.ndarray) and disp.dtype == np.float32 and disp.flags.writeable and not np.may_share_memory(disp, arr):
        out = np.multiply(disp, np.float32(255.0), out=disp)  # the map's new array: scaled where it is
    else:
        out = np.multiply(np.asarray(disp, dtype=np.float32), np.float32(255.0))
    out += np.float32(0.5)
    np.fmax(out, np.float32(0.0), out=out)
    np.fmin(out, np.float32(255.0), out=out)
    return np.ascontiguousarray(out.astype(np.uint8))


def all_finite(arr: np.ndarray) -> bool:
    """True when ``arr`` holds no NaN/Inf: its sum is finite only then (or it overflowed,
    which the exact check below settles), at the cost of one read and no full-size mask."""
    if arr.size == 0:
        return True
    # a view of the plate's RGB in its RGBA buffer sums fastest with the buffer's own layout
    # (its other channels only add terms: a non-finite one sends this to the exact check)
    wide = None if arr.flags.c_contiguous or arr.ndim != 3 else _pixel_layout(arr)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite((arr if wide is None else wide[0]).sum()):
            return True
    return bool(np.isfinite(arr).all())


@dataclass(frozen=True)
class Downscaled:
    """A detection copy and its scale: full-res coordinate = small coordinate / scale."""

    pixels: np.ndarray  # uint8 RGB
    scale: float


@dataclass(frozen=True)
class Shrunk:
    """The plate's analysis pixels resampled for the whole-frame detection downscale, before
    any colour mapping (float32, as the plate): what :func:`downscale` maps to display. Made
    ahead, on a reader's thread, it saves the compute thread the full-frame resample."""

    pixels: np.ndarray  # float32 RGB, (h, w, 3) at ``scale``
    scale: float
    long_side: int  # the detect size it was made for
    shape: tuple[int, int]  # the full-resolution (H, W) it came from


def shrink(rgb: np.ndarray, long_side: int) -> Shrunk:
    """``rgb`` resampled (area average) so its long side is at most ``long_side``."""
    h, w = rgb.shape[:2]
    scale = min(1.0, float(long_side) / float(max(h, w)))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = resize(rgb, size, cv2.INTER_AREA)
        scale = size[0] / float(w)
    else:
        small = rgb
    return Shrunk(small, scale, int(long_side), (h, w))


def downscale(rgb: np.ndarray, long_side: int, to_display: ToDisplay | None, shrunk: Shrunk | None = None) -> Downscaled:
    """The display-referred uint8 detection copy of ``rgb``; ``shrunk``: its resample made
    ahead (:func:`shrink` of the same pixels), used when it was made for this size."""
    if shrunk is None or shrunk.long_side != int(long_side) or shrunk.shape != tuple(rgb.shape[:2]):
        shrunk = shrink(rgb, long_side)
    return Downscaled(to_uint8(shrunk.pixels, to_display), shrunk.scale)


def resize(rgb: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """``cv2.resize`` of an (H, W, 3) float32 image to ``size`` (w, h) without copying a view.

    The analysis pixels are usually a view of the plate's RGB inside its RGBA buffer:
    OpenCV would copy such a view whole first. Resampled with the buffer's own pixel
    layout (all its channels, row stride kept) nothing is copied; the colour channels
    are cut from the small result. Other layouts go one channel at a time.
    """
    if rgb.flags.c_contiguous or (rgb.strides[2] == rgb.itemsize and rgb.strides[1] == 3 * rgb.itemsize):
        return cv2.resize(rgb, size, interpolation=interpolation)
    wide = _pixel_layout(rgb)
    if wide is not None:
        full, first = wide
        return np.ascontiguousarray(cv2.resize(full, size, interpolation=interpolation)[..., first : first + 3])
    return np.stack(
        [cv2.resize(np.ascontiguousarray(rgb[..., c]), size, interpolation=interpolation) for c in range(rgb.shape[2])],
        axis=2,
    )


def _pixel_layout(rgb: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(view, k)``: ``view`` covers the same pixels as ``rgb`` with every channel of its
    buffer (at most 4, contiguous within a pixel) and ``rgb == view[..., k:k+3]``."""
    owner = rgb
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    item = rgb.itemsize
    if owner.dtype != rgb.dtype or owner.ndim != 3 or not owner.flags.c_contiguous or rgb.strides[2] != item:
        return None
    oh, ow, oc = owner.shape
    if oc > 4 or rgb.strides[1] != oc * item or rgb.strides[0] != ow * oc * item:
        return None
    offset = rgb.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    if offset < 0 or offset % item:
        return None
    y, rest = divmod(offset // item, ow * oc)
    x, k = divmod(rest, oc)
    h, w = rgb.shape[:2]
    if k + 3 > oc or y + h > oh or x + w > ow:
        return None
    return owner[y : y + h, x : x + w], int(k)


@dataclass(frozen=True)
class Crop:
    """A window of the full-res image (clamped to it), converted to uint8 and maybe shrunk.

    ``to_crop(p) = (p - origin) * scale`` and ``to_image(q) = q / scale + origin``.
    """

    pixels: np.ndarray  # uint8 RGB
    origin: tuple[int, int]  # x0, y0 in full-res pixels
    scale: float

    def to_crop(self, pts: np.ndarray) -> np.ndarray:
        return (np.asarray(pts, np.float64) - np.asarray(self.origin, np.float64)) * self.scale

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        return np.asarray(pts, np.float64) / self.scale + np.asarray(self.origin, np.float64)


def window(rgb: np.ndarray, box: np.ndarray, scale: float, to_display: ToDisplay | None) -> Crop | None:
    """The part of ``rgb`` under ``box`` (clamped to the image) resampled by ``scale``."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    if not np.isfinite([x0, y0, x1, y1, scale]).all() or scale <= 0:
        return None
    cx0, cy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    cx1, cy1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return None
    pixels = rgb[cy0:cy1, cx0:cx1]
    if abs(scale - 1.0) > 1e-6:
        size = (max(2, round((cx1 - cx0) * scale)), max(2, round((cy1 - cy0) * scale)))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        pixels = resize(pixels, size, interp)
        scale = size[0] / float(cx1 - cx0)
    return Crop(to_uint8(pixels, to_display), (cx0, cy0), float(scale))


def crop_around(
    rgb: np.ndarray,
    box: np.ndarray,
    margin: float,
    max_face: int,
    to_display: ToDisplay | None,
) -> Crop | None:
    """Loose crop around ``box`` (x0, y0, x1, y1), shrunk when the face exceeds ``max_face``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = x1 - x0, y1 - y0
    if not np.isfinite([x0, y0, x1, y1]).all() or bw <= 0 or bh <= 0:
        return None
    grown = np.array([x0 - margin * bw, y0 - margin * bh, x1 + margin * bw, y1 + margin * bh])
    return window(rgb, grown, min(1.0, float(max_face) / max(bw, bh)), to_display)
