"""Per-frame outputs: where they go (``OutputLayout``), the face element and the record.

- comp: ``<root>/comp/<plate>.####.exr`` written with ``plateio.write_plate`` so it
  keeps the plate's format, channels, pixel type, windows, compression and
  metadata, plus ``recast/*`` attributes; an EXR comp is spliced from the plate file's own
  chunks where no face was pasted (:mod:`recast.pipeline.exrsplice`).
- element: ``<root>/element/<plate>_face.####.exr`` RGBA half, premultiplied,
  alpha = matte, data window = union of the swapped faces' matte boxes, display
  window = the plate's.
- record: ``<root>/records/<frame>.json`` (:mod:`recast.pipeline.schema.record`), validated, atomic.

Paths come from the schema's layout (:mod:`recast.pipeline.schema.layout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.atomic import atomic_write_json
from recast.pipeline.errors import OutputError, PlateError, os_cause
from recast.pipeline.schema.layout import OutputLayout
from recast.pipeline.schema.record import RECORD_SCHEMA, RECORD_STATUSES, TIMING_KEYS, check_record, new_record, now_iso

__all__ = ["RECORD_SCHEMA", "RECORD_STATUSES", "TIMING_KEYS", "Box", "OutputLayout", "base_record", "jsonable", "now_iso",
           "offset_face_json", "write_element", "write_record"]



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


def embeddings_sidecar(record_path: Path) -> Path:
    """``<take>/embeddings/<frame>.json`` beside ``<take>/records/<frame>.json`` (``OutputLayout.embeddings_path``).

    The engine's identity embeddings of the plate faces it tracked, one file per frame,
    for QC (which then does not embed the plate faces again). Records never hold
    embeddings; the sidecars live only in the take's output folder and are deleted with
    it, or on their own by ``recast job purge JOB`` (every take of a job).
    """
    return Path(record_path).parent.parent / "embeddings" / Path(record_path).name


def read_embeddings(record_path: Path) -> dict[int, tuple[np.ndarray, str]]:
    """Face index in the record -> (embedding, kind) from the frame's sidecar; {} when absent or unreadable."""
    import json

    try:
        doc = json.loads(embeddings_sidecar(record_path).read_text())
        return {
            int(e["index"]): (np.asarray(e["embedding"], np.float64), str(e["kind"]))
            for e in doc.get("faces", [])
            if e.get("embedding") and e.get("kind")
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Validate ``record`` against the schema (:class:`FrameRecord`), then write it atomically;
    OutputError naming the record and the OS cause (EACCES, ENOSPC, EROFS) when it cannot be."""
    checked = check_record(record)
    try:
        atomic_write_json(path, checked)
    except OSError as exc:
        exc.filename = None
        raise OutputError(f"{path}: cannot write record ({os_cause(exc)})") from None


def write_black(comp: Path, like: Path, attrs: dict[str, Any]) -> Any:
    """A black comp for a frame missing on disk (``missing: black``, like Nuke's Read): zeros
    in the format of the plate file ``like`` (size, windows, channels; an alpha is 0 too).
    Returns :func:`write_plate`'s report."""
    from recast.pipeline.plateio import read_plate, write_plate

    plate = read_plate(like)
    return write_plate(comp, plate, np.zeros_like(plate.pixels), attrs=attrs)


def base_record(frame: int, take: int, job: str | None, plate: Path, comp: Path) -> dict[str, Any]:
    """A record with every schema key present (status 'failed' until filled in)."""
    return new_record(frame, take, job, Path(plate).resolve(), Path(comp).resolve())


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
