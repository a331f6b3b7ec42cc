"""Shared helpers for the job tests (no tests here).

Plates are small EXR sequences cut from skimage's astronaut photograph (a real
image), RGBA half with a zip compression and a data window equal to the
display window; each frame is a different, shifted crop so frames differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_plate(directory: Path, frames: range, size: tuple[int, int] = (48, 40), name: str = "shot") -> str:
    """Write ``name.####.exr`` frames; returns the pattern."""
    from skimage import data
    from skimage.transform import resize

    from recast.pipeline.plateio import new_spec, write_image

    w, h = size
    src = data.astronaut().astype(np.float32) / 255.0
    src = resize(src, (h * 4, w * 4), anti_aliasing=True).astype(np.float32)
    directory.mkdir(parents=True, exist_ok=True)
    spec = new_spec(w, h, ["R", "G", "B", "A"], "half", "zip", attrs={"recast/test": "astronaut"})
    for i, f in enumerate(frames):
        y, x = (i * 3) % (h * 3), (i * 5) % (w * 3)
        rgb = src[y : y + h, x : x + w]
        px = np.concatenate([rgb, np.ones((h, w, 1), np.float32)], axis=2)
        write_image(directory / f"{name}.{f:04d}.exr", px, spec)
    return str(directory / f"{name}.####.exr")


def write_spec(path: Path, **fields: Any) -> Path:
    path.write_text(json.dumps(fields))
    return path


def recast(*args: str, home: Path | None = None, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["RECAST_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "recast", *args], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"recast {' '.join(args)} -> {proc.returncode}: {proc.stderr}")
    return proc


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
