"""Small generated plates for the foundation tests (real picture content, tiny sizes).

Pictures come from skimage.data.astronaut() (a real photograph, shipped with the
package), downscaled, linearised and given extra AOV channels, NaN/Inf samples and
metadata, so round trips are checked on realistic values rather than constants.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio
from skimage import data as skdata
from skimage.transform import resize

from recast.pipeline.plateio import new_spec, write_image

REPO = Path(__file__).resolve().parents[1]


def photo(width: int = 48, height: int = 40) -> np.ndarray:
    """Astronaut photo, (height, width, 3) float32 display-referred [0, 1]."""
    img = skdata.astronaut()[20:300, 120:420].astype(np.float32) / 255.0
    return resize(img, (height, width), anti_aliasing=True).astype(np.float32)


def linear_photo(width: int = 48, height: int = 40, gain: float = 4.0) -> np.ndarray:
    """Scene-linear-looking pixels: sRGB decoded, scaled so highlights go above 1.0."""
    srgb = photo(width, height)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return (lin * gain).astype(np.float32)


def plate_pixels(width: int, height: int, channels: list[str], seed: int = 0, nonfinite: bool = True) -> np.ndarray:
    """(height, width, len(channels)): RGB from the photo, A a soft ramp, other AOVs noise."""
    rng = np.random.default_rng(seed)
    rgb = linear_photo(width, height)
    out = np.empty((height, width, len(channels)), np.float32)
    for i, name in enumerate(channels):
        if name in ("R", "G", "B"):
            out[..., i] = rgb[..., "RGB".index(name)]
        elif name == "A":
            out[..., i] = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
        else:
            out[..., i] = rng.normal(0.0, 50.0, (height, width)).astype(np.float32)
    if nonfinite and out.size >= 3:
        out[0, 0, 0] = np.nan
        out[-1, -1, 0] = np.inf
        out[0, -1, min(1, out.shape[2] - 1)] = -np.inf
    return out


def make_exr(
    path: Path,
    width: int = 32,
    height: int = 24,
    channels: tuple[str, ...] = ("R", "G", "B", "A"),
    pixel_type: str = "half",
    compression: str = "zip",
    data_window: tuple[int, int, int, int] | None = None,
    attrs: dict[str, Any] | None = None,
    tile: int = 0,
    seed: int = 0,
    nonfinite: bool = True,
) -> np.ndarray:
    """Write an EXR; returns the float32 pixels written (data window)."""
    spec = new_spec(width, height, list(channels), pixel_type, compression, data_window, attrs)
    if tile:
        spec.tile_width = spec.tile_height = tile
        spec.tile_depth = 1
    pixels = plate_pixels(spec.width, spec.height, list(channels), seed, nonfinite)
    write_image(path, pixels, spec)
    return pixels


def make_multipart_exr(
    path: Path, parts: list[tuple[str, tuple[str, ...]]], width: int = 24, height: int = 16
) -> list[np.ndarray]:
    """Multipart EXR: one part per (name, channels); returns each part's pixels."""
    specs = []
    datas = []
    for k, (name, chans) in enumerate(parts):
        spec = new_spec(width, height, list(chans), "half", "zip")
        spec.attribute("name", name)
        specs.append(spec)
        datas.append(plate_pixels(width, height, list(chans), seed=k, nonfinite=False) * (k + 1))
    out = oiio.ImageOutput.create(str(path))
    assert out is not None
    assert out.open(str(path), specs), out.geterror()
    for k, (spec, pix) in enumerate(zip(specs, datas, strict=True)):
        if k:
            assert out.open(str(path), spec, "AppendSubimage"), out.geterror()
        assert out.write_image(pix), out.geterror()
    out.close()
    return datas


def make_sequence(directory: Path, name: str, frames: list[int], padding: int = 4, **kw: Any) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in frames:
        p = directory / f"{name}.{f:0{padding}d}.exr"
        make_exr(p, seed=f, **kw)
        paths.append(p)
    return paths


def make_movie(
    path: Path,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    fps: Fraction = Fraction(24, 1),
    codec: str = "mpeg4",
    timecode: str | None = None,
    pix_fmt: str = "yuv420p",
    pixel_aspect: Fraction | None = None,
) -> np.ndarray:
    """Encode a short movie of a panning crop of the photo; returns the RGB frames given to the
    encoder (uint8, or uint16 when ``pix_fmt`` is a high-bit-depth format such as yuv444p10le)."""
    import av

    deep = "10" in pix_fmt or "12" in pix_fmt or "16" in pix_fmt
    scale, dtype, fmt = (65535, np.uint16, "rgb48le") if deep else (255, np.uint8, "rgb24")
    big = (photo(width + frames * 2, height) * scale).round().astype(dtype)
    seq = np.stack([big[:, i * 2 : i * 2 + width] for i in range(frames)])
    with av.open(str(path), "w") as container:
        if timecode:
            container.metadata["timecode"] = timecode
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if pixel_aspect is not None:
            stream.codec_context.sample_aspect_ratio = pixel_aspect
        if timecode:
            stream.metadata["timecode"] = timecode
        stream.options = {"qscale": "2"} if codec == "mpeg4" else {}
        for rgb in seq:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=fmt)
            for pkt in stream.encode(frame):
                container.mux(pkt)
        for pkt in stream.encode(None):
            container.mux(pkt)
    return seq


def recast(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess from the repo root."""
    return subprocess.run(
        [sys.executable, "-m", "recast", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
