"""Per-frame QC's in-memory crops (qc.comp_features.face_crops) are the pixels QC reads from the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recast.pipeline.plateio import new_spec, read_plate, write_image, write_plate
from recast.qc.comp_features import face_crops
from recast.qc.cropio import read_region
from recast.qc.comp_features import grow_box


def test_face_crops_equal_the_plate_and_comp_files_with_overlapping_pastes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    w, h = 160, 120
    dx, dy = 6, 4  # a data window inside the display window: boxes reach past it (zeros there)
    dw, dh = 140, 100
    px = (rng.random((dh, dw, 4), np.float32) * 4.0 - 0.5).astype(np.float32)
    px[5, 7, 1] = np.nan  # non-finite values travel as they are
    px[50, 60, 0] = np.inf
    spec = new_spec(w, h, ["R", "G", "B", "A"], "half", "piz", data_window=(dx, dy, dw, dh))
    plate_path = tmp_path / "plate.exr"
    write_image(plate_path, px, spec)
    plate = read_plate(plate_path)
    pixels = plate.pixels
    # two faces pasted one after the other, the second over part of the first
    pasted = []
    for (y0, y1, x0, x1), value in (((10, 60, 12, 70), 0.3), ((40, 90, 50, 120), 2.5)):
        pasted.append((y0, y1, x0, x1, pixels[y0:y1, x0:x1].copy()))
        pixels[y0:y1, x0:x1, :3] = value + rng.random((y1 - y0, x1 - x0, 3), np.float32) * 1e-3
    comp_path = tmp_path / "comp.exr"
    write_plate(comp_path, plate, pixels)
    rec = {"faces": [
        {"swapped": True, "box": [14.2 + dx, 12.5 + dy, 66.0 + dx, 58.7 + dy]},
        {"swapped": False, "box": [0.0, 0.0, 30.0, 30.0]},
        {"swapped": True, "box": [-5.0, 40.0, 150.0, 119.0]},  # past the data window's edges
    ]}
    crops = face_crops(rec, pixels, plate, pasted, 0.25)
    assert sorted(crops) == [0, 2]
    for i, c in crops.items():
        assert c.crop_box == grow_box(rec["faces"][i]["box"], 0.25, (0, 0, w, h))
        assert np.array_equal(c.plate_raw, read_region(plate_path, c.crop_box, (0, 1, 2)), equal_nan=True)
        assert np.array_equal(c.out_raw, read_region(comp_path, c.crop_box, (0, 1, 2)), equal_nan=True)
