"""The fast paths of issue 13 compute the same things as the slow ones they replace:
grain block statistics, the analysis pixels of an all-finite frame (a view, no copy),
bounded non-finite counting, and the read-ahead / write-behind stages ``recast swap`` uses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, write_aov_plate
from recast.pipeline.composite import grain
from recast.pipeline.composite.paste import PlateChannels
from recast.pipeline.engine import analysis_pixels
from recast.pipeline.jobs.stages import StageOptions, Stages, run_stages
from recast.pipeline.plateio import count_nonfinite


def _per_tile_std(band: np.ndarray, b: int) -> np.ndarray:
    """The statistic as it was computed before: a strided np.std per b x b tile."""
    hb, wb = band.shape[0] // b, band.shape[1] // b
    return band[: hb * b, : wb * b].reshape(hb, b, wb, b, band.shape[2]).std(axis=(1, 3))


def _old_measure(img: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    import cv2

    img = np.nan_to_num(img.astype(np.float32))
    sel = np.ones(img.shape[:2], bool) if weight is None else weight >= 0.5
    sel = cv2.erode(sel.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    b = 8
    hb, wb = img.shape[0] // b, img.shape[1] // b
    inside = sel[: hb * b, : wb * b].reshape(hb, b, wb, b).all(axis=(1, 3))
    return np.asarray([np.percentile(_per_tile_std(band, b)[inside], 10.0, axis=0) for band in grain.band_split(img)])


def test_grain_block_statistic_equals_per_tile_std() -> None:
    img = astronaut_linear()[40:340, 100:420]  # a real photograph, scene-linear
    for band in grain.band_split(img):
        h, w = (band.shape[0] // 8) * 8, (band.shape[1] // 8) * 8
        new = grain.block_std(band[:h, :w], 8)
        old = _per_tile_std(band, 8)
        assert new.shape == old.shape
        assert np.abs(new - old).max() <= 1e-6


def test_measure_grain_unchanged_with_and_without_matte() -> None:
    rng = np.random.default_rng(3)
    img = astronaut_linear()[60:300, 120:380] + rng.normal(0, 0.01, (240, 260, 3)).astype(np.float32)
    matte = np.zeros(img.shape[:2], np.float32)
    matte[30:200, 40:220] = 1.0
    for weight in (None, matte):
        new = grain.measure_grain(img, weight).std
        assert np.abs(new - _old_measure(img, weight)).max() <= 1e-6
        assert new.min() > 0.0  # the plate's noise is found


def test_grain_synthesis_same_numbers_as_all_bands_shaping() -> None:
    white = np.random.default_rng(5).standard_normal((64, 80)).astype(np.float32)
    for k, band in enumerate(grain._shape_bands(white)):
        assert np.array_equal(grain._shape_band(white, k), band)
    assert np.array_equal(grain._band_response_cached(), grain._band_response(np.random.default_rng(12345)))


def test_all_finite_frame_is_not_copied_for_analysis() -> None:
    pixels = np.random.default_rng(0).random((40, 50, 5), dtype=np.float32)  # R G B A Z
    ch = PlateChannels((0, 1, 2))
    view = analysis_pixels(ch, pixels, finite=True)
    assert np.shares_memory(view, pixels) and view.shape == (40, 50, 3)
    assert np.array_equal(view, pixels[..., :3])
    pixels[3, 4, 1] = np.nan
    pixels[5, 6, 0] = np.inf
    clean = analysis_pixels(ch, pixels, finite=False)
    assert not np.shares_memory(clean, pixels) and np.isfinite(clean).all()
    rgb = pixels[..., :3]
    assert clean[3, 4, 1] == 0.0 and clean[5, 6, 0] == rgb[np.isfinite(rgb)].max()  # pipeline.finite's rule
    # channels not adjacent (B G R order): a copy, still the right values
    rev = analysis_pixels(PlateChannels((2, 1, 0)), pixels, finite=True)
    assert np.array_equal(rev[..., 0], pixels[..., 2])


def test_count_nonfinite_over_row_chunks() -> None:
    arr = np.zeros((1100, 1000, 4), np.float32)  # larger than one 4M-sample chunk
    assert count_nonfinite(arr) == {"nan": 0, "inf": 0}
    arr[0, 0, 0] = np.nan
    arr[1099, 999, 3] = np.nan
    arr[700, 3, 2] = -np.inf
    assert count_nonfinite(arr) == {"nan": 2, "inf": 1}
    assert count_nonfinite(np.float32(np.nan)) == {"nan": 1, "inf": 0}


def test_stages_read_ahead_compute_in_order_write_behind() -> None:
    seen: dict[str, list[Any]] = {"load": [], "compute": [], "write": []}

    def load(f: int) -> tuple[int, str]:
        seen["load"].append((f, threading.current_thread().name))
        return f, "px"

    def compute(loaded: tuple[int, str]) -> int:
        seen["compute"].append((loaded[0], threading.current_thread().name))
        return loaded[0] * 10

    def write(v: int) -> dict[str, int]:
        time.sleep(0.01)
        seen["write"].append((v, threading.current_thread().name))
        return {"frame": v // 10}

    frames = [5, 3, 9, 1, 7, 2]
    out = list(run_stages(frames, Stages(load, compute, write), StageOptions(read_ahead=2, write_behind=1)))
    assert [r["frame"] for r in out] == frames  # results in frame order
    assert [f for f, _ in seen["compute"]] == frames
    assert {n for _, n in seen["compute"]} == {threading.current_thread().name}
    assert all(n.startswith("recast-read") for _, n in seen["load"])
    assert all(n.startswith("recast-write") for _, n in seen["write"])


def test_stages_hold_no_handed_back_result() -> None:
    """What the pipeline has handed back is not kept (each frame's record would otherwise stay
    alive to the end: memory growing with the shot's length)."""
    import gc
    import weakref

    class Record:
        pass

    alive: weakref.WeakSet[Record] = weakref.WeakSet()

    def write(v: int) -> Record:
        r = Record()
        alive.add(r)
        return r

    most = 0
    for r in run_stages(range(200), Stages(lambda f: f, lambda x: x, write), StageOptions(read_ahead=2, write_behind=2)):
        del r
        gc.collect()
        most = max(most, len(alive))
    assert most <= 4, f"{most} results of 200 frames still held while iterating"


def test_stages_raise_a_stage_error_after_draining() -> None:
    def write(v: int) -> int:
        if v == 2:
            raise OSError("disk full")
        return v

    with pytest.raises(OSError, match="disk full"):
        list(run_stages([1, 2, 3], Stages(lambda f: f, lambda x: x, write)))


def test_swap_cli_runs_the_pipelined_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`recast swap` reads on the reader thread and writes on the writer thread (not engine.run per frame);
    only the frames read ahead before the first window are read on the compute thread."""
    import os

    from recast.pipeline import engine as engine_mod
    from recast.pipeline.cli import main

    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(3):
        write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(4 * i))
    threads: dict[str, set[str]] = {"load": set(), "write": set()}
    ahead: set[int] = set()  # frames read ahead before the first window (Engine._look_ahead)
    orig_load, orig_write = engine_mod.Engine.load_frame, engine_mod.Engine.write_frame
    orig_ahead = engine_mod.Engine._look_ahead

    def look_ahead(self: Any, frames: range) -> None:
        ahead.update(frames)
        orig_ahead(self, frames)

    def load_frame(self: Any, frame: int) -> Any:
        name = threading.current_thread().name
        if not (frame in ahead and name == "MainThread"):  # (the look-ahead reads on the compute thread)
            threads["load"].add(name)
        return orig_load(self, frame)

    def write_frame(self: Any, computed: Any) -> Any:
        threads["write"].add(threading.current_thread().name)
        return orig_write(self, computed)

    def no_run(*a: Any, **k: Any) -> Any:
        raise AssertionError("swap must not call engine.run frame by frame")

    monkeypatch.setattr(engine_mod.Engine, "load_frame", load_frame)
    monkeypatch.setattr(engine_mod.Engine, "_look_ahead", look_ahead)
    monkeypatch.setattr(engine_mod.Engine, "write_frame", write_frame)
    monkeypatch.setattr(engine_mod.Engine, "run", no_run)
    out = tmp_path / "out"
    assert main(["swap", str(plates / "shot.####.exr"), "--actor", "hanks", "--out", str(out), "--json"]) == 0
    assert threads["load"] and all(n.startswith("recast-read") for n in threads["load"])
    assert ahead == {1001, 1002, 1003}  # the whole 3-frame plate is read ahead once, then run
    assert threads["write"] and all(n.startswith("recast-write") for n in threads["write"])
    recs = [json.loads((out / "records" / f"{f}.json").read_text()) for f in (1001, 1002, 1003)]
    assert [r["status"] for r in recs] == ["done"] * 3
    assert recs[1]["faces"][0]["track_id"] == recs[0]["faces"][0]["track_id"]  # tracked across frames, in order


def test_job_purge_deletes_every_takes_embeddings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recast.pipeline.cli import main
    from recast.pipeline.jobs.runner import Runner, RunOptions, submit
    from recast.pipeline.jobs.spec import JobSpec
    from recast.pipeline.jobs.store import Store

    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(2):
        write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(4 * i))
    store = Store.open_default()
    out = tmp_path / "out"
    spec = JobSpec.from_dict({"plate": str(plates / "shot.####.exr"), "actor": "x", "out": str(out), "processor": "passthrough"})
    job = submit(store, spec)
    Runner(store, RunOptions(qc=False)).run(job)
    side = out / "embeddings"
    side.mkdir()
    (side / "1001.json").write_text('{"faces": []}')
    assert main(["job", "purge", job, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["files"] == 1 and res["removed"] == [str(side)]
    assert not side.exists()
    assert (out / "records" / "1001.json").is_file() and (out / "comp").is_dir()  # outputs kept


def test_detection_downscale_of_a_plate_view_equals_the_copy() -> None:
    from recast.pipeline.faces.imageprep import downscale

    rgba = np.random.default_rng(1).random((700, 1100, 4), dtype=np.float32)
    view = rgba[..., :3]  # what the engine hands the analyser for an all-finite RGBA plate
    assert not view.flags.c_contiguous
    a, b = downscale(view, 320, None), downscale(np.ascontiguousarray(view), 320, None)
    assert a.scale == b.scale and np.array_equal(a.pixels, b.pixels)


def test_colour_conversion_in_chunks_equals_one_call() -> None:
    from recast.pipeline.color import _APPLY_CHUNK, ColorContext

    ctx = ColorContext()
    rgb = np.random.default_rng(2).random((_APPLY_CHUNK // 500 + 7, 500, 3), dtype=np.float32) * 4.0
    out = ctx.to_working(rgb, ctx.scene_linear)
    proc = ctx._processor(ctx.scene_linear, ctx.working_space)
    whole = np.array(rgb, copy=True).reshape(-1, 3)
    proc.applyRGB(whole)  # one call over everything
    assert np.array_equal(out.reshape(-1, 3), whole)


def test_read_ahead_gives_the_same_comps_as_compute_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's NaN/Inf counts and detection resample (ReadAhead, made on the reader thread)
    give the comps, records and faces compute gets working them out itself; a frame with NaN
    gets counts but no resample (compute resamples its sanitised copy)."""
    import os

    import OpenImageIO as oiio

    from recast.pipeline import engine as engine_mod
    from recast.pipeline.cli import main

    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(3):
        rgb = astronaut_linear(4 * i)
        if i == 1:
            rgb[5:9, 7:30] = np.nan  # away from the face
        spec = oiio.ImageSpec(rgb.shape[1], rgb.shape[0], 3, oiio.HALF)
        spec.attribute("compression", "piz")
        buf = oiio.ImageBuf(spec)
        buf.set_pixels(oiio.ROI(), rgb.astype(np.float32))
        assert buf.write(str(plates / f"shot.{1001 + i:04d}.exr"))
    seen: dict[int, Any] = {}
    orig_load = engine_mod.Engine.load_frame

    def load_frame(self: Any, frame: int) -> Any:
        loaded = orig_load(self, frame)
        seen[frame] = loaded.ahead
        return loaded

    monkeypatch.setattr(engine_mod.Engine, "load_frame", load_frame)
    outs = {}
    for label in ("ahead", "alone"):
        if label == "alone":
            monkeypatch.setattr(engine_mod.Engine, "_read_ahead", lambda self, plate: None)
        out = tmp_path / label
        assert main(["swap", str(plates / "shot.####.exr"), "--actor", "hanks", "--out", str(out), "--json"]) == 0
        outs[label] = out
        if label == "ahead":
            made = {f: a for f, a in seen.items() if a is not None}
            assert 1002 in made and made[1002].stats == {"nan": 4 * 23 * 3, "inf": 0} and made[1002].shrunk is None
            assert 1003 in made and made[1003].stats == {"nan": 0, "inf": 0} and made[1003].shrunk is not None
    for f in (1001, 1002, 1003):
        a, b = (json.loads((outs[k] / "records" / f"{f}.json").read_text()) for k in ("ahead", "alone"))
        assert a["status"] == b["status"] == "done"
        assert a["stats"] == b["stats"]
        assert [x["box"] for x in a["faces"]] == [x["box"] for x in b["faces"]]
        pa, pb = (oiio.ImageBuf(str(outs[k] / "comp" / f"shot.{f}.exr")).get_pixels(oiio.FLOAT) for k in ("ahead", "alone"))
        assert np.array_equal(pa, pb, equal_nan=True)


_HEAP_PROBE = """
import sys, numpy as np
from recast.pipeline.heap import bound_heap
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
print('set' if (sys.argv[1] == '1' and bound_heap()) else 'default')
a = np.ones(40 << 20, np.uint8); del a   # a mapped block freed: glibc raises its threshold to 40 MB
base, held = rss(), []
for _ in range(8):
    b = np.ones(12 << 20, np.uint8)    # a crop-sized buffer...
    held.append(np.ones(1000, np.uint8))  # ...with a small block allocated after it
    del b
print(rss() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_crop_sized_buffers_go_back_to_the_system_once_the_heap_is_bounded():
    """The CLI fixes glibc's mmap threshold (pipeline.heap): crop-sized buffers freed between
    frames are returned instead of held in the heap behind later small blocks (the 8K
    frame's peak RSS was ~0.15 GB higher). Each case runs in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    out = {}
    for mode in ("0", "1"):
        run = subprocess.run([sys.executable, "-c", _HEAP_PROBE, mode], capture_output=True, text=True, env=env, check=True)
        state, grown = run.stdout.split()
        out[state] = int(grown)
    assert set(out) == {"default", "set"}
    assert out["default"] >= 8 << 20, out  # glibc's default keeps a freed 12 MB buffer
    assert out["set"] < 2 << 20, out
