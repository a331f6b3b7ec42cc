"""Scene-linear proxy -> 8-bit display image: exposure, OCIO display/view, gamma, channel, difference.

The display/view transform is the engine's own (:class:`pipeline.color.ColorContext`
``to_display`` with the chosen display and view, from the plate colourspace the
frame record names). Evaluating ACES 2.0 exactly costs about a microsecond a
pixel, far too slow for playback, so it is baked once per (config, colourspace,
display, view) into a 65^3 3D LUT over a log2 shaper (-14..+8 stops) and applied
by OCIO's tetrahedral LUT code; against the exact transform it differs by ~1e-3
on average, below one 8-bit code value. Exposure (stops) scales the linear
values before the view, gamma applies after it, on the display-referred values
(as in RV/DJV).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Channel = Literal["rgb", "r", "g", "b", "a", "matte"]
CHANNELS: tuple[str, ...] = ("rgb", "r", "g", "b", "a", "matte")
LUT_GRID = 65
SHAPER_LO, SHAPER_HI = -14.0, 8.0


@dataclass(frozen=True)
class DisplaySettings:
    display: str | None = None  # None: the config's default display
    view: str | None = None  # None: the display's default view
    exposure: float = 0.0  # stops
    gamma: float = 1.0
    channel: str = "rgb"
    gain: float = 4.0  # difference mode


class DisplayPipeline:
    """One OCIO config and its baked display LUTs (thread-safe; shared by the render workers)."""

    def __init__(self, config: str | None = None) -> None:
        from recast.pipeline.color import ColorContext

        self.color = ColorContext(config)
        self._luts: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def displays(self) -> list[str]:
        return [str(d) for d in self.color.config.getDisplays()]

    def views(self, display: str) -> list[str]:
        return [str(v) for v in self.color.config.getViews(display)]

    def resolve(self, settings: DisplaySettings) -> tuple[str, str]:
        display = settings.display or self.color.display
        view = settings.view or str(self.color.config.getDefaultView(display))
        return display, view

    def _lut(self, space: str, display: str, view: str) -> Any:
        key = (space, display, view)
        lut = self._luts.get(key)
        if lut is not None:
            return lut
        import PyOpenColorIO as ocio

        from recast.pipeline.color import ColorContext

        exact = ColorContext(self.color.config_name, display=display, view=view)
        g = np.linspace(0.0, 1.0, LUT_GRID, dtype=np.float64)
        r, gg, b = np.meshgrid(g, g, g, indexing="ij")  # OCIO's Lut3D layout: blue fastest
        shaped = np.stack([r, gg, b], -1).reshape(-1, 3)
        lin = np.exp2(shaped * (SHAPER_HI - SHAPER_LO) + SHAPER_LO).astype(np.float32)
        data = exact.to_display(lin, space)
        t = ocio.Lut3DTransform(gridSize=LUT_GRID)
        t.setData(np.ascontiguousarray(data, np.float32).ravel())
        t.setInterpolation(ocio.INTERP_TETRAHEDRAL)
        lut = ocio.Config.CreateRaw().getProcessor(t).getDefaultCPUProcessor()
        with self._lock:
            return self._luts.setdefault(key, lut)

    def to_display(self, rgb: np.ndarray, space: str, settings: DisplaySettings) -> np.ndarray:
        """(h, w, 3) linear in ``space`` -> display-referred float32 [0, 1] after exposure, view and gamma."""
        display, view = self.resolve(settings)
        if space == "n/a":
            out = np.clip(np.asarray(rgb, np.float32), 0.0, 1.0)
        else:
            x = np.asarray(rgb, np.float32)
            if settings.exposure:
                x = x * np.float32(2.0**settings.exposure)
            x = np.maximum(x, np.float32(2.0**SHAPER_LO))
            out = np.log2(x)
            out -= np.float32(SHAPER_LO)
            out *= np.float32(1.0 / (SHAPER_HI - SHAPER_LO))
            np.clip(out, 0.0, 1.0, out=out)
            out = np.ascontiguousarray(out, np.float32)
            self._lut(self.color.resolve(space), display, view).applyRGB(out)
        if settings.gamma and abs(settings.gamma - 1.0) > 1e-6:
            np.clip(out, 0.0, 1.0, out=out)
            out = np.power(out, np.float32(1.0 / settings.gamma))
        return out


def to_uint8(disp: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((np.clip(disp, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def channel_view(pipe: DisplayPipeline, pixels: np.ndarray, space: str, settings: DisplaySettings,
                 matte: np.ndarray | None = None) -> np.ndarray:
    """An RGBA-or-matte proxy shown for ``settings.channel``: uint8 (h, w, 3)."""
    ch = settings.channel
    if ch == "matte":
        m = matte[..., 0] if matte is not None else np.zeros(pixels.shape[:2], np.float32)
        return to_uint8(np.repeat(np.asarray(m, np.float32)[..., None], 3, axis=2))
    if ch == "a":
        a = pixels[..., 3] if pixels.shape[2] > 3 else np.ones(pixels.shape[:2], np.float32)
        return to_uint8(np.repeat(np.asarray(a, np.float32)[..., None], 3, axis=2))
    disp = pipe.to_display(pixels[..., :3], space, settings)
    if ch in ("r", "g", "b"):
        k = "rgb".index(ch)
        disp = np.repeat(disp[..., k : k + 1], 3, axis=2)
    return to_uint8(disp)


def difference(a8: np.ndarray, b8: np.ndarray, gain: float) -> np.ndarray:
    """|A - B| of two display images, times ``gain``, uint8."""
    if a8.shape != b8.shape:
        h, w = min(a8.shape[0], b8.shape[0]), min(a8.shape[1], b8.shape[1])
        a8, b8 = a8[:h, :w], b8[:h, :w]
    d = np.abs(a8.astype(np.int16) - b8.astype(np.int16)).astype(np.float32) * np.float32(gain)
    return np.ascontiguousarray(np.clip(d, 0, 255).astype(np.uint8))
