"""Display-referred thumbnails of plates and comps (reports, contact sheets, movies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recast.pipeline.errors import QCError
from recast.qc.cropio import clamp_box, image_info, read_region
from recast.qc.display import BakedDisplay, guess_space

STATUS_BGR = {"pass": (90, 170, 60), "warn": (40, 170, 230), "fail": (50, 50, 220), "na": (128, 128, 128)}


@dataclass
class Thumbnailer:
    """Reads a whole frame, shrinks it and shows it through the (baked) display transform."""

    width: int = 320
    job_space: str | None = None
    _display: BakedDisplay | None = field(default=None, repr=False)

    def display_of(self, path: str | Path) -> np.ndarray:
        """Full display-window RGB in [0, 1] (display transform applied after shrinking)."""
        info = image_info(path)
        raw = read_region(path, info.display_window, info.rgb)
        if self._display is None:
            self._display = BakedDisplay(guess_space(info.attributes, True, self.job_space))
        h, w = raw.shape[:2]
        scale = min(1.0, self.width / max(w, 1))
        if scale < 1.0:
            raw = cv2.resize(np.nan_to_num(raw), (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
        return self._display(raw)

    def _show(self, info_path: str | Path, raw: np.ndarray) -> np.ndarray:
        if self._display is None:
            info = image_info(info_path)
            self._display = BakedDisplay(guess_space(info.attributes, True, self.job_space))
        return self._display(raw)

    def face_region(self, path: str | Path, box: list[float], height: int = 200) -> np.ndarray:
        """The face box grown by half on each side, display-referred, ``height`` px tall."""
        info = image_info(path)
        x0, y0, x1, y1 = box
        mx, my = (x1 - x0) * 0.5, (y1 - y0) * 0.5
        region = clamp_box((int(x0 - mx), int(y0 - my), int(x1 + mx) + 1, int(y1 + my) + 1), info.display_window)
        if region[2] - region[0] < 2 or region[3] - region[1] < 2:
            raise QCError(f"{path}: face box {box} is outside the image")
        img = self._show(path, read_region(path, region, info.rgb))
        w = max(2, round(img.shape[1] * height / img.shape[0]))
        return cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA)

    def triptych(self, plate: str | Path, comp: str | Path, box: list[float] | None = None) -> np.ndarray:
        """plate | comp | difference (x4), uint8 RGB: the whole frame, or the face region when ``box`` is given."""
        if box is not None:
            a, b = self.face_region(plate, box), self.face_region(comp, box)
        else:
            a, b = self.display_of(plate), self.display_of(comp)
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
