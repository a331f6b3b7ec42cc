"""Movie import: decode a movie with PyAV into an EXR (half, scene-linear) or PNG plate.

- EXR output: RGB half, linearised through OCIO from the movie's colourspace into the
  config's scene-linear Rec.709; ``recast/colorspace`` records it.
- PNG output: RGB 16-bit in the working space (sRGB), so 8-bit sources stay exact.
- The movie's colourspace: ``--colorspace`` if given, else from the stream's transfer
  characteristic (BT.709 / SMPTE 170M / unspecified -> ``Camera Rec.709``, sRGB ->
  ``sRGB Encoded Rec.709 (sRGB)``, gamma 2.2 -> ``Gamma 2.2 Encoded Rec.709``); other
  transfers (PQ, HLG, ...) need ``--colorspace``.
- Frame rate (``FramesPerSecond``, rational), timecode (``smpte:TimeCode`` plus
  ``recast/timecode`` text) and pixel aspect (``PixelAspectRatio``, for anamorphic
  movies) are written per frame when the movie has them.
- Frame numbers: output frame = ``start`` + the frame's index in presentation order
  (from packet timestamps, so a frame lost in a damaged movie leaves a gap rather
  than shifting later frames). Frames that fail to decode, decode flagged corrupt,
  or that the header promises but the file lacks are reported as bad; every good
  frame is still written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.color import ColorContext
from recast.pipeline.errors import ColorError, PlateError
from recast.pipeline.plateio import new_spec, write_image
from recast.pipeline.sequence import FrameTemplate, output_pattern

OUTPUT_TYPES = {".exr": "half", ".png": "uint16"}

# FFmpeg AVColorTransferCharacteristic -> config colourspace candidates
_TRC_SPACES: dict[int, tuple[str, ...]] = {
    1: ("Camera Rec.709", "rec709_camera", "Utility - Rec.709 - Camera"),  # BT.709
    2: ("Camera Rec.709", "rec709_camera", "Utility - Rec.709 - Camera"),  # unspecified: video default
    6: ("Camera Rec.709", "rec709_camera", "Utility - Rec.709 - Camera"),  # SMPTE 170M (same OETF)
    4: ("Gamma 2.2 Encoded Rec.709", "g22_rec709"),  # BT.470 M (gamma 2.2)
    13: ("sRGB Encoded Rec.709 (sRGB)", "srgb_tx"),  # IEC 61966-2-1
}
_TRC_NAMES = {
    0: "reserved",
    5: "gamma 2.8",
    7: "SMPTE 240M",
    8: "linear",
    14: "BT.2020 10-bit",
    15: "BT.2020 12-bit",
    16: "PQ (SMPTE 2084)",
    18: "HLG",
}

_TC_RE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.])(\d{2,3})$")


@dataclass(frozen=True)
class ImportOptions:
    out_pattern: str
    colorspace: str | None = None  # the MOVIE's colourspace; None = from its transfer
    start: int = 1001
    frames: list[int] | None = None  # output frame numbers to keep (None = all)
    compression: str = "zip"


@dataclass
class BadFrame:
    frame: int | None
    error: str
    kind: str = "decode"  # decode | corrupt | absent | write

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "kind": self.kind, "error": self.error}


@dataclass
class ImportReport:
    movie: Path
    out_pattern: str
    width: int = 0
    height: int = 0
    fps: str | None = None
    timecode: str | None = None
    source_colorspace: str = ""
    colorspace: str = ""
    written: list[int] = field(default_factory=list)
    bad: list[BadFrame] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.bad and bool(self.written)

    def to_json(self) -> dict[str, Any]:
        return {
            "movie": str(self.movie),
            "out": self.out_pattern,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "timecode": self.timecode,
            "source_colorspace": self.source_colorspace,
            "colorspace": self.colorspace,
            "written": self.written,
            "bad": [b.to_json() for b in self.bad],
            "warnings": self.warnings,
            "clean": self.clean,
        }


# -- timecode -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timecode:
    """SMPTE timecode at an integer nominal rate (drop-frame for 29.97/59.94)."""

    frames: int  # frame count since 00:00:00:00
    rate: int  # nominal frames per second (24, 25, 30, ...)
    drop: bool = False

    @classmethod
    def parse(cls, text: str, fps: Fraction) -> Timecode:
        m = _TC_RE.match(text.strip())
        if not m:
            raise PlateError(f"timecode {text!r}: expected HH:MM:SS:FF")
        hh, mm, ss, sep, ff = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), int(m.group(5))
        rate = max(1, round(float(fps)))
        drop = sep in ";." and rate in (30, 60)
        if mm > 59 or ss > 59 or ff >= rate:
            raise PlateError(f"timecode {text!r}: out of range for {rate} fps")
        total_minutes = hh * 60 + mm
        count = (total_minutes * 60 + ss) * rate + ff
        if drop:
            per = rate // 15  # 2 frame numbers dropped per minute at 30, 4 at 60
            count -= per * (total_minutes - total_minutes // 10)
        return cls(count, rate, drop)

    def __add__(self, n: int) -> Timecode:
        return Timecode(self.frames + n, self.rate, self.drop)

    def fields(self) -> tuple[int, int, int, int]:
        count, rate = self.frames, self.rate
        if self.drop:
            per = rate // 15
            per_10min = rate * 600 - per * 9
            per_min = rate * 60 - per
            tens, rem = divmod(count, per_10min)
            count += per * 9 * tens + (per * ((rem - per) // per_min) if rem > per else 0)
        ff = count % rate
        ss = count // rate % 60
        mm = count // (rate * 60) % 60
        hh = count // (rate * 3600) % 24
        return hh, mm, ss, ff

    def __str__(self) -> str:
        hh, mm, ss, ff = self.fields()
        return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if self.drop else ':'}{ff:02d}"

    def smpte(self) -> tuple[int, int]:
        """(packed BCD time-and-flags, user bits) as the EXR ``timeCode`` attribute stores it."""
        hh, mm, ss, ff = self.fields()

        def bcd(v: int) -> int:
            return ((v // 10) << 4) | (v % 10)

        packed = bcd(ff) | (bcd(ss) << 8) | (bcd(mm) << 16) | (bcd(hh) << 24)
        if self.drop:
            packed |= 1 << 6
        return packed, 0


# -- colour ---------------------------------------------------------------------------------
def movie_space(color: ColorContext, trc: int | None, override: str | None) -> str:
    if override:
        return color.resolve(override)
    code = int(trc) if trc is not None else 2
    candidates = _TRC_SPACES.get(code)
    if candidates is None:
        name = _TRC_NAMES.get(code, f"code {code}")
        raise ColorError(f"movie transfer {name} has no default colourspace; pass --colorspace NAME")
    for name in candidates:
        if color.has(name):
            return color.resolve(name)
    raise ColorError(f"OCIO config {color.config_name} has none of {', '.join(candidates)}; pass --colorspace NAME")


# -- decode ---------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _open_container(movie: Path) -> Any:
    import av

    if not movie.exists():
        raise PlateError(f"{movie}: file not found")
    if movie.is_dir():
        raise PlateError(f"{movie}: is a directory, not a movie")
    if not movie.is_file():  # a FIFO or device would block
        raise PlateError(f"{movie}: not a regular file")
    if movie.stat().st_size == 0:
        raise PlateError(f"{movie}: empty file")
    try:
        container = av.open(str(movie), "r", timeout=30.0)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlateError(f"{movie}: not a readable movie ({_first_line(exc)})") from None
    if not container.streams.video:
        container.close()
        raise PlateError(f"{movie}: no video stream")
    return container


def _presentation_index(movie: Path) -> tuple[dict[int, int], int]:
    """Map packet pts -> presentation index (pre-pass over packets, no decoding)."""
    import av

    container = _open_container(movie)
    try:
        stream = container.streams.video[0]
        pts: set[int] = set()
        try:
            for pkt in container.demux(stream):
                if pkt.pts is not None and pkt.size:
                    pts.add(int(pkt.pts))
        except av.error.FFmpegError:
            pass  # damaged tail: index what was readable
        promised = int(stream.frames or 0)
    finally:
        container.close()
    order = sorted(pts)
    return {p: i for i, p in enumerate(order)}, max(promised, len(order))


def _to_rgb(frame: Any) -> np.ndarray:
    """Decoded frame -> float32 RGB [0, 1] (16-bit path for high-bit-depth sources)."""
    comps = frame.format.components
    deep = bool(comps) and max(c.bits for c in comps) > 8
    fmt, scale = ("rgb48le", 65535.0) if deep else ("rgb24", 255.0)
    arr = np.asarray(frame.to_ndarray(format=fmt), dtype=np.float32)
    return arr / np.float32(scale)


@dataclass
class _Decoded:
    index: int | None  # presentation index (None: cannot tell which frame)
    frame: Any = None  # av.VideoFrame when decoded cleanly
    error: str | None = None
    kind: str = "decode"


def _decoded_frames(movie: Path, index: dict[int, int]) -> Iterator[_Decoded]:
    """Decode the first video stream; yield each frame or error in decode order."""
    import av

    container = _open_container(movie)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # frame threading would report a packet's error against later packets
        counter = 0

        def place(frame: Any) -> int | None:
            nonlocal counter
            if frame.pts is not None and int(frame.pts) in index:
                return index[int(frame.pts)]
            if index:  # timestamps exist but this one is unknown
                return None
            counter += 1  # no timestamps at all: decode order is presentation order
            return counter - 1

        packets = container.demux(stream)
        while True:
            try:
                pkt = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                yield _Decoded(None, error=f"demux stopped: {_first_line(exc)}")
                break
            try:
                decoded = pkt.decode()  # demux ends with an empty packet that flushes the decoder
            except av.error.FFmpegError as exc:
                where = index.get(int(pkt.pts)) if pkt.pts is not None else None
                yield _Decoded(where, error=f"cannot decode ({_first_line(exc)})")
                continue
            for fr in decoded:
                i = place(fr)
                if i is None:
                    yield _Decoded(None, error=f"frame at pts {fr.pts} is outside the movie's index")
                elif fr.is_corrupt:
                    yield _Decoded(i, error="decoded frame flagged corrupt", kind="corrupt")
                else:
                    yield _Decoded(i, frame=fr)
    finally:
        container.close()


@dataclass(frozen=True)
class _FrameWriter:
    """Writes one decoded frame as a plate frame with colour, fps and timecode attributes."""

    template: FrameTemplate
    pixel_type: str
    compression: str
    color: ColorContext
    source_space: str
    target_space: str
    movie: Path
    fps: Fraction | None
    tc0: Timecode | None
    pixel_aspect: float = 1.0

    def write(self, frame: int, index: int, rgb: np.ndarray) -> Path:
        import OpenImageIO as oiio

        h, w = rgb.shape[:2]
        is_exr = self.pixel_type == "half"
        attrs: dict[str, Any] = {
            "recast/colorspace": self.target_space,
            "recast/source_movie": str(self.movie),
            "recast/source_colorspace": self.source_space,
            "recast/source_index": index if is_exr else str(index),
        }
        spec = new_spec(w, h, ["R", "G", "B"], self.pixel_type, self.compression if is_exr else None, attrs=attrs)
        spec.attribute("PixelAspectRatio", float(self.pixel_aspect))
        if self.fps:
            spec.attribute("FramesPerSecond", oiio.TypeRational, (self.fps.numerator, self.fps.denominator))
            spec.attribute("recast/fps", str(self.fps))
        if self.tc0 is not None:
            tc = self.tc0 + index
            spec.attribute("recast/timecode", str(tc))
            if is_exr:
                spec.attribute("smpte:TimeCode", oiio.TypeTimeCode, tc.smpte())
        path = self.template.directory / self.template.filename(frame)
        write_image(path, self.color.convert(rgb, self.source_space, self.target_space), spec)
        return path


def _tag(metadata: dict[str, str], name: str) -> str | None:
    """A container tag by name, any case (MOV writes ``timecode``, Matroska ``TIMECODE``)."""
    for key, value in metadata.items():
        if key.lower() == name and value:
            return str(value)
    return None


@dataclass(frozen=True)
class _MovieFacts:
    fps: Fraction | None
    timecode: str | None
    trc: int | None
    pixel_aspect: float  # sample aspect ratio (1.0 square; anamorphic otherwise)


def _movie_facts(src: Path) -> _MovieFacts:
    container = _open_container(src)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        tc_text = _tag(stream.metadata, "timecode") or _tag(container.metadata, "timecode")
        trc = stream.codec_context.color_trc
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    finally:
        container.close()
    aspect = float(sar) if sar and float(sar) > 0 else 1.0
    return _MovieFacts(Fraction(rate) if rate else None, tc_text, trc, aspect)


def import_movie(
    movie: str | Path,
    options: ImportOptions,
    color: ColorContext,
    progress: Callable[[Iterable[Any], int | None], Iterable[Any]] | None = None,
) -> ImportReport:
    """Decode ``movie`` into the plate ``options.out_pattern``; bad frames are reported, good ones written."""
    src = Path(movie).expanduser().absolute()
    template = output_pattern(options.out_pattern)
    ext = template.tail.rsplit(".", 1)[-1].lower() if "." in template.tail else ""
    pixel_type = OUTPUT_TYPES.get(f".{ext}")
    if pixel_type is None:
        raise PlateError(f"{template.hash_pattern()}: movie import writes .exr or .png, not {ext or 'no extension'!r}")
    if options.start < 0:
        raise PlateError(f"{src}: start frame {options.start} must not be negative")
    index, promised = _presentation_index(src)
    facts = _movie_facts(src)
    fps = facts.fps
    source_space = movie_space(color, facts.trc, options.colorspace)
    target_space = color.scene_linear if ext == "exr" else color.working_space
    warnings: list[str] = []
    tc0: Timecode | None = None
    if facts.timecode and fps:
        try:
            tc0 = Timecode.parse(facts.timecode, fps)
        except PlateError as exc:  # a bad tag must not cost the pictures
            warnings.append(f"{src}: movie {exc}; frames written without timecode")
    writer = _FrameWriter(
        template, pixel_type, options.compression, color, source_space, target_space, src, fps, tc0, facts.pixel_aspect
    )
    report = ImportReport(
        movie=src,
        out_pattern=template.hash_pattern(),
        fps=str(fps) if fps else None,
        timecode=str(tc0) if tc0 else None,
        source_colorspace=source_space,
        colorspace=target_space,
        warnings=warnings,
    )
    wanted = set(options.frames) if options.frames is not None else None
    last_wanted = max(wanted) if wanted else None
    seen: set[int] = set()
    items: Iterable[_Decoded] = _decoded_frames(src, index)
    if progress is not None:
        items = progress(items, promised or None)
    for item in items:
        frame = None if item.index is None else options.start + item.index
        if item.index is not None:
            seen.add(item.index)
            if wanted is not None and frame not in wanted:
                if last_wanted is not None and frame is not None and frame > last_wanted + 16:
                    break  # past the requested range (slack for reordered frames)
                continue
        if item.frame is None or frame is None or item.index is None:
            report.bad.append(BadFrame(frame, item.error or "no picture", item.kind))
            continue
        rgb = _to_rgb(item.frame)
        if not report.width:
            report.height, report.width = rgb.shape[:2]
        try:
            writer.write(frame, item.index, rgb)
        except PlateError as exc:
            report.bad.append(BadFrame(frame, f"write failed: {exc}", "write"))
            continue
        report.written.append(frame)
    _account_for_lost_frames(report, options, wanted, seen, promised)
    return report


def _account_for_lost_frames(
    report: ImportReport, options: ImportOptions, wanted: set[int] | None, seen: set[int], promised: int
) -> None:
    """List frames the header promised (or the user asked for) that never decoded; tidy the report."""
    have = {b.frame for b in report.bad}
    if wanted is None:
        for i in sorted(set(range(promised)) - seen):
            if options.start + i not in have:
                report.bad.append(
                    BadFrame(options.start + i, "frame promised by the movie's header was not decoded", "absent")
                )
    else:
        for f in sorted(wanted - {options.start + i for i in seen}):
            report.bad.append(BadFrame(f, "frame not in the movie", "absent"))
    report.written.sort()
    done = set(report.written)
    for b in report.bad:  # an error pinned on a frame that did decode belongs to the stream
        if b.frame in done:
            b.frame, b.error = None, f"{b.error} (near frame {b.frame})"
    report.bad.sort(key=lambda b: (b.frame is None, b.frame or 0))
