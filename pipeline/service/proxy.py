"""Review proxies: a comp frame as a small display-referred 8-bit PNG (never the raw pixels in logs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recast.pipeline.errors import PlateError


def proxy_png(path: Path, max_side: int = 1024, colorspace: str | None = None) -> bytes:
    """Read ``path`` with OIIO, convert its RGB to display through OCIO, downscale, encode PNG."""
    import cv2

    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import read_plate

    plate = read_plate(path)
    px = plate.display_pixels()
    idx = plate.rgb_indices
    if idx is not None:
        rgb = px[..., list(idx)]
    else:
        rgb = np.repeat(px[..., :1], 3, axis=2)
    color = ColorContext()
    disp = color.to_display(np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0), color.plate_space(plate, colorspace))
    h, w = disp.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        disp = cv2.resize(disp, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    img8 = (np.clip(disp, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise PlateError(f"{path}: cannot encode a PNG proxy")
    return bytes(buf)
