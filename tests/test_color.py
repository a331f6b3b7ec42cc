"""OCIO colour: pinned config, round trips, plate colourspace resolution, previews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from recast.pipeline.color import BUILTIN_CONFIG, ColorContext
from recast.pipeline.errors import ColorError
from recast.pipeline.plateio import new_spec, read_plate, write_image, write_plate
from tests._fixtures_plates import linear_photo, make_exr, photo


@pytest.fixture(scope="module")
def cc() -> ColorContext:
    return ColorContext(BUILTIN_CONFIG)


def test_pinned_config_and_aces2_view(cc: ColorContext) -> None:
    assert cc.config_name == BUILTIN_CONFIG and "aces-v2.0" in BUILTIN_CONFIG
    assert cc.working_space == "sRGB Encoded Rec.709 (sRGB)"
    assert cc.scene_linear == "Linear Rec.709 (sRGB)"
    assert cc.view.startswith("ACES 2.0")


def test_ocio_env_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OCIO", "ocio://cg-config-v4.0.0_aces-v2.0_ocio-v2.5")
    assert ColorContext().config_name == "ocio://cg-config-v4.0.0_aces-v2.0_ocio-v2.5"
    broken = tmp_path / "broken.ocio"
    broken.write_text("ocio_profile_version: 2\nroles: [this is not\n")
    monkeypatch.setenv("OCIO", str(broken))
    with pytest.raises(ColorError, match=r"broken\.ocio: cannot load"):
        ColorContext()
    monkeypatch.setenv("OCIO", "/nonexistent/config.ocio")
    with pytest.raises(ColorError, match=r"/nonexistent/config\.ocio: file not found"):
        ColorContext()


def _unit_ramps(top: float = 1.0) -> np.ndarray:
    """(4097, 3): every channel sweeps [0, top], the three out of step (saturated mixes included)."""
    grid = np.linspace(0.0, top, 4097, dtype=np.float32)
    return np.stack([grid, grid[::-1], np.roll(grid, 1000)], axis=-1)


def _cube(top: float, n: int = 33) -> np.ndarray:
    g = np.linspace(0.0, top, n, dtype=np.float32)
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)


def _round_trip_error(cc: ColorContext, rgb: np.ndarray, space: str) -> float:
    back = cc.from_working(cc.to_working(rgb, space), space)
    assert back.dtype == np.float32 and back.shape == rgb.shape
    return float(np.abs(back - rgb).max())


@pytest.mark.parametrize(
    "space",
    [
        "lin_rec709",
        "ACEScg",
        "ACES2065-1",
        "Linear P3-D65",
        "sRGB Encoded Rec.709 (sRGB)",
        "ARRI LogC3 (EI800)",
        "S-Log3 S-Gamut3",
        "V-Log V-Gamut",
    ],
)
def test_round_trip_within_1e4_on_unit_range(cc: ColorContext, space: str) -> None:
    assert _round_trip_error(cc, _unit_ramps(), space) <= 1e-4
    assert _round_trip_error(cc, _cube(1.0), space) <= 1e-4


@pytest.mark.parametrize("space", ["ACEScct", "ARRI LogC4", "Log3G10 REDWideGamutRGB"])
def test_high_range_log_round_trip_bounds(cc: ColorContext, space: str) -> None:
    greys = np.repeat(np.linspace(0.0, 1.0, 4097, dtype=np.float32)[:, None], 3, axis=1)
    assert _round_trip_error(cc, greys, space) <= 1e-4
    # every colour up to 0.8 (ACEScct: 19.6 scene-linear) in every mix of channels
    assert _round_trip_error(cc, _cube(0.8), space) <= 1e-4
    assert _round_trip_error(cc, _unit_ramps(0.8), space) <= 1e-4
    # near-black next to near-peak in one pixel: float32 working values cost up to ~1e-3 (see pipeline.color)
    assert _round_trip_error(cc, _unit_ramps(), space) <= 1.5e-3


def test_float32_working_values_bound_the_log_round_trip(cc: ColorContext) -> None:
    """Why ACEScct's full cube cannot reach 1e-4: one ulp of the working value moves the result more."""
    worst = np.array([[0.00219727, 0.99780273, 0.7583008]], dtype=np.float32)
    work = cc.to_working(worst, "ACEScct")
    nudged = work.copy()
    nudged[0, 0] = np.nextafter(work[0, 0], np.float32(np.inf))
    moved = np.abs(cc.from_working(nudged, "ACEScct") - cc.from_working(work, "ACEScct")).max()
    assert moved > 1e-4


def test_values_above_one_survive_linear_to_working(cc: ColorContext) -> None:
    hdr = linear_photo(16, 12, gain=40.0)  # highlights well above 1.0
    assert hdr.max() > 8.0
    work = cc.to_working(hdr, "lin_rec709")
    assert work.max() > 1.0  # not clamped
    back = cc.from_working(work, "lin_rec709")
    assert np.allclose(back, hdr, rtol=1e-4, atol=1e-6)
    assert cc.preserves_range("lin_rec709") and cc.preserves_range("ACEScg")


def test_conversion_matches_srgb_formula_and_keeps_input(cc: ColorContext) -> None:
    srgb = photo(10, 8)
    keep = srgb.copy()
    lin = cc.convert(srgb, "srgb_tx", "lin_rec709")
    expect = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    assert np.allclose(lin, expect, atol=2e-6)
    assert np.array_equal(srgb, keep)  # never converted in place


def test_processors_are_cached(cc: ColorContext) -> None:
    rgb = np.full((2, 2, 3), 0.5, np.float32)
    cc.to_working(rgb, "ACEScg")
    n = cc.processor_count
    cc.to_working(rgb, "ACES - ACEScg")  # an alias resolves to the same processor
    cc.to_working(rgb, "ACEScg")
    assert cc.processor_count == n


def test_display_preview_is_bounded(cc: ColorContext) -> None:
    hdr = linear_photo(12, 10, gain=100.0)
    hdr[0, 0] = [np.nan, np.inf, -np.inf]
    disp = cc.to_display(hdr, "lin_rec709")
    assert disp.min() >= 0.0 and disp.max() <= 1.0 and np.isfinite(disp).all()
    # tone mapping keeps order: a brighter grey previews brighter
    greys = cc.to_display(np.array([[0.05] * 3, [0.18] * 3, [2.0] * 3], np.float32), "lin_rec709")
    assert greys[0, 1] < greys[1, 1] < greys[2, 1]


def test_unknown_names_give_one_line(cc: ColorContext) -> None:
    with pytest.raises(ColorError, match="colourspace 'lin_foo': not in OCIO config"):
        cc.to_working(np.zeros((1, 3), np.float32), "lin_foo")
    with pytest.raises(ColorError, match=r"\(\.\.\., 3\) RGB"):
        cc.to_working(np.zeros((4, 4), np.float32), "lin_rec709")


def test_plate_space_job_then_metadata_then_default(cc: ColorContext, tmp_path: Path) -> None:
    plain = tmp_path / "plain.exr"
    make_exr(plain, width=8, height=6)
    tagged = tmp_path / "tagged.exr"
    make_exr(tagged, width=8, height=6, attrs={"colorInteropID": "lin_ap1_scene"})
    png = tmp_path / "p.png"
    write_image(png, photo(8, 6), new_spec(8, 6, ["R", "G", "B"], "uint8"))
    assert cc.plate_space(read_plate(plain)) == "Linear Rec.709 (sRGB)"
    assert cc.plate_space(read_plate(tagged)) == "ACEScg"
    assert cc.plate_space(read_plate(tagged), job_value="ACES2065-1") == "ACES2065-1"
    assert cc.plate_space(read_plate(png)) == "sRGB Encoded Rec.709 (sRGB)"
    ap0 = tmp_path / "ap0.exr"
    make_exr(ap0, width=8, height=6)
    plate = read_plate(ap0)
    plate.spec.attribute(
        "chromaticities", oiio.TypeDesc("float[8]"), (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
    )
    write_plate(ap0, plate)
    assert cc.plate_space(read_plate(ap0)) == "ACES2065-1"  # named by its EXR primaries
    with pytest.raises(ColorError, match="'bogus'"):
        cc.plate_space(read_plate(plain), job_value="bogus")
