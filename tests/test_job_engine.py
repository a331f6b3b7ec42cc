"""The default processor end to end through the CLI: the real Engine swapping a real face.

Actor: a warp actor built from insightface's Tom Hanks sample image (package
data, with a test consent file). Plate: skimage's astronaut photograph as a
scene-linear half EXR, three frames shifted a little each.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
from _engine_fixtures import astronaut_linear, build_tom_hanks_actor

from pipeline.plateio import read_plate, write_image
from tests.test_job_support import recast, write_spec


def test_engine_job_run_reprocess_publish(tmp_path: Path, monkeypatch) -> None:
    models = tmp_path / "models"
    monkeypatch.setenv("RECAST_MODELS", str(models))
    actor = build_tom_hanks_actor(models, tmp_path)
    home = tmp_path / "home"
    plates = tmp_path / "plates"
    plates.mkdir()
    for i, f in enumerate((1001, 1002, 1003)):
        rgb = astronaut_linear(shift=2 * i)[:320, 64:384]
        px = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], axis=2)
        spec = oiio.ImageSpec(px.shape[1], px.shape[0], 4, oiio.HALF)
        spec.channelnames = ("R", "G", "B", "A")
        spec.alpha_channel = 3
        write_image(plates / f"astro.{f:04d}.exr", px, spec)
    out = tmp_path / "out"
    spec_file = write_spec(tmp_path / "job.json", plate=str(plates / "astro.####.exr"), actor=actor.name, out=str(out), shot="sh010")
    job = json.loads(recast("submit", str(spec_file), "--json", home=home, check=True).stdout)["job"]
    run = json.loads(recast("job", "run", job, "--json", home=home, check=True, timeout=600).stdout)
    assert run["done"] == 3 and run["status"] == "done"
    for f in (1001, 1002, 1003):
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        assert rec["status"] == "done" and rec["job"] == job and rec["consent_id"] == actor.consent_id
        assert any(face["swapped"] for face in rec["faces"])
        comp = read_plate(out / "comp" / f"astro.{f}.exr")
        plate = read_plate(plates / f"astro.{f}.exr")
        assert not np.array_equal(comp.pixels, plate.pixels)  # the face changed
        assert Path(rec["element"]).is_file()
    # redo frame 1003 anchored to 1001 with a softer mask: a new take, take 1 kept
    before = (out / "comp" / "astro.1003.exr").read_bytes()
    rep = json.loads(
        recast("reprocess", job, "--frames", "1003", "--reference", "1001", "--set", "mask_blur=9", "--json", home=home, check=True, timeout=600).stdout
    )
    assert rep["take"] == 2 and rep["done"] == 1
    rec2 = json.loads((out / "takes" / "t002" / "records" / "1003.json").read_text())
    assert rec2["status"] == "done" and rec2["take"] == 2 and rec2["settings"]["mask_blur"] == 9
    assert (out / "comp" / "astro.1003.exr").read_bytes() == before
    # approve everything (1003 at its newest take) and publish
    recast("approve", job, "--frames", "all", "--by", "kim", home=home, check=True)
    pub = json.loads(recast("publish", job, "--json", home=home, check=True).stdout)
    manifest = json.loads((Path(pub["path"]) / "manifest.json").read_text())
    assert [(e["frame"], e["take"]) for e in manifest["frames"]] == [(1001, 1), (1002, 1), (1003, 2)]
    assert manifest["consent_ids"] == [actor.consent_id]
    assert (Path(pub["path"]) / "element" / "astro_face.1003.exr").is_file()
