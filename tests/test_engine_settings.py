"""SwapSettings validation/round trip and OutputLayout naming (engine API others code against)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recast.pipeline.engine import OutputLayout, SwapSettings
from recast.pipeline.errors import SpecError


def test_settings_round_trip_and_replace() -> None:
    s = SwapSettings.from_dict({"mask_blur": "8", "color": "lct", "grain": "off", "selection": "reference", "reference": "1001:1"})
    assert (s.mask_blur, s.color, s.grain, s.reference) == (8.0, "lct", False, "1001:1")
    assert SwapSettings.from_dict(s.to_dict()) == s
    r = s.replace(blend="poisson")
    assert r.blend == "poisson" and s.blend == "alpha"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"color": "purple"}, "settings.color"),
        ({"blend": "screen"}, "settings.blend"),
        ({"mask_blur": -1}, "settings.mask_blur"),
        ({"color_strength": 2}, "settings.color_strength"),
        ({"color_smoothing": 0.99}, "settings.color_smoothing"),
        ({"selection": "reference"}, "settings.reference"),
        ({"reference": "ten:one"}, "settings.reference"),
        ({"grain": "maybe"}, "settings.grain"),
        ({"mask_erode": float("nan")}, "settings.mask_erode"),
        ({"nonsense": 1}, "settings.nonsense"),
        ({"enhancer": "gfpgan", "enhancer_model": "x.onnx"}, "settings.enhancer_licence"),
    ],
)
def test_settings_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        SwapSettings.from_dict(data)
    msg = str(err.value)
    assert msg.startswith(field) and "\n" not in msg


def test_layout_paths(tmp_path: Path) -> None:
    lay = OutputLayout(tmp_path, "shot", padding=4)
    assert lay.comp_path(1001) == tmp_path / "comp" / "shot.1001.exr"
    assert lay.element_path(7) == tmp_path / "element" / "shot_face.0007.exr"
    assert lay.record_path(12) == tmp_path / "records" / "0012.json"
    assert lay.comp_pattern.endswith("comp/shot.####.exr")
