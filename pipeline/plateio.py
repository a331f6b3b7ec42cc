"""Plate image I/O through OpenImageIO: float32 pixels plus the full spec, written back exactly.

Reading returns a :class:`Plate`: float32 pixels covering the DATA window (H, W, C)
and the OIIO spec with every channel, per-channel pixel type, data/display window,
tiling and attribute. Writing reuses that spec, so channels, pixel type, windows,
compression and attributes come back unchanged; our own attributes go under
``recast/``. Writes are atomic (temp file beside the target, fsync, rename).

Exactness: integer formats are read as ``v / (2**bits - 1)`` and written back with
rounding, half/float are stored as-is, so read -> write -> read is bit-exact for
EXR (half/float, any lossless compression), PNG/TIFF 8/16-bit and 10-bit DPX.
Alpha in PNG/TIFF is read *unassociated* (``oiio:UnassociatedAlpha = 1``): the
stored colour values are returned untouched rather than premultiplied
(:attr:`Plate.premultiplied` says which). Integer channels, EXR ``uint`` ones
included, come back normalised to [0, 1] (OIIO's convention); 32-bit integer IDs
above 2**24 do not survive float32.

Bad files raise :class:`PlateError` naming the file; the header is checked against
:class:`ReadLimits` before any pixel is decoded so absurd dimensions cannot
exhaust memory. The same bounds are set once, at import, as OpenImageIO's own
global limits (``limits:resolution``, ``limits:channels``, ``limits:imagesize_MB``,
see :func:`apply_oiio_limits`), so OIIO's readers refuse such a header themselves
before they allocate anything. The defaults admit any real plate: 16K x 16K, 1024
channels, and a float32 buffer up to 16 GiB (an 8K 8192x4320 plate with 64 AOV
channels needs 9 GiB).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import OpenImageIO as oiio

from recast.pipeline.atomic import atomic_path
from recast.pipeline.errors import PlateError, os_cause
from recast.pipeline.exrsplice import FileIdentity, WriteReport

RECAST_PREFIX = "recast/"

# The only attributes a round trip does not keep, each with why: OIIO derives them from how it
# opened one file (not image metadata), so they are dropped on read and never copied to outputs.
# Everything else comes back as read; see _keep_writer_neutral for what writers would add.
ROUND_TRIP_IGNORED: MappingProxyType[str, str] = MappingProxyType(
    {
        "oiio:subimages": "how many subimages OIIO found in the file it opened, not metadata of this image",
        "oiio:RowsPerChunk": "OIIO's scanline chunking hint for reading that file, not image metadata",
    }
)
_VOLATILE_ATTRS = frozenset(ROUND_TRIP_IGNORED)
# What a plate that is a texture (a MIP-mapped EXR, a maketx output) carries about its own
# pixels: a comp writes one level of new pixels, so these would be false there (an EXR writer
# told of 10 MIP levels and given one writes a file whose levels 1-9 cannot be read).
_DERIVED_FROM_PIXELS = ("oiio:miplevels", "textureformat", "oiio:AverageColor", "oiio:ConstantColor", "oiio:SHA-1")
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
_TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
_TIFF_WRITER_DEFAULT_ROWS_PER_STRIP = 32  # what OIIO's TIFF writer uses, unclamped, when not told
# Formats that store custom attributes: EXR keeps every type, PNG keeps text only.
_TEXT_ONLY_ATTR_SUFFIXES = frozenset({".png"})

_MOVIE_SUFFIXES = frozenset({".mov", ".mp4", ".m4v", ".avi", ".mkv", ".mxf", ".webm", ".mpg", ".mpeg", ".wmv"})

_RGB_NAMES = (("R", "G", "B"), ("r", "g", "b"), ("red", "green", "blue"))
_ALPHA_NAMES = ("A", "a", "alpha")

_SUPPORTED_EXR_COMPRESSION = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab", "htj2k")


@dataclass(frozen=True)
class ReadLimits:
    """Bounds checked on the header before pixels are decoded."""

    max_pixels: int = 1 << 28  # 268 M pixels (16K x 16K)
    max_channels: int = 1024
    max_bytes: int = 16 << 30  # float32 buffer for the whole data window (8K x 64 AOV channels = 9 GiB)
    max_dimension: int = 1 << 17  # one side of the data or display window


DEFAULT_LIMITS = ReadLimits()


def apply_oiio_limits(limits: ReadLimits = DEFAULT_LIMITS) -> None:
    """Set OpenImageIO's process-wide header limits to ``limits`` (OIIO checks the native size,
    never larger than our float32 buffer for half/integer plates)."""
    oiio.attribute("limits:resolution", int(limits.max_dimension))
    oiio.attribute("limits:channels", int(limits.max_channels))
    oiio.attribute("limits:imagesize_MB", max(1, int(limits.max_bytes >> 20)))


apply_oiio_limits()


@dataclass
class Plate:
    """One image (one part of a multipart EXR): pixels over the data window + its spec."""

    pixels: np.ndarray  # (H, W, C) float32, data window
    spec: oiio.ImageSpec
    path: Path
    part: int = 0
    part_name: str | None = None
    parts: int = 1
    # the file as it was read (same before and after decoding), None when unknown; a writer
    # that copies the file's own bytes (exrsplice) checks it is still that file
    source: FileIdentity | None = None

    @property
    def channel_names(self) -> list[str]:
        return list(self.spec.channelnames)

    @property
    def data_window(self) -> tuple[int, int, int, int]:
        s = self.spec
        return (s.x, s.y, s.width, s.height)

    @property
    def display_window(self) -> tuple[int, int, int, int]:
        s = self.spec
        return (s.full_x, s.full_y, s.full_width, s.full_height)

    @property
    def pixel_type(self) -> str:
        """``half``/``float``/``uint8``/``uint16``/``uint10``/... (mixed: comma-joined per channel)."""
        return pixel_type_of(self.spec)

    @property
    def compression(self) -> str:
        return str(self.spec.getattribute("compression") or "none")

    @property
    def rgb_indices(self) -> tuple[int, int, int] | None:
        """Indices of R, G, B: plain ``R/G/B`` (or ``r/g/b``, ``red/...``), else the first layer
        holding all three (``beauty.R``...), else None (e.g. a depth-only part)."""
        return _find_trio(self.channel_names, _RGB_NAMES)

    @property
    def alpha_index(self) -> int | None:
        """Index of alpha: plain ``A``, else the alpha of the RGB layer, else OIIO's alpha channel."""
        names = self.channel_names
        for n in _ALPHA_NAMES:
            if n in names:
                return names.index(n)
        rgb = self.rgb_indices
        if rgb is not None and "." in names[rgb[0]]:
            layer = names[rgb[0]].rsplit(".", 1)[0]
            for n in _ALPHA_NAMES:
                if f"{layer}.{n}" in names:
                    return names.index(f"{layer}.{n}")
        a = int(self.spec.alpha_channel)
        return a if 0 <= a < len(names) else None

    @property
    def attributes(self) -> dict[str, Any]:
        return attributes_of(self.spec)

    @property
    def premultiplied(self) -> bool:
        """Colour is associated with alpha (EXR convention); False for PNG/TIFF straight alpha.

        Only meaningful when :attr:`alpha_index` is not None.
        """
        return not bool(self.spec.get_int_attribute("oiio:UnassociatedAlpha", 0))

    @property
    def width(self) -> int:
        return int(self.spec.full_width)

    @property
    def height(self) -> int:
        return int(self.spec.full_height)

    def rgb(self) -> np.ndarray:
        """The RGB channels (H, W, 3) of the data window (a copy); PlateError when none."""
        idx = self.rgb_indices
        if idx is None:
            raise PlateError(f"{self.path}: no RGB channels (channels: {', '.join(self.channel_names)})")
        return np.ascontiguousarray(self.pixels[..., list(idx)])

    @property
    def colour_indices(self) -> tuple[int, ...] | None:
        """R, G, B indices, or one grey channel's; None when the plate has no colour (see
        :func:`colour_channel_indices`)."""
        return colour_channel_indices(self.channel_names, self.alpha_index)

    def display_pixels(self, fill: float = 0.0) -> np.ndarray:
        """Pixels placed in the display window (H, W, C); outside the data window = ``fill``."""
        fx, fy, fw, fh = self.display_window
        dx, dy, dw, dh = self.data_window
        if (fx, fy, fw, fh) == (dx, dy, dw, dh):
            return self.pixels
        out = np.full((fh, fw, self.pixels.shape[2]), fill, dtype=np.float32)
        x0, y0 = max(dx, fx), max(dy, fy)
        x1, y1 = min(dx + dw, fx + fw), min(dy + dh, fy + fh)
        if x1 > x0 and y1 > y0:
            out[y0 - fy : y1 - fy, x0 - fx : x1 - fx] = self.pixels[y0 - dy : y1 - dy, x0 - dx : x1 - dx]
        return out


@dataclass
class PlateHeader:
    """Header-only view of a plate file (no pixels decoded)."""

    path: Path
    spec: oiio.ImageSpec
    part: int
    part_name: str | None
    parts: int
    part_names: list[str | None] = field(default_factory=list)


def _find_trio(names: list[str], trios: tuple[tuple[str, str, str], ...]) -> tuple[int, int, int] | None:
    for trio in trios:
        if all(n in names for n in trio):
            return (names.index(trio[0]), names.index(trio[1]), names.index(trio[2]))
    layers = dict.fromkeys(n.rsplit(".", 1)[0] for n in names if "." in n)  # in channel order
    for layer in layers:
        for trio in trios:
            full = [f"{layer}.{c}" for c in trio]
            if all(n in names for n in full):
                return (names.index(full[0]), names.index(full[1]), names.index(full[2]))
    return None


# Channels that are never colour: depth, alpha/coverage, ids, vectors, masks. A plate whose
# only channels are these (a Z-only EXR) has nothing to swap and is refused at set-up.
_NON_COLOUR = frozenset(
    {"z", "zback", "depth", "a", "alpha", "ar", "ag", "ab", "id", "objectid", "materialid", "mask", "matte",
     "u", "v", "w", "x", "y_motion", "x_motion", "motion", "velocity", "vel", "n", "nx", "ny", "nz", "p", "px", "py", "pz"}
)
_GREY_NAMES = frozenset({"y", "l", "grey", "gray", "luminance", "lum", "r", "g", "b", "v0", "channel0", "i", "intensity"})


def alpha_channel_of(names: list[str], spec_alpha: int) -> int | None:
    """A header's alpha channel: one named ``A``/``a``/``alpha``, else the spec's own alpha
    channel when it has one."""
    for n in _ALPHA_NAMES:
        if n in names:
            return names.index(n)
    return spec_alpha if 0 <= spec_alpha < len(names) else None


def colour_channel_indices(names: list[str], alpha: int | None) -> tuple[int, ...] | None:
    """The plate's colour channels: (R, G, B) indices, or one grey channel's index; None when it has none.

    Grey: a channel named like luminance (``Y``, ``L``, ``grey``...) or, in a one- or
    two-channel image, any channel that is not alpha, depth, an id or a vector.
    """
    rgb = _find_trio(names, _RGB_NAMES)
    if rgb is not None:
        return tuple(rgb)
    for i, name in enumerate(names):
        if i != alpha and name.split(".")[-1].lower() in _GREY_NAMES:
            if name.split(".")[-1].lower() in {"r", "g", "b"} and "." in name:
                layer = name.rsplit(".", 1)[0].split(".")[-1].lower()
                if layer in _NON_COLOUR or layer.startswith(("depth", "motion", "normal", "position")):
                    continue
            return (i,)
    colour = [
        i for i, n in enumerate(names)
        if i != alpha and n.split(".")[-1].lower() not in _NON_COLOUR and not n.lower().startswith(("depth", "z."))
    ]
    if len(names) <= 2 and colour:
        return (colour[0],)
    return None


def no_colour_reason(names: list[str]) -> str:
    return f"no colour channels to analyse or swap (channels: {', '.join(names) or 'none'}); give a plate with R,G,B or one grey channel"


def pixel_type_of(spec: oiio.ImageSpec) -> str:
    formats = [str(f) for f in spec.channelformats] if spec.channelformats else [str(spec.format)]
    bits = spec.get_int_attribute("oiio:BitsPerSample", 0)
    if bits and formats and all(f in ("uint16", "uint8", "uint32") for f in formats):
        nominal = {"uint8": 8, "uint16": 16, "uint32": 32}[formats[0]]
        if bits != nominal:
            return f"uint{bits}"
    uniq = list(dict.fromkeys(formats))
    return uniq[0] if len(uniq) == 1 else ",".join(formats)


def attributes_of(spec: oiio.ImageSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in spec.extra_attribs:
        v = a.value
        out[a.name] = list(v) if isinstance(v, tuple) else v
    return out


def _safe_geterror(obj: Any) -> str:
    """``geterror()`` of an OIIO object or module; messages quoting damaged bytes may not decode."""
    try:
        return str(obj.geterror() or "")
    except UnicodeDecodeError:
        return "error message holds undecodable bytes (damaged file)"


def _oiio_error(obj: Any = None) -> str:
    msg = _safe_geterror(obj) if obj is not None and hasattr(obj, "geterror") else ""
    if not msg:
        msg = _safe_geterror(oiio)
    msg = " ".join(msg.split())
    return msg or "unknown OpenImageIO error"


def _clean_reason(path: Path, msg: str) -> str:
    """OIIO messages often repeat the file name; keep them short."""
    for quoted in (f'"{path}"', f"'{path}'", str(path)):
        msg = msg.replace(quoted, "file")
    return msg[:300]


def _open_input(path: Path, unassociated: bool = True) -> oiio.ImageInput:
    p = Path(path)
    try:
        os.stat(p)
    except FileNotFoundError:
        raise PlateError(f"{p}: file not found") from None
    except OSError as exc:  # ELOOP, EACCES on a folder above, EIO, ENAMETOOLONG...
        exc.filename = None
        raise PlateError(f"{p}: cannot read ({os_cause(exc)})") from None
    if p.is_dir():
        raise PlateError(f"{p}: is a directory, not an image")
    if not p.is_file():  # a FIFO or device would block or never end
        raise PlateError(f"{p}: not a regular file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise PlateError(f"{p}: cannot stat ({os_cause(exc)})") from None
    if size == 0:
        raise PlateError(f"{p}: empty file")
    try:  # the OS says why a plate cannot be read (EACCES); os.access would answer for root as if allowed
        with open(p, "rb"):
            pass
    except OSError as exc:
        exc.filename = None
        raise PlateError(f"{p}: cannot read ({os_cause(exc)})") from None
    config = oiio.ImageSpec()
    if unassociated:
        config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(p), config)
    if inp is None:
        reason = _clean_reason(p, _oiio_error())
        if '"limits:' in reason or " MB limit" in reason:  # OIIO's own limits (apply_oiio_limits)
            raise PlateError(f"{p}: header exceeds the decoding limits ({_limit_reason(reason)})")
        if "not support" in reason.lower() or "could not find a format" in reason.lower():
            if p.suffix.lower() in _MOVIE_SUFFIXES:
                raise PlateError(f"{p}: a movie, not an image; make it a plate with `recast plate import`")
            raise PlateError(f"{p}: unsupported or unrecognised image format ({reason})")
        raise PlateError(f"{p}: cannot open image ({reason})")
    return inp


def _limit_reason(reason: str) -> str:
    """OIIO's limit message without its advice to raise the limit (that is our setting)."""
    return reason.split(" Possible corrupt input?", 1)[0].rstrip(". ")


def check_spec(path: Path, spec: oiio.ImageSpec, limits: ReadLimits = DEFAULT_LIMITS) -> None:
    """Refuse (PlateError naming ``path``) a header ``limits`` do not admit, before any pixel is read."""
    w, h, nc = int(spec.width), int(spec.height), int(spec.nchannels)
    if spec.deep:
        raise PlateError(f"{path}: deep images are not supported")
    if w <= 0 or h <= 0 or nc <= 0:
        raise PlateError(f"{path}: invalid image dimensions {w}x{h} with {nc} channels")
    if int(spec.depth) > 1:
        raise PlateError(f"{path}: volume images (depth {spec.depth}) are not supported")
    dims = (w, h, int(spec.full_width), int(spec.full_height))
    if max(dims) > limits.max_dimension or min(dims) < 0:
        raise PlateError(
            f"{path}: absurd dimensions (data {w}x{h}, display {spec.full_width}x{spec.full_height};"
            f" limit {limits.max_dimension} per side)"
        )
    if nc > limits.max_channels:
        raise PlateError(f"{path}: {nc} channels exceed the limit of {limits.max_channels}")
    if w * h > limits.max_pixels:
        raise PlateError(f"{path}: {w}x{h} = {w * h} pixels exceed the limit of {limits.max_pixels}")
    if w * h * nc * 4 > limits.max_bytes:
        raise PlateError(f"{path}: {w}x{h}x{nc} float buffer exceeds the limit of {limits.max_bytes} bytes")
    for v in (spec.x, spec.y, spec.full_x, spec.full_y):
        if abs(int(v)) > limits.max_dimension * 4:
            raise PlateError(f"{path}: absurd window origin {v}")


def _seek_part(inp: oiio.ImageInput, path: Path, part: int | str | None) -> tuple[int, str | None, int, list[str | None]]:
    """Find the part (index or EXR part name; None: the first part with colour channels, part 0
    when none has any); return (index, name, count, all names)."""
    names: list[str | None] = []
    coloured: int | None = None
    i = 0
    while inp.seek_subimage(i, 0):
        sp = inp.spec()
        nm = sp.getattribute("name")
        names.append(str(nm) if nm else None)
        if part is None and coloured is None:
            chans = [str(c) for c in sp.channelnames]
            if colour_channel_indices(chans, alpha_channel_of(chans, int(sp.alpha_channel))) is not None:
                coloured = i
        i += 1
        if i > 4096:
            raise PlateError(f"{path}: more than 4096 parts")
    count = len(names)
    probe_error = _safe_geterror(inp)  # seeking past the last part sets an error; clear it
    if count == 0:
        raise PlateError(f"{path}: no readable image part ({_clean_reason(path, probe_error or _oiio_error())})")
    if part is None:
        index = 0 if coloured is None else coloured
    elif isinstance(part, str) and not part.lstrip("-").isdigit():
        if part not in names:
            listed = ", ".join(n or f"#{k}" for k, n in enumerate(names))
            raise PlateError(f"{path}: no part named {part!r} (parts: {listed})")
        index = names.index(part)
    else:
        index = int(part)
        if not 0 <= index < count:
            raise PlateError(f"{path}: part {index} out of range (file has {count} part(s))")
    if not inp.seek_subimage(index, 0):
        raise PlateError(f"{path}: cannot seek to part {index} ({_clean_reason(path, _oiio_error(inp))})")
    return index, names[index], count, names


def read_header(path: str | os.PathLike[str], part: int | str | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> PlateHeader:
    """Read only the header of ``path`` (and validate it against ``limits``); ``part``: an index
    or EXR part name, None (default) for the first part with colour channels (see read_plate)."""
    p = Path(path)
    inp = _open_input(p)
    try:
        index, name, count, names = _seek_part(inp, p, part)
        spec = oiio.ImageSpec(inp.spec())
        check_spec(p, spec, limits)
    finally:
        inp.close()
    spec.erase_attribute("oiio:subimages")
    return PlateHeader(path=p, spec=spec, part=index, part_name=name, parts=count, part_names=names)


def read_plate(path: str | os.PathLike[str], part: int | str | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> Plate:
    """Read one part of an image as float32 (H, W, C) over its data window, plus the full spec.

    ``part``: an index or EXR part name; None (default): the first part with colour channels
    (part 0 when it has them, as in nearly every file; a multipart EXR that stores its depth
    part first is read at its beauty), part 0 when no part has any."""
    p = Path(path)
    before = _identity(p)
    inp = _open_input(p)
    try:
        index, name, count, _names = _seek_part(inp, p, part)
        spec = oiio.ImageSpec(inp.spec())
        check_spec(p, spec, limits)
        pixels = _read_pixels(inp, p, index, spec)
    finally:
        inp.close()
    for attr in _VOLATILE_ATTRS:
        spec.erase_attribute(attr)
    source = before if before is not None and _identity(p) == before else None
    return Plate(pixels=np.ascontiguousarray(pixels), spec=spec, path=p, part=index, part_name=name, parts=count,
                 source=source)


def _identity(p: Path) -> FileIdentity | None:
    try:
        return FileIdentity.of(os.stat(p))
    except OSError:
        return None


# float32 bytes decoded at a time: under the C heap's mmap threshold (pipeline.heap), so OIIO's
# native buffer of a strip is reused from the heap instead of mapped and faulted in per strip
# (a 4K half frame: 54 K page faults a read with 16 MB strips, 16 K with 3 MB)
_STRIP_BYTES = 3 << 20


def _read_pixels(inp: oiio.ImageInput, p: Path, index: int, spec: oiio.ImageSpec) -> np.ndarray:
    """Decode the part as float32 (H, W, C) straight into one array, a strip of scanlines at a
    time: no whole-frame temporary beside it (an 8K RGBA frame peaks at 0.53 GB, not twice that).
    Strips hold whole EXR chunks/tiles, so nothing is decoded twice."""
    h, w, nc = int(spec.height), int(spec.width), int(spec.nchannels)
    pixels = np.empty((h, w, nc), np.float32)
    unit = int(spec.tile_height) if spec.tile_width else 32  # EXR chunks are 1-32 scanlines, tiles tile_height
    rows = max(unit, (_STRIP_BYTES // max(1, w * nc * 4)) // unit * unit)
    for y in range(0, h, rows):
        y1 = min(h, y + rows)
        try:
            if spec.tile_width:
                x0, z0 = int(spec.x), int(spec.z)
                strip = inp.read_tiles(index, 0, x0, x0 + w, spec.y + y, spec.y + y1, z0, z0 + 1, 0, nc, "float")
            else:
                strip = inp.read_scanlines(index, 0, spec.y + y, spec.y + y1, spec.z, 0, nc, "float")
        except Exception as exc:
            raise PlateError(f"{p}: cannot decode pixels ({_clean_reason(p, str(exc) or _oiio_error(inp))})") from None
        err = _safe_geterror(inp)
        if strip is None or not isinstance(strip, np.ndarray):
            raise PlateError(f"{p}: cannot decode pixels ({_clean_reason(p, err or _oiio_error())})")
        if err:
            raise PlateError(f"{p}: corrupt pixel data ({_clean_reason(p, ' '.join(err.split()))})")
        pixels[y:y1] = np.asarray(strip, dtype=np.float32).reshape(y1 - y, w, nc)
    return pixels


def _set_attr(spec: oiio.ImageSpec, name: str, value: Any) -> None:
    if isinstance(value, bool):
        spec.attribute(name, int(value))
    elif isinstance(value, (int, np.integer)):
        v = int(value)
        if -(2**31) <= v < 2**31:
            spec.attribute(name, v)
        else:
            spec.attribute(name, str(v))
    elif isinstance(value, (float, np.floating)):
        spec.attribute(name, float(value))
    elif isinstance(value, str):
        spec.attribute(name, value)
    elif value is None:
        spec.erase_attribute(name)
    else:
        import json

        spec.attribute(name, json.dumps(value, default=str, sort_keys=True))


def _normalise_compression(path: Path, compression: str) -> str:
    base = compression.split(":", 1)[0].strip().lower()
    if path.suffix.lower() == ".exr" and base not in _SUPPORTED_EXR_COMPRESSION:
        raise PlateError(
            f"{path}: unknown EXR compression {compression!r} (use one of {', '.join(_SUPPORTED_EXR_COMPRESSION)})"
        )
    return compression.strip()


def _prepare(path: Path, pixels: np.ndarray, spec: oiio.ImageSpec) -> tuple[np.ndarray, oiio.ImageSpec]:
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise PlateError(f"{path}: pixels must be (H, W, C), got shape {arr.shape}")
    if arr.shape != (spec.height, spec.width, spec.nchannels):
        raise PlateError(
            f"{path}: pixel shape {arr.shape} does not match the spec ({spec.height}, {spec.width}, {spec.nchannels})"
        )
    spec_w = oiio.ImageSpec(spec)
    for attr in _VOLATILE_ATTRS:
        spec_w.erase_attribute(attr)
    return np.ascontiguousarray(arr, dtype=np.float32), spec_w


def write_parts(path: str | os.PathLike[str], parts: list[tuple[np.ndarray, oiio.ImageSpec]]) -> None:
    """Atomically write one or more parts (subimages); several parts need a multipart format (EXR)."""
    p = Path(path)
    if not parts:
        raise PlateError(f"{p}: nothing to write")
    prepared = [_prepare(p, px, sp) for px, sp in parts]
    try:
        with atomic_path(p) as tmp:
            _write_prepared(p, tmp, prepared)
    except OSError as exc:  # the temp's fsync/rename, the folder's creation
        raise PlateError(f"{p}: write failed ({os_cause(exc)})") from None


def _write_prepared(p: Path, tmp: Path, prepared: list[tuple[np.ndarray, oiio.ImageSpec]]) -> None:
    def fail(what: str, out: Any = None) -> PlateError:
        msg = _clean_reason(tmp, _oiio_error(out))
        if out is not None:
            out.close()
        cause = write_failure_cause(tmp)  # OIIO does not say why a write failed; the OS does
        return PlateError(f"{p}: {what} ({msg}{'; ' + cause if cause else ''})")

    out = oiio.ImageOutput.create(str(tmp))
    if out is None:
        raise PlateError(f"{p}: no writer for this file type ({_clean_reason(tmp, _oiio_error())})")
    if len(prepared) > 1 and not out.supports("multiimage"):
        raise PlateError(f"{p}: this file type cannot hold {len(prepared)} parts")
    specs = [sp for _, sp in prepared]
    ok = out.open(str(tmp), specs) if len(specs) > 1 else out.open(str(tmp), specs[0])
    if not ok:
        raise fail("cannot open for writing", out)
    for k, (arr, sp) in enumerate(prepared):
        if k and not out.open(str(tmp), sp, "AppendSubimage"):
            raise fail(f"cannot add part {k}", out)
        if not out.write_image(arr):
            raise fail("write failed", out)
    if not out.close():
        raise fail("write failed on close")


def write_failure_cause(tmp: Path) -> str | None:
    """Why the OS refused a write into ``tmp``'s folder, found by asking it: a read-only
    file system (EROFS), then a probe that opens ``tmp`` and appends and fsyncs up to 1 MiB
    (EACCES, ENOSPC, EDQUOT, EFBIG, EIO come back as the errno they are). None when the
    probe succeeds (the failure was not the OS's)."""
    import errno

    try:
        if os.statvfs(tmp.parent).f_flag & os.ST_RDONLY:
            return os_cause(OSError(errno.EROFS, os.strerror(errno.EROFS)))
    except OSError as exc:
        return os_cause(exc)
    block = b"\0" * 65536
    try:
        with open(tmp, "ab") as fh:
            for _ in range(16):
                fh.write(block)
                fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        exc.filename = None
        return os_cause(exc)
    return None

def write_image(path: str | os.PathLike[str], pixels: np.ndarray, spec: oiio.ImageSpec) -> None:
    """Atomically write ``pixels`` (H, W, C, any float/int dtype) with ``spec`` (format by extension)."""
    write_parts(path, [(pixels, spec)])


def write_plate(
    path: str | os.PathLike[str],
    like: Plate,
    pixels: np.ndarray | None = None,
    attrs: dict[str, Any] | None = None,
    compression: str | None = None,
    keep_parts: bool = False,
    changed_rows: Sequence[tuple[int, int]] | None = None,
) -> WriteReport:
    """Write ``pixels`` (default: ``like.pixels``) with ``like``'s spec, atomically.

    Channels, pixel type, data/display window, tiling and every attribute are kept;
    ``attrs`` are added (names without a namespace get ``recast/``), e.g.
    ``{"synthetic": 1, "job": "j42"}`` -> ``recast/synthetic``, ``recast/job``.
    EXR stores them with their types, PNG as text; TIFF/JPEG/DPX have no place for them.
    ``compression`` overrides the plate's own. ``keep_parts``: when ``like`` came from a
    multipart EXR, the other parts are copied unchanged from ``like.path`` (re-read
    here) so the output is the whole file with only this part replaced.
    Writers add nothing of their own (no Exif block on a JPEG that had none). One
    storage detail cannot be kept: a TIFF ``tiff:RowsPerStrip`` above the image
    height, other than OIIO's default 32, comes back as the height (still one strip).

    ``changed_rows``: the half-open row ranges (from the data window's first row) outside
    which ``pixels`` are exactly the pixels decoded from ``like.path`` ([] when none
    differ). Given that, an EXR comp of a single-part scanline EXR plate is spliced
    (:mod:`recast.pipeline.exrsplice`): the plate file's compressed chunks are copied where
    no row changed and only the chunks of changed rows are encoded; the pixels decode the
    same as a whole encode (for lossy compressions, untouched rows keep the plate's own
    bytes instead of being compressed a second time). When that cannot be vouched for, the
    whole image is encoded as usual. The report says which was done.
    """
    p = Path(path)
    spec = comp_spec(p, like, attrs, compression)
    data = like.pixels if pixels is None else np.asarray(pixels)
    data = _associated_for_exr(p, like, data)
    reason = None
    if changed_rows is not None:
        report = _try_splice(p, like, data, spec, changed_rows)
        if report.method == "splice":
            return report
        reason = report.reason
    if not keep_parts or like.parts <= 1:
        write_parts(p, [(data, spec)])
        return WriteReport("encode", reason=reason)
    parts: list[tuple[np.ndarray, oiio.ImageSpec]] = []
    for k in range(like.parts):
        if k == like.part:
            parts.append((data, spec))
        else:
            other = read_plate(like.path, k)
            parts.append((other.pixels, other.spec))
    write_parts(p, parts)
    return WriteReport("encode", reason=reason)


def comp_spec(
    path: Path, like: Plate, attrs: dict[str, Any] | None = None, compression: str | None = None
) -> oiio.ImageSpec:
    """The spec :func:`write_plate` writes to ``path``: ``like``'s, plus ``attrs`` and ``compression``."""
    p = Path(path)
    spec = oiio.ImageSpec(like.spec)
    as_text = p.suffix.lower() in _TEXT_ONLY_ATTR_SUFFIXES
    for name, value in (attrs or {}).items():
        key = name if ("/" in name or ":" in name) else RECAST_PREFIX + name
        if as_text and value is not None and not isinstance(value, str):
            value = str(value)
        _set_attr(spec, key, value)
    if compression is not None:
        spec.attribute("compression", _normalise_compression(p, compression))
    _keep_writer_neutral(p, spec)
    for name in _DERIVED_FROM_PIXELS:
        spec.erase_attribute(name)
    if p.suffix.lower() == ".exr":
        _exr_keeps_depth(spec)
    return spec


_WIDE_INTEGERS = frozenset({oiio.UINT16, oiio.INT16, oiio.UINT32, oiio.INT32})


def _exr_keeps_depth(spec: oiio.ImageSpec) -> None:
    """An EXR written from an integer plate (PNG, TIFF, DPX): OpenEXR stores integer colour as
    half, whose 11 bits keep 8- and 10-bit codes but not 12- or 16-bit ones; those are
    written as float (every 16-bit code comes back)."""
    formats = list(spec.channelformats) or [spec.format] * spec.nchannels
    bits = spec.get_int_attribute("oiio:BitsPerSample", 0)
    wide = [f.basetype in _WIDE_INTEGERS and not (0 < bits <= 11) for f in formats]
    if not any(wide):
        return
    if spec.channelformats:
        spec.channelformats = tuple(oiio.TypeDesc(oiio.FLOAT) if w else f for f, w in zip(formats, wide, strict=True))
    else:
        spec.set_format(oiio.TypeDesc(oiio.FLOAT))
    spec.erase_attribute("oiio:BitsPerSample")


def _associated_for_exr(p: Path, like: Plate, data: np.ndarray) -> np.ndarray:
    """``data`` as an EXR holds it: a plate read with straight (unassociated) alpha, a PNG or
    TIFF, has its other channels multiplied by alpha (EXR colour is always premultiplied;
    written as read, every reader would take it as premultiplied and brighten its edges)."""
    a = like.alpha_index
    if p.suffix.lower() != ".exr" or like.premultiplied or a is None or data.ndim != 3 or a >= data.shape[2]:
        return data
    out = np.array(data, dtype=np.float32, copy=True)
    alpha = out[..., a : a + 1].copy()
    others = [i for i in range(out.shape[2]) if i != a]
    out[..., others] *= alpha
    return out


def _try_splice(p: Path, like: Plate, data: np.ndarray, spec: oiio.ImageSpec, rows: Sequence[tuple[int, int]]) -> WriteReport:
    """Splice the comp from ``like``'s file (see :mod:`recast.pipeline.exrsplice`); an ``encode``
    report with the reason when it cannot be."""
    from recast.pipeline.exrsplice import SpliceRefused, splice_scanlines

    if p.suffix.lower() != ".exr" or like.path.suffix.lower() != ".exr" or like.parts != 1:
        return WriteReport("encode", reason="not a single-part EXR plate and comp")
    if data.ndim != 3 or data.shape != (spec.height, spec.width, spec.nchannels):
        return WriteReport("encode", reason=f"pixel shape {data.shape} does not match the spec")
    pixels = np.ascontiguousarray(data, dtype=np.float32)

    def encode(tmp: Path, px: np.ndarray, sp: oiio.ImageSpec) -> None:
        _write_prepared(p, tmp, [_prepare(p, px, sp)])

    try:
        return splice_scanlines(p, like.path, pixels, spec, rows, encode, like.source)
    except SpliceRefused as exc:
        return WriteReport("encode", reason=str(exc))
    except (OSError, PlateError) as exc:  # the whole encode below reports a lasting cause itself
        return WriteReport("encode", reason=f"splice failed ({os_cause(exc)})")


def _keep_writer_neutral(path: Path, spec: oiio.ImageSpec) -> None:
    """Leave out what would make a writer change the plate's attributes on its own.

    JPEG: the reader reports ``oiio:ColorSpace`` sRGB for a file without an Exif colour
    space; handed back, the writer turns it into a new Exif block (``Exif:ColorSpace``,
    ``Exif:ExifVersion``, ``Exif:FlashPixVersion``). Without it the file reads back sRGB
    all the same. TIFF: the writer clamps a given ``tiff:RowsPerStrip`` to the image
    height but writes its own default (32) unclamped, so a short image that had the
    default keeps it only when the attribute is left to the writer.
    """
    ext = path.suffix.lower()
    if ext in _JPEG_SUFFIXES and spec.getattribute("Exif:ColorSpace") is None:
        space = spec.getattribute("oiio:ColorSpace")
        if isinstance(space, str) and space and oiio.equivalent_colorspace(space, "srgb_rec709_scene"):
            spec.erase_attribute("oiio:ColorSpace")
    if ext in _TIFF_SUFFIXES and not spec.tile_width:
        rows = spec.get_int_attribute("tiff:RowsPerStrip", 0)
        if rows == _TIFF_WRITER_DEFAULT_ROWS_PER_STRIP and spec.height < rows:
            spec.erase_attribute("tiff:RowsPerStrip")


def count_nonfinite(pixels: np.ndarray) -> dict[str, int]:
    """``{"nan": n, "inf": n}`` over all samples."""
    arr = np.asarray(pixels)
    if arr.dtype.kind not in "fc":
        return {"nan": 0, "inf": 0}
    nan = inf = 0
    rows = max(1, (1 << 22) // max(1, arr[0].size)) if arr.ndim > 1 else max(1, arr.size)
    for y in range(0, max(1, arr.shape[0]) if arr.ndim else 1, rows):  # bounded temporaries, any frame size
        part = arr[y : y + rows] if arr.ndim else arr
        if np.isfinite(part).all():  # the usual case: one pass, no counts
            continue
        nan += int(np.count_nonzero(np.isnan(part)))
        inf += int(np.count_nonzero(np.isinf(part)))
    return {"nan": nan, "inf": inf}


def new_spec(
    width: int,
    height: int,
    channels: list[str],
    pixel_type: str = "half",
    compression: str | None = None,
    data_window: tuple[int, int, int, int] | None = None,
    attrs: dict[str, Any] | None = None,
) -> oiio.ImageSpec:
    """A fresh spec (display window ``width`` x ``height`` at 0,0; optional smaller data window)."""
    if width <= 0 or height <= 0 or not channels:
        raise PlateError(f"new image spec: invalid size {width}x{height} with {len(channels)} channels")
    bits = 0
    fmt = pixel_type
    if pixel_type in ("uint10", "uint12"):
        bits = int(pixel_type[4:])
        fmt = "uint16"
    dx, dy, dw, dh = data_window or (0, 0, width, height)
    spec = oiio.ImageSpec(dw, dh, len(channels), fmt)
    spec.x, spec.y = dx, dy
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, width, height
    spec.channelnames = tuple(channels)
    if "A" in channels:
        spec.alpha_channel = channels.index("A")
    if bits:
        spec.attribute("oiio:BitsPerSample", bits)
    if compression:
        spec.attribute("compression", compression)
    for k, v in (attrs or {}).items():
        _set_attr(spec, k, v)
    return spec


def same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-exact comparison that treats NaN == NaN (same positions)."""
    if a.shape != b.shape:
        return False
    fa, fb = np.asarray(a, np.float32), np.asarray(b, np.float32)
    nan_a, nan_b = np.isnan(fa), np.isnan(fb)
    if not np.array_equal(nan_a, nan_b):
        return False
    return bool(np.array_equal(np.where(nan_a, 0, fa), np.where(nan_b, 0, fb)))
