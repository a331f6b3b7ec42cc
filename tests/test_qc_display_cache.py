"""QC's baked display LUT is kept between processes: the second bake reads the file the
first wrote and maps pixels exactly as a fresh bake does; a damaged file is baked again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recast.pipeline.color import ColorContext, PlateColour, PlateColours
from recast.qc.display import BakedDisplay


def test_baked_display_reads_its_cache_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAST_HOME", str(tmp_path / "home"))
    colours = PlateColours()
    ctx = ColorContext()
    colour = PlateColour(plate=ctx.scene_linear, source="default", config=ctx.config_name, working=ctx.working_space)
    rgb = np.random.default_rng(3).random((64, 48, 3), dtype=np.float32) * 4.0
    first = BakedDisplay(colour, colours)
    want = first(rgb)
    files = list((tmp_path / "home" / "cache" / "qc-display").glob("*.f32"))
    assert len(files) == 1 and files[0].stat().st_size == 65**3 * 3 * 4
    stamp = files[0].stat().st_mtime_ns
    again = BakedDisplay(colour, colours)
    assert np.array_equal(again(rgb), want) and files[0].stat().st_mtime_ns == stamp  # read, not baked again
    files[0].write_bytes(b"\0" * 12)  # damaged: baked again and rewritten
    third = BakedDisplay(colour, colours)
    assert np.array_equal(third(rgb), want) and files[0].stat().st_size == 65**3 * 3 * 4
