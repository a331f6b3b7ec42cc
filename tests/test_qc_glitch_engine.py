"""Auto-flags on the real engine's output (a different person swapped in, so absolute
SSIM is low on every frame by nature): glitches planted in the comps of a Megamind
swap are flagged, the clean frames are not.

Actor: a warp actor from insightface's Tom Hanks sample; plate: 24 frames of the
Megamind clip (``RECAST_TEST_MEDIA``). After the engine ran, three comps are
rewritten: one with the swapped face pasted off target (``shift``), one with a
colour jump inside the matte (``colour``), one with the face not swapped at all
(``missing``, the comp is the plate and the record says passthrough).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
from _engine_fixtures import build_tom_hanks_actor

from recast.pipeline.atomic import atomic_write_json
from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
from recast.pipeline.plateio import read_plate, write_image, write_plate
from recast.pipeline.sequence import PlateSequence
from recast.qc.sample_job import decode_frames, srgb_to_linear
from recast.qc.scoring import QCOptions, score_job

FIRST, COUNT = 1001, 24
GLITCHES = {1007: "shift", 1013: "colour", 1019: "missing"}


def _matte_on_plate(element: str, shape: tuple[int, int]) -> np.ndarray:
    el = read_plate(element)
    ex, ey, ew, eh = el.data_window
    m = np.zeros(shape, np.float32)
    m[ey : ey + eh, ex : ex + ew] = el.pixels[..., 3]
    return m


def _plant(rec_path: Path, glitch: str) -> None:
    rec = json.loads(rec_path.read_text())
    plate = read_plate(rec["plate"])
    comp = read_plate(rec["comp"])
    p, c = plate.pixels[..., :3], comp.pixels[..., :3]
    if glitch == "missing":
        write_plate(rec["comp"], comp, plate.pixels)
        Path(rec["element"]).unlink()
        for f in rec["faces"]:
            f["swapped"] = False
        rec.update(status="passthrough", element=None)
        atomic_write_json(rec_path, rec)
        return
    m = _matte_on_plate(rec["element"], p.shape[:2])[..., None]
    face = next(f for f in rec["faces"] if f["swapped"])
    fs = float(face["box"][2] - face["box"][0])
    if glitch == "shift":
        shift = np.array([[1, 0, 0.18 * fs], [0, 1, 0.10 * fs]], np.float32)
        swapped = cv2.warpAffine(c, shift, (c.shape[1], c.shape[0]), borderMode=cv2.BORDER_REFLECT)
    else:
        swapped = c * np.array([1.6, 0.75, 0.6], np.float32)
    glitched = np.where(m > 0, p * (1 - m) + swapped * m, p).astype(np.float32)
    write_plate(rec["comp"], comp, glitched)


@pytest.fixture(scope="module")
def glitched_engine_job(test_media: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("qc_glitch_engine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECAST_MODELS", str(root / "models"))
        actor = build_tom_hanks_actor(root / "models", root)
    plates = root / "plate"
    for i, rgb8 in enumerate(decode_frames(test_media / "Megamind.avi", 150, COUNT)):
        spec = oiio.ImageSpec(rgb8.shape[1], rgb8.shape[0], 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        write_image(plates / f"shot.{FIRST + i:04d}.exr", srgb_to_linear(rgb8.astype(np.float32) / 255.0), spec)
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    out = root / "out"
    records = Engine(seq, {actor.name: actor}, SwapSettings(), OutputLayout(out, seq.name, seq.padding), job_id="g1").run(seq.frames)
    not_done = [(r["frame"], r["status"], r["error"]) for r in records if r["status"] != "done"]
    assert not not_done, f"the clean swap must swap every frame for this test: {not_done}"
    for frame, glitch in GLITCHES.items():
        _plant(out / "records" / f"{frame:04d}.json", glitch)
    return out, actor


def test_planted_glitches_in_engine_output_are_flagged_and_nothing_else(
    glitched_engine_job: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, actor = glitched_engine_job
    monkeypatch.setenv("RECAST_MODELS", str(actor.root.parent))
    doc = score_job(out, QCOptions())
    by_frame = {f["frame"]: f for f in doc["frames"]}
    assert sorted(by_frame) == list(range(FIRST, FIRST + COUNT))
    flagged = {f: by_frame[f]["reasons"] for f in doc["summary"]["flagged"]}
    assert sorted(flagged) == sorted(GLITCHES), {f: by_frame[f]["reasons"] for f in by_frame if by_frame[f]["status"] != "pass"}
    # the swap is of another person: SSIM in the face box is low on clean frames too, so the
    # glitches are caught against their neighbours, not by an absolute SSIM floor
    clean = [by_frame[f] for f in by_frame if f not in GLITCHES]
    assert all(f["metrics"]["ssim_outside"]["value"] == pytest.approx(1.0, abs=1e-6) for f in clean)
    assert by_frame[1019]["metrics"]["missing_faces"]["status"] == "fail"
    # the planted colour jump is scaled by the matte, so how far past the threshold it lands follows
    # the matte's share of the face box; it must be flagged, and as flicker
    assert by_frame[1013]["metrics"]["flicker"]["status"] in ("warn", "fail")
    assert "flicker" in " ".join(flagged[1013]), flagged[1013]
    assert "ssim_face" in " ".join(flagged[1007]) or "landmark" in " ".join(flagged[1007]), flagged[1007]
