"""Display-referred thumbnails of plates and comps (reports, contact sheets, movies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recast.pipeline.errors import QCError
from recast.pipeline.color import PlateColour, PlateColours
from recast.qc.cropio import ImageInfo, clamp_box, image_info, read_region
from recast.qc.display import BakedDisplay

STATUS_BGR = {"pass": (90, 170, 60), "warn": (40, 170, 230), "fail": (50, 50, 220), "na": (128, 128, 128)}


@dataclass
class Thumbnailer:
    """Reads a whole frame, shrinks it and shows it through the (baked) display transform.

    The colour is the engine's: ``colour`` (a record's :class:`PlateColour`) when
    given to a call or to the thumbnailer, else decided from the file's header by the
    engine's resolver (a comp carries the plate's ``recast/colorspace``; a plate gets
    the job's ``colorspace`` setting, metadata, chromaticities or its format default).
    """

    width: int = 320
    job_space: str | None = None
    colour: PlateColour | None = None
    colours: PlateColours | None = field(default=None, repr=False)
    _displays: dict[PlateColour, BakedDisplay] = field(default_factory=dict, repr=False)

    def colour_of(self, path: str | Path, info: ImageInfo | None = None, colour: PlateColour | None = None) -> PlateColour:
        if self.colours is None:
            self.colours = PlateColours(self.job_space)
        if colour is not None or self.colour is not None:
            return colour or self.colour  # type: ignore[return-value]
        info = info or image_info(path)
        return self.colours.of_header(info.attributes, set(info.formats), path)

    def _display(self, colour: PlateColour) -> BakedDisplay:
        d = self._displays.get(colour)
        if d is None:
            assert self.colours is not None
            d = self._displays[colour] = BakedDisplay(colour, self.colours)
        return d

    def display_of(self, path: str | Path, colour: PlateColour | None = None) -> np.ndarray:
        """Full display-window RGB in [0, 1] (display transform applied after shrinking)."""
        info = image_info(path)
        raw = read_region(path, info.display_window, info.rgb)
        disp = self._display(self.colour_of(path, info, colour))
        h, w = raw.shape[:2]
        scale = min(1.0, self.width / max(w, 1))
        if scale < 1.0:
            size = (max(2, round(w * scale)), max(2, round(h * scale)))
            small = cv2.resize(raw, size, interpolation=cv2.INTER_AREA)
            if not np.isfinite(small).all():  # NaN/Inf pixels: cleaned before shrinking, as always
                small = cv2.resize(np.nan_to_num(raw), size, interpolation=cv2.INTER_AREA)
            raw = small
        return disp(raw)

    def _show(self, path: str | Path, raw: np.ndarray, info: ImageInfo, colour: PlateColour | None = None) -> np.ndarray:
        return self._display(self.colour_of(path, info, colour))(raw)

    def face_region(self, path: str | Path, box: list[float], height: int = 200, colour: PlateColour | None = None) -> np.ndarray:
        """The face box grown by half on each side, display-referred, ``height`` px tall."""
        info = image_info(path)
        x0, y0, x1, y1 = box
        mx, my = (x1 - x0) * 0.5, (y1 - y0) * 0.5
        region = clamp_box((int(x0 - mx), int(y0 - my), int(x1 + mx) + 1, int(y1 + my) + 1), info.display_window)
        if region[2] - region[0] < 2 or region[3] - region[1] < 2:
            raise QCError(f"{path}: face box {box} is outside the image")
        img = self._show(path, read_region(path, region, info.rgb), info, colour)
        w = max(2, round(img.shape[1] * height / img.shape[0]))
        return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)

    def triptych(self, plate: str | Path, comp: str | Path, box: list[float] | None = None, colour: PlateColour | None = None) -> np.ndarray:
        """plate | comp | difference (x4), uint8 RGB: the whole frame, or the face region when ``box`` is given.

        Both halves go through the plate's colour (``colour``, else decided from the plate file)."""
        colour = colour or self.colour_of(plate)
        if box is not None:
            a, b = self.face_region(plate, box, colour=colour), self.face_region(comp, box, colour=colour)
        else:
            a, b = self.display_of(plate, colour), self.display_of(comp, colour)
        if a.shape != b.shape:
            b = cv2.resize(b, (a.shape[1], a.shape[0]))
        diff = np.clip(np.abs(a - b) * 4.0, 0, 1)
        gap = np.ones((a.shape[0], 4, 3), np.float32)
        return to_u8(np.concatenate([a, gap, b, gap, diff], axis=1))


def to_u8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def png_bytes(rgb_u8: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def label(rgb_u8: np.ndarray, text: str, status: str | None = None) -> np.ndarray:
    """A caption bar under the image, coloured by QC status."""
    h, w = rgb_u8.shape[:2]
    bar = np.full((22, w, 3), 30, np.uint8)
    if status:
        b, g, r = STATUS_BGR.get(status, STATUS_BGR["na"])
        bar[:, :] = (r, g, b)
    img = np.ascontiguousarray(np.concatenate([rgb_u8, bar], axis=0))
    cv2.putText(img, text, (4, h + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return img
