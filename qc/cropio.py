"""Read only the pixels QC needs: a box of an image, never more rows than it covers.

QC scores faces, so it reads the scanlines (or tiles) under a face box instead of
whole frames. Boxes are in display-window pixel coordinates (the same space as
the frame records' face boxes); pixels outside the file's data window read as 0
(an element's data window only covers its mattes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from recast.pipeline.errors import QCError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class ImageInfo:
    """What QC needs to know about a file before reading a region of it."""

    path: Path
    data_window: Box
    display_window: Box
    channels: list[str]
    attributes: dict[str, object]
    formats: frozenset[str] = frozenset()  # channel data formats ("half", "uint8", ...): the colour resolver's format default

    def index(self, names: tuple[str, ...]) -> int | None:
        low = [c.lower() for c in self.channels]
        for n in names:
            if n.lower() in low:
                return low.index(n.lower())
        return None

    @property
    def rgb(self) -> tuple[int, int, int]:
        idx = [self.index((n, f"rgba.{n}")) for n in ("R", "G", "B")]
        if all(i is not None for i in idx):
            return idx[0], idx[1], idx[2]  # type: ignore[return-value]
        if len(self.channels) >= 3:
            return 0, 1, 2
        return 0, 0, 0  # single channel: grey

    @property
    def alpha(self) -> int | None:
        return self.index(("A", "rgba.A", "alpha"))


def _open(path: Path) -> oiio.ImageInput:
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        msg = oiio.geterror().strip().splitlines()
        raise QCError(f"{path}: cannot open image ({msg[0] if msg else 'unknown format'})")
    return inp


def image_info(path: str | Path) -> ImageInfo:
    p = Path(path)
    if not p.is_file():
        raise QCError(f"{p}: image file not found")
    inp = _open(p)
    try:
        s = inp.spec()
        attrs = {a.name: a.value for a in s.extra_attribs}
        return ImageInfo(
            path=p,
            data_window=(s.x, s.y, s.x + s.width, s.y + s.height),
            display_window=(s.full_x, s.full_y, s.full_x + s.full_width, s.full_y + s.full_height),
            channels=list(s.channelnames),
            attributes=attrs,
            formats=frozenset(str(f) for f in s.channelformats) or frozenset({str(s.format)}),
        )
    finally:
        inp.close()


def clamp_box(box: Box, bounds: Box) -> Box:
    x0, y0, x1, y1 = box
    return max(x0, bounds[0]), max(y0, bounds[1]), min(x1, bounds[2]), min(y1, bounds[3])


def read_region(path: str | Path, box: Box, channels: tuple[int, ...] | None = None) -> np.ndarray:
    """Float32 (h, w, len(channels)) pixels of ``box``; zeros where the file has no data.

    ``channels`` are channel indices (default: all). Reads only the rows (or
    tiles) that intersect the box.
    """
    p = Path(path)
    if not p.is_file():
        raise QCError(f"{p}: image file not found")
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise QCError(f"{p}: empty region {box}")
    inp = _open(p)
    try:
        s = inp.spec()
        chans = tuple(range(s.nchannels)) if channels is None else tuple(channels)
        dw = (s.x, s.y, s.x + s.width, s.y + s.height)
        ix0, iy0, ix1, iy1 = clamp_box((x0, y0, x1, y1), dw)
        if ix1 <= ix0 or iy1 <= iy0:
            return np.zeros((y1 - y0, x1 - x0, len(chans)), np.float32)
        cmin, cmax = min(chans), max(chans) + 1
        # half channels are read as they are stored and only the box is converted to float32
        # (the same values: every half is a float32), not the whole width of the rows
        formats = list(s.channelformats)[cmin:cmax] or [s.format]
        fmt = oiio.HALF if all(f == oiio.HALF for f in formats) else oiio.FLOAT
        if s.tile_width > 0:
            tw, th = s.tile_width, s.tile_height
            tx0 = s.x + (ix0 - s.x) // tw * tw
            ty0 = s.y + (iy0 - s.y) // th * th
            tx1 = min(s.x + s.width, s.x + -(-(ix1 - s.x) // tw) * tw)
            ty1 = min(s.y + s.height, s.y + -(-(iy1 - s.y) // th) * th)
            pix = inp.read_tiles(0, 0, tx0, tx1, ty0, ty1, 0, 1, cmin, cmax, fmt)
            ox, oy = tx0, ty0
        else:
            pix = inp.read_scanlines(0, 0, iy0, iy1, 0, cmin, cmax, fmt)
            ox, oy = s.x, iy0
        if pix is None:
            msg = (inp.geterror() or oiio.geterror()).strip().splitlines()
            raise QCError(f"{p}: cannot read pixels ({msg[0] if msg else 'truncated or corrupt file'})")
        pix = np.asarray(pix).reshape(pix.shape[0], pix.shape[1], -1)
        sub = pix[iy0 - oy : iy1 - oy, ix0 - ox : ix1 - ox]
        if chans != tuple(range(cmin, cmax)):
            sub = sub[..., [c - cmin for c in chans]]
        if (ix0, iy0, ix1, iy1) == (x0, y0, x1, y1):
            return np.ascontiguousarray(sub, np.float32)  # the box lies inside the data: no padding, at most one copy
        out = np.zeros((y1 - y0, x1 - x0, len(chans)), np.float32)
        out[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = sub
        return out
    finally:
        inp.close()


def read_display_window(path: str | Path, channels: tuple[int, ...] | None = None) -> np.ndarray:
    """The whole display window (for thumbnails and movies only, never for scores)."""
    info = image_info(path)
    return read_region(path, info.display_window, channels)
