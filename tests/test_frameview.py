"""FrameView: a frame's crops converted once give the bits a conversion of each crop on its own gives."""

from __future__ import annotations

import numpy as np

from recast.pipeline.color import ColorContext
from recast.pipeline.engine import analysis_view
from recast.pipeline.frameview import FrameView


def _frame(rng: np.random.Generator, h: int = 240, w: int = 320) -> np.ndarray:
    """An RGBA plate buffer (scene-linear, some values above 1 and below 0) and its RGB view."""
    rgba = (rng.random((h, w, 4), np.float32) * 3.0 - 0.2).astype(np.float32)
    return rgba


def test_crops_served_from_kept_regions_match_their_own_conversion() -> None:
    color = ColorContext()
    rng = np.random.default_rng(5)
    rgba = _frame(rng)
    rgb = rgba[..., :3]  # a view inside the RGBA buffer, as the engine's analysis pixels are
    plain = analysis_view(color, "ACEScg")
    view = FrameView(rgb, lambda a: color.to_working(a, "ACEScg"))
    boxes = [(20, 120, 30, 170), (40, 90, 60, 100), (0, 240, 0, 320), (100, 200, 150, 310), (5, 6, 7, 8)]
    for y0, y1, x0, x1 in boxes:  # inside, overlapping, containing the kept regions
        crop = rgb[y0:y1, x0:x1]
        assert np.array_equal(view(crop), plain(crop))
        assert np.array_equal(view.working(crop), color.to_working(crop, "ACEScg"))
    assert view.reused_px > 0  # the later crops did reuse the earlier ones


def test_working_copy_is_the_callers_and_forget_drops_changed_pixels() -> None:
    color = ColorContext()
    rng = np.random.default_rng(6)
    rgba = _frame(rng)
    rgb = rgba[..., :3]
    view = FrameView(rgb, lambda a: color.to_working(a, "ACEScg"))
    view(rgb[10:110, 10:110])
    out = view.working(rgb[10:110, 10:110])
    out[:] = 7.0  # the caller owns it: the kept region is untouched
    assert np.array_equal(view.working(rgb[20:60, 20:60]), color.to_working(rgb[20:60, 20:60], "ACEScg"))
    rgba[30:50, 30:50, :3] = 0.25  # a pasted face
    view.forget(30, 50, 30, 50)
    assert np.array_equal(view.working(rgb[10:110, 10:110]), color.to_working(rgb[10:110, 10:110], "ACEScg"))


def test_arrays_that_are_not_views_of_the_frame_are_converted_as_given() -> None:
    color = ColorContext()
    rng = np.random.default_rng(7)
    rgba = _frame(rng)
    rgb = rgba[..., :3]
    view = FrameView(rgb, lambda a: color.to_working(a, "ACEScg"))
    view(rgb[0:100, 0:100])
    other = np.ascontiguousarray(rgb[0:100, 0:100]) * np.float32(0.5)  # same size, another buffer
    assert np.array_equal(view(other), analysis_view(color, "ACEScg")(other))
    strided = rgb[0:100:2, 0:100:2]  # resampled by striding: not a crop of the frame
    assert np.array_equal(view.working(strided), color.to_working(strided, "ACEScg"))


def test_conversion_in_threaded_row_chunks_is_the_whole_array_at_once() -> None:
    """ColorContext converts large arrays in row chunks on its threads: the same bits as one call."""
    import PyOpenColorIO as ocio  # noqa: F401 - the binding the context wraps

    color = ColorContext()
    rng = np.random.default_rng(8)
    rgba = (rng.random((700, 900, 4), np.float32) * 3.0 - 0.2).astype(np.float32)
    proc = color._processor("ACEScg", color.working_space)
    for arr in (rgba[..., :3], rgba[3:650, 7:880, 1:4], rgba[..., :3].reshape(-1, 3)):
        whole = np.ascontiguousarray(arr, np.float32).copy()
        proc.applyRGB(whole.reshape(-1, 3))
        assert np.array_equal(color.to_working(arr, "ACEScg"), whole)
