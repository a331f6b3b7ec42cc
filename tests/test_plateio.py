"""Plate I/O: bit-exact read -> write -> read round trips and spec preservation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from recast.pipeline.errors import PlateError
from recast.pipeline.plateio import (
    DEFAULT_LIMITS,
    ROUND_TRIP_IGNORED,
    ReadLimits,
    apply_oiio_limits,
    check_spec,
    count_nonfinite,
    new_spec,
    read_header,
    read_plate,
    same_pixels,
    write_image,
    write_plate,
)
from tests._fixtures_plates import make_exr, make_multipart_exr, photo, plate_pixels


def _attrs(plate) -> dict:
    """Every attribute but ours (``recast/``) and the documented read-side ones."""
    return {k: v for k, v in plate.attributes.items() if k not in ROUND_TRIP_IGNORED and not k.startswith("recast/")}


def _round_trip(src: Path, tmp: Path, **write_kw):
    a = read_plate(src)
    out = tmp / f"rt_{src.name}"
    write_plate(out, a, **write_kw)
    b = read_plate(out)
    return a, b


@pytest.mark.parametrize("compression", ["none", "zip", "zips", "piz", "rle"])
@pytest.mark.parametrize("pixel_type", ["half", "float"])
def test_exr_round_trip_exact(tmp_path: Path, compression: str, pixel_type: str) -> None:
    src = tmp_path / "plate.exr"
    written = make_exr(
        src,
        width=40,
        height=30,
        channels=("R", "G", "B", "A", "Z", "N.x"),
        pixel_type=pixel_type,
        compression=compression,
        data_window=(3, 2, 33, 25),
        attrs={"DateTime": "2026:01:02 03:04:05", "Copyright": "unit", "nuke/node": "Read1", "custom/f": 2.5},
    )
    a, b = _round_trip(src, tmp_path, attrs={"synthetic": 1, "job": "j1"})
    # the first read is exactly what was written (half: after half quantisation)
    expect = written.astype(np.float16).astype(np.float32) if pixel_type == "half" else written
    assert same_pixels(a.pixels, expect)
    assert same_pixels(a.pixels, b.pixels)
    assert count_nonfinite(b.pixels) == {"nan": 1, "inf": 2}
    assert b.channel_names == ["R", "G", "B", "A", "Z", "N.x"]
    assert b.pixel_type == pixel_type
    assert b.compression == compression
    assert b.data_window == (3, 2, 33, 25)
    assert b.display_window == (0, 0, 40, 30)
    assert _attrs(a) == _attrs(b)
    assert b.attributes["Copyright"] == "unit" and b.attributes["custom/f"] == 2.5
    assert b.attributes["DateTime"] == "2026:01:02 03:04:05"  # the plate's own date, not the write time
    assert b.attributes["recast/synthetic"] == 1 and b.attributes["recast/job"] == "j1"
    assert b.rgb_indices == (0, 1, 2) and b.alpha_index == 3


def test_mixed_channel_types_and_tiles_kept(tmp_path: Path) -> None:
    src = tmp_path / "mixed.exr"
    spec = new_spec(32, 16, ["R", "G", "B", "Z"], "half", "piz")
    spec.channelformats = (oiio.TypeHalf, oiio.TypeHalf, oiio.TypeHalf, oiio.TypeFloat)
    spec.tile_width = spec.tile_height = 16
    write_image(src, plate_pixels(32, 16, ["R", "G", "B", "Z"]), spec)
    a, b = _round_trip(src, tmp_path)
    assert a.pixel_type == "half,half,half,float"
    assert b.pixel_type == a.pixel_type
    assert (b.spec.tile_width, b.spec.tile_height) == (16, 16)
    assert same_pixels(a.pixels, b.pixels)
    # the float Z keeps precision a half would lose
    assert not np.array_equal(b.pixels[..., 3], b.pixels[..., 3].astype(np.float16).astype(np.float32))


def test_compression_override(tmp_path: Path) -> None:
    src = tmp_path / "p.exr"
    make_exr(src, compression="zip")
    a, b = _round_trip(src, tmp_path, compression="piz")
    assert b.compression == "piz" and same_pixels(a.pixels, b.pixels)
    with pytest.raises(PlateError, match="unknown EXR compression"):
        write_plate(tmp_path / "bad.exr", a, compression="lzma")
    assert not (tmp_path / "bad.exr").exists()


def test_multipart_part_by_index_and_name(tmp_path: Path) -> None:
    src = tmp_path / "multi.exr"
    datas = make_multipart_exr(src, [("beauty", ("R", "G", "B", "A")), ("depth", ("Z",)), ("diffuse", ("R", "G", "B"))])
    p0 = read_plate(src)
    assert p0.part == 0 and p0.part_name == "beauty" and p0.parts == 3
    named = read_plate(src, part="diffuse")
    assert named.part == 2 and named.channel_names == ["R", "G", "B"]
    assert same_pixels(named.pixels, datas[2].astype(np.float16).astype(np.float32))
    depth = read_plate(src, part=1)
    assert depth.part_name == "depth" and depth.rgb_indices is None
    with pytest.raises(PlateError, match="no part named 'specular'"):
        read_plate(src, part="specular")
    with pytest.raises(PlateError, match="part 5 out of range"):
        read_plate(src, part=5)
    hdr = read_header(src, part="depth")
    assert hdr.parts == 3 and hdr.part_names == ["beauty", "depth", "diffuse"]


def _rgba16(tmp_path: Path, ext: str) -> tuple[Path, np.ndarray]:
    """16-bit RGBA with partial alpha: the colour must NOT come back premultiplied."""
    pix = np.concatenate([photo(24, 20), np.linspace(0.1, 0.9, 24, dtype=np.float32)[None, :, None].repeat(20, 0)], 2)
    q = np.round(pix * 65535) / 65535
    p = tmp_path / f"rgba16.{ext}"
    write_image(
        p, q.astype(np.float32), new_spec(24, 20, ["R", "G", "B", "A"], "uint16", attrs={"oiio:UnassociatedAlpha": 1})
    )
    return p, q.astype(np.float32)


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_with_alpha_exact(tmp_path: Path, ext: str) -> None:
    src, stored = _rgba16(tmp_path, ext)
    a, b = _round_trip(src, tmp_path)
    assert a.pixel_type == "uint16" and b.pixel_type == "uint16"
    # unassociated: the stored 16-bit codes come back, colour not multiplied by alpha
    assert np.array_equal(np.round(a.pixels * 65535), np.round(stored * 65535))
    assert np.array_equal(a.pixels, b.pixels)
    assert _attrs(a) == _attrs(b)  # tiff:RowsPerStrip included (32 on a 20-row image)


def test_png_8bit_exact_and_jpeg_close(tmp_path: Path) -> None:
    img = photo(30, 20)
    png, jpg = tmp_path / "a.png", tmp_path / "a.jpg"
    write_image(png, img, new_spec(30, 20, ["R", "G", "B"], "uint8"))
    write_image(jpg, img, new_spec(30, 20, ["R", "G", "B"], "uint8", attrs={"Compression": "jpeg:95"}))
    a, b = _round_trip(png, tmp_path)
    assert a.pixel_type == "uint8" and np.array_equal(a.pixels, b.pixels)
    assert np.array_equal(np.round(a.pixels * 255), np.round(img * 255))
    assert _attrs(a) == _attrs(b)
    ja, jb = _round_trip(jpg, tmp_path)
    assert jb.pixel_type == "uint8" and jb.channel_names == ["R", "G", "B"]
    assert float(np.abs(ja.pixels - jb.pixels).mean()) < 0.02  # lossy, but the same picture
    assert _attrs(ja) == _attrs(jb) and "Exif:ExifVersion" not in jb.attributes  # no Exif block made up
    assert jb.attributes["oiio:ColorSpace"] == ja.attributes["oiio:ColorSpace"]
    exif = tmp_path / "exif.jpg"  # a JPEG that does carry Exif keeps it
    write_image(exif, img, new_spec(30, 20, ["R", "G", "B"], "uint8", attrs={"Exif:ColorSpace": 1, "Make": "ARRI"}))
    ea, eb = _round_trip(exif, tmp_path)
    assert _attrs(ea) == _attrs(eb) and eb.attributes["Exif:ColorSpace"] == 1 and eb.attributes["Make"] == "ARRI"



def test_dpx_10bit_exact(tmp_path: Path) -> None:
    src = tmp_path / "scan.dpx"
    codes = np.random.default_rng(3).integers(0, 1024, (12, 16, 3))
    write_image(src, (codes / 1023.0).astype(np.float32), new_spec(16, 12, ["R", "G", "B"], "uint10"))
    a, b = _round_trip(src, tmp_path)
    assert a.pixel_type == "uint10" and b.pixel_type == "uint10"
    assert np.array_equal(np.round(a.pixels * 1023).astype(int), codes)
    assert np.array_equal(a.pixels, b.pixels)
    assert _attrs(a) == _attrs(b)


def test_display_pixels_places_data_window(tmp_path: Path) -> None:
    src = tmp_path / "dw.exr"
    make_exr(src, width=20, height=10, data_window=(-2, 3, 8, 4), nonfinite=False)
    plate = read_plate(src)
    full = plate.display_pixels()
    assert full.shape == (10, 20, 4)
    assert np.array_equal(full[3:7, 0:6], plate.pixels[:, 2:8])
    assert not full[:3].any() and not full[7:].any() and not full[:, 6:].any()


def test_write_is_atomic_and_checks_shape(tmp_path: Path) -> None:
    src = tmp_path / "p.exr"
    make_exr(src)
    plate = read_plate(src)
    target = tmp_path / "out" / "comp.exr"
    with pytest.raises(PlateError, match="does not match the spec"):
        write_plate(target, plate, pixels=plate.pixels[:, :, :3])
    assert not target.exists() and not target.parent.exists()  # refused before anything was made
    write_plate(target, plate)
    before = target.read_bytes()
    with pytest.raises(PlateError):
        write_plate(target, plate, pixels=np.zeros((1, 1, 4), np.float32))
    assert target.read_bytes() == before  # a failed write leaves the old file intact
    assert sorted(os.listdir(target.parent)) == ["comp.exr"]


def test_header_limits_refuse_before_decoding(tmp_path: Path) -> None:
    src = tmp_path / "p.exr"
    make_exr(src, width=64, height=64)
    with pytest.raises(PlateError, match="exceed the limit"):
        read_plate(src, limits=ReadLimits(max_pixels=1000))
    with pytest.raises(PlateError, match="absurd dimensions"):
        read_header(src, limits=ReadLimits(max_dimension=32))
    assert read_header(src).spec.width == 64


def test_default_limits_admit_8k_multi_aov_and_refuse_beyond() -> None:
    where = Path("plate.exr")
    for fmt in ("half", "float"):
        check_spec(where, oiio.ImageSpec(8192, 4320, 64, fmt))  # 8K, 64 AOV channels: a real plate
    check_spec(where, oiio.ImageSpec(16384, 16384, 4, "half"))  # 16K RGBA
    with pytest.raises(PlateError, match=r"^plate\.exr: 16384x16384x64 float buffer exceeds the limit"):
        check_spec(where, oiio.ImageSpec(16384, 16384, 64, "half"))
    with pytest.raises(PlateError, match="1025 channels exceed the limit of 1024"):
        check_spec(where, oiio.ImageSpec(8, 8, 1025, "half"))


def test_oiio_global_limits_follow_read_limits(tmp_path: Path) -> None:
    assert oiio.get_int_attribute("limits:resolution") == DEFAULT_LIMITS.max_dimension
    assert oiio.get_int_attribute("limits:channels") == DEFAULT_LIMITS.max_channels
    assert oiio.get_int_attribute("limits:imagesize_MB") == DEFAULT_LIMITS.max_bytes >> 20
    src = tmp_path / "wide.png"
    write_image(src, photo(40, 30), new_spec(40, 30, ["R", "G", "B"], "uint8"))
    try:  # OIIO's reader itself now refuses: one line, naming the file, no advice to raise OIIO attributes
        apply_oiio_limits(ReadLimits(max_dimension=32))
        with pytest.raises(PlateError) as err:
            read_header(src, limits=ReadLimits())
    finally:
        apply_oiio_limits()
    msg = str(err.value)
    assert msg.startswith(f"{src}: header exceeds the decoding limits (") and "limits:resolution" in msg
    assert "raise the" not in msg and "\n" not in msg
    assert read_header(src).spec.width == 40


def test_alpha_association_is_reported(tmp_path: Path) -> None:
    exr = tmp_path / "a.exr"
    make_exr(exr, width=8, height=6)
    png, _ = _rgba16(tmp_path, "png")
    assert read_plate(exr).premultiplied is True
    assert read_plate(png).premultiplied is False


def test_keep_parts_rewrites_only_the_chosen_part(tmp_path: Path) -> None:
    src = tmp_path / "multi.exr"
    make_multipart_exr(src, [("beauty", ("R", "G", "B", "A")), ("depth", ("Z",)), ("diffuse", ("R", "G", "B"))])
    diffuse = read_plate(src, "diffuse")
    out = tmp_path / "comp.exr"
    write_plate(out, diffuse, pixels=diffuse.pixels * 0.5, attrs={"synthetic": 1}, keep_parts=True)
    new = read_plate(out, "diffuse")
    assert new.parts == 3 and new.attributes["recast/synthetic"] == 1
    assert same_pixels(new.pixels, (diffuse.pixels * 0.5).astype(np.float16).astype(np.float32))
    for name in ("beauty", "depth"):
        assert same_pixels(read_plate(out, name).pixels, read_plate(src, name).pixels)
    single = tmp_path / "single.exr"
    write_plate(single, diffuse)
    assert read_plate(single).parts == 1
    with pytest.raises(PlateError, match="cannot hold 3 parts"):
        write_plate(tmp_path / "multi.png", diffuse, keep_parts=True)


def test_killed_write_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    """A writer process killed before its rename: the final name never appears, only a hidden temp."""
    import signal
    import subprocess
    import sys

    from recast.pipeline.atomic import is_temp_name
    from recast.pipeline.sequence import PlateSequence
    from tests._fixtures_plates import REPO

    make_exr(tmp_path / "plate.1001.exr", width=16, height=12)
    final = tmp_path / "plate.1002.exr"
    script = (
        "import os, sys, time\n"
        "from pipeline.plateio import read_plate, write_plate\n"
        "def stall(fd):\n"
        "    print('written', flush=True)\n"
        "    time.sleep(600)\n"
        "os.fsync = stall\n"  # the pixels are in the temp file; stop before fsync + rename
        f"write_plate({str(final)!r}, read_plate({str(tmp_path / 'plate.1001.exr')!r}))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert not final.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "plate.1001.exr"]
    assert len(leftovers) == 1 and is_temp_name(leftovers[0])
    assert PlateSequence.open(tmp_path).frames == [1001]  # the temp is never mistaken for a frame


def test_rgb_and_alpha_found_in_layers(tmp_path: Path) -> None:
    src = tmp_path / "layers.exr"
    chans = ("depth.Z", "beauty.R", "beauty.G", "beauty.B", "beauty.A", "spec.R", "spec.G", "spec.B")
    make_exr(src, width=8, height=6, channels=chans, nonfinite=False)
    plate = read_plate(src)
    names = plate.channel_names  # EXR stores channels sorted by name: look them up
    assert plate.rgb_indices == tuple(names.index(f"beauty.{c}") for c in "RGB")
    assert plate.alpha_index == names.index("beauty.A")
    assert np.array_equal(plate.rgb(), plate.pixels[..., [names.index(f"beauty.{c}") for c in "RGB"]])
    depth = tmp_path / "z.exr"
    make_exr(depth, width=8, height=6, channels=("Z",), nonfinite=False)
    with pytest.raises(PlateError, match=r"no RGB channels \(channels: Z\)"):
        read_plate(depth).rgb()


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_an_exr_comp_of_a_16bit_straight_alpha_plate_keeps_every_code_premultiplied(tmp_path: Path, ext: str) -> None:
    """The comp of a 16-bit PNG/TIFF plate is an EXR: its colour is written premultiplied (the
    EXR convention every reader assumes; it was written straight, read as premultiplied) and
    as float, so every 16-bit code comes back (half keeps 11 bits: 69 % of them moved)."""
    src, stored = _rgba16(tmp_path, ext)
    plate = read_plate(src)
    out = tmp_path / "comp.exr"
    write_plate(out, plate)
    back = read_plate(out)
    assert back.premultiplied is True and back.pixel_type == "float"
    alpha = stored[..., 3:4]
    assert np.allclose(back.pixels[..., :3], stored[..., :3] * alpha, atol=1e-6)
    assert np.array_equal(np.round(back.pixels[..., 3] * 65535), np.round(stored[..., 3] * 65535))
    opaque = tmp_path / "opaque16.png"
    codes = np.round(photo(24, 20) * 65535)
    write_image(opaque, (codes / 65535).astype(np.float32), new_spec(24, 20, ["R", "G", "B"], "uint16"))
    write_plate(tmp_path / "opaque.exr", read_plate(opaque))
    assert np.array_equal(np.round(read_plate(tmp_path / "opaque.exr").pixels * 65535), codes)


def test_an_8bit_plate_still_makes_a_half_exr_comp(tmp_path: Path) -> None:
    src = tmp_path / "eight.png"
    codes = np.round(photo(24, 20) * 255)
    write_image(src, (codes / 255).astype(np.float32), new_spec(24, 20, ["R", "G", "B"], "uint8"))
    write_plate(tmp_path / "eight.exr", read_plate(src))
    back = read_plate(tmp_path / "eight.exr")
    assert back.pixel_type == "half" and np.array_equal(np.round(back.pixels * 255), codes)


def test_a_mip_mapped_plate_makes_a_readable_one_level_comp(tmp_path: Path) -> None:
    """A plate that is a texture (tiled, MIP-mapped, with its average colour): the comp is one
    level of new pixels, so it is written as one (a writer told of 7 levels and given one wrote
    a file whose other levels could not be read) and without the stale average colour."""
    flat = tmp_path / "flat.exr"
    make_exr(flat, width=64, height=48)
    tex = tmp_path / "tex.exr"
    assert oiio.ImageBufAlgo.make_texture(oiio.MakeTxTexture, str(flat), str(tex), oiio.ImageSpec()), oiio.geterror()
    plate = read_plate(tex)
    assert plate.spec.get_int_attribute("oiio:miplevels", 1) > 1
    out = tmp_path / "comp.exr"
    write_plate(out, plate, pixels=plate.pixels * 0.5)
    inp = oiio.ImageInput.open(str(out))
    try:
        levels = 0
        while inp.seek_subimage(0, levels):
            assert inp.read_image(0, levels, 0, -1, "float") is not None, inp.geterror()
            levels += 1
        spec = inp.spec(0, 0)
    finally:
        inp.close()
    assert levels == 1
    assert spec.getattribute("oiio:AverageColor") is None and spec.getattribute("textureformat") is None
    assert np.array_equal(read_plate(out).pixels, (plate.pixels * 0.5).astype(np.float16).astype(np.float32))


def test_the_default_part_is_the_first_with_colour(tmp_path: Path) -> None:
    """A multipart EXR with its depth part first reads at its colour part by default; an
    explicit part is still that part, and a file with no colour part reads at part 0."""
    src = tmp_path / "depthfirst.exr"
    make_multipart_exr(src, [("depth", ("Z",)), ("beauty", ("R", "G", "B", "A")), ("diffuse", ("R", "G", "B"))])
    assert read_plate(src).part_name == "beauty" and read_header(src).part == 1
    assert read_plate(src, part=0).part_name == "depth"
    only = tmp_path / "depthonly.exr"
    make_multipart_exr(only, [("depth", ("Z",)), ("id", ("id",))])
    assert read_plate(only).part == 0
