"""Write a comp EXR by splicing compressed scanline chunks: copy the plate's untouched
chunks byte for byte, encode only the chunks that hold changed rows.

A comp differs from its plate only where faces were pasted, so its write cost can follow
the face size instead of the frame size. Neither OpenImageIO's nor OpenEXR's Python
bindings expose chunk-level I/O, so this reads and writes the few structures it needs
itself, from the OpenEXR file-format facts:

- a file starts with the magic number 20000630 and a version field (low byte 2; flag
  bits: 0x200 tiled, 0x400 long names, 0x800 deep, 0x1000 multipart);
- then header attributes ``name\\0 type\\0 int32 size, value``, ended by an empty name;
- a single-part scanline file then has its offset table: one uint64 absolute file offset
  per chunk, chunks counted from the data window's first row;
- each chunk is ``int32 y`` (its first row, absolute), ``int32 packed size``, and the
  compressed bytes; a chunk holds 1 (none, rle, zips), 16 (zip, pxr24), 32 (piz, b44,
  b44a, dwaa) or 256 (dwab) rows.

How a comp is spliced (:func:`splice_scanlines`): OpenImageIO encodes only the changed
rows, rounded out to the plate's chunks, into a scratch EXR with the comp's own spec (so
every header attribute is the one the normal writer writes) and a data window limited to
those rows. The comp is then that header with the data window set back to the plate's
(a box2i, the same 16 bytes), a new offset table, the plate's chunks copied raw where no
row changed and the scratch's chunks where some did. The file is written atomically.

Anything this cannot vouch for raises :class:`SpliceRefused`, and the caller encodes the
whole comp as usual (``plateio.write_plate``): a tiled, deep or multipart plate, lines not
in increasing order, another compression or channel list than the comp's, a data window
that differs, an unknown compression, non-float channels, an offset table or chunk that
does not add up (a damaged or truncated plate), or a plate file that changed on disk since
it was read. The comp's pixels are all in memory, so a refusal never loses a frame.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from recast.pipeline.atomic import atomic_path, temp_path_for

MAGIC = 20000630
_FLAG_TILED, _FLAG_LONG_NAMES, _FLAG_DEEP, _FLAG_MULTIPART = 0x200, 0x400, 0x800, 0x1000
_KNOWN_FLAGS = _FLAG_TILED | _FLAG_LONG_NAMES | _FLAG_DEEP | _FLAG_MULTIPART

# compression enum -> (name, rows per chunk); HTJ2K and anything newer is refused
COMPRESSIONS: dict[int, tuple[str, int]] = {
    0: ("none", 1), 1: ("rle", 1), 2: ("zips", 1), 3: ("zip", 16), 4: ("piz", 32),
    5: ("pxr24", 16), 6: ("b44", 32), 7: ("b44a", 32), 8: ("dwaa", 32), 9: ("dwab", 256),
}
_BY_NAME = {name: code for code, (name, _) in COMPRESSIONS.items()}

_HEADER_READ = 1 << 16  # first read of a header; more is read when the header is longer
_MAX_HEADER = 64 << 20  # a header past this is not a plate we splice
_COPY_BLOCK = 8 << 20


class SpliceRefused(Exception):
    """This comp cannot be spliced (the message says why); encode it whole instead."""


@dataclass(frozen=True)
class FileIdentity:
    """What a file was when it was read: a different identity means its bytes may differ."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Attribute:
    type: str
    offset: int  # of the value, in the file
    size: int


@dataclass(frozen=True)
class ScanlineFile:
    """The parts of a single-part scanline EXR the splice needs (nothing decoded)."""

    header: bytes  # magic .. the header's closing zero byte
    attrs: dict[str, Attribute]
    data_window: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive, as stored
    compression: int
    rows_per_chunk: int
    offsets: tuple[int, ...]  # absolute, one per chunk
    file_size: int

    def value(self, name: str) -> bytes:
        a = self.attrs[name]
        return self.header[a.offset : a.offset + a.size]

    @property
    def chunk_count(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True)
class WriteReport:
    """How a comp was written: ``splice`` (``encoded`` of ``chunks`` chunks encoded, the rest
    copied from the plate file) or ``encode`` (the whole image encoded; ``reason`` says why a
    splice was refused, None when none was asked for)."""

    method: str
    chunks: int = 0
    encoded: int = 0
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "chunks": self.chunks, "encoded": self.encoded, "reason": self.reason}


def compression_code(name: str) -> int | None:
    """The EXR compression enum of OIIO's compression name (``"zip"``, ``"dwaa:45"``...)."""
    return _BY_NAME.get(name.split(":", 1)[0].strip().lower() or "none")


def chunk_ranges(rows: Sequence[tuple[int, int]], height: int, rows_per_chunk: int) -> list[tuple[int, int]]:
    """Half-open chunk index ranges ``[k0, k1)`` holding the half-open row ranges ``rows``
    (rows counted from the data window's first row), merged where they touch."""
    n = -(-height // rows_per_chunk)
    spans = sorted(
        (max(0, y0) // rows_per_chunk, min(n, -(-min(height, y1) // rows_per_chunk)))
        for y0, y1 in rows
        if min(height, y1) > max(0, y0)
    )
    merged: list[tuple[int, int]] = []
    for k0, k1 in spans:
        if merged and k0 <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], k1))
        else:
            merged.append((k0, k1))
    return merged


def read_scanline_file(fd: int, what: str) -> ScanlineFile:
    """Parse the header and offset table of the open EXR ``fd``; SpliceRefused when it is not a
    single-part scanline file we can splice, or its table does not fit in the file."""
    size = os.fstat(fd).st_size
    buf = bytearray(os.pread(fd, min(size, _HEADER_READ), 0))

    def need(end: int) -> None:
        while len(buf) < end:
            if len(buf) >= min(size, _MAX_HEADER):
                raise SpliceRefused(f"{what}: header runs past {'the end of the file' if len(buf) >= size else 'the size limit'}")
            more = os.pread(fd, min(len(buf), _MAX_HEADER - len(buf), size - len(buf)), len(buf))
            if not more:
                raise SpliceRefused(f"{what}: file shorter than its header")
            buf.extend(more)

    def cstring(pos: int) -> tuple[str, int]:
        while True:
            end = buf.find(b"\0", pos, pos + 256)
            if end >= 0:
                return buf[pos:end].decode("latin-1"), end + 1
            if len(buf) >= pos + 256:
                raise SpliceRefused(f"{what}: attribute name or type longer than 255 bytes")
            need(len(buf) + 1)

    need(8)
    magic, version = struct.unpack_from("<ii", buf, 0)
    if magic != MAGIC:
        raise SpliceRefused(f"{what}: not an OpenEXR file")
    if version & 0xFF != 2 or version & ~0xFF & ~_KNOWN_FLAGS:
        raise SpliceRefused(f"{what}: EXR version field {version:#x} not understood")
    if version & (_FLAG_TILED | _FLAG_DEEP | _FLAG_MULTIPART):
        raise SpliceRefused(f"{what}: tiled, deep or multipart EXR")
    attrs: dict[str, Attribute] = {}
    pos = 8
    while True:
        name, pos = cstring(pos)
        if not name:
            break
        typ, pos = cstring(pos)
        need(pos + 4)
        (length,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        if length < 0:
            raise SpliceRefused(f"{what}: attribute {name} has a negative size")
        need(pos + length)
        if name in attrs:
            raise SpliceRefused(f"{what}: attribute {name} given twice")
        attrs[name] = Attribute(typ, pos, length)
        pos += length
    header = bytes(buf[:pos])

    def get(name: str, typ: str, n: int) -> bytes:
        a = attrs.get(name)
        if a is None or a.type != typ or a.size != n:
            raise SpliceRefused(f"{what}: no {typ} attribute {name}")
        return header[a.offset : a.offset + n]

    if "tiles" in attrs:
        raise SpliceRefused(f"{what}: tiled header")
    if "type" in attrs and header[attrs["type"].offset : attrs["type"].offset + attrs["type"].size] != b"scanlineimage":
        raise SpliceRefused(f"{what}: not a scanline image")
    x0, y0, x1, y1 = struct.unpack("<4i", get("dataWindow", "box2i", 16))
    if x1 < x0 or y1 < y0:
        raise SpliceRefused(f"{what}: empty data window")
    if get("lineOrder", "lineOrder", 1) != b"\0":
        raise SpliceRefused(f"{what}: scanlines not stored in increasing order")
    code = get("compression", "compression", 1)[0]
    if code not in COMPRESSIONS:
        raise SpliceRefused(f"{what}: compression {code} not spliced")
    if "channels" not in attrs or attrs["channels"].type != "chlist":
        raise SpliceRefused(f"{what}: no channel list")
    lines = COMPRESSIONS[code][1]
    n = -(-(y1 - y0 + 1) // lines)
    if "chunkCount" in attrs and struct.unpack("<i", get("chunkCount", "int", 4))[0] != n:
        raise SpliceRefused(f"{what}: chunkCount is not the {n} chunks of its data window")
    table_end = pos + 8 * n
    if table_end > size:
        raise SpliceRefused(f"{what}: offset table runs past the end of the file (truncated)")
    offsets = struct.unpack(f"<{n}Q", os.pread(fd, 8 * n, pos))
    for i, off in enumerate(offsets):
        if not table_end <= off <= size - 8:
            raise SpliceRefused(f"{what}: chunk {i} offset {off} outside the file (incomplete or damaged)")
    return ScanlineFile(header, attrs, (x0, y0, x1, y1), code, lines, offsets, size)


def chunk_extent(fd: int, f: ScanlineFile, index: int, what: str) -> int:
    """Bytes of chunk ``index`` (its 8-byte prefix included), checked against where it must start."""
    off = f.offsets[index]
    y, packed = struct.unpack("<ii", os.pread(fd, 8, off))
    expect = f.data_window[1] + index * f.rows_per_chunk
    if y != expect:
        raise SpliceRefused(f"{what}: chunk {index} holds row {y}, not {expect} (damaged)")
    if packed < 0 or off + 8 + packed > f.file_size:
        raise SpliceRefused(f"{what}: chunk {index} runs past the end of the file (truncated)")
    return 8 + packed


def splice_scanlines(
    final: Path,
    plate_path: Path,
    pixels: np.ndarray,
    spec: oiio.ImageSpec,
    changed_rows: Sequence[tuple[int, int]],
    encode: Callable[[Path, np.ndarray, oiio.ImageSpec], None],
    identity: FileIdentity | None = None,
) -> WriteReport:
    """Write the comp ``pixels`` (H, W, C over ``spec``'s data window) to ``final`` from the
    plate file's own chunks, encoding only the chunks that hold ``changed_rows``.

    ``changed_rows``: half-open row ranges, counted from the data window's first row, outside
    which ``pixels`` are exactly the plate file's decoded pixels. ``spec``: the comp's
    OpenImageIO spec (what the normal writer would write). ``encode(path, pixels, spec)``
    writes an EXR (no fsync needed). ``identity``: the plate file as it was read; another
    file there now is refused. Raises SpliceRefused (nothing written) when the comp cannot
    be spliced; OSError when the file system fails.
    """
    what = str(plate_path)
    fmt = [str(f) for f in spec.channelformats] if spec.channelformats else [str(spec.format)]
    if any(f not in ("half", "float") for f in fmt):
        raise SpliceRefused(f"{final}: channel types {','.join(fmt)} (only half/float splice bit-exactly)")
    if spec.tile_width or spec.deep:
        raise SpliceRefused(f"{final}: tiled or deep comp")
    code = compression_code(str(spec.getattribute("compression") or "none"))
    if code is None:
        raise SpliceRefused(f"{final}: compression {spec.getattribute('compression')} not spliced")
    h, w = int(spec.height), int(spec.width)
    if pixels.shape[:2] != (h, w):
        raise SpliceRefused(f"{final}: pixels {pixels.shape[:2]} do not match the spec {h}x{w}")
    window = (int(spec.x), int(spec.y), int(spec.x) + w - 1, int(spec.y) + h - 1)

    final.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(plate_path, os.O_RDONLY)
    scratch: list[Path] = []
    try:
        if identity is not None and FileIdentity.of(os.fstat(fd)) != identity:
            raise SpliceRefused(f"{what}: changed on disk since it was read")
        plate = read_scanline_file(fd, what)
        if plate.data_window != window:
            raise SpliceRefused(f"{what}: data window {plate.data_window} is not the comp's {window}")
        if plate.compression != code:
            raise SpliceRefused(f"{what}: stored {COMPRESSIONS[plate.compression][0]}, comp {COMPRESSIONS[code][0]}")
        lines = plate.rows_per_chunk
        ranges = chunk_ranges(changed_rows, h, lines)
        # nothing changed: the first chunk is still encoded, for the header; its chunk is not used
        bands = ranges or [(0, 1)]
        sources: list[tuple[int, ScanlineFile, int, str]] = [(fd, plate, i, what) for i in range(plate.chunk_count)]
        header: bytes | None = None
        band_fds: list[int] = []
        try:
            for k0, k1 in bands:
                r0, r1 = k0 * lines, min(h, k1 * lines)
                band_spec = oiio.ImageSpec(spec)
                band_spec.y, band_spec.height = window[1] + r0, r1 - r0
                tmp = temp_path_for(final)
                scratch.append(tmp)
                encode(tmp, pixels[r0:r1], band_spec)
                bfd = os.open(tmp, os.O_RDONLY)
                band_fds.append(bfd)
                band = read_scanline_file(bfd, f"{final} (scratch)")
                _check_band(band, plate, (window[0], window[1] + r0, window[2], window[1] + r1 - 1), k1 - k0, final)
                if header is None:
                    header = _with_data_window(band, plate.value("dataWindow"))
                if ranges:
                    for j in range(k1 - k0):
                        sources[k0 + j] = (bfd, band, j, f"{final} (scratch)")
            assert header is not None
            _assemble(final, header, sources)
        finally:
            for bfd in band_fds:
                os.close(bfd)
    finally:
        os.close(fd)
        for tmp in scratch:
            tmp.unlink(missing_ok=True)
    return WriteReport("splice", chunks=plate.chunk_count, encoded=sum(k1 - k0 for k0, k1 in ranges))


def _check_band(band: ScanlineFile, plate: ScanlineFile, window: tuple[int, int, int, int], chunks: int, final: Path) -> None:
    """The scratch must hold the plate's chunk layout: same channels and compression, the band's rows."""
    if "chunkCount" in band.attrs:  # would have to count the whole comp's chunks
        raise SpliceRefused(f"{final}: the encoder wrote a chunkCount")
    if band.data_window != window or band.chunk_count != chunks:
        raise SpliceRefused(f"{final}: encoded band {band.data_window} is not the expected {window}")
    if band.compression != plate.compression or band.value("channels") != plate.value("channels"):
        raise SpliceRefused(f"{final}: the comp's channels or compression differ from the plate file's")


def _with_data_window(band: ScanlineFile, window: bytes) -> bytes:
    a = band.attrs["dataWindow"]
    return band.header[: a.offset] + window + band.header[a.offset + a.size :]


def _assemble(final: Path, header: bytes, sources: list[tuple[int, ScanlineFile, int, str]]) -> None:
    """Header, offset table, then every chunk from its source, runs of adjacent bytes copied at once."""
    extents = [(sfd, f.offsets[i], chunk_extent(sfd, f, i, label)) for sfd, f, i, label in sources]
    table = bytearray()
    pos = len(header) + 8 * len(extents)
    for _, _, n in extents:
        table += struct.pack("<Q", pos)
        pos += n
    runs: list[list[int]] = []  # [fd, offset, length]
    for sfd, off, n in extents:
        if runs and runs[-1][0] == sfd and runs[-1][1] + runs[-1][2] == off:
            runs[-1][2] += n
        else:
            runs.append([sfd, off, n])
    with atomic_path(final) as tmp:
        with open(tmp, "wb") as out:
            out.write(header)
            out.write(table)
            out.flush()
            ofd = out.fileno()
            for sfd, off, n in runs:
                _copy(sfd, off, n, ofd)
            if os.fstat(ofd).st_size != pos:
                raise OSError(f"{final}: wrote {os.fstat(ofd).st_size} bytes, expected {pos}")


def _copy(src: int, offset: int, length: int, dst: int) -> None:
    """``length`` bytes of ``src`` from ``offset`` appended to ``dst`` (in the kernel when it can)."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(src, dst, length - done, offset + done)
            if n <= 0:
                break
            done += n
    except (OSError, AttributeError):
        pass  # not supported here: copy through user space below
    os.lseek(dst, 0, os.SEEK_END)
    while done < length:
        block = os.pread(src, min(_COPY_BLOCK, length - done), offset + done)
        if not block:
            raise OSError(f"source ended {length - done} bytes early")
        view = memoryview(block)
        while view:
            view = view[os.write(dst, view) :]
        done += len(block)
