"""PNG proxies with boxes, landmarks and track ids drawn on (for people to look at)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recast.pipeline.atomic import atomic_write_bytes
from recast.pipeline.errors import PlateError
from recast.pipeline.faces.imageprep import ToDisplay, as_rgb, downscale
from recast.pipeline.types import Face

_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
    (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
]


def track_colour(track_id: int | None) -> tuple[int, int, int]:
    return (200, 200, 200) if track_id is None else _PALETTE[(track_id - 1) % len(_PALETTE)]


def draw_faces(image: np.ndarray, faces: list[Face], *, to_display: ToDisplay | None = None, long_side: int = 1280) -> np.ndarray:
    """A display-referred uint8 RGB proxy (long side <= ``long_side``) with the faces drawn."""
    small = downscale(as_rgb(image), long_side, to_display)
    canvas = np.ascontiguousarray(small.pixels.copy())
    s = small.scale
    thick = max(1, round(max(canvas.shape[:2]) / 640))
    for f in faces:
        col = track_colour(f.track_id)
        x0, y0, x1, y1 = (round(float(v) * s) for v in f.box)
        dashed = f.source == "propagated"
        if dashed:
            for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
                _dashed_line(canvas, a, b, col, thick)
        else:
            cv2.rectangle(canvas, (x0, y0), (x1, y1), col, thick, cv2.LINE_AA)
        if f.landmarks is not None:
            for x, y in np.asarray(f.landmarks) * s:
                cv2.circle(canvas, (round(float(x)), round(float(y))), thick, col, -1, cv2.LINE_AA)
        for x, y in np.asarray(f.kps5) * s:
            cv2.circle(canvas, (round(float(x)), round(float(y))), thick + 2, (255, 255, 255), thick, cv2.LINE_AA)
        label = f"#{f.track_id if f.track_id is not None else '?'} {f.score:.2f}" + (" prop" if dashed else "")
        cv2.putText(canvas, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, col, thick, cv2.LINE_AA)
    return canvas


def _dashed_line(img: np.ndarray, a: tuple[int, int], b: tuple[int, int], col: tuple[int, int, int], thick: int) -> None:
    pa, pb = np.array(a, float), np.array(b, float)
    n = max(1, int(np.linalg.norm(pb - pa) // 8))
    for i in range(0, n, 2):
        p = pa + (pb - pa) * i / n
        q = pa + (pb - pa) * min(i + 1, n) / n
        cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), col, thick, cv2.LINE_AA)


def write_overlay(path: Path, image: np.ndarray, faces: list[Face], *, to_display: ToDisplay | None = None) -> None:
    """Draw and write a PNG atomically."""
    rgb = draw_faces(image, faces, to_display=to_display)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise PlateError(f"{path}: cannot encode overlay PNG")
    atomic_write_bytes(path, data.tobytes())
