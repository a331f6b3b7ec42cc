"""Preview grids for people: one row per dst face, columns ``dst | swapped`` then the
dst and src reconstructions and the swapped face's mask, labelled, as an 8-bit PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

COLUMNS = ("dst", "swapped", "dst recon", "src", "src recon", "swap mask")


def grid(columns: list[np.ndarray], label_h: int = 14) -> np.ndarray:
    """``columns``: arrays (N, R, R, 3) float [0, 1] RGB, one per COLUMNS entry -> uint8 RGB grid."""
    n, r = columns[0].shape[:2]
    scale = max(1, 96 // r)
    cell = r * scale
    w = cell * len(columns)
    out = np.full((label_h + n * cell, w, 3), 24, np.uint8)
    for c, (name, col) in enumerate(zip(COLUMNS, columns, strict=False)):
        cv2.putText(out, name, (c * cell + 3, label_h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (230, 230, 230), 1, cv2.LINE_AA)
        for i in range(n):
            tile = (np.clip(col[i], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            tile = cv2.resize(tile, (cell, cell), interpolation=cv2.INTER_NEAREST) if scale > 1 else tile
            out[label_h + i * cell : label_h + (i + 1) * cell, c * cell : (c + 1) * cell] = tile
    return out


def write_png(path: Path, rgb_u8: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb_u8[..., ::-1])):
        raise OSError(f"{path}: cannot write preview")
    tmp.replace(path)
