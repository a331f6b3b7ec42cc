"""Preview movies: plate | comp side by side at proxy resolution, with burn-ins.

Burn-ins: shot (the job's, from ``<out>/job.json``, else the plate's file
name), frame, take/version, QC status and a "SYNTHETIC" label on the comp half. Both halves go through the OCIO display transform. Frame rate comes
from the plate's metadata (``FramesPerSecond``), else the job settings, else
the option's default. Encoded with PyAV: H.264 (yuv420p, .mp4) or ProRes 422 HQ
(prores_ks, yuv422p10le, .mov).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from recast.pipeline.atomic import atomic_path
from recast.pipeline.color import PlateColour, PlateColours
from recast.pipeline.errors import QCError, RecastError
from recast.pipeline.progress import NoProgress, Progress
from recast.qc.cropio import image_info
from recast.qc.scoring import expected_frames, job_shot, load_records, scores_path
from recast.qc.thumbs import STATUS_BGR, Thumbnailer, to_u8

Codec = Literal["h264", "prores"]
CODECS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264": ("libx264", "yuv420p", {"crf": "20", "preset": "veryfast"}),
    "prores": ("prores_ks", "yuv422p10le", {"profile": "3"}),  # 422 HQ
}


@dataclass(frozen=True)
class MovieOptions:
    codec: Codec = "h264"
    proxy_width: int = 960  # width of each half
    fps: float | None = None  # override; else plate metadata, else job settings, else default_fps
    default_fps: float = 24.0
    take: int = 1
    version_label: str | None = None  # e.g. "v003"; default "take N"
    shot: str | None = None  # burn-in shot name; default the job's shot, else the plate's name


@dataclass(frozen=True)
class MovieInfo:
    path: Path
    frames: int
    fps: float
    size: tuple[int, int]
    codec: str


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def _fps_from(attrs: dict[str, Any]) -> Fraction | None:
    """The plate's ``FramesPerSecond`` (an EXR rational) exactly, when present and positive."""
    v = attrs.get("FramesPerSecond") or attrs.get("framesPerSecond")
    try:
        if isinstance(v, (tuple, list)) and len(v) == 2 and int(v[1]) and int(v[0]) > 0:
            return Fraction(int(v[0]), int(v[1]))
        if v is not None and float(v) > 0:
            return _rate(float(v))
    except (TypeError, ValueError):
        return None
    return None


def burn_in_shot(out: Path, plate: str | None, options: MovieOptions) -> str:
    """The shot to burn in: the option, else the job's (``job.json`` spec), else the plate file's name."""
    if options.shot:
        return options.shot
    shot = job_shot(out)
    if shot:
        return shot
    return Path(plate or "shot").name.split(".")[0]


def _burn(img: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int] = (255, 255, 255), scale: float = 0.6) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    cv2.rectangle(img, (x - 3, y - th - 4), (x + tw + 3, y + base + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _synthetic(img: np.ndarray, x0: int) -> None:
    text = "SYNTHETIC"
    scale = max(0.6, img.shape[0] / 500)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x, y = x0 + 10, 10 + th + 6
    cv2.rectangle(img, (x - 6, y - th - 8), (x + tw + 6, y + 8), (220, 40, 40), -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


def compose_frame(plate: np.ndarray, comp: np.ndarray | None, size: tuple[int, int], burn: dict[str, str], status: str) -> np.ndarray:
    """One movie frame (uint8 RGB): plate | comp, burn-ins, SYNTHETIC on the comp half."""
    w, h = size
    half = w // 2
    left = cv2.resize(to_u8(plate), (half, h), interpolation=cv2.INTER_AREA)
    right = np.zeros_like(left) if comp is None else cv2.resize(to_u8(comp), (half, h), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(np.concatenate([left, right], axis=1))
    if comp is None:
        _burn(img, "NO COMP", (half + half // 3, h // 2), (255, 80, 80), 1.0)
    _burn(img, f"{burn['shot']}  frame {burn['frame']}  {burn['version']}", (10, h - 12))
    _burn(img, "plate", (10, 24))
    b, g, r = STATUS_BGR.get(status, STATUS_BGR["na"])
    _burn(img, f"QC {status.upper()}", (half + 10, h - 12), (r, g, b))
    _synthetic(img, half)
    return img


def write_movie(out: str | Path, dest: str | Path, options: MovieOptions | None = None, progress: Progress | None = None) -> MovieInfo:
    """Encode the take's frames of job output ``out`` into ``dest`` (atomically)."""
    import av

    options = options or MovieOptions()
    if options.codec not in CODECS:
        raise QCError(f"--codec: {options.codec!r} is not one of {', '.join(CODECS)}")
    out, dest = Path(out), Path(dest)
    records = load_records(out, options.take)
    statuses: dict[int, str] = {}
    sp = scores_path(out, options.take)
    if sp.is_file():
        try:
            statuses = {int(f["frame"]): str(f["status"]) for f in json.loads(sp.read_text())["frames"]}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise QCError(f"{sp}: corrupt scores file") from None
    frames = sorted(records)
    first = records[frames[0]]
    if not first.get("plate") or not Path(first["plate"]).is_file():
        raise QCError(f"frame {frames[0]}: plate file missing ({first.get('plate')})")
    info = image_info(first["plate"])
    settings = first.get("settings") or {}
    fps: Fraction = (
        (_rate(options.fps) if options.fps else None)
        or _fps_from(info.attributes)
        or (_rate(float(settings["fps"])) if settings.get("fps") else None)
        or _rate(options.default_fps)
    )
    dw, dh = info.display_window[2] - info.display_window[0], info.display_window[3] - info.display_window[1]
    half = min(options.proxy_width, dw) // 2 * 2
    h = max(2, round(dh * half / dw) // 2 * 2)
    size = (2 * half, h)
    th = Thumbnailer(width=half, job_space=settings.get("colorspace"))
    codec, pix_fmt, opts = CODECS[options.codec]
    shot = burn_in_shot(out, first.get("plate"), options)
    version = options.version_label or f"take {options.take}"
    suffix = dest.suffix or (".mov" if options.codec == "prores" else ".mp4")
    dest = dest if dest.suffix else dest.with_suffix(suffix)
    n = 0
    bar = progress or NoProgress()
    todo = expected_frames(out, options.take, frames)
    bar.start(len(todo), f"movie take {options.take}")
    try:
        with atomic_path(dest) as tmp, av.open(str(tmp), "w") as container:
            stream = container.add_stream(codec, rate=fps)
            assert isinstance(stream, av.VideoStream)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
            stream.options = dict(opts)
            for frame in todo:
                rec = records.get(frame)
                plate_p = rec.get("plate") if rec else None
                colour = _record_colour(th, rec)  # the engine's decision, for both halves
                if not plate_p or not Path(plate_p).is_file():
                    plate = np.zeros((h, half, 3), np.float32)
                else:
                    plate = th.display_of(plate_p, colour)
                comp_p = rec.get("comp") if rec else None
                comp = th.display_of(comp_p, colour) if comp_p and Path(comp_p).is_file() else None
                status = statuses.get(frame, "unscored" if rec else "fail")
                img = compose_frame(plate, comp, size, {"shot": shot, "frame": str(frame), "version": version}, status)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                for pkt in stream.encode(vf):
                    container.mux(pkt)
                n += 1
                bar.advance()
            for pkt in stream.encode():
                container.mux(pkt)
    finally:
        bar.close()
    return MovieInfo(dest, n, float(fps), size, codec)


def _record_colour(th: Thumbnailer, rec: dict[str, Any] | None) -> PlateColour | None:
    """The record's plate colour (old records: the engine's resolver on its plate); None when undecidable."""
    if not rec:
        return None
    if th.colours is None:
        th.colours = PlateColours(th.job_space)
    try:
        return th.colours.of_record(rec)
    except RecastError:
        return None
