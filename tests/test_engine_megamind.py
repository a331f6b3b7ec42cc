"""The engine over a real clip: Megamind frames across a cut (frame 98), as scene-linear
EXRs, swapped with a warp actor. Every frame is processed in order with tracking; the
comp equals the plate outside each frame's element."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from _engine_fixtures import build_tom_hanks_actor
from _faces_fixtures import megamind_frames, write_exr_sequence
from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
from recast.pipeline.plateio import read_plate, same_pixels
from recast.pipeline.sequence import PlateSequence


def test_megamind_across_a_cut(test_media: Path, tmp_path: Path) -> None:
    import os

    actor: Any = build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    pattern = write_exr_sequence(megamind_frames(test_media, 8, scale=0.5, start=94), tmp_path / "plate", first=1094)
    seq = PlateSequence.open(pattern)
    eng = Engine(seq, {actor.name: actor}, SwapSettings(selection="largest"), OutputLayout(tmp_path / "out", seq.name))
    recs = eng.run(seq.frames)
    assert [r["frame"] for r in recs] == list(range(1094, 1102))
    assert all(r["status"] in ("done", "passthrough") for r in recs), [r["error"] for r in recs]
    done = [r for r in recs if r["status"] == "done"]
    assert len(done) >= 6
    for rec in done:
        plate, comp, el = read_plate(rec["plate"]), read_plate(rec["comp"]), read_plate(rec["element"])
        x, y, w, h = el.data_window
        outside = np.ones(plate.pixels.shape[:2], bool)
        outside[y : y + h, x : x + w] = el.pixels[..., 3] == 0
        assert same_pixels(comp.pixels[outside], plate.pixels[outside])
        assert not same_pixels(comp.pixels, plate.pixels)
    # the cut at frame 98 starts a new track; within a shot the id stays
    ids = {r["frame"]: next(f["track_id"] for f in r["faces"] if f["swapped"]) for r in done}
    before = {ids[f] for f in ids if f < 1098}
    after = {ids[f] for f in ids if f >= 1098}
    assert len(before) == 1 and len(after) == 1 and before != after
