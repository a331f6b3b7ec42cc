"""Review proxies.

- :func:`proxy_png`: a comp frame as a small display-referred 8-bit PNG (never the raw pixels in logs).
- :func:`make_review_proxy` / :func:`cached_review_proxy`: the review app's frames, shrunk but still
  scene-linear in the plate's colourspace (float16), so the app applies the OCIO display/view,
  exposure and gamma itself and shows pixel values in plate space; cached on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.errors import PlateError, os_cause


def proxy_png(path: Path, max_side: int = 1024, colorspace: str | None = None, record: dict[str, Any] | None = None) -> bytes:
    """Read ``path`` with OIIO, convert its RGB to display through OCIO, downscale, encode PNG.

    The colour is the engine's decision: the frame ``record``'s ``colorspace`` when
    given, else the engine's resolver on the file (a comp's ``recast/colorspace``, the
    job's ``colorspace`` setting, metadata, chromaticities, format default)."""
    import cv2

    from recast.pipeline.color import PlateColours
    from recast.pipeline.plateio import read_plate

    plate = read_plate(path)
    px = plate.display_pixels()
    idx = plate.rgb_indices
    if idx is not None:
        rgb = px[..., list(idx)]
    else:
        rgb = np.repeat(px[..., :1], 3, axis=2)
    colours = PlateColours(colorspace)
    colour = colours.of_record(record) if record and record.get("colorspace") else None
    if colour is None:
        colour = colours.context().plate_colour(plate.spec, plate.path, colorspace)
    disp = colours.display(colour)(np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0))
    h, w = disp.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        disp = cv2.resize(disp, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    img8 = (np.clip(disp, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise PlateError(f"{path}: cannot encode a PNG proxy")
    return bytes(buf)


# -- linear review proxies (the review app's frames) ---------------------------------

PROXY_KINDS = ("plate", "comp", "matte")


@dataclass(frozen=True)
class ReviewProxy:
    """A frame shrunk for review, still scene-referred: float16 pixels in the plate's colourspace.

    ``pixels`` is (h, w, 4) RGBA for plate/comp (A = 1 without alpha) and (h, w, 1)
    for a matte (the face element's alpha); it covers the display window
    ``display_window`` (x, y, w, h) at ``scale`` proxy pixels per image pixel.
    """

    pixels: np.ndarray
    colorspace: str
    display_window: tuple[int, int, int, int]
    scale: float
    source: str

    def meta(self) -> dict[str, Any]:
        return {"colorspace": self.colorspace, "display_window": list(self.display_window), "scale": self.scale, "source": self.source}

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, pixels=self.pixels, meta=np.frombuffer(json.dumps(self.meta()).encode(), dtype=np.uint8))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "proxy") -> ReviewProxy:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                pixels = np.asarray(z["pixels"])
                meta = json.loads(bytes(z["meta"]).decode())
            return cls(
                pixels=pixels,
                colorspace=str(meta["colorspace"]),
                display_window=tuple(int(v) for v in meta["display_window"]),  # type: ignore[arg-type]
                scale=float(meta["scale"]),
                source=str(meta.get("source", "")),
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise PlateError(f"{where}: not a review proxy ({type(exc).__name__})") from None


def make_review_proxy(path: Path, kind: str, max_side: int = 2048, colorspace: str | None = None) -> ReviewProxy:
    """Read ``path`` with OIIO and shrink it to at most ``max_side`` (area filter), keeping linear values."""
    import cv2

    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import read_plate

    if kind not in PROXY_KINDS:
        raise PlateError(f"proxy kind {kind!r}: not one of {', '.join(PROXY_KINDS)}")
    plate = read_plate(path)
    px = plate.display_pixels()
    a = plate.alpha_index
    if kind == "matte":
        img = px[..., a : a + 1] if a is not None else np.ones(px.shape[:2] + (1,), np.float32)
        space = colorspace or "n/a"
    else:
        idx = plate.rgb_indices
        rgb = px[..., list(idx)] if idx is not None else np.repeat(px[..., :1], 3, axis=2)
        alpha = px[..., a : a + 1] if a is not None else np.ones(px.shape[:2] + (1,), np.float32)
        img = np.concatenate([rgb, alpha], axis=2)
        space = ColorContext().plate_space(plate, colorspace) if not colorspace else colorspace
    img = np.nan_to_num(np.asarray(img, np.float32), nan=0.0, posinf=65504.0, neginf=-65504.0)
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            img = img[..., None]
        scale = size[0] / w
    return ReviewProxy(
        pixels=np.ascontiguousarray(img.astype(np.float16)),
        colorspace=space,
        display_window=plate.display_window,
        scale=float(scale),
        source=str(path),
    )


def proxy_cache_dir() -> Path:
    """``$RECAST_HOME/cache/proxies`` (review proxies, safe to delete)."""
    from recast.pipeline.jobs.store import recast_home

    return recast_home() / "cache" / "proxies"


def cached_review_proxy(path: Path, kind: str, max_side: int = 2048, colorspace: str | None = None, cache: Path | None = None) -> ReviewProxy:
    """:func:`make_review_proxy`, cached on disk; the key covers the file's size and mtime, so a rewrite misses."""
    from recast.pipeline.atomic import atomic_write_bytes

    try:
        st = Path(path).stat()
    except OSError as exc:
        raise PlateError(f"{path}: cannot read ({os_cause(exc)})") from None
    key = hashlib.sha1(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{kind}|{max_side}|{colorspace}".encode()).hexdigest()
    root = cache or proxy_cache_dir()
    file = root / key[:2] / f"{key}.npz"
    if file.is_file():
        try:
            return ReviewProxy.from_bytes(file.read_bytes(), str(file))
        except PlateError:
            pass  # a damaged cache entry is rebuilt
    proxy = make_review_proxy(Path(path), kind, max_side, colorspace)
    try:
        atomic_write_bytes(file, proxy.to_bytes())
    except OSError:
        pass  # a read-only cache only costs speed
    return proxy
