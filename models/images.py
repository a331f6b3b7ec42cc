"""Loading actor source images as display-referred RGB float32 in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recast.pipeline.errors import ActorError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".exr", ".dpx", ".tga"})
_FLOAT_LINEAR = frozenset({".exr", ".hdr"})


def expand_images(items: list[Path]) -> list[Path]:
    """Files as given, directories expanded to their image files (sorted, not recursive)."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in IMAGE_EXTS and not c.name.startswith("."))
            if not found:
                raise ActorError(f"{p}: directory holds no images ({', '.join(sorted(IMAGE_EXTS))})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ActorError(f"{p}: actor image not found")
    if not out:
        raise ActorError("no actor images given (--images FILES|DIR)")
    return out


def load_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1]; scene-linear float files get the sRGB curve."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise ActorError(f"{path}: cannot read image ({oiio.geterror().strip() or 'unknown format'})")
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
    finally:
        inp.close()
    if pixels is None or spec.nchannels < 1:
        raise ActorError(f"{path}: cannot read image pixels")
    arr = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
    rgb = np.repeat(arr[..., :1], 3, axis=2) if spec.nchannels < 3 else arr[..., :3]
    rgb = np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)
    if path.suffix.lower() in _FLOAT_LINEAR:
        rgb = np.clip(rgb, 0.0, 1.0)
        rgb = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
    return np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32)
