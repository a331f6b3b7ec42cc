"""Training inputs: actor footage (movie, image sequence or photos) and shot plates.

Every frame comes out as RGB float32 in [0, 1] in the space the swapper sees:

- plates and footage sequences (``shot.####.exr``, a folder of numbered frames) are
  read like the engine reads plates and converted to the working space
  (``pipeline.engine.analysis_view``), so dst faces match what the model gets at swap time;
- movies are decoded with the project's movie import into a PNG sequence in the working
  space, under the run's work folder (reused when the movie and frame list are unchanged);
- a folder of photos (or single photo files) is read display-referred, as actor builds do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from recast.models.hashing import sha256_file
from recast.models.images import IMAGE_EXTS, expand_images, load_rgb
from recast.pipeline.color import ColorContext
from recast.pipeline.errors import RecastError, TrainError
from recast.pipeline.sequence import PlateSequence

MOVIE_EXTS = frozenset({".mov", ".mp4", ".m4v", ".avi", ".mkv", ".mxf", ".webm", ".mpg", ".mpeg"})
Kind = Literal["movie", "sequence", "photos"]


@dataclass(frozen=True)
class InputFrame:
    path: Path
    frame: int | None  # frame number in its sequence/movie; None for photos
    plate: bool  # read as a plate (colour converted) rather than a display-referred photo


@dataclass
class ResolvedInput:
    spec: str
    kind: Kind
    frames: list[InputFrame]
    originals: list[Path] = field(default_factory=list)  # the files the user gave (hashed into the manifest)

    def hashes(self) -> list[dict[str, object]]:
        return [{"path": str(p.resolve()), "sha256": sha256_file(p), "size": p.stat().st_size} for p in self.originals]


def _is_movie(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in MOVIE_EXTS


def _has_frame_token(text: str) -> bool:
    return "#" in text or "%0" in text or "@" in text


def resolve_footage(spec: str, work: Path, frames: list[int] | None, color: ColorContext) -> ResolvedInput:
    """The actor footage: a MOVIE, a sequence PATTERN, or a DIR/file of photos."""
    path = Path(spec).expanduser()
    if _is_movie(path):
        return _movie(path, work, frames, color)
    if _has_frame_token(spec):
        return resolve_plate(spec, frames)
    try:
        files = expand_images([path])
    except RecastError as exc:
        raise TrainError(f"--actor-footage: {exc}") from None
    files = [p for p in files if p.suffix.lower() in IMAGE_EXTS]
    return ResolvedInput(spec, "photos", [InputFrame(p, None, False) for p in files], list(files))


def resolve_plate(spec: str, frames: list[int] | None) -> ResolvedInput:
    """A plate PATTERN or DIR (or one frame file), optionally limited to ``frames``."""
    try:
        seq = PlateSequence.open(spec)
        wanted = seq.select(frames)
    except RecastError as exc:
        raise TrainError(f"{spec}: {exc}") from None
    paths = [seq.path(f) for f in wanted]
    return ResolvedInput(spec, "sequence", [InputFrame(p, f, True) for p, f in zip(paths, wanted, strict=True)], paths)


def _movie(movie: Path, work: Path, frames: list[int] | None, color: ColorContext) -> ResolvedInput:
    from recast.pipeline.movie import ImportOptions, import_movie

    out_dir = work / "footage" / movie.stem
    marker = out_dir / "import.json"
    stat = movie.stat()
    key = {"movie": str(movie.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "frames": frames}
    written: list[int] | None = None
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text())
            if saved.get("key") == key and all((out_dir / f"{movie.stem}.{f:06d}.png").is_file() for f in saved["written"]):
                written = [int(f) for f in saved["written"]]
        except (OSError, ValueError, KeyError, TypeError):
            written = None
    if written is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        pattern = str(out_dir / f"{movie.stem}.######.png")
        try:
            report = import_movie(movie, ImportOptions(out_pattern=pattern, start=1, frames=frames), color)
        except RecastError as exc:
            raise TrainError(f"--actor-footage {movie}: {exc}") from None
        written = sorted(report.written)
        if not written:
            raise TrainError(f"--actor-footage {movie}: no frame could be decoded")
        marker.write_text(json.dumps({"key": key, "written": written}))
    items = [InputFrame(out_dir / f"{movie.stem}.{f:06d}.png", f, False) for f in written]
    return ResolvedInput(str(movie), "movie", items, [movie])


def load_frame(item: InputFrame, color: ColorContext, colorspace: str | None = None) -> np.ndarray:
    """RGB float32 [0, 1] in the swapper's space."""
    if not item.plate:
        try:
            return load_rgb(item.path)
        except RecastError as exc:
            raise TrainError(str(exc)) from None
    from recast.pipeline.composite.paste import PlateChannels
    from recast.pipeline.engine import analysis_view
    from recast.pipeline.faces.imageprep import sanitise
    from recast.pipeline.plateio import read_plate

    try:
        plate = read_plate(item.path)
        space = color.plate_space(plate, colorspace)
        rgb = sanitise(PlateChannels.of(plate).rgb(plate.pixels))
    except RecastError as exc:
        raise TrainError(str(exc)) from None
    return np.ascontiguousarray(analysis_view(color, space)(rgb), np.float32)


def iter_frames(source: ResolvedInput, color: ColorContext, colorspace: str | None = None) -> Iterator[tuple[InputFrame, np.ndarray]]:
    for item in source.frames:
        yield item, load_frame(item, color, colorspace)
