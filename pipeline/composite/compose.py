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
from recast.pipeline.composite.colormatch import ColourStats, colour_match, colour_stats
from recast.pipeline.composite.crop import resize_to
from recast.pipeline.composite.grain import GRAIN_BLOCK, GrainProfile, measure_grain, synthesize_grain
from recast.pipeline.composite.highlights import clip_working, out_of_range_energy
from recast.pipeline.composite.matte import MatteOptions, build_matte, matte_box, unit_weights
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
    auto_holdout: bool = False  # things in front of the face keep the plate (pipeline.composite.occlude)

    @classmethod
    def from_settings(cls, s: SwapSettings) -> ComposeOptions:
        return cls(
            matte=MatteOptions(erode=s.mask_erode, blur=s.mask_blur, forehead=s.mask_forehead, source=s.mask_source),
            color=s.color,
            color_strength=s.color_strength,
            blend=s.blend,
            grain=s.grain,
            highlights=s.highlights,
            auto_holdout=s.auto_holdout,
        )


# The work region is the matte's box grown by this much (clipped to the crop): the grain
# measure's band filters (radius 10 px) and selection erode (3 px) see the same
# neighbourhood as on the whole crop, so the face's statistics do not change.
WORK_PAD = 16
# a swap whose matte peaks under this is faded as a whole (e.g. warp's pose_coverage): its
# colour is measured over the matte divided by its peak (a whole face's matte is left as it is)
FADED_PEAK = 0.95
# colour match (rct): lightness finer than this (of the face's size) is the face's detail, kept
# legible when the actor's harder light is cut to the plate's (colormatch.apply_stats)
DETAIL_SIGMA = 0.04


@dataclass
class FaceComposite:
    """The composited face over its work region, and the plate crop it was made from.

    ``fg_region`` / ``fg_clean_region`` cover ``region`` (crop coordinates: the matte's box
    grown by ``WORK_PAD``, or the whole crop for the laplacian/poisson blends); outside it
    the foreground is the plate itself (``base``), where the matte is 0. ``fg`` and
    ``fg_clean`` build the whole-crop arrays on access; the engine pastes from the region.
    """

    fg_region: np.ndarray  # (rh, rw, 3) plate space, regrained when grain is on
    fg_clean_region: np.ndarray  # (rh, rw, 3) plate space, no added grain
    alpha: np.ndarray  # (h, w) matte
    box: Box | None  # matte box in crop coordinates (None: nothing to paste)
    colour: ColourStats | None
    region: Box  # where fg_region lies in the crop
    base: np.ndarray  # (h, w, 3) the finite plate crop (plate space): the caller's own array when it was finite
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def fg(self) -> np.ndarray:
        """(h, w, 3) plate space over the whole crop, regrained when grain is on (a new array)."""
        return self._full(self.fg_region)

    @property
    def fg_clean(self) -> np.ndarray:
        """(h, w, 3) plate space over the whole crop, no added grain (a new array)."""
        return self._full(self.fg_clean_region)

    def foreground(self, box: Box, clean: bool = False) -> np.ndarray:
        """The foreground over ``box`` (crop coordinates, inside ``region``): a view, no copy."""
        r = self.region
        if box.x0 < r.x0 or box.y0 < r.y0 or box.x1 > r.x1 or box.y1 > r.y1:
            raise ValueError(f"box {box.as_list()} lies outside the composite's region {r.as_list()}")
        src = self.fg_clean_region if clean else self.fg_region
        return src[box.shifted(-r.x0, -r.y0).slices()]

    def _full(self, part: np.ndarray) -> np.ndarray:
        out = self.base.copy()
        out[self.region.slices()] = part
        return out


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
    """Swap ``face`` (crop coordinates) inside ``plate_crop`` (h, w, 3, plate space).

    The swap sees the whole crop; everything after the matte (colour match, blend, the
    conversion back, highlights, grain) runs on the matte's box only (see ``WORK_PAD``).
    """
    comp = _compose(plate_crop, face, swap, conv, opts, locked_colour, seed, smooth_colour, colour_only=False)
    assert comp is not None
    return comp


def replay_face(
    plate_crop: np.ndarray,
    face: Face,
    swap: SwapFn,
    conv: SpaceConverter,
    opts: ComposeOptions,
    locked_colour: ColourStats | None = None,
    smooth_colour: Callable[[ColourStats], ColourStats] | None = None,
) -> None:
    """What :func:`compose_face` does to per-sequence state (the swapper sees the crop, the
    colour statistics go through ``smooth_colour``) and nothing after it: no grade applied,
    no blend, highlights or grain. A replayed frame (computed, not written) needs only that."""
    _compose(plate_crop, face, swap, conv, opts, locked_colour, 0, smooth_colour, colour_only=True)


def _auto_holdout(working: np.ndarray, face: Face, matte: np.ndarray, fitted: np.ndarray | None = None) -> dict[str, Any]:
    """Lower ``matte`` (in place) over things in front of the face (``occlude.occluders``);
    returns what the record says: the face pixels kept as the plate, or why it was skipped.
    ``fitted``: the 68 points the swapper fitted itself (``SwapResult.landmarks68``), read when
    the face has no 68 points or mesh of its own (a detector's 5 points)."""
    from recast.pipeline.composite.occlude import occluders

    lm = face.landmarks
    if lm is not None and face.landmark_kind == "mesh468" and len(lm) == 468:
        from recast.pipeline.faces.mesh import mesh_to_68

        lm = mesh_to_68(np.asarray(lm, np.float64))
    if lm is None or len(lm) != 68 or face.landmark_kind not in (None, "dlib68", "mesh468"):
        lm = fitted if fitted is not None and np.shape(fitted) == (68, 2) else None
    if lm is None or not np.isfinite(lm).all():
        return {"kept_px": 0, "skipped": "needs 68-point landmarks or the face mesh"}
    found = occluders(working, np.asarray(lm, np.float64), matte)
    if found is None:
        return {"kept_px": 0}
    weight, (y0, y1, x0, x1) = found
    part = matte[y0:y1, x0:x1]
    kept = int(((weight > 0.5) & (part > 0.5)).sum())
    part *= 1.0 - weight
    return {"kept_px": kept}


def _compose(
    plate_crop: np.ndarray,
    face: Face,
    swap: SwapFn,
    conv: SpaceConverter,
    opts: ComposeOptions,
    locked_colour: ColourStats | None,
    seed: int,
    smooth_colour: Callable[[ColourStats], ColourStats] | None,
    *,
    colour_only: bool,
) -> FaceComposite | None:
    h, w = plate_crop.shape[:2]
    plate = _finite(plate_crop)  # read-only from here on: an all-finite float32 crop is not copied
    working = _clipped(conv.to_working(plate), plate)
    result = swap(working, face)
    rgb, model_matte = _check_swap(result, (h, w))
    matte_opts = opts.matte
    if result.matte_bound and model_matte is not None and matte_opts.source == "union":
        # the swapper's own matte is the bound, already eroded and feathered to the face's size
        matte_opts = dataclasses.replace(matte_opts, source="auto", erode=0.0, blur=0.0)
    # the result's fields as locals and the result dropped: each whole-crop array below goes as
    # soon as its region is taken (an 8K face crop is ~70 MB an RGB buffer, ~14 MB a weight)
    info: dict[str, Any] = {"swap_info": dict(result.info)}
    skin_full, keep_full = getattr(result, "skin", None), getattr(result, "ungraded", None)
    layer, layer_origin = getattr(result, "ungraded_rgb", None), getattr(result, "ungraded_origin", None)
    fitted = getattr(result, "landmarks68", None)
    del result
    matte = build_matte((h, w), face, model_matte, matte_opts)
    del model_matte
    if opts.auto_holdout:
        info["auto_holdout"] = _auto_holdout(working, face, matte, fitted)
    box = matte_box(matte)
    region = _work_region(box, (h, w), opts.blend)
    ys, xs = region.slices()
    matte_r = matte[ys, xs]
    part = region.width * region.height < h * w
    working_r = working[ys, xs].copy() if part else working
    del working
    rgb_r = rgb[ys, xs].copy() if part else rgb
    del rgb
    skin = _skin_weights(skin_full, (h, w), region, part)
    del skin_full
    keep = _skin_weights(keep_full, (h, w), region, part)
    del keep_full
    # the colour of the ungraded pixels where the swapper gives one of their own (a layer laid
    # over the graded swap); otherwise they are the swap's own pixels
    over = _ungraded_layer(layer, (h, w), region, layer_origin, rgb_r) if keep is not None else None
    del layer
    weight = matte_r
    # a swap faded as a whole (turned past the actor's views: pose_coverage) is still graded:
    # its colour is measured where its matte is strongest, not only where it reaches 0.5 (a face
    # faded to 0.35 was pasted in the actor photo's own colour, a grey mask on a greyscale actor)
    peak = float(matte_r.max()) if matte_r.size else 0.0
    scale = np.float32(1.0 / peak) if 0.0 < peak < FADED_PEAK else None
    if scale is not None:
        weight = matte_r * scale
    if skin is not None and int((skin * weight >= 0.5).sum()) >= 64:
        weight = skin * weight  # the plate's skin against the actor's: eyes, brows and mouth left out
    if colour_only:
        colour_stats(rgb_r, working_r, weight, opts.color, opts.color_strength, locked_colour, smooth_colour)
        return None
    matched, stats = colour_match(
        rgb_r, working_r, weight, opts.color, opts.color_strength, locked_colour, smooth_colour,
        detail_sigma=DETAIL_SIGMA * face.size,
    )
    if keep is not None:  # the plate's own pixels the swapper placed: not graded again
        if np.may_share_memory(matched, rgb_r):
            matched = matched.copy()
        k = keep[..., None]
        kept = k * (rgb_r if over is None else over)
        matched *= 1.0 - k
        matched += kept
        del kept, k
    del rgb_r, keep, skin, weight, over
    blended = blend(matched, working_r, matte_r, opts.blend)
    del matched
    fg = _owned(conv.from_working(blended), blended)
    del blended
    if opts.highlights:
        residual = out_of_range_energy(plate[ys, xs], working_r, conv.from_working)
        np.add(fg, residual, out=fg)
        info["highlights_restored"] = int((np.abs(residual) > 1e-4).any(axis=2)[matte_r > 0].sum())
        del residual
    del working_r
    fg_clean = fg
    if opts.grain and box is not None:
        target = measure_grain(plate, None)  # in and around the face: the whole crop
        present = measure_grain(fg, matte_r)
        grain = synthesize_grain((region.height, region.width), target, present, seed)
        grain += fg  # the noise buffer becomes the regrained face (fg_clean keeps the clean one)
        fg = grain
        del grain
        info["grain"] = {"plate": GrainProfile.to_json(target), "swap": GrainProfile.to_json(present)}
    return FaceComposite(
        fg_region=fg, fg_clean_region=fg_clean, alpha=matte, box=box, colour=stats, region=region, base=plate, info=info
    )


def _work_region(box: Box | None, hw: tuple[int, int], blend_method: str) -> Box:
    """The matte's box grown by ``WORK_PAD`` for the alpha blend; the whole crop otherwise
    (the laplacian pyramid and the poisson membrane read the plate around the face)."""
    h, w = hw
    if box is None or blend_method != "alpha":
        return Box(0, 0, w, h)
    p, b = WORK_PAD, GRAIN_BLOCK
    # the origin on the crop's grain block grid: the matte's blocks are the crop's blocks
    return Box(max((box.x0 - p) // b * b, 0), max((box.y0 - p) // b * b, 0), min(box.x1 + p, w), min(box.y1 + p, h))


def _finite(crop: np.ndarray) -> np.ndarray:
    """``crop`` itself when it is float32 and all finite (NaN and Inf propagate through a sum:
    one pass, no mask; a sum overflowing to Inf only costs the copy), else pipeline.finite's
    sanitised copy."""
    if crop.dtype == np.float32 and crop.size and np.isfinite(crop.sum(dtype=np.float64)):
        return crop
    return sanitise(crop)


def _clipped(working: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """The working crop clipped to [0, 1]: in place when the converter gave a buffer of its own."""
    if working.dtype == np.float32 and working.flags.writeable and not np.may_share_memory(working, plate):
        return np.clip(working, 0.0, 1.0, out=working)
    return clip_working(working)


def _owned(out: np.ndarray, given: np.ndarray) -> np.ndarray:
    """``out`` as a float32 array this code may write to (a copy only when it must be)."""
    out = np.asarray(out, dtype=np.float32)
    if not out.flags.writeable or np.may_share_memory(out, given):
        out = out.copy()
    return out


def _skin_weights(skin: np.ndarray | None, hw: tuple[int, int], region: Box, own: bool) -> np.ndarray | None:
    """A swapper's per-pixel weights (crop size) over ``region``, finite and in [0, 1]; None when
    absent. ``own``: a copy of the region (the whole-crop array may then go), else read only."""
    if skin is None:
        return None
    arr = np.asarray(skin)
    if arr.shape != hw:
        return None
    out = unit_weights(arr[region.slices()])
    return out.copy() if own and np.may_share_memory(out, arr) else out


def _ungraded_layer(
    layer: np.ndarray | None,
    hw: tuple[int, int],
    region: Box,
    origin: tuple[int, int] | None = None,
    own: np.ndarray | None = None,
) -> np.ndarray | None:
    """A swapper's ungraded colour layer (RGB) over ``region``, finite and in [0, 1] (a copy);
    None when absent or of another size. ``origin``: the layer covers only a box of the crop
    from that (y, x); ``own`` (the swap's own colour over ``region``) fills the rest."""
    if layer is None:
        return None
    arr = np.asarray(layer)
    if arr.ndim != 3 or arr.shape[2] < 3:
        return None
    if origin is None:
        if arr.shape[:2] != hw:
            return None
        out = np.nan_to_num(arr[region.slices()][..., :3].astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(out, 0.0, 1.0, out=out)
    ly, lx = int(origin[0]), int(origin[1])
    if own is None or ly < 0 or lx < 0 or ly + arr.shape[0] > hw[0] or lx + arr.shape[1] > hw[1]:
        return None
    out = np.array(own, dtype=np.float32, copy=True)
    ry0, rx0 = region.y0, region.x0
    y0, y1 = max(ly, ry0), min(ly + arr.shape[0], ry0 + out.shape[0])
    x0, x1 = max(lx, rx0), min(lx + arr.shape[1], rx0 + out.shape[1])
    if y1 > y0 and x1 > x0:
        part = np.nan_to_num(arr[y0 - ly : y1 - ly, x0 - lx : x1 - lx, :3].astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        out[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] = part
    return np.clip(out, 0.0, 1.0, out=out)


def _check_swap(result: SwapResult, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Validated rgb (crop size, [0, 1]) and matte; other sizes are resampled with a proper filter."""
    if not isinstance(result, SwapResult):
        raise SwapError(f"swapper returned {type(result).__name__}, expected SwapResult")
    rgb = np.asarray(result.rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 2:
        raise SwapError(f"swapper returned rgb of shape {rgb.shape}, expected {(*hw, 3)}")
    lo, hi = float(rgb.min()), float(rgb.max())  # NaN propagates through min/max: one pass, no mask
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise SwapError("swapper returned NaN/Inf pixels")
    rgb = resize_to(rgb, hw)
    matte = None
    if result.matte is not None:
        matte = np.asarray(result.matte, dtype=np.float32)
        if matte.ndim != 2:
            raise SwapError(f"swapper returned a matte of shape {matte.shape}, expected {hw}")
        matte = unit_weights(resize_to(matte, hw))
    if rgb.shape[:2] == hw and lo >= 0.0 and hi <= 1.0:
        return rgb, matte  # already in range: no copy
    return np.clip(rgb, 0.0, 1.0), matte
