"""Per-frame outputs: where they go (``OutputLayout``), the face element and the record.

- comp: ``<root>/comp/<plate>.####.exr`` written with ``plateio.write_plate`` so it
  keeps the plate's format, channels, pixel type, windows, compression and
  metadata, plus ``recast/*`` attributes.
- element: ``<root>/element/<plate>_face.####.exr`` RGBA half, premultiplied,
  alpha = matte, data window = union of the swapped faces' matte boxes, display
  window = the plate's.
- record: ``<root>/records/<frame>.json`` (schema ``RECORD_SCHEMA``), atomic.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.atomic import atomic_write_json
from recast.pipeline.errors import PlateError

RECORD_SCHEMA = 1
RECORD_STATUSES = ("done", "passthrough", "failed")
TIMING_KEYS = ("read", "detect", "swap", "composite", "write", "total")


@dataclass(frozen=True)
class OutputLayout:
    """File names of one take's outputs under ``root``."""

    root: Path
    plate_name: str
    padding: int = 4

    def _num(self, frame: int) -> str:
        sign = "-" if frame < 0 else ""
        return f"{sign}{abs(int(frame)):0{self.padding}d}"

    def comp_path(self, frame: int) -> Path:
        return Path(self.root) / "comp" / f"{self.plate_name}.{self._num(frame)}.exr"

    def element_path(self, frame: int) -> Path:
        return Path(self.root) / "element" / f"{self.plate_name}_face.{self._num(frame)}.exr"

    def record_path(self, frame: int) -> Path:
        return Path(self.root) / "records" / f"{self._num(frame)}.json"

    @property
    def comp_pattern(self) -> str:
        return str(Path(self.root) / "comp" / f"{self.plate_name}.{'#' * self.padding}.exr")

    @property
    def element_pattern(self) -> str:
        return str(Path(self.root) / "element" / f"{self.plate_name}_face.{'#' * self.padding}.exr")


@dataclass(frozen=True)
class Box:
    """Integer half-open pixel box ``[x0, x1) x [y0, y1)``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def union(self, other: Box) -> Box:
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def as_list(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


def write_element(
    path: Path,
    rgb_premult: np.ndarray,
    alpha: np.ndarray,
    box: Box,
    display_window: tuple[int, int, int, int],
    attrs: dict[str, Any] | None = None,
) -> None:
    """Write the face element: RGBA half, premultiplied, data window = ``box``.

    ``rgb_premult`` (h, w, 3) and ``alpha`` (h, w) cover ``box`` given in image
    coordinates (the EXR's pixel space); ``display_window`` is (x, y, w, h).
    """
    import OpenImageIO as oiio

    from recast.pipeline.plateio import write_image

    if box.empty:
        raise PlateError(f"{path}: face element has an empty data window")
    h, w = box.height, box.width
    if rgb_premult.shape[:2] != (h, w) or alpha.shape != (h, w):
        raise PlateError(f"{path}: element pixels {rgb_premult.shape[:2]} do not match box {w}x{h}")
    pixels = np.concatenate([rgb_premult.reshape(h, w, 3), alpha.reshape(h, w, 1)], axis=2).astype(np.float32)
    spec = oiio.ImageSpec(w, h, 4, oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A")
    spec.alpha_channel = 3
    spec.x, spec.y = box.x0, box.y0
    dx, dy, dw, dh = display_window
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = dx, dy, dw, dh
    spec.attribute("compression", "zip")
    spec.attribute("oiio:UnassociatedAlpha", 0)
    for key, value in (attrs or {}).items():
        spec.attribute(key, value)
    write_image(path, pixels, spec)


def write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write_json(path, record)


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def base_record(frame: int, take: int, job: str | None, plate: Path, comp: Path) -> dict[str, Any]:
    """A record with every schema key present (status 'failed' until filled in)."""
    return {
        "schema": RECORD_SCHEMA,
        "frame": int(frame),
        "take": int(take),
        "status": "failed",
        "error": None,
        "job": job,
        "plate": str(Path(plate).resolve()),
        "comp": str(Path(comp).resolve()),
        "element": None,
        "actor": None,  # the first swapped face's actor (else the job's first); see "actors"
        "actors": [],  # every actor swapped into the frame, in face order (else the job's)
        "backend": None,
        "model_sha256": None,
        "consent_id": None,
        "settings": {},
        "licences": [],  # the face analyser's models: model, file, licence, commercial_use
        "coords": "image",  # boxes/landmarks in the EXR's pixel space (data window origin added)
        "faces": [],
        "tracks": {},  # per-track selection summary: actor, frames, votes, last distance and reason
        "stats": {"nan": 0, "inf": 0},
        "timings": {k: 0.0 for k in TIMING_KEYS},
        "created": now_iso(),
    }


def offset_face_json(entry: dict[str, Any], dx: int, dy: int) -> None:
    """Array coordinates -> the EXR's pixel space (data window origin added)."""
    if entry.get("box"):
        b = entry["box"]
        entry["box"] = [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
    for key in ("kps5", "landmarks"):
        if entry.get(key):
            entry[key] = [[p[0] + dx, p[1] + dy] for p in entry[key]]
    if entry.get("matte_box"):
        m = entry["matte_box"]
        entry["matte_box"] = [m[0] + dx, m[1] + dy, m[2] + dx, m[3] + dy]


def jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
