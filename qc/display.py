"""Display transform for everything QC looks at (scores, thumbnails, movies).

QC decides no colour of its own: the plate's colourspace and OCIO config come
from the frame record (``record["colorspace"]``, written by the engine), else the
comp's ``recast/colorspace`` attribute, else the engine's own resolver on the
plate header, all through :class:`recast.pipeline.color.PlateColours`. The
display transform is the engine's ``ColorContext.to_display`` (the config's
default display/view); :class:`BakedDisplay` is a fast LUT copy of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.atomic import write_cache_bytes
from recast.pipeline.color import PlateColour, PlateColours
from recast.pipeline.finite import sanitise


@dataclass
class DisplayTransform:
    """Callable mapping float RGB in the plate colour ``colour`` to display-referred [0, 1] float32."""

    colour: PlateColour
    colours: PlateColours = field(default_factory=PlateColours, repr=False)
    _fn: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if self._fn is None:
            self._fn = self.colours.display(self.colour)
        return np.clip(self._fn(sanitise(rgb)), 0.0, 1.0).astype(np.float32, copy=False)


@dataclass
class BakedDisplay:
    """A fast copy of :class:`DisplayTransform` (crops for scores, thumbnails, movies).

    The exact transform (an ACES 2.0 view costs ~1 µs a pixel) is baked once
    into a 65³ 3D LUT over a log2 shaper (``lo``..``hi`` stops around 1.0) and
    applied by OCIO's own tetrahedral LUT code, ~25x faster. Against the exact
    transform it differs by 0.0007 on average (99.9th percentile 0.011, on
    skimage's astronaut as scene-linear), far below what the metrics resolve;
    plate and comp go through the same LUT, so untouched pixels stay identical.
    """

    colour: PlateColour
    colours: PlateColours = field(default_factory=PlateColours, repr=False)
    grid: int = 65
    lo: float = -14.0
    hi: float = 8.0
    _lut: Any = field(default=None, repr=False)

    def _shape(self, rgb: np.ndarray) -> np.ndarray:
        x = np.maximum(sanitise(rgb[..., :3]), 2.0**self.lo)
        s = (np.log2(x) - self.lo) * (1.0 / (self.hi - self.lo))
        return np.ascontiguousarray(np.clip(s, 0.0, 1.0), np.float32)

    def _bake(self) -> Any:
        import PyOpenColorIO as ocio  # type: ignore[import-untyped]

        cache = self._cache_path(ocio)
        data = _read_lut(cache, self.grid)
        if data is None:
            exact = DisplayTransform(self.colour, self.colours)
            g = np.linspace(0.0, 1.0, self.grid, dtype=np.float64)
            r, gg, b = np.meshgrid(g, g, g, indexing="ij")  # OCIO's layout: blue varies fastest
            shaped = np.stack([r, gg, b], -1).reshape(-1, 3)
            lin = np.exp2(shaped * (self.hi - self.lo) + self.lo).astype(np.float32)
            data = np.ascontiguousarray(exact(lin), np.float32).ravel()
            _write_lut(cache, data)
        lut = ocio.Lut3DTransform(gridSize=self.grid)
        lut.setData(data)
        lut.setInterpolation(ocio.INTERP_TETRAHEDRAL)
        return ocio.Config.CreateRaw().getProcessor(lut).getDefaultCPUProcessor()

    def _cache_path(self, ocio: Any) -> Path | None:
        """Where the baked LUT of this transform is kept between processes (baking it is ~0.15 s
        CPU in every process that scores a frame): ``$RECAST_HOME/cache/qc-display``, keyed by
        the colour, the grid, the OCIO version, the config file's size and mtime (a built-in
        config is named by its URI) and the OCIO environment that picks displays and views."""
        from recast.pipeline.jobs.store import recast_home

        config = self.colour.config
        stamp: list[Any] | None = None
        if not config.startswith("ocio://"):
            try:
                st = Path(config).stat()
                stamp = [st.st_size, st.st_mtime_ns]
            except OSError:
                return None  # a config we cannot vouch for: baked every time
        doc = {"colour": self.colour.to_json(), "grid": self.grid, "lo": self.lo, "hi": self.hi,
               "ocio": str(getattr(ocio, "__version__", "")), "stamp": stamp,
               "env": {k: os.environ.get(k) for k in ("OCIO", "OCIO_ACTIVE_DISPLAYS", "OCIO_ACTIVE_VIEWS", "OCIO_INACTIVE_COLORSPACES")}}
        key = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]
        return recast_home() / "cache" / "qc-display" / f"{key}.f32"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if self._lut is None:
            self._lut = self._bake()
        out = self._shape(rgb)
        self._lut.applyRGB(out)
        return np.clip(out, 0.0, 1.0)


def _read_lut(path: Path | None, grid: int) -> np.ndarray | None:
    """A baked LUT saved by :func:`_write_lut` (None: absent, unreadable or the wrong size)."""
    if path is None:
        return None
    try:
        data = np.fromfile(path, dtype="<f4")
    except (OSError, ValueError):
        return None
    if data.size != grid**3 * 3 or not np.isfinite(data).all():
        return None
    return np.ascontiguousarray(data, np.float32)


def _write_lut(path: Path | None, data: np.ndarray) -> None:
    """Save a baked LUT (temp file + rename; a failed write is ignored: the next process bakes it)."""
    if path is None:
        return
    write_cache_bytes(path, np.ascontiguousarray(data, "<f4").tobytes())
