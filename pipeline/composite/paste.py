"""Putting a composited face back: which plate channels are colour, the paste, the element.

- ``PlateChannels``: RGB channel indices, or one grey channel replicated to RGB
  for the models and written back as the mean (1- and 2-channel plates).
- ``paste_face``: ``alpha * fg + (1 - alpha) * plate`` written only where alpha > 0,
  inside the matte box; every other sample (other channels, NaN/Inf) is untouched.
- ``ElementBuilder``: premultiplied RGBA of the swapped faces over their union box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recast.pipeline.composite.compose import FaceComposite, sanitise
from recast.pipeline.errors import PlateError
from recast.pipeline.outputs import Box

if TYPE_CHECKING:
    from recast.pipeline.plateio import Plate


@dataclass
class PlateChannels:
    """Which plate channels are colour: RGB indices, or one grey channel replicated."""

    indices: tuple[int, ...]

    @property
    def grey(self) -> bool:
        return len(self.indices) == 1

    @classmethod
    def of(cls, plate: Plate) -> PlateChannels:
        from recast.pipeline.plateio import no_colour_reason

        idx = plate.colour_indices
        if idx is None:
            raise PlateError(f"{plate.path}: {no_colour_reason(plate.channel_names)}")
        return cls(tuple(idx))

    def rgb(self, pixels: np.ndarray) -> np.ndarray:
        if self.grey:
            return np.repeat(pixels[..., self.indices[0] : self.indices[0] + 1], 3, axis=2)
        return pixels[..., list(self.indices)]

    def put(self, pixels: np.ndarray, rgb: np.ndarray, mask: np.ndarray) -> None:
        """Write ``rgb`` into ``pixels`` where ``mask`` (same view) is set."""
        if self.grey:
            grey = rgb.mean(axis=2)
            ch = pixels[..., self.indices[0]]
            ch[mask] = grey[mask]
            return
        for k, idx in enumerate(self.indices):
            ch = pixels[..., idx]
            ch[mask] = rgb[..., k][mask]


class ElementBuilder:
    """Accumulates premultiplied RGBA of the swapped faces over their union box."""

    def __init__(self, hw: tuple[int, int]) -> None:
        self.hw = hw
        self.parts: list[tuple[Box, np.ndarray, np.ndarray]] = []  # full-frame box, fg, alpha
        self.box: Box | None = None

    def add(self, crop: Box, matte_box: Box, fg: np.ndarray, alpha: np.ndarray) -> None:
        """One face: ``fg`` (h, w, 3) and ``alpha`` (h, w) over ``matte_box`` (crop coordinates)."""
        full = matte_box.shifted(crop.x0, crop.y0)
        self.parts.append((full, fg, alpha))
        self.box = full if self.box is None else self.box.union(full)

    def result(self) -> tuple[np.ndarray, np.ndarray, Box]:
        assert self.box is not None
        ub = self.box
        rgb = np.zeros((ub.height, ub.width, 3), np.float32)
        alpha = np.zeros((ub.height, ub.width), np.float32)
        for box, fg, a in self.parts:  # premultiplied "over", later faces on top
            sl = box.shifted(-ub.x0, -ub.y0).slices()
            rgb[sl] = fg * a[..., None] + rgb[sl] * (1.0 - a[..., None])
            alpha[sl] = a + alpha[sl] * (1.0 - a)
        return rgb, alpha, ub


def paste_face(out: np.ndarray, channels: PlateChannels, comp: FaceComposite, crop: Box) -> None:
    """Composite inside the matte box only; where alpha is 0 nothing is written."""
    assert comp.box is not None
    mb = comp.box
    ys, xs = mb.slices()
    a = comp.alpha[ys, xs]
    full = mb.shifted(crop.x0, crop.y0)
    region = out[full.slices()]
    plate_rgb = sanitise(channels.rgb(region))
    mixed = comp.foreground(mb) * a[..., None] + plate_rgb * (1.0 - a[..., None])
    channels.put(region, mixed.astype(np.float32), a > 0)
