"""Spliced comps (pipeline.exrsplice through plateio.write_plate): the plate file's untouched
compressed chunks copied, only the changed rows' chunks encoded. Every spliced comp is checked
against the whole-image encode of the same pixels, on EXRs written here by OpenImageIO."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from recast.pipeline.exrsplice import read_scanline_file
from recast.pipeline.plateio import ROUND_TRIP_IGNORED, Plate, read_plate, same_pixels, write_plate
from tests._fixtures_plates import make_exr, make_multipart_exr

# rows per chunk of each compression, from the OpenEXR file format
ROWS = {"none": 1, "rle": 1, "zips": 1, "zip": 16, "piz": 32, "pxr24": 16, "b44": 32, "b44a": 32, "dwaa": 32, "dwab": 256}
LOSSY = {"b44", "b44a", "dwaa", "dwab"}
STAMP = {"DateTime": "2026:12:03 04:05:06", "Copyright": "splice test"}
ATTRS = {"synthetic": 1, "job": "j7", "frame": 1042}


def _header(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_scanline_file(fd, str(path)).header
    finally:
        os.close(fd)


def _changed(plate: Plate, bands: list[tuple[int, int]]) -> np.ndarray:
    """The plate's pixels with a soft square pasted into each band of rows (columns 10..50)."""
    out = plate.pixels.copy()
    for y0, y1 in bands:
        out[y0:y1, 10:50, :3] = np.linspace(0.1, 3.0, (y1 - y0) * 40 * 3, dtype=np.float32).reshape(y1 - y0, 40, 3)
    if plate.pixel_type == "half":  # values the file can hold, so a lossless write gives them back
        out = out.astype(np.float16).astype(np.float32)
    return out


def _expected_chunks(bands: list[tuple[int, int]], height: int, rows: int) -> set[int]:
    return {k for y0, y1 in bands for k in range(y0 // rows, (y1 - 1) // rows + 1) if k * rows < height}


def _attrs(plate: Plate) -> dict:
    return {k: v for k, v in plate.attributes.items() if k not in ROUND_TRIP_IGNORED}


@pytest.mark.parametrize("compression", sorted(ROWS))
@pytest.mark.parametrize("pixel_type", ["half", "float"])
@pytest.mark.parametrize(("channels", "window"), [(("R", "G", "B", "A"), (5, 37, 72, 300)), (("R", "G", "B"), None)])
def test_splice_decodes_as_the_whole_encode(tmp_path: Path, compression: str, pixel_type: str,
                                            channels: tuple[str, ...], window: tuple[int, int, int, int] | None) -> None:
    make_exr(tmp_path / "plate.exr", width=72, height=340, channels=channels, pixel_type=pixel_type,
             compression=compression, data_window=window, attrs=STAMP, seed=3)
    plate = read_plate(tmp_path / "plate.exr")
    h = plate.pixels.shape[0]
    bands = [(40, 42), (70, 101), (230, 236), (h - 4, h)]  # faces apart, one in the short last chunk
    comp = _changed(plate, bands)
    report = write_plate(tmp_path / "splice.exr", plate, comp, attrs=ATTRS, changed_rows=bands)
    whole = write_plate(tmp_path / "whole.exr", plate, comp, attrs=ATTRS)
    rows = ROWS[compression]
    touched = _expected_chunks(bands, h, rows)
    assert (report.method, report.chunks, report.encoded) == ("splice", -(-h // rows), len(touched)), report
    assert whole.method == "encode" and whole.reason is None

    spliced, encoded = read_plate(tmp_path / "splice.exr"), read_plate(tmp_path / "whole.exr")
    # the header is the whole encode's, byte for byte (data window, attributes, channels, ours)
    assert _header(tmp_path / "splice.exr") == _header(tmp_path / "whole.exr")
    assert _attrs(spliced) == _attrs(encoded) and spliced.attributes["recast/frame"] == 1042
    assert spliced.data_window == plate.data_window and spliced.display_window == plate.display_window
    assert spliced.channel_names == list(channels) and spliced.pixel_type == pixel_type
    band_rows = np.zeros(h, bool)
    for k in touched:
        band_rows[k * rows : (k + 1) * rows] = True
    # changed chunks: what the whole encode makes of them
    assert same_pixels(spliced.pixels[band_rows], encoded.pixels[band_rows])
    # the other rows: the plate file's own decode, bit for bit (NaN and Inf where they were)
    assert same_pixels(spliced.pixels[~band_rows], plate.pixels[~band_rows])
    if compression not in LOSSY and not (compression == "pxr24" and pixel_type == "float"):
        assert same_pixels(spliced.pixels, comp)  # lossless: exactly the comp, every row
        assert np.isnan(comp[~band_rows]).any()


@pytest.mark.parametrize("compression", ["piz", "dwaa"])
def test_unchanged_frame_copies_every_chunk(tmp_path: Path, compression: str) -> None:
    make_exr(tmp_path / "plate.exr", width=64, height=100, compression=compression, attrs=STAMP, seed=1)
    plate = read_plate(tmp_path / "plate.exr")
    report = write_plate(tmp_path / "comp.exr", plate, attrs=ATTRS, changed_rows=[])
    assert (report.method, report.encoded) == ("splice", 0)
    comp = read_plate(tmp_path / "comp.exr")
    assert same_pixels(comp.pixels, plate.pixels)  # even DWAA: nothing compressed twice
    assert comp.attributes["recast/job"] == "j7"
    # the chunks are the plate file's bytes
    plate_bytes, comp_bytes = (tmp_path / "plate.exr").read_bytes(), (tmp_path / "comp.exr").read_bytes()
    n = report.chunks
    p_start = len(_header(tmp_path / "plate.exr")) + 8 * n
    c_start = len(_header(tmp_path / "comp.exr")) + 8 * n
    assert comp_bytes[c_start:] == plate_bytes[p_start:]
    assert len(comp_bytes) - c_start == len(plate_bytes) - p_start > 1000


def _refused(tmp_path: Path, plate: Plate, bands: list[tuple[int, int]], **kw) -> str:
    """Write with a splice asked for: it must be refused and the comp be the whole encode."""
    comp = _changed(plate, bands)
    report = write_plate(tmp_path / "comp.exr", plate, comp, attrs=ATTRS, changed_rows=bands, **kw)
    write_plate(tmp_path / "whole.exr", plate, comp, attrs=ATTRS, **kw)
    assert report.method == "encode" and report.reason, report
    assert same_pixels(read_plate(tmp_path / "comp.exr").pixels, read_plate(tmp_path / "whole.exr").pixels)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left behind
    return report.reason


def test_tiled_plate_is_encoded_whole(tmp_path: Path) -> None:
    make_exr(tmp_path / "plate.exr", width=64, height=80, compression="zip", tile=16, attrs=STAMP)
    assert "tiled" in _refused(tmp_path, read_plate(tmp_path / "plate.exr"), [(20, 30)])


def test_multipart_plate_is_encoded_whole(tmp_path: Path) -> None:
    make_multipart_exr(tmp_path / "plate.exr", [("beauty", ("R", "G", "B")), ("depth", ("Z",))], width=64, height=48)
    plate = read_plate(tmp_path / "plate.exr", "beauty")
    assert "single-part" in _refused(tmp_path, plate, [(4, 9)], keep_parts=True)


def test_other_compression_or_line_order_is_encoded_whole(tmp_path: Path) -> None:
    make_exr(tmp_path / "plate.exr", width=64, height=90, compression="piz", attrs=STAMP)
    plate = read_plate(tmp_path / "plate.exr")
    assert "comp zip" in _refused(tmp_path, plate, [(40, 50)], compression="zip")
    make_exr(tmp_path / "down.exr", width=64, height=90, compression="zip",
             attrs={**STAMP, "openexr:lineOrder": "decreasingY"})
    assert "increasing order" in _refused(tmp_path, read_plate(tmp_path / "down.exr"), [(40, 50)])


def test_plate_replaced_since_it_was_read_is_encoded_whole(tmp_path: Path) -> None:
    make_exr(tmp_path / "plate.exr", width=64, height=90, compression="zip", attrs=STAMP, seed=1)
    plate = read_plate(tmp_path / "plate.exr")
    assert plate.source is not None
    make_exr(tmp_path / "plate.exr", width=64, height=90, compression="zip", attrs=STAMP, seed=2)
    assert "changed on disk" in _refused(tmp_path, plate, [(40, 50)])


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    header = len(_header(path))
    first = struct.unpack_from("<Q", data, header)[0]
    if how == "truncated":
        del data[len(data) - 100 :]
    elif how == "table":
        struct.pack_into("<Q", data, header + 8, 0)  # an incomplete offset table (killed writer)
    elif how == "row":
        struct.pack_into("<i", data, first, 999)  # the first chunk says it holds another row
    elif how == "size":
        struct.pack_into("<i", data, first + 4, 1 << 30)  # its packed size runs past the end
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "table", "row", "size"])
def test_damaged_plate_file_is_never_spliced(tmp_path: Path, how: str) -> None:
    make_exr(tmp_path / "plate.exr", width=64, height=120, compression="zip", attrs=STAMP, nonfinite=False)
    plate = read_plate(tmp_path / "plate.exr")
    _damage(tmp_path / "plate.exr", how)
    # as if it had been damaged before it was read (same file identity as the one decoded)
    plate = dataclasses.replace(plate, source=None)
    reason = _refused(tmp_path, plate, [(50, 60)])
    assert str(tmp_path / "plate.exr") in reason and "\n" not in reason


def test_plate_with_a_chunk_count_is_spliced(tmp_path: Path) -> None:
    """Some writers add ``chunkCount`` to single-part files: it is checked, and still spliced."""
    make_exr(tmp_path / "plate.exr", width=64, height=100, compression="zip", attrs=STAMP, nonfinite=False)
    data = bytearray((tmp_path / "plate.exr").read_bytes())
    end = len(_header(tmp_path / "plate.exr"))
    n = 7  # 100 rows of 16
    for count, spliced in ((n, True), (n + 1, False)):
        extra = b"chunkCount\0int\0" + struct.pack("<ii", 4, count)
        offsets = [off + len(extra) for off in struct.unpack_from(f"<{n}Q", data, end)]
        fixed = data[: end - 1] + extra + b"\0" + struct.pack(f"<{n}Q", *offsets) + data[end + 8 * n :]
        (tmp_path / "counted.exr").write_bytes(bytes(fixed))
        plate = read_plate(tmp_path / "counted.exr")
        comp = _changed(plate, [(30, 40)])
        report = write_plate(tmp_path / "comp.exr", plate, comp, attrs=ATTRS, changed_rows=[(30, 40)])
        assert (report.method == "splice") is spliced, report
        assert same_pixels(read_plate(tmp_path / "comp.exr").pixels, comp)


def test_second_reader_opens_a_spliced_comp(tmp_path: Path) -> None:
    """OpenEXR's own Python binding (not OpenImageIO) reads the spliced comp's pixels."""
    exr = pytest.importorskip("OpenEXR")
    make_exr(tmp_path / "plate.exr", width=64, height=200, compression="piz", data_window=(2, 9, 64, 180),
             attrs=STAMP, nonfinite=False)
    plate = read_plate(tmp_path / "plate.exr")
    comp = _changed(plate, [(60, 90)])
    assert write_plate(tmp_path / "comp.exr", plate, comp, attrs=ATTRS, changed_rows=[(60, 90)]).method == "splice"
    with exr.File(str(tmp_path / "comp.exr")) as f:
        window = [tuple(int(v) for v in corner) for corner in f.header()["dataWindow"]]
        ch = f.channels()
        rgba = ch["RGBA"].pixels if "RGBA" in ch else np.dstack([ch[c].pixels for c in ("R", "G", "B", "A")])
    assert window == [(2, 9), (65, 188)]
    assert same_pixels(np.asarray(rgba, np.float32), comp)


def test_engine_comps_splice_to_the_whole_encode(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A real swap (astronaut plate with an AOV, NaN/Inf and an offset data window; warp actor):
    the spliced comps are the whole-encode comps, header and pixels, and the record says how."""
    from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, no_face_rgb, write_aov_plate
    from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
    from recast.pipeline.sequence import PlateSequence

    work = tmp_path_factory.mktemp("actor")
    with pytest.MonkeyPatch.context():
        actor = build_tom_hanks_actor(work / "models", work)
    plates = tmp_path / "plate"
    plates.mkdir()
    write_aov_plate(plates / "shot.1001.exr", astronaut_linear(0))
    write_aov_plate(plates / "shot.1002.exr", no_face_rgb()[:512, :512])
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    comps = {}
    for splice in (True, False):
        out = tmp_path / ("splice" if splice else "whole")
        eng = Engine(seq, {actor.name: actor}, SwapSettings(), OutputLayout(out, seq.name, seq.padding), job_id="t1", splice=splice)
        comps[splice] = eng.run(seq.frames)
    swapped, empty = comps[True]
    assert swapped["status"] == "done" and empty["status"] == "passthrough"
    assert swapped["comp_write"]["method"] == "splice" and 0 < swapped["comp_write"]["encoded"] < swapped["comp_write"]["chunks"]
    rows = read_plate(plates / "shot.1002.exr").pixels.shape[0]
    assert empty["comp_write"] == {"method": "splice", "chunks": -(-rows // 32), "encoded": 0, "reason": None}  # PIZ
    for spliced, whole in zip(comps[True], comps[False], strict=True):
        assert whole["comp_write"]["method"] == "encode"
        assert _header(Path(spliced["comp"])) == _header(Path(whole["comp"]))
        a, b = read_plate(spliced["comp"]), read_plate(whole["comp"])
        assert same_pixels(a.pixels, b.pixels) and np.isnan(a.pixels).any()
    face = read_plate(comps[True][0]["comp"]).pixels
    assert not same_pixels(face, read_plate(plates / "shot.1001.exr").pixels)  # the face was swapped
