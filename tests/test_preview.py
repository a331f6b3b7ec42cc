"""The service's preview (``POST /preview``, the Nuke bridge's "Preview frame") gives the comp
``recast swap`` writes for that frame with the same settings, warm or cold: what the warm
service keeps between previews (analysers per detection settings, verified actors, detection
results per plate frame) never changes a pixel, and goes when its files change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, write_aov_plate
from recast.pipeline.plateio import read_plate
from recast.pipeline.service.bridge_api import PreviewBody, _Warm, run_preview

REPO = Path(__file__).resolve().parents[1]
# not the defaults: a preview must detect as the swap does (detect_size and min_face change what a scan finds)
SETTINGS = {"detect_size": 320, "min_face": 96, "mask_blur": 16.0, "color": "lct"}
FLAGS = ["--detect-size", "320", "--min-face", "96", "--mask-blur", "16", "--color", "lct"]


@pytest.fixture()
def shot(tmp_path: Path) -> dict[str, Path]:
    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(3):  # AOV channel, NaN/Inf, a data window inside a larger display window
        write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(4 * i))
    return {"root": tmp_path, "pattern": plates / "shot.####.exr"}


def preview(warm: _Warm, shot: dict[str, Path], frame: int, out: str, settings: dict | None = None) -> tuple[np.ndarray, dict]:
    body = PreviewBody(plate=str(shot["pattern"]), frame=frame, actor="hanks", out=str(shot["root"] / out), settings=settings)
    res = run_preview(body, warm, [shot["root"]])
    assert res["status"] == "done" and res["swapped"] == 1, res
    return read_plate(Path(res["path"])).pixels, res


def test_preview_equals_recast_swap_of_the_frame_warm_and_cold(shot: dict[str, Path]) -> None:
    out = shot["root"] / "swap"
    run = subprocess.run([sys.executable, "-m", "recast", "swap", str(shot["pattern"]), "--actor", "hanks", "--out", str(out),
                          *FLAGS, "--json"], cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert run.returncode == 0, run.stderr + run.stdout
    assert json.loads(run.stdout)["done"] == 3

    def swapped(frame: int) -> np.ndarray:
        return read_plate(out / "comp" / f"shot.{frame}.exr").pixels

    warm = _Warm()
    run_preview(PreviewBody(plate=str(shot["pattern"]), frame=1001, actor="hanks", out=str(shot["root"] / "warm-up")),
                warm, [shot["root"]])  # the service's analyser is loaded with the default detection settings
    third, res = preview(warm, shot, 1003, "p", SETTINGS)  # replays 1001-1002 (its history window), as the swap did
    np.testing.assert_array_equal(third, swapped(1003))  # every channel (AOV, NaN/Inf) too
    assert len(warm.history) >= 3  # the frames' detection results are kept...
    again, _ = preview(warm, shot, 1003, "p", SETTINGS)
    np.testing.assert_array_equal(again, swapped(1003))  # ...and reusing them changes nothing
    second, _ = preview(warm, shot, 1002, "p", SETTINGS)
    np.testing.assert_array_equal(second, swapped(1002))
    cold, _ = preview(_Warm(), shot, 1002, "cold", SETTINGS)
    np.testing.assert_array_equal(cold, swapped(1002))
    rec = json.loads((shot["root"] / "p" / "records" / "1002.json").read_text())
    assert rec["faces"][0]["color_match"]["method"] == "lct" and rec["settings"]["min_face"] == 96
    assert not (shot["root"] / "p" / "embeddings").exists()  # no QC reads a preview: no identity data written


def test_preview_after_a_history_block_edge_equals_the_swap(shot: dict[str, Path]) -> None:
    """Frame 1003 starts a history block: the swap restarts its temporal state there (the warp's
    per-track state too) after replaying 1002, as a preview of 1003 does from a fresh service."""
    out = shot["root"] / "swap"
    settings = {**SETTINGS, "history_block": 2, "history_frames": 1}
    run = subprocess.run([sys.executable, "-m", "recast", "swap", str(shot["pattern"]), "--actor", "hanks", "--out", str(out),
                          *FLAGS, "--history-block", "2", "--history-frames", "1", "--json"],
                         cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert run.returncode == 0, run.stderr + run.stdout
    warm = _Warm()
    for frame in (1001, 1003, 1002, 1003):
        got, _ = preview(warm, shot, frame, "p", settings)
        np.testing.assert_array_equal(got, read_plate(out / "comp" / f"shot.{frame}.exr").pixels, err_msg=f"frame {frame}")


def test_a_changed_plate_frame_is_detected_again(shot: dict[str, Path]) -> None:
    warm = _Warm()
    before, _ = preview(warm, shot, 1002, "p", SETTINGS)
    # the frame replaced by another one (the face moved): what was kept of the old file must not be used
    write_aov_plate(Path(str(shot["pattern"]).replace("####", "1002")), astronaut_linear(40))
    after, _ = preview(warm, shot, 1002, "p", SETTINGS)
    cold, _ = preview(_Warm(), shot, 1002, "cold", SETTINGS)
    np.testing.assert_array_equal(after, cold)
    assert not np.array_equal(np.nan_to_num(after), np.nan_to_num(before))


def test_a_changed_actor_file_is_verified_again(shot: dict[str, Path]) -> None:
    from recast.pipeline.errors import IntegrityError

    warm = _Warm()
    preview(warm, shot, 1001, "p", SETTINGS)
    bank = Path(os.environ["RECAST_MODELS"]) / "hanks" / "bank" / "bank.json"
    bank.write_text(bank.read_text() + " ")  # one byte more than the manifest's hash covers
    with pytest.raises(IntegrityError, match=r"actor 'hanks': .*bank\.json"):
        preview(warm, shot, 1001, "p", SETTINGS)


def test_the_first_frame_asked_again_does_not_read_ahead_again(shot: dict[str, Path]) -> None:
    """A preview of the shot's first frame reads the frames after it ahead (the warp's open-eye
    reference, ``Engine._look_ahead``) and keeps the primed state: asked again it restores it
    (seeded before the window's first frame) with the same pixels as the swap; a frame read
    ahead that changes on disk makes it read ahead again."""
    out = shot["root"] / "swap"
    run = subprocess.run([sys.executable, "-m", "recast", "swap", str(shot["pattern"]), "--actor", "hanks", "--out", str(out),
                          *FLAGS, "--json"], cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert run.returncode == 0, run.stderr + run.stdout
    swapped = read_plate(out / "comp" / "shot.1001.exr").pixels

    def history() -> dict:
        return json.loads((shot["root"] / "p" / "records" / "1001.json").read_text())["history"]

    warm = _Warm()
    first, _ = preview(warm, shot, 1001, "p", SETTINGS)
    assert history()["ahead"] == 3 and history()["seeded"] is None, history()
    again, _ = preview(warm, shot, 1001, "p", SETTINGS)
    assert "ahead" not in history() and history()["seeded"] == 1000, history()
    for got in (first, again):
        np.testing.assert_array_equal(got, swapped)
    write_aov_plate(Path(str(shot["pattern"]).replace("####", "1003")), astronaut_linear(40))
    preview(warm, shot, 1001, "p", SETTINGS)
    assert history()["ahead"] == 3, history()
