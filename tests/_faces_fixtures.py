"""Shared real-face inputs for the faces tests (package-shipped images only, no downloads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np


def insightface_images_dir() -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None, "insightface is not installed"
    return Path(spec.origin).parent / "data" / "images"


def load_rgb(path: Path) -> np.ndarray:
    """Package JPEG/PNG as float32 RGB [0, 1] (8-bit sources only, never EXR)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


def t1() -> np.ndarray:
    return load_rgb(insightface_images_dir() / "t1.jpg")


def tom_hanks() -> np.ndarray:
    return load_rgb(insightface_images_dir() / "Tom_Hanks_54745.png")


def lfw_faces(size: int = 160, pad: int = 80) -> list[np.ndarray]:
    """The 100 face images of skimage's lfw_subset, upscaled and padded with edge pixels
    (the originals are 25x25 tight crops, far below any detector's minimum)."""
    from skimage import data

    faces = data.lfw_subset()[:100]
    out = []
    for f in faces:
        big = cv2.resize(f.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        out.append(np.repeat(np.clip(big, 0, 1)[:, :, None], 3, axis=2))
    return out


def megamind_frames(media: Path, count: int, scale: float = 0.5, start: int = 0) -> list[np.ndarray]:
    """``count`` decoded frames of Megamind.avi as float32 sRGB [0, 1], resized by ``scale``."""
    import av

    out: list[np.ndarray] = []
    with av.open(str(media / "Megamind.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            if scale != 1.0:
                rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            out.append(rgb.astype(np.float32) / 255.0)
            if len(out) >= count:
                break
    return out


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    a = np.clip(rgb, 0.0, 1.0)
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4).astype(np.float32)


def write_exr_sequence(frames: list[np.ndarray], directory: Path, name: str = "mm", first: int = 1001) -> str:
    """Write scene-linear half EXRs ``<name>.####.exr`` with the foundation writer; returns the pattern."""
    from pipeline.plateio import new_spec, write_image

    directory.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(frames):
        h, w = rgb.shape[:2]
        spec = new_spec(w, h, ["R", "G", "B"], pixel_type="half", compression="zip")
        write_image(directory / f"{name}.{first + i:04d}.exr", srgb_to_linear(rgb), spec)
    return str(directory / f"{name}.####.exr")
