"""Shared inputs for the engine/swap-CLI tests: a real warp actor and EXR plates built
from package-shipped faces (no downloads)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio

from recast.pipeline.plateio import write_image


def insightface_image(name: str) -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "data" / "images" / name


def build_tom_hanks_actor(models: Path, work: Path, name: str = "hanks"):
    """A warp actor from insightface's Tom_Hanks sample, with a test consent file."""
    import os

    from recast.models.actor import build_actor

    os.environ["RECAST_MODELS"] = str(models)
    consent = work / "consent.json"
    consent.write_text(json.dumps({"who": "test fixture (package sample image)", "scope": "unit tests only"}))
    return build_actor(name, [insightface_image("Tom_Hanks_54745.png")], consent, backend="warp", options={"force": True})


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    a = np.clip(rgb, 0.0, 1.0)
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4).astype(np.float32)


def astronaut_linear(shift: int = 0) -> np.ndarray:
    from skimage import data

    img = data.astronaut().astype(np.float32) / 255.0
    if shift:
        img = np.roll(img, shift, axis=1)
    return srgb_to_linear(img)


def write_aov_plate(path: Path, rgb: np.ndarray, origin: tuple[int, int] = (24, 16), full: tuple[int, int] = (600, 560)) -> np.ndarray:
    """Half EXR with R,G,B,A + an extra AOV (depth.Z), data window offset inside a larger
    display window, NaN/Inf pixels in the background. Returns the pixels written."""
    h, w = rgb.shape[:2]
    alpha = np.ones((h, w, 1), np.float32) * 0.75
    depth = np.linspace(1.0, 50.0, h * w, dtype=np.float32).reshape(h, w, 1)
    px = np.concatenate([rgb, alpha, depth], axis=2).astype(np.float32)
    px[5:9, 5:9, 0] = np.nan
    px[12, 3:40, 1] = np.inf
    px[h - 6, w - 30 :, 2] = -np.inf
    px[20:24, w - 12 : w - 8, 3] = np.nan  # even alpha holds a NaN
    spec = oiio.ImageSpec(w, h, 5, oiio.HALF)
    spec.channelnames = ("R", "G", "B", "A", "depth.Z")
    spec.alpha_channel = 3
    spec.x, spec.y = origin
    spec.full_x, spec.full_y = 0, 0
    spec.full_width, spec.full_height = full
    spec.attribute("compression", "piz")
    spec.attribute("Copyright", "test plate")
    write_image(path, px, spec)
    return px.astype(np.float16).astype(np.float32)


def write_grey_plate(path: Path, rgb: np.ndarray) -> None:
    grey = (rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32))[..., None]
    spec = oiio.ImageSpec(rgb.shape[1], rgb.shape[0], 1, oiio.HALF)
    spec.channelnames = ("Y",)
    write_image(path, grey, spec)


def no_face_rgb() -> np.ndarray:
    from skimage import data

    return srgb_to_linear(cv2.resize(data.coffee().astype(np.float32) / 255.0, (512, 400)))
