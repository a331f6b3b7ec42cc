"""``recast demo`` end to end (subprocess): real files, a real swap, highlights kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.plateio import read_plate

REPO = Path(__file__).resolve().parents[1]


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = subprocess.run(
        [sys.executable, "-m", "pipeline", "demo", "--out", str(out), "--frames", "3", "--json"],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=600,
    )
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    assert (s["frames"], s["done"], s["failed"]) == (3, 3, 0)
    # the demo consent is written and labelled as such, and the actor records it
    consent = json.loads((out / "inputs" / "DEMO_CONSENT.json").read_text())
    assert consent["demo"] is True and "DEMO" in consent["label"]
    manifest = json.loads((Path(os.environ["RECAST_MODELS"]) / s["actor"] / "manifest.json").read_text())
    assert "DEMO" in manifest["consent"]["scope"]
    for f in (1001, 1002, 1003):
        plate = read_plate(out / "plate" / f"demo_plate.{f}.exr")
        comp = read_plate(out / "comp" / f"demo_plate.{f}.exr")
        element = read_plate(out / "element" / f"demo_plate_face.{f}.exr")
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        assert plate.display_window == (0, 0, 1920, 1080) and plate.pixel_type == "half"
        assert rec["status"] == "done" and sum(x["swapped"] for x in rec["faces"]) == 1
        x0, y0, x1, y1 = rec["faces"][0]["matte_box"]
        ex, ey, ew, eh = element.data_window
        assert (ex, ey, ex + ew, ey + eh) == (x0, y0, x1, y1)
        assert element.display_window == plate.display_window
        # the plate's specular (> 1.0, on the nose) survives in the comp's face
        face_px = comp.pixels[y0:y1, x0:x1, :3]
        assert plate.pixels[y0:y1, x0:x1, :3].max() > 1.5 and face_px.max() > 1.5
        outside = np.ones(plate.pixels.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(comp.pixels[outside], plate.pixels[outside])
    # a real swap: the comp's face is nearer the actor than the person it replaced
    assert s["identity"], s
    for row in s["identity"]:
        assert row["comp_to_actor"] < row["comp_to_plate"], row
