"""One face, one crop: swap in the working space, match, matte, blend, regrain.

The order of the stages is visible here in one place:

    plate crop (plate space) -> working space, clipped -> swap (+ enhancer)
    -> matte -> colour match -> blend -> plate space -> highlights -> grain

The result is a foreground ``fg`` in plate space over the crop plus ``alpha``;
the engine composites ``alpha * fg + (1 - alpha) * plate`` and only where
``alpha > 0``.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recast.models.base import SwapResult
from recast.pipeline.composite.blend import blend
from recast.pipeline.composite.colormatch import ColourStats, colour_match
from recast.pipeline.composite.crop import resize_to
from recast.pipeline.composite.grain import GrainProfile, measure_grain, synthesize_grain
from recast.pipeline.composite.highlights import clip_working, out_of_range_energy, restore_highlights
from recast.pipeline.composite.matte import MatteOptions, build_matte, matte_box
from recast.pipeline.errors import SwapError
from recast.pipeline.finite import sanitise
from recast.pipeline.outputs import Box
from recast.pipeline.schema.settings import SwapSettings
from recast.pipeline.types import Face

Convert = Callable[[np.ndarray], np.ndarray]
SwapFn = Callable[[np.ndarray, Face], SwapResult]


@dataclass(frozen=True)
class SpaceConverter:
    """Plate space <-> working space for one plate (bound colour spaces)."""

    to_working: Convert
    from_working: Convert


@dataclass(frozen=True)
class ComposeOptions:
    matte: MatteOptions = MatteOptions()
    color: str = "rct"
    color_strength: float = 1.0
    blend: str = "alpha"
    grain: bool = True
    highlights: bool = True

    @classmethod
    def from_settings(cls, s: SwapSettings) -> ComposeOptions:
        return cls(
            matte=MatteOptions(erode=s.mask_erode, blur=s.mask_blur, forehead=s.mask_forehead, source=s.mask_source),
            color=s.color,
            color_strength=s.color_strength,
            blend=s.blend,
            grain=s.grain,
            highlights=s.highlights,
        )


@dataclass
class FaceComposite:
    fg: np.ndarray  # (h, w, 3) plate space, regrained when grain is on
    fg_clean: np.ndarray  # (h, w, 3) plate space, no added grain
    alpha: np.ndarray  # (h, w) matte
    box: Box | None  # matte box in crop coordinates (None: nothing to paste)
    colour: ColourStats | None
    info: dict[str, Any] = field(default_factory=dict)


def compose_face(
    plate_crop: np.ndarray,
    face: Face,
    swap: SwapFn,
    conv: SpaceConverter,
    opts: ComposeOptions,
    locked_colour: ColourStats | None = None,
    seed: int = 0,
    smooth_colour: Callable[[ColourStats], ColourStats] | None = None,
) -> FaceComposite:
    """Swap ``face`` (crop coordinates) inside ``plate_crop`` (h, w, 3, plate space)."""
    h, w = plate_crop.shape[:2]
    plate = sanitise(plate_crop)
    working = clip_working(conv.to_working(plate))
    result = swap(working, face)
    rgb, model_matte = _check_swap(result, (h, w))
    matte_opts = opts.matte
    if result.matte_bound and model_matte is not None and matte_opts.source == "union":
        # the swapper's own matte is the bound, already eroded and feathered to the face's size
        matte_opts = dataclasses.replace(matte_opts, source="auto", erode=0.0, blur=0.0)
    matte = build_matte((h, w), face, model_matte, matte_opts)
    box = matte_box(matte)
    weight = matte
    skin = _skin_weights(result, (h, w))
    if skin is not None and int((skin * matte >= 0.5).sum()) >= 64:
        weight = skin * matte  # the plate's skin against the actor's: eyes, brows and mouth left out
    matched, stats = colour_match(rgb, working, weight, opts.color, opts.color_strength, locked_colour, smooth_colour)
    keep = _skin_weights(dataclasses.replace(result, skin=getattr(result, "ungraded", None)), (h, w))
    if keep is not None:  # the plate's own pixels the swapper placed: not graded again
        matched = (keep[..., None] * rgb + (1.0 - keep[..., None]) * matched).astype(np.float32)
    info: dict[str, Any] = {"swap_info": dict(result.info)}
    del result, rgb, model_matte, keep, skin, weight  # crop-sized buffers dropped as soon as they are dead (an 8K face crop is ~70 MB)
    blended = blend(matched, working, matte, opts.blend)
    del matched
    fg = conv.from_working(blended).astype(np.float32, copy=False)
    del blended
    if opts.highlights:
        residual = out_of_range_energy(plate, working, conv.from_working)
        del working
        fg = restore_highlights(fg, residual)
        info["highlights_restored"] = int((np.abs(residual) > 1e-4).any(axis=2)[matte > 0].sum())
        del residual
    else:
        del working
    fg_clean = fg
    if opts.grain and box is not None:
        target = measure_grain(plate, None)  # in and around the face: the whole crop
        present = measure_grain(fg, matte)
        del plate
        grain = synthesize_grain((h, w), target, present, seed)
        grain += fg  # the noise buffer becomes the regrained face (fg_clean keeps the clean one)
        fg = grain.astype(np.float32, copy=False)
        del grain
        info["grain"] = {"plate": GrainProfile.to_json(target), "swap": GrainProfile.to_json(present)}
    return FaceComposite(fg=fg, fg_clean=fg_clean, alpha=matte, box=box, colour=stats, info=info)


def _skin_weights(result: SwapResult, hw: tuple[int, int]) -> np.ndarray | None:
    skin = getattr(result, "skin", None)
    if skin is None:
        return None
    arr = np.asarray(skin, dtype=np.float32)
    if arr.shape != hw:
        return None
    return np.clip(np.nan_to_num(arr), 0.0, 1.0)


def _check_swap(result: SwapResult, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Validated rgb (crop size, [0, 1]) and matte; other sizes are resampled with a proper filter."""
    if not isinstance(result, SwapResult):
        raise SwapError(f"swapper returned {type(result).__name__}, expected SwapResult")
    rgb = np.asarray(result.rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 2:
        raise SwapError(f"swapper returned rgb of shape {rgb.shape}, expected {(*hw, 3)}")
    if not np.isfinite(rgb).all():
        raise SwapError("swapper returned NaN/Inf pixels")
    rgb = resize_to(rgb, hw)
    matte = None
    if result.matte is not None:
        matte = np.asarray(result.matte, dtype=np.float32)
        if matte.ndim != 2:
            raise SwapError(f"swapper returned a matte of shape {matte.shape}, expected {hw}")
        matte = np.clip(np.nan_to_num(resize_to(matte, hw)), 0.0, 1.0)
    return np.clip(rgb, 0.0, 1.0), matte
