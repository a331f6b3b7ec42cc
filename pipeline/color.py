"""Colour through OpenColorIO: plate space <-> working space, and display previews.

Config: ``$OCIO`` when set, else the pinned built-in :data:`BUILTIN_CONFIG`
(ACES 2.0 Studio config shipped inside OCIO 2.5+, with camera log spaces and the
ACES 2.0 "SDR 100 nits (Rec.709)" view).

Working space (what face models want): display-referred sRGB, i.e. the config's
``sRGB Encoded Rec.709 (sRGB)`` (alias ``srgb_tx``).

Plate colourspace, first found: the job's value, the file's metadata
(``recast/colorspace``, ``colorInteropID``, ``oiio:ColorSpace``, ``colorspace``; for
EXR also the ``chromaticities`` primaries: Rec.709, AP0, AP1, P3-D65, Rec.2020),
else a default per format: float images (EXR, HDR, float TIFF) -> scene-linear
Rec.709 ``Linear Rec.709 (sRGB)``; integer images (PNG, JPEG, TIFF, DPX) -> sRGB.

Values above 1.0: the working-space transfer used here (the piecewise sRGB curve,
OCIO ``ExponentWithLinearTransform``) is not clamped, so a scene-linear 16.0 becomes
about 3.29 in working space and comes back as 16.0 (error <= 1e-5 relative);
negatives survive through the linear toe. Whether a given pair of spaces keeps
them is measured, not assumed: :meth:`ColorContext.preserves_range` probes the
round trip, and the composite stage must clip only where it returns False.
Round trip plate -> working -> plate, measured with the pinned config and OCIO 2.6
(tests/test_color.py holds each bound):

- <= 1e-4 over the whole [0, 1] cube for scene-linear spaces (lin_rec709, ACEScg,
  ACES2065-1, P3/Rec.2020 linear), sRGB, and the camera logs whose 1.0 sits near
  the sensor's clip (ARRI LogC3, S-Log3, V-Log, CanonLog3, Apple Log, D-Log);
- log spaces with a far higher top (ACEScct 1.0 = 223 scene-linear, ARRI LogC4 470,
  RED Log3G10 184, BMDFilm Gen5 223): <= 1e-4 for greys over [0, 1] and for every
  colour whose channels stay <= 0.8 (ACEScct 0.8 = 19.6, four stops over diffuse
  white); a pixel that mixes a near-black and a near-peak channel (ACEScct
  (0.002, 0.998, 0.76), a colour far outside any camera gamut) loses up to ~1e-3.
  That loss is float32 itself, not OCIO's arithmetic: one ulp of such a pixel's
  working value moves the result by 1.6e-4..2.4e-4, so no processor setting reaches
  1e-4 there while the working array is float32 (OPTIMIZATION_NONE measures 4.9e-4,
  LOSSLESS 5.9e-4, DEFAULT, with its fast log/exp/pow, 2.7e-2);
- ACEScc clamps its toe, so its shadows do not come back.

The decision is made once, here, and written down: the engine puts a
:class:`PlateColour` (space, how it was decided, config, working space) into every
frame record (``record["colorspace"]``) and the space into the comp's
``recast/colorspace`` attribute. Every later reader (QC scores, thumbnails,
reports, preview movies, review proxies) takes it from there through
:class:`PlateColours`, with the same config and processors as the engine; an old
record without it falls back to the same resolver on the plate's header.

Processors are built once per (src, dst) with lossless optimisation (exact maths,
adjacent matrices combined) and cached on the context; applying them is thread-safe.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import PyOpenColorIO as ocio

from recast.pipeline.errors import ColorError

if TYPE_CHECKING:
    import OpenImageIO as oiio

    from recast.pipeline.plateio import Plate

BUILTIN_CONFIG = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"

# Candidate names (first that the config knows wins), so a studio $OCIO config works too.
WORKING_CANDIDATES = (
    "sRGB Encoded Rec.709 (sRGB)",
    "srgb_tx",
    "sRGB - Texture",
    "srgb_texture",
    "Utility - sRGB - Texture",
)
SCENE_LINEAR_CANDIDATES = ("Linear Rec.709 (sRGB)", "lin_rec709", "lin_srgb", "Utility - Linear - sRGB")
METADATA_KEYS = ("recast/colorspace", "colorInteropID", "oiio:ColorSpace", "colorspace", "ColorSpace")
FLOAT_FORMATS = ("half", "float", "double")

# EXR ``chromaticities`` (red xy, green xy, blue xy, white xy) of linear spaces -> candidate names.
# EXR data is linear by definition, so the primaries + white point name the space.
CHROMATICITY_SPACES: tuple[tuple[tuple[float, ...], tuple[str, ...]], ...] = (
    ((0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290), ("Linear Rec.709 (sRGB)", "lin_rec709")),
    ((0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767), ("ACES2065-1", "lin_ap0")),
    ((0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767), ("ACEScg", "lin_ap1")),
    ((0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290), ("Linear P3-D65", "lin_p3d65")),
    ((0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290), ("Linear Rec.2020", "lin_rec2020")),
)
CHROMATICITY_TOLERANCE = 2e-3
ROUND_TRIP_PROBES = (0.0, 0.18, 1.0, 2.0, 8.0, 64.0, -0.05)


ColourSource = Literal["setting", "attribute", "metadata", "chromaticities", "default"]
COLOUR_SOURCES: tuple[str, ...] = ("setting", "attribute", "metadata", "chromaticities", "default")
ATTRIBUTE_KEY = "recast/colorspace"  # what Recast writes (comps, elements, imported plates)


@dataclass(frozen=True)
class PlateColour:
    """A plate's colour as decided once by the engine (``record["colorspace"]``).

    ``source`` says how: ``setting`` (the job's ``colorspace``), ``attribute`` (the
    file's ``recast/colorspace``), ``metadata`` (another colourspace attribute),
    ``chromaticities`` (EXR primaries) or ``default`` (per format).
    """

    plate: str
    source: str
    config: str
    working: str

    def to_json(self) -> dict[str, str]:
        return {"plate": self.plate, "source": self.source, "config": self.config, "working": self.working}

    @classmethod
    def from_json(cls, data: object) -> PlateColour | None:
        """The record's ``colorspace`` entry, or None when absent/incomplete (old records)."""
        if not isinstance(data, Mapping):
            return None
        vals = [data.get(k) for k in ("plate", "source", "config", "working")]
        if not all(isinstance(v, str) and v for v in vals):
            return None
        return cls(*vals)  # type: ignore[arg-type]


_APPLY_CHUNK = 1 << 17  # pixels per OCIO applyRGB call (whole rows; at least one row)
_APPLY_THREADS = 4  # conversion threads per colour context, at most one per core


class ColorContext:
    """An OCIO config plus cached CPU processors (explicit object, no globals)."""

    def __init__(
        self,
        config: str | None = None,
        working_space: str | None = None,
        display: str | None = None,
        view: str | None = None,
    ) -> None:
        source = config or os.environ.get("OCIO") or BUILTIN_CONFIG
        self.config_name: str = source
        try:
            if source.startswith("ocio://"):
                cfg = ocio.Config.CreateFromFile(source)
            else:
                if not Path(source).is_file():
                    raise ColorError(f"OCIO config {source}: file not found")
                cfg = ocio.Config.CreateFromFile(source)
            cfg.validate()
        except ColorError:
            raise
        except Exception as exc:
            raise ColorError(f"OCIO config {source}: cannot load ({_first_line(exc)})") from None
        self.config: ocio.Config = cfg
        self.working_space: str = self._pick(working_space, WORKING_CANDIDATES, "working space")
        self.scene_linear: str = self._pick(None, (*SCENE_LINEAR_CANDIDATES, "scene_linear"), "scene-linear space")
        self.display: str = display or cfg.getDefaultDisplay()
        if self.display not in list(cfg.getDisplays()):
            raise ColorError(f"OCIO display {self.display!r}: not in config {source}")
        self.view: str = view or cfg.getDefaultView(self.display)
        if self.view not in list(cfg.getViews(self.display)):
            raise ColorError(f"OCIO view {self.view!r}: not a view of display {self.display!r}")
        self._cache: dict[tuple[str, ...], ocio.CPUProcessor] = {}
        self._lock = threading.Lock()
        self._threads: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): see _pool

    # -- names -------------------------------------------------------------------------------
    def _pick(self, wanted: str | None, candidates: tuple[str, ...], what: str) -> str:
        if wanted:
            return self.resolve(wanted)
        for name in candidates:
            cs = self.config.getColorSpace(name)
            if cs is not None:
                return str(cs.getName())
        raise ColorError(f"OCIO config {self.config_name}: no {what} (looked for {', '.join(candidates)})")

    def has(self, name: str) -> bool:
        try:
            return bool(name) and self.config.getColorSpace(name) is not None
        except (UnicodeError, TypeError):  # metadata from a damaged file
            return False

    def resolve(self, name: str) -> str:
        """Canonical colourspace name for ``name`` or an alias/role (ColorError if unknown)."""
        cs = self.config.getColorSpace(name) if name else None
        if cs is None:
            raise ColorError(f"colourspace {name!r}: not in OCIO config {self.config_name}")
        return str(cs.getName())

    def names(self) -> list[str]:
        return [str(n) for n in self.config.getColorSpaceNames()]

    # -- processors --------------------------------------------------------------------------
    @property
    def processor_count(self) -> int:
        """How many processors are cached (one per distinct canonical conversion)."""
        return len(self._cache)

    def _processor(self, src: str, dst: str) -> ocio.CPUProcessor:
        s, d = self.resolve(src), self.resolve(dst)
        key = ("cs", s, d)
        proc = self._cache.get(key)
        if proc is None:
            try:
                p = self.config.getProcessor(s, d)
                proc = p.getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_LOSSLESS)
            except Exception as exc:
                raise ColorError(f"colour conversion {src!r} -> {dst!r}: {_first_line(exc)}") from None
            with self._lock:
                proc = self._cache.setdefault(key, proc)
        return proc

    def _display_processor(self, src: str) -> ocio.CPUProcessor:
        s = self.resolve(src)
        key = ("dv", s, self.display, self.view)
        proc = self._cache.get(key)
        if proc is None:
            try:
                t = ocio.DisplayViewTransform(src=s, display=self.display, view=self.view)
                p = self.config.getProcessor(t)
                proc = p.getOptimizedCPUProcessor(ocio.BIT_DEPTH_F32, ocio.BIT_DEPTH_F32, ocio.OPTIMIZATION_LOSSLESS)
            except Exception as exc:
                raise ColorError(
                    f"display transform {src!r} -> {self.display}/{self.view}: {_first_line(exc)}"
                ) from None
            with self._lock:
                proc = self._cache.setdefault(key, proc)
        return proc

    def _apply(self, proc: ocio.CPUProcessor, rgb: np.ndarray) -> np.ndarray:
        arr = np.asarray(rgb)
        if arr.ndim == 0 or arr.shape[-1] != 3:
            raise ColorError(f"colour conversion needs (..., 3) RGB, got shape {arr.shape}")
        # copied and converted in chunks of whole rows: the binding copies what it is given (a
        # 70 MB crop cost ~4x that at once); several chunks run on the context's threads (OCIO
        # and numpy's copy release the GIL; every pixel is converted on its own, so the bits
        # do not depend on the chunking)
        out = np.empty(arr.shape, np.float32)
        if not out.size:
            return out
        # (rows, pixels a row, 3): an image's rows, or a list of pixels as rows of one pixel
        rows = arr.reshape(-1, arr.shape[-2], 3) if arr.ndim >= 3 else arr.reshape(-1, 1, 3)
        dst = out.reshape(rows.shape)
        step = max(1, _APPLY_CHUNK // rows.shape[1])

        def part(i: int) -> None:
            chunk = dst[i : i + step]
            np.copyto(chunk, rows[i : i + step], casting="unsafe")
            proc.applyRGB(chunk.reshape(-1, 3))

        starts = range(0, rows.shape[0], step)
        pool = self._pool() if len(starts) > 1 else None
        if pool is None:
            for i in starts:
                part(i)
        else:
            for f in [pool.submit(part, i) for i in starts]:
                f.result()
        return out

    def _pool(self) -> ThreadPoolExecutor | None:
        """The context's conversion threads (one per core, at most ``_APPLY_THREADS``; None on one
        core); made again in a forked child, where the parent's threads do not run."""
        n = min(_APPLY_THREADS, os.cpu_count() or 1)
        if n < 2:
            return None
        with self._lock:
            if self._threads is None or self._threads[0] != os.getpid():
                self._threads = (os.getpid(), ThreadPoolExecutor(max_workers=n, thread_name_prefix="recast-ocio"))
            return self._threads[1]

    # -- public conversions ------------------------------------------------------------------
    def convert(self, rgb: np.ndarray, src: str, dst: str) -> np.ndarray:
        """A float32 copy of ``rgb`` (..., 3) converted from ``src`` to ``dst``."""
        if self.resolve(src) == self.resolve(dst):
            return np.array(rgb, dtype=np.float32, copy=True)
        return self._apply(self._processor(src, dst), rgb)

    def to_working(self, rgb: np.ndarray, src: str) -> np.ndarray:
        return self.convert(rgb, src, self.working_space)

    def from_working(self, rgb: np.ndarray, dst: str) -> np.ndarray:
        return self.convert(rgb, self.working_space, dst)

    def to_display(self, rgb: np.ndarray, src: str) -> np.ndarray:
        """Preview pixels through the display/view (ACES 2.0 SDR by default), clipped to [0, 1], NaN -> 0."""
        out = self._apply(self._display_processor(src), rgb)
        np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(out, 0.0, 1.0, out=out)
        return out

    def display_fn(self, src: str) -> Callable[[np.ndarray], np.ndarray]:
        """``to_display`` bound to ``src`` (what the face analysers take)."""
        return lambda rgb: self.to_display(rgb, src)

    def preserves_range(self, src: str, dst: str | None = None) -> bool:
        """True when values outside [0, 1] (above 1, slightly negative) survive src -> dst -> src."""
        target = dst or self.working_space
        probe = np.array([[v, v, v] for v in ROUND_TRIP_PROBES], dtype=np.float32)
        back = self.convert(self.convert(probe, src, target), target, src)
        err = np.abs(back - probe) / np.maximum(np.abs(probe), 1e-3)
        return bool(np.all(np.isfinite(back)) and float(err.max()) <= 1e-4)

    # -- plate colourspace -------------------------------------------------------------------
    def plate_space(self, plate: Plate, job_value: str | None = None) -> str:
        """Colourspace of ``plate``: ``job_value``, else file metadata, else the format default."""
        return self.space_for(plate.spec, plate.path, job_value)

    def space_for(self, spec: oiio.ImageSpec, path: Path, job_value: str | None = None) -> str:
        """:meth:`plate_space` from a header alone (spec + file name)."""
        return self.plate_colour(spec, path, job_value).plate

    def plate_colour(self, spec: oiio.ImageSpec, path: Path, job_value: str | None = None) -> PlateColour:
        """The plate's colour and how it was decided, from its header (what records carry)."""
        formats = {str(f) for f in spec.channelformats} or {str(spec.format)}
        return self.decide(spec.getattribute, formats, path, job_value)

    def decide(
        self, attribute: Callable[[str], Any], formats: set[str], path: str | Path, job_value: str | None = None
    ) -> PlateColour:
        """The one colour resolver: job value, file metadata, EXR chromaticities, format default.

        ``attribute(name)`` reads a header attribute (None when absent); ``formats``
        are the channel formats ("half", "uint8", ...).
        """

        def made(space: str, source: str) -> PlateColour:
            return PlateColour(space, source, self.config_name, self.working_space)

        if job_value:
            return made(self.resolve(job_value), "setting")
        for key in METADATA_KEYS:
            value = attribute(key)
            if isinstance(value, str) and value and self.has(value):
                return made(self.resolve(value), "attribute" if key == ATTRIBUTE_KEY else "metadata")
        if Path(path).suffix.lower() == ".exr":
            by_primaries = self._space_from_chromaticities(attribute("chromaticities"))
            if by_primaries:
                return made(by_primaries, "chromaticities")
        return made(self._default_for(formats, path), "default")

    def _space_from_chromaticities(self, value: object) -> str | None:
        if not isinstance(value, (tuple, list)) or len(value) != 8:
            return None
        xy = np.asarray(value, dtype=np.float64)
        for primaries, names in CHROMATICITY_SPACES:
            if np.all(np.abs(xy - np.asarray(primaries)) <= CHROMATICITY_TOLERANCE):
                for name in names:
                    if self.has(name):
                        return self.resolve(name)
        return None

    def default_space(self, spec: oiio.ImageSpec, path: Path) -> str:
        """EXR and other float images: scene-linear Rec.709; integer images: sRGB."""
        formats = {str(f) for f in spec.channelformats} or {str(spec.format)}
        return self._default_for(formats, path)

    def _default_for(self, formats: set[str], path: str | Path) -> str:
        if Path(path).suffix.lower() == ".exr" or (formats and formats <= set(FLOAT_FORMATS)):
            return self.scene_linear
        return self.working_space


class PlateColours:
    """The plate colour for readers of the engine's outputs (QC, thumbnails, reports, movies, proxies).

    First found: the frame record's ``colorspace`` (decided by the engine), the file's
    ``recast/colorspace`` attribute (comps and elements carry it), else the engine's own
    resolver (:meth:`ColorContext.decide`) on the file's header with the job's
    ``colorspace`` setting. One :class:`ColorContext` per config, so readers use the
    config and processors the engine used. An explicit object: one per reader.
    """

    def __init__(self, job_value: str | None = None) -> None:
        self.job_value = job_value or None
        self._contexts: dict[str, ColorContext] = {}
        self._lock = threading.Lock()

    def context(self, config: str | None = None) -> ColorContext:
        """The ColorContext of ``config`` (None: ``$OCIO`` or the pinned built-in, as the engine)."""
        key = config or os.environ.get("OCIO") or BUILTIN_CONFIG
        with self._lock:
            ctx = self._contexts.get(key)
        if ctx is None:
            ctx = ColorContext(key)
            with self._lock:
                ctx = self._contexts.setdefault(key, ctx)
        return ctx

    def of_record(self, rec: Mapping[str, Any]) -> PlateColour:
        """What the record says; an old record (no ``colorspace``): decided from its plate (else comp) file."""
        found = PlateColour.from_json(rec.get("colorspace"))
        if found is not None:
            return found
        settings = rec.get("settings") if isinstance(rec.get("settings"), Mapping) else {}
        job_value = (settings or {}).get("colorspace") or self.job_value
        for key in ("plate", "comp"):
            path = rec.get(key)
            if isinstance(path, str) and path and Path(path).is_file():
                return self.of_file(path, job_value)
        raise ColorError(f"frame {rec.get('frame')}: no colorspace in the record and no plate file to decide it from")

    def of_file(self, path: str | Path, job_value: str | None = None) -> PlateColour:
        """Decided from the file's header, as the engine decides it."""
        import OpenImageIO as oiio

        inp = oiio.ImageInput.open(str(path))
        if inp is None:
            raise ColorError(f"{path}: cannot open to read its colourspace")
        try:
            spec = inp.spec()
        finally:
            inp.close()
        return self.context().plate_colour(spec, Path(path), job_value if job_value is not None else self.job_value)

    def of_header(self, attributes: Mapping[str, object], formats: set[str], path: str | Path) -> PlateColour:
        """Decided from an already-read header (attributes by name + channel formats)."""
        return self.context().decide(attributes.get, formats, path, self.job_value)

    def display(self, colour: PlateColour) -> Callable[[np.ndarray], np.ndarray]:
        """The exact display transform of ``colour`` (its config's default display/view), as the engine's."""
        ctx = self.context(colour.config)
        space = ctx.resolve(colour.plate)
        return lambda rgb: ctx.to_display(rgb, space)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(exc).__name__
