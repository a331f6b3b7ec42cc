"""QC's crop reads: the pixels of a box, the same values whatever the file stores (half, float, mixed, tiled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
from skimage import data

from recast.qc.cropio import read_region
from recast.qc.ssim import ssim_map, ssim_outside


def _astronaut_linear() -> np.ndarray:
    """skimage's astronaut as scene-linear RGBA with a NaN, an Inf and a value above 1."""
    rgb = (data.astronaut().astype(np.float32) / 255.0) ** 2.2 * 4.0
    px = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], axis=-1)
    px[100, 200, 0], px[101, 201, 1], px[300, 300, 2] = np.nan, np.inf, 37.5
    return px


def _write(path: Path, px: np.ndarray, fmt: str, tile: int = 0, channel_formats: tuple[str, ...] | None = None) -> None:
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt)
    spec.channelnames = ("R", "G", "B", "A")
    if channel_formats:
        spec.channelformats = tuple(oiio.TypeDesc(c) for c in channel_formats)
    if tile:
        spec.tile_width = spec.tile_height = tile
    spec.x, spec.y = 3, 5  # a data window off the origin
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec)
    assert out.write_image(px)
    out.close()


@pytest.mark.parametrize(("fmt", "tile", "channel_formats"), [
    ("half", 0, None), ("half", 32, None), ("float", 0, None), ("half", 0, ("half", "half", "half", "float")),
])
def test_read_region_gives_the_files_values_as_float32(tmp_path: Path, fmt: str, tile: int, channel_formats: tuple[str, ...] | None) -> None:
    path = tmp_path / "a.exr"
    _write(path, _astronaut_linear(), fmt, tile, channel_formats)
    inp = oiio.ImageInput.open(str(path))
    whole = np.asarray(inp.read_image(0, 0, 0, 4, oiio.FLOAT), np.float32)  # OIIO's own conversion of every pixel
    inp.close()
    for box, chans in (((40, 60, 300, 250), (0, 1, 2)), ((0, 0, 520, 520), (3,)), ((90, 95, 210, 310), (2, 0))):
        got = read_region(path, box, chans)
        x0, y0, x1, y1 = box
        want = np.zeros((y1 - y0, x1 - x0, len(chans)), np.float32)  # zeros outside the data window (x 3.., y 5..)
        ix0, iy0, ix1, iy1 = max(x0, 3), max(y0, 5), min(x1, 515), min(y1, 517)
        want[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = whole[iy0 - 5 : iy1 - 5, ix0 - 3 : ix1 - 3][..., list(chans)]
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))  # bit for bit, NaN and Inf included


def test_ssim_outside_untouched_is_exactly_one_and_touched_is_the_maps_mean() -> None:
    a = data.astronaut()[20:220, 140:320].astype(np.float32) / 255.0
    matte = np.zeros(a.shape[:2], np.float32)
    matte[60:140, 50:130] = 1.0
    comp = a.copy()
    comp[60:140, 50:130] = comp[60:140, 50:130][::-1]  # the face changed inside the matte only
    assert ssim_outside(a, comp, matte) == 1.0
    comp[180:183, 10:14] = np.clip(comp[180:183, 10:14] + 0.1, 0, 1)  # a few pixels outside it
    keep = np.ones(a.shape[:2], bool)
    keep[60 - 3 : 140 + 3, 50 - 3 : 130 + 3] = False  # windows touching the matte
    keep[:3], keep[-3:], keep[:, :3], keep[:, -3:] = False, False, False, False
    assert ssim_outside(a, comp, matte) == float(ssim_map(a, comp)[keep].mean()) < 1.0
