"""Holdout mattes: where the roto is 1 the plate pixel is kept, in the comp and in the element's
alpha; the record names the matte frame; CLI, job settings and the service's path check take it.

A real warp actor (insightface's Tom Hanks sample) swapped onto skimage's astronaut, as in
test_engine; the holdout is a rectangle over the left half of her face, written as an EXR
sequence (full frame, data window at 0,0, while the plate's starts at 24,16) and as PNGs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from _engine_fixtures import astronaut_linear, write_aov_plate
from recast.pipeline.composite.holdout import parse_holdout
from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
from recast.pipeline.errors import SpecError
from recast.pipeline.service.security import AccessError
from recast.pipeline.plateio import read_plate, write_image
from recast.pipeline.sequence import PlateSequence

ORIGIN = (24, 16)
FULL = (600, 560)
HOLD = (150, 60, 225, 260)  # x0, y0, x1, y1 in image (display) coordinates: the left half of her face


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("plates")
    for i in range(2):
        write_aov_plate(d / f"shot.{1001 + i:04d}.exr", astronaut_linear(0), ORIGIN, FULL)
    return d


def _roto(value: float = 1.0) -> np.ndarray:
    m = np.zeros((FULL[1], FULL[0]), np.float32)
    x0, y0, x1, y1 = HOLD
    m[y0:y1, x0:x1] = value
    return m


def write_exr_holdout(d: Path, frames: list[int], channel: str = "A") -> str:
    d.mkdir(parents=True, exist_ok=True)
    for f in frames:
        spec = oiio.ImageSpec(FULL[0], FULL[1], 1, oiio.HALF)
        spec.channelnames = (channel,)
        write_image(d / f"roto.{f:04d}.exr", _roto()[..., None], spec)
    return str(d / "roto.####.exr")


def _run(actor: Any, plates: Path, out: Path, settings: SwapSettings) -> list[dict]:
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    eng = Engine(seq, {actor.name: actor}, settings, OutputLayout(out, seq.name, seq.padding), job_id="h")
    return eng.run(seq.frames)


def _in_plate(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    return slice(y0 - ORIGIN[1], y1 - ORIGIN[1]), slice(x0 - ORIGIN[0], x1 - ORIGIN[0])


def test_exr_holdout_keeps_the_plate_and_cuts_the_element(actor: Any, plates: Path, tmp_path: Path) -> None:
    pattern = write_exr_holdout(tmp_path / "roto", [1001, 1002])
    free = _run(actor, plates, tmp_path / "free", SwapSettings(selection="largest"))
    held = _run(actor, plates, tmp_path / "held", SwapSettings(selection="largest", holdout=pattern))
    assert [r["status"] for r in held] == ["done", "done"], [r["error"] for r in held]
    rec = held[0]
    assert rec["holdout"]["file"].endswith("roto.1001.exr") and rec["holdout"]["channel"] == "alpha"
    assert rec["settings"]["holdout"] == pattern
    assert rec["faces"][0]["holdout"]["held_pixels"] > 1000
    plate = read_plate(plates / "shot.1001.exr").pixels
    comp_free = read_plate(free[0]["comp"]).pixels
    comp_held = read_plate(rec["comp"]).pixels
    ys, xs = _in_plate(HOLD)
    # without the holdout the face there is swapped; with it, the plate comes back bit for bit
    assert np.abs(comp_free[ys, xs, :3] - plate[ys, xs, :3]).max() > 0.02
    np.testing.assert_array_equal(comp_held[ys, xs, :3], plate[ys, xs, :3])
    # the rest of the face is still swapped
    x1 = HOLD[2]
    right = _in_plate((x1 + 5, 120, x1 + 40, 220))
    assert np.abs(comp_held[right][..., :3] - plate[right][..., :3]).max() > 0.02
    # the element's alpha is 0 under the holdout, > 0 beside it
    el = read_plate(rec["element"])
    ex, ey, ew, eh = el.data_window
    alpha = np.zeros((FULL[1], FULL[0]), np.float32)
    alpha[ey : ey + eh, ex : ex + ew] = el.pixels[..., 3]
    x0, y0, x1, y1 = HOLD
    assert alpha[y0:y1, x0:x1].max() == 0.0
    assert alpha[120:220, x1 + 5 : x1 + 40].max() > 0.5


def test_png_holdout_channel_and_bad_inputs(actor: Any, plates: Path, tmp_path: Path) -> None:
    d = tmp_path / "png"
    d.mkdir()
    for f in (1001, 1002):
        rgb = np.zeros((FULL[1], FULL[0], 3), np.uint8)
        rgb[..., 0] = (_roto() * 255).astype(np.uint8)  # the roto in red only
        cv2.imwrite(str(d / f"roto.{f:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    recs = _run(actor, plates, tmp_path / "o", SwapSettings(selection="largest", holdout=f"{d}/roto.####.png:R"))
    assert [r["status"] for r in recs] == ["done", "done"], [r["error"] for r in recs]
    plate = read_plate(plates / "shot.1001.exr").pixels
    ys, xs = _in_plate(HOLD)
    np.testing.assert_array_equal(read_plate(recs[0]["comp"]).pixels[ys, xs, :3], plate[ys, xs, :3])
    # the green channel is empty: nothing held out, the face is swapped there
    recs = _run(actor, plates, tmp_path / "g", SwapSettings(selection="largest", holdout=f"{d}/roto.####.png:G"))
    assert np.abs(read_plate(recs[0]["comp"]).pixels[ys, xs, :3] - plate[ys, xs, :3]).max() > 0.02
    # a channel the matte lacks, or a missing frame: that frame fails with one line, nothing lost
    recs = _run(actor, plates, tmp_path / "z", SwapSettings(selection="largest", holdout=f"{d}/roto.####.png:Z"))
    assert all(r["status"] == "failed" and "no channel 'Z'" in r["error"] for r in recs)
    (d / "roto.1002.png").unlink()
    recs = _run(actor, plates, tmp_path / "m", SwapSettings(selection="largest", holdout=f"{d}/roto.####.png:R"))
    assert [r["status"] for r in recs] == ["done", "failed"]
    assert "holdout" in recs[1]["error"] and "1002" in recs[1]["error"] and "\n" not in recs[1]["error"]


def test_holdout_setting_parsing_cli_and_job_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_holdout("roto.####.exr").channel is None
    spec = parse_holdout("/a/b/roto.%04d.exr:mask.A")
    assert (spec.pattern, spec.channel) == ("/a/b/roto.%04d.exr", "mask.A")
    with pytest.raises(SpecError, match="settings.holdout"):
        SwapSettings.from_dict({"holdout": "nothing"})
    from recast.pipeline.cli.swap import add_settings_flags, settings_overrides

    monkeypatch.chdir(tmp_path)
    p = argparse.ArgumentParser()
    add_settings_flags(p)
    over = settings_overrides(p.parse_args(["--holdout", "roto/roto.####.exr:R"]))
    assert over == {"holdout": f"{tmp_path.resolve()}/roto/roto.####.exr:R"}
    from recast.pipeline.schema.job import JobSpec

    job = JobSpec.from_dict(
        {"plate": str(tmp_path / "p.####.exr"), "out": str(tmp_path / "out"), "actor": "a", "settings": {"holdout": over["holdout"]}}
    )
    assert SwapSettings.from_dict(dict(job.settings)).holdout == over["holdout"]


def test_service_checks_the_holdout_path(tmp_path: Path) -> None:
    from recast.pipeline.service.security import check_setting_paths

    root = tmp_path / "jobs"
    root.mkdir()
    check_setting_paths({"holdout": f"{root}/roto.####.exr:A"}, [root.resolve()])
    with pytest.raises(AccessError, match="settings.holdout"):
        check_setting_paths({"holdout": "/etc/roto.####.exr"}, [root.resolve()])
    with pytest.raises(AccessError, match="settings.holdout"):
        check_setting_paths({"holdout": f"{root}/../x/roto.####.exr"}, [root.resolve()])
