"""One frame's working-space conversions, each plate pixel converted at most once.

Face analysis converts full-resolution crops of the frame (landmark and embedding crops
around each face) through OCIO, and compositing converts the swapped face's crop again
(the same pixels, a larger box). :class:`FrameView` is the analysis view of one frame
(``pipeline.engine.analysis_view``: the working-space encode clipped to [0, 1]) that
keeps the unclipped conversion of every full-resolution region of the frame it was asked
for, and serves later requests that overlap it from that copy: OCIO's CPU processor works
pixel by pixel, so a region converted on its own or as part of a larger one gives the same
bits (``tests/test_frameview.py``). Regions are recognised as views of the frame's own
buffer (same strides, an offset inside it); anything else (resampled windows, the
whole-frame downscale, sanitised copies) is converted as before. A region the caller
changes (a pasted face) is forgotten with :meth:`FrameView.forget`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Convert = Callable[[np.ndarray], np.ndarray]
MAX_KEPT = 8  # regions kept per frame (the faces' landmark crops; the oldest goes first)


@dataclass(frozen=True)
class Rect:
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def area(self) -> int:
        return max(0, self.y1 - self.y0) * max(0, self.x1 - self.x0)

    def meet(self, other: Rect) -> Rect:
        return Rect(max(self.y0, other.y0), min(self.y1, other.y1), max(self.x0, other.x0), min(self.x1, other.x1))

    def inside(self, other: Rect) -> bool:
        return self.y0 >= other.y0 and self.y1 <= other.y1 and self.x0 >= other.x0 and self.x1 <= other.x1


class FrameView:
    """The analysis view of ``frame`` (H, W, 3 float32, finite) for ``to_working`` (plate ->
    working space, a new float32 array): call it like ``analysis_view``'s function; compositing
    takes the unclipped conversion of a crop of the frame with :meth:`working`."""

    def __init__(self, frame: np.ndarray, to_working: Convert) -> None:
        self.frame = frame
        self._convert = to_working
        self._kept: list[tuple[Rect, np.ndarray]] = []
        self.converted_px = 0  # pixels this view sent through the conversion
        self.reused_px = 0  # pixels served from a kept region instead

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        rect = self._locate(rgb)
        out = self._convert(rgb) if rect is None else self._region(rect, keep=True)
        if rect is None:
            self.converted_px += rgb.size // 3
        # the analysis view: NaN -> 0, +Inf -> 1, -Inf -> 0 and the clip, in place
        np.fmax(out, np.float32(0.0), out=out)
        return np.fmin(out, np.float32(1.0), out=out)

    def working(self, rgb: np.ndarray) -> np.ndarray:
        """``to_working(rgb)`` (a new array, not clipped), from the kept regions where they cover it."""
        rect = self._locate(rgb)
        if rect is None:
            self.converted_px += rgb.size // 3
            return self._convert(rgb)
        return self._region(rect, keep=False)

    def forget(self, y0: int, y1: int, x0: int, x1: int) -> None:
        """The frame's pixels in rows ``y0:y1``, columns ``x0:x1`` changed: drop what overlaps them."""
        gone = Rect(y0, y1, x0, x1)
        self._kept = [(r, a) for r, a in self._kept if r.meet(gone).area == 0]

    # ------------------------------------------------------------------ internals
    def _locate(self, rgb: np.ndarray) -> Rect | None:
        """Where ``rgb`` lies in the frame, when it is a view of the frame's pixels."""
        f = self.frame
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.dtype != f.dtype or rgb.strides != f.strides:
            return None
        if rgb.shape[2] != f.shape[2] or rgb.size == 0:
            return None
        offset = rgb.__array_interface__["data"][0] - f.__array_interface__["data"][0]
        s0, s1 = f.strides[0], f.strides[1]
        if offset < 0 or s0 <= 0 or s1 <= 0:
            return None
        y0, rest = divmod(offset, s0)
        x0, left = divmod(rest, s1)
        h, w = rgb.shape[:2]
        if left or x0 + w > f.shape[1] or y0 + h > f.shape[0]:
            return None
        return Rect(y0, y0 + h, x0, x0 + w)

    def _region(self, rect: Rect, keep: bool) -> np.ndarray:
        """The unclipped conversion of ``rect`` as a new array: kept pixels copied, the rest converted."""
        best: tuple[Rect, np.ndarray] | None = None
        for r, arr in self._kept:
            if rect.inside(r):
                self.reused_px += rect.area
                return arr[rect.y0 - r.y0 : rect.y1 - r.y0, rect.x0 - r.x0 : rect.x1 - r.x0].copy()
            if rect.meet(r).area > (0 if best is None else rect.meet(best[0]).area):
                best = (r, arr)
        if best is None:
            out = self._convert(self.frame[rect.y0 : rect.y1, rect.x0 : rect.x1])
            self.converted_px += rect.area
        else:
            out = np.empty((rect.y1 - rect.y0, rect.x1 - rect.x0, self.frame.shape[2]), np.float32)
            r, arr = best
            m = rect.meet(r)
            out[m.y0 - rect.y0 : m.y1 - rect.y0, m.x0 - rect.x0 : m.x1 - rect.x0] = arr[
                m.y0 - r.y0 : m.y1 - r.y0, m.x0 - r.x0 : m.x1 - r.x0
            ]
            self.reused_px += m.area
            # the rest of the rectangle: the bands above and below the kept part, then beside it
            for band in (
                Rect(rect.y0, m.y0, rect.x0, rect.x1),
                Rect(m.y1, rect.y1, rect.x0, rect.x1),
                Rect(m.y0, m.y1, rect.x0, m.x0),
                Rect(m.y0, m.y1, m.x1, rect.x1),
            ):
                if band.area:
                    out[band.y0 - rect.y0 : band.y1 - rect.y0, band.x0 - rect.x0 : band.x1 - rect.x0] = self._convert(
                        self.frame[band.y0 : band.y1, band.x0 : band.x1]
                    )
                    self.converted_px += band.area
        if keep:
            self._kept.append((rect, out.copy()))
            del self._kept[:-MAX_KEPT]
        return out
